#!/usr/bin/python3
"""mtest.py — shared pieces of the member integration tests: arguments, a minimal RESP client
(no hidden retries, so a test knows exactly which commands reached a server), INFO parsing,
leader discovery over the Redis protocol, redis-cli, WAL dumps and convergence checks.

Every test script is run as
    /usr/bin/python3 test_X.py --concurd BUILD/bin/concurd --concurctl BUILD/bin/concurctl \
        --workdir DIR
(CMakeLists.txt passes the build tree's binaries). Exit code 0 = passed, 77 = skipped, anything
else = failed; servers' logs are printed on failure (tests/integration/lib/cluster.py).
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from cluster import Cluster, DEADLINE_S, free_ports, run, wait_until  # noqa: E402

REEXPORTED = (Cluster, free_ports, run)  # the tests import these from here

REDIS_CLI = "/usr/bin/redis-cli"
SKIP = 77
ELECTION_MS = 1000  # concurd's default --election-timeout; the tests use the defaults
# A write without a leader fails after 3 election timeouts; any request after etcd's request
# timeout (5 s + 2 election timeouts). Client socket timeouts sit above both.
REQUEST_TIMEOUT_S = 5 + 2 * ELECTION_MS / 1000
CLIENT_TIMEOUT_S = 2 * REQUEST_TIMEOUT_S


def parse_args(desc):
    p = argparse.ArgumentParser(description=desc)
    p.add_argument("--concurd", default=os.environ.get("CONCURD", "build/bin/concurd"))
    p.add_argument("--concurctl", default=os.environ.get("CONCURCTL", "build/bin/concurctl"))
    p.add_argument("--workdir", default=None,
                   help="directory for data and logs (emptied first; kept afterwards)")
    a = p.parse_args()
    a.concurd = os.path.abspath(a.concurd)
    a.concurctl = os.path.abspath(a.concurctl)
    for b in (a.concurd, a.concurctl):
        if not os.access(b, os.X_OK):
            print("missing binary %s" % b)
            sys.exit(2)
    if a.workdir:
        shutil.rmtree(a.workdir, ignore_errors=True)
        os.makedirs(a.workdir)
    return a


def new_cluster(args, n=3, extra_args=(), env=None, sub=None):
    """A Cluster of concurd members with the Redis protocol on, in args.workdir[/sub]."""
    wd = None
    if args.workdir:
        wd = os.path.join(args.workdir, sub) if sub else args.workdir
    return Cluster(args.concurd, n=n, workdir=wd, extra_args=extra_args, env=env, redis=True)


def log(msg):
    sys.stdout.write("[%8.3f] %s\n" % (time.monotonic() % 100000, msg))
    sys.stdout.flush()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# ---- a minimal RESP2 client ----

class RespError(Exception):
    """An error reply (-ERR ..., -CLUSTERDOWN ...)."""


class Resp:
    """One connection to a member's Redis listener. connect() failing means nothing was sent;
    once call() has sent a command, any exception leaves its outcome unknown."""

    def __init__(self, port, timeout=CLIENT_TIMEOUT_S):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        self.sock.sendall(self.encode(args))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        """One reply: str for +, int for :, bytes/None for $, list for *; raises RespError."""
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError("bad reply line %r" % line)

    def call(self, *args):
        self.send(*args)
        r = self.read()
        if isinstance(r, RespError):
            raise r
        return r


def call(port, *args, timeout=CLIENT_TIMEOUT_S):
    """One command on a fresh connection."""
    with Resp(port, timeout=timeout) as c:
        return c.call(*args)


HEX_ID_FIELDS = ("leader", "leader_id", "member_id", "cluster_id")
NO_LEADER = "0000000000000000"


def parse_info(text):
    """INFO text as a dict; decimal fields become ints, member IDs stay 16-digit hex text."""
    if isinstance(text, bytes):
        text = text.decode()
    out = {}
    for line in text.split("\r\n"):
        if not line or line.startswith("#") or ":" not in line:
            continue
        k, v = line.split(":", 1)
        out[k] = int(v) if v.lstrip("-").isdigit() and k not in HEX_ID_FIELDS else v
    return out


def info(member, section="raft", timeout=5):
    """INFO <section> of a running member as a dict (integers decoded)."""
    return parse_info(call(member.redis_port, "INFO", section, timeout=timeout))


def member_id(member):
    return info(member, "server")["member_id"]


def agreed_leader(members):
    """The one of members that says it leads and that all of them name as leader (INFO
    raft), or None."""
    ids, lead = set(), None
    for m in members:
        i = info(m)
        ids.add(i["leader"])
        if i["role"] == "leader":
            lead = m
    if lead is None or len(ids) != 1 or member_id(lead) not in ids:
        return None
    return lead


def redis_leader(cluster, exclude=None, timeout=DEADLINE_S):
    """The leader every running member (but exclude) agrees on."""
    return wait_until(lambda: agreed_leader([m for m in cluster.running() if m is not exclude]),
                      "one leader (INFO raft)", timeout=timeout, step=0.1)


def wait_redis_ready(cluster, members=None, timeout=DEADLINE_S):
    """Every member answers PING on its Redis port and a leader is known."""
    for m in members or cluster.running():
        wait_until(lambda m=m: call(m.redis_port, "PING", timeout=3) == "PONG",
                   "%s to answer PING" % m.name, timeout=timeout, step=0.1)
    return redis_leader(cluster, timeout=timeout)


def redis_cli(member, *args, timeout=30):
    """The real redis-cli against a member; returns (exit code, stdout stripped)."""
    r = run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(member.redis_port)] + [str(a) for a in args],
            timeout=timeout)
    return r.returncode, r.stdout.strip()


def digest(member):
    """DEBUG DIGEST of the member's dataset (see src/api/redis/redis_debug.c)."""
    return call(member.redis_port, "DEBUG", "DIGEST", timeout=10)


def wait_converged(cluster, members=None, timeout=DEADLINE_S):
    """Waits until every member has applied the same index and their DEBUG DIGESTs agree at
    that index (applied index read before and after the digest, so a write landing in between
    is noticed). Returns (applied index, digest)."""
    ms = members or cluster.running()
    last = {}

    def same():
        seen = []
        for m in ms:
            before = info(m)["applied_index"]
            d = digest(m)
            after = info(m)
            if after["applied_index"] != before or after["commit_index"] != before:
                return None
            seen.append((before, d))
        last["seen"] = seen
        if len(set(seen)) != 1:
            return None
        return seen[0]
    try:
        return wait_until(same, "members to converge", timeout=timeout, step=0.2)
    except TimeoutError:
        raise AssertionError("members did not converge: %r" % last.get("seen"))


def wal_dump(args, member):
    """`concurctl wal dump --data-dir` of a member (it opens the WAL read-only, so the member
    may be running). Returns the list of 'index (term): command' lines."""
    r = run([args.concurctl, "wal", "dump", "--data-dir", member.data_dir])
    check(r.returncode == 0, "wal dump of %s failed (%d): %s" % (member.name, r.returncode,
                                                                r.stderr))
    return [ln for ln in r.stdout.splitlines() if ln[:1].isdigit() and " (" in ln]


class ProcGroup:
    """A command started in its own session (so its process group holds everything it
    spawns), output to a log file. Leaving the `with` block kills the whole group (SIGTERM,
    then SIGKILL) and prints the log when the block failed."""

    def __init__(self, argv, cwd, log_path, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=e, start_new_session=True)
        self.pgid = self.proc.pid

    def group_alive(self):
        try:
            os.killpg(self.pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def signal_group(self, sig):
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass

    def wait_group_gone(self, timeout):
        """Reaps the leader and waits until no process of the group is left."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.proc.poll()
            if not self.group_alive():
                return True
            time.sleep(0.05)
        return False

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.group_alive():
            self.signal_group(signal.SIGTERM)
            if not self.wait_group_gone(15):
                self.signal_group(signal.SIGKILL)
                self.wait_group_gone(10)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()
        if exc_type is not None or os.environ.get("CLUSTER_KEEP_LOGS"):
            sys.stderr.write("\n===== output of the process group (%s) =====\n%s" %
                             (self.log_path, self.output()[-30000:]))
        return False


class Port:
    """Stands in for a cluster.Member where only a Redis port is known (info(), call())."""

    def __init__(self, name, redis_port):
        self.name = name
        self.redis_port = redis_port


def ports_leader(ports, timeout=DEADLINE_S):
    """The leader the members listening on ports (Port objects) agree on."""
    return wait_until(lambda: agreed_leader(ports),
                      "a leader on ports %r" % [p.redis_port for p in ports], timeout=timeout,
                      step=0.2)


def main(fn):
    """Runs fn() and turns its outcome into the exit code."""
    t0 = time.monotonic()
    try:
        rc = fn()
    except Exception:
        import traceback
        traceback.print_exc()
        log("FAILED after %.1f s" % (time.monotonic() - t0))
        sys.exit(1)
    if rc == SKIP:
        sys.exit(SKIP)
    log("passed in %.1f s" % (time.monotonic() - t0))
    sys.exit(0)
