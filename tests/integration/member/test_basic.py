#!/usr/bin/python3
"""test_basic.py — three concurd members elect a leader; a SET through a follower with the real
redis-cli is read back from every member (linearizable GETs, no waiting); INCR through another
follower; SET .. EX expires on every member; every member's DEBUG DIGEST agrees; a SIGTERM'd
member (the leader, then every member) exits with code 0 and restarts with its data."""
from mtest import (ELECTION_MS, RespError, call, check, info, log, main, new_cluster, parse_args,
                   redis_cli, redis_leader, wait_converged, wait_redis_ready, wait_until)

args = parse_args(__doc__)


def test():
    with new_cluster(args) as c:
        c.start(wait=False)
        leader = wait_redis_ready(c)
        log("leader %s" % leader.name)
        followers = [m for m in c.members if m is not leader]

        # 1. SET through a follower; GET from every member right after the acknowledgement.
        rc, out = redis_cli(followers[0], "SET", "greeting", "hello world")
        check((rc, out) == (0, "OK"), "SET through follower: %r" % ((rc, out),))
        for m in c.members:
            rc, out = redis_cli(m, "GET", "greeting")
            check((rc, out) == (0, "hello world"), "GET on %s: %r" % (m.name, (rc, out)))
        rc, out = redis_cli(followers[1], "INCR", "visits")
        check(out == "1", "INCR through follower: %r" % out)
        rc, out = redis_cli(leader, "INCRBY", "visits", "41")
        check(out == "42", "INCRBY on leader: %r" % out)
        for m in c.members:
            check(redis_cli(m, "GET", "visits")[1] == "42", "visits on %s" % m.name)

        # Error replies carry exactly one error code (they were "ERR ERR ..." once).
        for cmd, want in ((("INCR", "greeting"), "ERR value is not an integer or out of range"),
                          (("SET", "k", "v", "BOGUS"), "ERR syntax error"),
                          (("SET", "", "v"), "ERR etcdserver: key is not provided"),
                          (("DEBUG", "NOSUCH"), "ERR unknown subcommand or wrong number of "
                           "arguments for 'NOSUCH'. Try DEBUG HELP.")):
            try:
                got = call(followers[0].redis_port, *cmd)
            except RespError as e:
                got = str(e)
            check(got == want, "%r answered %r, not %r" % (cmd, got, want))

        # Expiry through leases: the key exists, then disappears from every member.
        check(call(followers[0].redis_port, "SET", "ephemeral", "x", "EX", "2") == "OK",
              "SET EX")
        pttl = call(followers[1].redis_port, "PTTL", "ephemeral")
        check(0 < pttl <= 2000, "PTTL right after SET EX 2: %r" % pttl)
        for m in c.members:
            wait_until(lambda m=m: call(m.redis_port, "EXISTS", "ephemeral") == 0,
                       "ephemeral to expire on %s" % m.name, timeout=30)
        check(call(leader.redis_port, "TTL", "greeting") == -1, "TTL of a key without expiry")

        idx, dg = wait_converged(c)
        log("converged at index %d, digest %s" % (idx, dg))
        check(len(dg) == 40, "DEBUG DIGEST is 40 hex digits: %r" % dg)

        # 7. SIGTERM the leader: clean exit, a new leader, and it restarts with its data.
        code = leader.stop()
        check(code == 0, "SIGTERM'd leader %s exited with %r" % (leader.name, code))
        check("SIGTERM: stopping" in leader.read_log(), "leader logged its shutdown")
        new = redis_leader(c, timeout=6 * ELECTION_MS / 1000 + 10)
        log("after SIGTERM of %s: leader %s" % (leader.name, new.name))
        check(call(new.redis_port, "SET", "while-down", "yes") == "OK", "SET while one is down")
        leader.start()
        wait_redis_ready(c)
        wait_until(lambda: info(leader)["applied_index"] >= info(new)["commit_index"],
                   "restarted member to catch up")
        check("recovered: term" in leader.read_log(), "restart recovered from its data dir")
        for k, v in (("greeting", b"hello world"), ("visits", b"42"), ("while-down", b"yes")):
            got = call(leader.redis_port, "GET", k)
            check(got == v, "after restart %s=%r on %s" % (k, got, leader.name))
        wait_converged(c)

        # Every member stops cleanly, the last ones without a quorum to hand leadership to.
        for m in c.members:
            code = m.stop()
            check(code == 0, "SIGTERM'd %s exited with %r" % (m.name, code))
        log("every member exited 0 on SIGTERM")


main(test)
