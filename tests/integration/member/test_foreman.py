#!/usr/bin/python3
"""test_foreman.py — the repository's Procfile runs under Debian's `foreman start -f Procfile`:
a copy of it in the work directory, next to a `build` link to this build tree (the Procfile
starts build/bin/concurd with data in data/<name>), foreman in its own process group; a leader
is elected (redis-cli -p 16379 sees it), a SET through infra1 is read back from all three, and
killing the group stops everything. The Procfile uses fixed ports (2379, 12380, 16379, ...):
when any of them is busy the test is skipped (exit 77) saying which."""
import os
import shutil
import signal
import socket

from mtest import (SKIP, Port, ProcGroup, check, log, main, parse_args, ports_leader, redis_cli,
                   call)

args = parse_args(__doc__)
FOREMAN = shutil.which("foreman") or "/usr/bin/foreman"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PROCFILE_PORTS = [2379, 22379, 32379, 12380, 22380, 32380, 16379, 26379, 36379]
REDIS = [Port("infra1", 16379), Port("infra2", 26379), Port("infra3", 36379)]


def busy_ports():
    busy = []
    for p in PROCFILE_PORTS:
        s = socket.socket()
        # As libuv binds (SO_REUSEADDR): only a socket that holds the port counts, not the
        # TIME_WAIT leftovers of a cluster that ran before (they made this test skip).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            busy.append(p)
        finally:
            s.close()
    return busy


def test():
    if not os.access(FOREMAN, os.X_OK):
        print("SKIPPED: foreman (Debian ruby-foreman) is not installed")
        return SKIP
    busy = busy_ports()
    if busy:
        print("SKIPPED: the Procfile's fixed ports %s are in use on 127.0.0.1 (a `make run` "
              "cluster?); stop it to run this test" % ", ".join(map(str, busy)))
        return SKIP
    wd = args.workdir or os.path.join("/tmp", "foreman-%d" % os.getpid())
    os.makedirs(wd, exist_ok=True)
    shutil.copy(os.path.join(REPO, "Procfile"), os.path.join(wd, "Procfile"))
    os.symlink(os.path.dirname(os.path.dirname(args.concurd)), os.path.join(wd, "build"))
    with ProcGroup([FOREMAN, "start", "-f", "Procfile"], wd, os.path.join(wd, "foreman.log")) as g:
        lead = ports_leader(REDIS)
        log("foreman's cluster elected %s" % lead.name)
        check(redis_cli(REDIS[0], "SET", "procfile", "works") == (0, "OK"), "SET via 16379")
        for p in REDIS:
            check(redis_cli(p, "GET", "procfile") == (0, "works"), "GET via %d" % p.redis_port)
        out = g.output()
        for name in ("infra1", "infra2", "infra3"):
            check(name in out and "became" in out, "foreman prefixed %s's log lines" % name)
        g.signal_group(signal.SIGTERM)
        check(g.wait_group_gone(30), "foreman and every member exited after SIGTERM")
        for p in REDIS:
            try:
                call(p.redis_port, "PING", timeout=2)
                raise AssertionError("port %d still answers" % p.redis_port)
            except OSError:
                pass
    log("every process of foreman's group is gone")


main(test)
