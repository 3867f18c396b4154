#!/usr/bin/python3
"""test_signals.py — clean shutdown in the ways supervisors deliver signals:
  - a member whose log pipe has lost its reader (foreman exits before its children) still exits
    0 on SIGTERM, and so does a member whose clients vanish mid-reply (no death by SIGPIPE);
  - a leader SIGTERM'd while one follower is dead hands leadership to the live follower;
  - every member signalled SIGTERM at once and then again shortly after (foreman signals its
    process group, then each child) exits 0 — the repeated signal does not cut the shutdown
    short — and the cluster restarts with its data."""
import signal
import socket
import struct
import subprocess
import time

from mtest import (Resp, call, check, log, main, member_id, new_cluster, parse_args,
                   redis_leader, wait_converged, wait_redis_ready, wait_until)

args = parse_args(__doc__)


def start_with_pipe(m):
    """Starts member m with its output to a pipe (instead of its log file)."""
    m.proc = subprocess.Popen(m.args(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    m.log = None
    wait_until(lambda: call(m.redis_port, "PING", timeout=3) == "PONG", "%s to start" % m.name)


def vanish_mid_reply(m, value_len):
    """Clients that pipeline big GETs and reset the connection without reading the replies."""
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", m.redis_port))
        s.sendall(Resp.encode(["GET", "big"]) * 30)
        time.sleep(0.005 * (i % 4))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def test():
    with new_cluster(args) as c:
        c.start(wait=False)
        wait_redis_ready(c)
        check(call(c.members[0].redis_port, "SET", "big", "x" * (512 << 10)) == "OK", "SET")
        check(call(c.members[0].redis_port, "SET", "small", "y") == "OK", "SET")
        wait_converged(c)

        m = c.members[2]
        check(m.stop() == 0, "plain SIGTERM")
        start_with_pipe(m)
        vanish_mid_reply(m, 512 << 10)
        check(call(m.redis_port, "GET", "small") == b"y", "serves after clients vanished")
        m.proc.stdout.close()  # the reader of its log is gone
        m.proc.send_signal(signal.SIGTERM)
        code = m.proc.wait(60)
        check(code == 0, "SIGTERM with its log pipe closed: exit %r (-13 = SIGPIPE)" % code)
        log("a member whose log reader is gone exits 0 on SIGTERM")
        m.start()
        wait_redis_ready(c)

        # A leader stopping while one follower is dead hands leadership to the live one (the
        # lowest-ID follower is the one killed: the first voter after the leader itself).
        leader = redis_leader(c)
        ids = {x.name: member_id(x) for x in c.members}
        dead, live = sorted((x for x in c.members if x is not leader), key=lambda x: ids[x.name])
        dead.kill()
        wait_until(lambda: "peer %s (%s): connection lost" % (ids[dead.name], dead.peer_url) in
                   leader.read_log(), "the leader to lose its connection to %s" % dead.name)
        led = live.read_log().count("became leader")
        code = leader.stop()
        check(code == 0, "the leader exited %r" % code)
        wait_until(lambda: live.read_log().count("became leader") > led,
                   "%s to take over leadership" % live.name, timeout=20)
        check("handing leadership over to %s" % ids[live.name] in leader.read_log(),
              "the leader handed over to %s" % live.name)
        check("handing leadership over to %s" % ids[dead.name] not in leader.read_log(),
              "the leader did not try the dead %s" % dead.name)
        log("the stopping leader handed over to the live follower %s" % live.name)
        dead.start()
        leader.start()
        wait_redis_ready(c)

        # Like foreman: the whole group gets SIGTERM, then every child once more.
        for sig_round in range(2):
            for x in c.members:
                x.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
        codes = {}
        for x in c.members:
            try:
                codes[x.name] = x.proc.wait(60)
            except subprocess.TimeoutExpired:
                codes[x.name] = "hung"
            x._reap(1)
        check(all(v == 0 for v in codes.values()), "exit codes after a double SIGTERM: %r" % codes)
        for x in c.members:
            check("SIGTERM: already stopping" in x.read_log() or "stopped" in x.read_log(),
                  "%s logged its shutdown" % x.name)
        log("double SIGTERM: every member exited 0")
        c.start(wait=False)
        wait_redis_ready(c)
        for x in c.members:
            check(call(x.redis_port, "GET", "small") == b"y", "data after restart on %s" % x.name)


main(test)
