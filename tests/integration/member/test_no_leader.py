#!/usr/bin/python3
"""test_no_leader.py — with 2 of 3 members killed, requests to the survivor get an error
within the command timeout, never a hang: first when the survivor was a follower (it still
believes in the dead leader for a while), then when the survivor was the leader itself (it
appends but cannot commit until check-quorum deposes it). Once the survivor knows there is no
leader, a write fails with -CLUSTERDOWN within about 3 election timeouts. Restarting the killed
members heals the cluster and writes succeed again."""
import time

from mtest import (ELECTION_MS, NO_LEADER, REQUEST_TIMEOUT_S, Resp, RespError, call, check, info,
                   log, main, new_cluster, parse_args, redis_leader, wait_converged,
                   wait_redis_ready, wait_until)

args = parse_args(__doc__)
SLACK_S = 5.0  # scheduling on a loaded machine; a hang is far longer than this


def timed_error(member, *cmd, limit):
    """Sends cmd to member; it must fail with an error reply within limit (+ slack) seconds.
    Returns (error text, seconds)."""
    t0 = time.monotonic()
    with Resp(member.redis_port, timeout=limit + SLACK_S + 5) as r:
        r.send(*cmd)
        reply = r.read()
    dt = time.monotonic() - t0
    log("%s on %s -> %r after %.2f s" % (" ".join(cmd), member.name, reply, dt))
    check(isinstance(reply, RespError), "%s without a leader must fail, got %r" % (cmd, reply))
    check(dt <= limit + SLACK_S, "%s failed only after %.1f s (limit %.1f s)" % (cmd, dt, limit))
    return str(reply), dt


def no_quorum_round(c, survivor):
    others = [m for m in c.members if m is not survivor]
    for m in others:
        m.kill()
    # Right away: the survivor may still believe in a leader; the request timeout bounds it.
    err, _ = timed_error(survivor, "SET", "k", "lost?", limit=REQUEST_TIMEOUT_S)
    check(err.split()[0] in ("CLUSTERDOWN", "TIMEOUT", "TRYAGAIN"), "error kind: %r" % err)
    timed_error(survivor, "GET", "k", limit=REQUEST_TIMEOUT_S)
    # Once it knows there is no leader, a write fails within ~3 election timeouts.
    wait_until(lambda: info(survivor)["leader"] == NO_LEADER,
               "%s to notice it has no leader" % survivor.name, timeout=30)
    err, _ = timed_error(survivor, "INCR", "n", limit=3 * ELECTION_MS / 1000.0)
    check(err.startswith("CLUSTERDOWN"), "INCR without a leader: %r" % err)
    # Heal.
    for m in others:
        m.start()
    wait_redis_ready(c)
    check(call(survivor.redis_port, "SET", "k", "healed") == "OK", "SET after healing")
    wait_converged(c)


def test():
    with new_cluster(args) as c:
        c.start(wait=False)
        leader = wait_redis_ready(c)
        check(call(leader.redis_port, "SET", "k", "v0") == "OK", "first SET")
        follower = [m for m in c.members if m is not leader][0]
        log("round 1: survivor %s was a follower" % follower.name)
        no_quorum_round(c, follower)
        leader = redis_leader(c)
        log("round 2: survivor %s was the leader" % leader.name)
        no_quorum_round(c, leader)
        for m in c.members:
            check(call(m.redis_port, "GET", "k") == b"healed", "GET k on %s" % m.name)


main(test)
