#!/usr/bin/python3
"""test_counter_demo.py — jgroups-raft's counter demo on a real 3-member cluster: a counter
created through member A (concurctl counter create, the etcd API), INCR through B and DECR
through C (redis-cli); every member's `concurctl wal dump` shows the same `index (term):
command` lines. Then kill -9 the leader: a new leader within 3 election timeouts (measured from
the kill to the winner's `became leader` log line) and writes continue; the killed member
restarts, catches up and applies what it missed (its applied index reaches the others', its
WAL matches theirs, and GET through it returns the latest value)."""
import datetime
import re
import time

from mtest import (ELECTION_MS, call, check, info, log, main, new_cluster, parse_args, redis_cli,
                   redis_leader, run, wait_converged, wait_redis_ready, wait_until, wal_dump)

args = parse_args(__doc__)


def ctl(member, *a):
    r = run([args.concurctl, "--endpoints", member.endpoint] + list(a))
    check(r.returncode == 0, "concurctl %s: %d %s%s" % (" ".join(a), r.returncode, r.stdout,
                                                        r.stderr))
    return r.stdout.strip()


def same_wals(c, members):
    """Every member's WAL dump lists the same entries (waits: a follower may still be writing
    the last entries it was sent). Returns the common lines."""
    got = {}

    def same():
        for m in members:
            got[m.name] = wal_dump(args, m)
        return len({tuple(v) for v in got.values()}) == 1
    try:
        wait_until(same, "equal WAL dumps", timeout=30, step=0.2)
    except TimeoutError:
        lines = ["%s:\n  %s" % (k, "\n  ".join(v[-8:])) for k, v in got.items()]
        raise AssertionError("WAL dumps differ (last lines):\n" + "\n".join(lines))
    return got[members[0].name]


def became_leader_at(member, term):
    """Wall-clock time (s) of the member's `became leader at term N` log line."""
    pat = re.compile(r"^(\S+Z) \S+ INFO became leader at term %d$" % term, re.M)
    found = pat.findall(member.read_log())
    check(found, "%s logged `became leader at term %d`" % (member.name, term))
    ts = datetime.datetime.strptime(found[-1], "%Y-%m-%dT%H:%M:%S.%fZ")
    return ts.replace(tzinfo=datetime.timezone.utc).timestamp()


def test():
    with new_cluster(args) as c:
        c.start(wait=False)
        wait_redis_ready(c)
        a, b, cc = c.members

        check(ctl(a, "counter", "create", "cnt") == "0", "counter create through A")
        for i in range(5):
            rc, out = redis_cli(b, "INCR", "cnt")
            check(out == str(i + 1), "INCR %d through B: %r" % (i + 1, out))
        for want in (4, 3):
            rc, out = redis_cli(cc, "DECR", "cnt")
            check(out == str(want), "DECR through C: %r (want %d)" % (out, want))
        check(ctl(a, "counter", "get", "cnt") == "3", "counter get through A")
        for m in c.members:
            check(redis_cli(m, "GET", "cnt")[1] == "3", "GET cnt on %s" % m.name)

        wait_converged(c)
        lines = same_wals(c, c.members)
        text = "\n".join(lines)
        check(text.count('counter "cnt" +1') == 5 and text.count('counter "cnt" -1') == 2,
              "the WAL holds five increments and two decrements:\n" + text)
        log("%d identical WAL lines on every member, e.g. %r" % (len(lines), lines[-1]))

        # Kill -9 the leader.
        old = redis_leader(c)
        term = info(old)["term"]
        t_kill = time.time()
        old.kill()
        new = redis_leader(c, exclude=old, timeout=30)
        new_term = info(new)["term"]
        elapsed = became_leader_at(new, new_term) - t_kill
        log("killed leader %s (term %d); %s leads at term %d after %.2f s" %
            (old.name, term, new.name, new_term, elapsed))
        check(new_term > term, "a new term")
        check(elapsed <= 3 * ELECTION_MS / 1000.0,
              "new leader after %.2f s, more than 3 election timeouts" % elapsed)

        survivors = [m for m in c.members if m is not old]
        check(call(survivors[0].redis_port, "INCR", "cnt") == 4, "INCR after the failover")
        check(call(survivors[1].redis_port, "DECRBY", "cnt", "10") == -6, "DECRBY after failover")
        check(call(survivors[1].redis_port, "SET", "missed", "by the dead one") == "OK", "SET")

        # Restart: it catches up and applies what it missed.
        old.start()
        wait_redis_ready(c)
        target = info(new)["commit_index"]
        wait_until(lambda: info(old)["applied_index"] >= target,
                   "%s to apply up to %d" % (old.name, target))
        check(call(old.redis_port, "GET", "cnt") == b"-6", "latest counter value from the "
              "restarted member")
        check(call(old.redis_port, "GET", "missed") == b"by the dead one", "missed SET")
        check(call(old.redis_port, "INCR", "cnt") == -5, "INCR through the restarted member")
        idx, dg = wait_converged(c)
        lines = same_wals(c, c.members)
        log("after the restart: converged at %d (%s); %d identical WAL lines" %
            (idx, dg, len(lines)))


main(test)
