#!/usr/bin/python3
"""test_expiry.py — Redis expiry semantics on top of etcd leases, through a follower: SET with
EX/PX, a later SET with or without a TTL, KEEPTTL, PERSIST, EXPIRE, APPEND/INCR/GETSET on a key
with a TTL, SET NX/XX. The expected outcomes are what redis-server 7.0 does with the same
commands (checked once by hand against Debian's redis-server 7.0.15; see the table). Then a key
SET with EX 2 still expires after its leader was killed (the next leader takes over the leases)."""
from mtest import (call, check, info, log, main, new_cluster, parse_args, redis_leader,
                   wait_redis_ready, wait_until)

args = parse_args(__doc__)

# key: (commands, value afterwards or None, TTL class afterwards: "none" -1, "gone" -2, "set")
CASES = {
    "a": ([("SET", "a", "1", "EX", "1"), ("SET", "a", "2", "EX", "100")], b"2", "set"),
    "b": ([("SET", "b", "1", "EX", "1"), ("SET", "b", "2")], b"2", "none"),
    "c": ([("SET", "c", "1", "EX", "1"), ("PERSIST", "c")], b"1", "none"),
    "d": ([("SET", "d", "1"), ("EXPIRE", "d", "1")], None, "gone"),
    "e": ([("SET", "e", "1", "EX", "1"), ("SET", "e", "2", "KEEPTTL")], None, "gone"),
    "f": ([("SET", "f", "1", "EX", "1"), ("APPEND", "f", "x")], None, "gone"),
    "g": ([("SET", "g", "1", "EX", "1"), ("INCR", "g")], None, "gone"),
    "h": ([("SET", "h", "1", "PX", "1500"), ("GETSET", "h", "2")], b"2", "none"),
    "i": ([("SET", "i", "1", "EX", "100"), ("EXPIRE", "i", "1")], None, "gone"),
    "j": ([("SET", "j", "5", "EX", "1"), ("SET", "j", "6", "NX")], None, "gone"),
    "k": ([("SET", "k", "5", "EX", "1"), ("SET", "k", "6", "XX")], b"6", "none"),
}


def ttl_class(t):
    return {-2: "gone", -1: "none"}.get(t, "set")


def test():
    with new_cluster(args) as c:
        c.start(wait=False)
        leader = wait_redis_ready(c)
        port = [m for m in c.members if m is not leader][0].redis_port
        for key, (cmds, _, _) in CASES.items():
            for cmd in cmds:
                call(port, *cmd)
        check(90 <= call(port, "TTL", "a") <= 100, "a's TTL is the second SET's")
        gone = [k for k, (_, _, t) in CASES.items() if t == "gone"]
        wait_until(lambda: all(call(port, "EXISTS", k) == 0 for k in gone),
                   "keys %s to expire" % gone, timeout=30, step=0.2)
        for key, (_, value, ttl) in CASES.items():
            got_v, got_t = call(port, "GET", key), call(port, "TTL", key)
            check(got_v == value and ttl_class(got_t) == ttl,
                  "%s: %r with TTL %r, redis-server has %r (%s)" % (key, got_v, got_t, value, ttl))
        log("expiry semantics match redis-server's")

        # Leases survive a leader crash: the next leader expires them.
        check(call(port, "SET", "z", "1", "EX", "2") == "OK", "SET z EX 2")
        leader.kill()
        new = redis_leader(c, exclude=leader, timeout=30)
        log("killed leader %s, %s leads" % (leader.name, new.name))
        wait_until(lambda: call(new.redis_port, "EXISTS", "z") == 0,
                   "z to expire under the new leader", timeout=30, step=0.2)
        check(call(new.redis_port, "GET", "a") == b"2", "a is still there")
        leader.start()
        wait_redis_ready(c)
        wait_until(lambda: info(leader)["applied_index"] >= info(new)["commit_index"],
                   "the restarted member to catch up")
        check(call(leader.redis_port, "EXISTS", "z") == 0, "z is gone on the restarted member")


main(test)
