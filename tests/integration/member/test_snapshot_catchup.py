#!/usr/bin/python3
"""test_snapshot_catchup.py — a member kept down until the others have taken snapshots and
compacted their logs past it catches up by snapshot: --snapshot-count 50 and
--experimental-snapshot-catchup-entries 20 (etcd's flag: entries kept behind a snapshot), a few
hundred keys written while it is down; on restart it logs that it installed a snapshot from the
leader and serves every key. Then it is killed and restarted again (booting from the installed
snapshot), and so is a member that took its own snapshots; both still serve every key and the
members' digests agree. Finally a fourth member joins the compacted cluster as a learner
(`concurctl member add --learner`, --initial-cluster-state existing), catches up by snapshot,
serves READONLY reads, is promoted and takes writes."""
import re

from mtest import (Resp, call, check, info, log, main, new_cluster, parse_args, redis_leader, run,
                   wait_converged, wait_redis_ready, wait_until)

args = parse_args(__doc__)
KEYS = 300


def write_keys(member, lo, hi):
    """SETs k<i> = v<i> for i in [lo, hi), pipelined in batches of 50 on one connection."""
    with Resp(member.redis_port) as r:
        for start in range(lo, hi, 50):
            batch = range(start, min(start + 50, hi))
            for i in batch:
                r.send("SET", "k%d" % i, "v%d" % i)
            for i in batch:
                got = r.read()
                check(got == "OK", "SET k%d: %r" % (i, got))


def ctl(member, *a):
    r = run([args.concurctl, "--endpoints", member.endpoint] + list(a))
    check(r.returncode == 0, "concurctl %s: %d %s%s" % (" ".join(a), r.returncode, r.stdout,
                                                        r.stderr))
    return r.stdout


def ctl_retry(member, *a):
    """A membership change, retried while the leader says it is not safe yet (a learner
    promoted only once in sync; etcd answers "unhealthy cluster" or "can only promote a
    learner member which is in sync with leader")."""
    def attempt():
        r = run([args.concurctl, "--endpoints", member.endpoint] + list(a))
        if r.returncode == 0:
            return r.stdout
        if "unhealthy cluster" in r.stderr or "in sync" in r.stderr:
            return None
        raise AssertionError("concurctl %s: %s%s" % (" ".join(a), r.stdout, r.stderr))
    return wait_until(attempt, "concurctl %s" % " ".join(a), timeout=60, step=0.5)


def check_keys(member, n):
    keys = ["k%d" % i for i in range(n)]
    got = call(member.redis_port, "MGET", *keys)
    missing = [k for k, v in zip(keys, got) if v != ("v" + k[1:]).encode()]
    check(not missing, "%s lacks %d keys, e.g. %r" % (member.name, len(missing), missing[:5]))


def test():
    extra = ["--snapshot-count", "50", "--experimental-snapshot-catchup-entries", "20"]
    with new_cluster(args, extra_args=extra) as c:
        c.start(wait=False)
        wait_redis_ready(c)
        lagger = c.members[2]
        write_keys(c.members[0], 0, 10)
        wait_until(lambda: info(lagger)["applied_index"] >= info(c.members[0])["commit_index"],
                   "all to apply the first keys")
        lagger.kill()
        behind = info(c.members[0])["commit_index"]
        leader = redis_leader(c, exclude=lagger)
        log("%s down at index %d; leader %s" % (lagger.name, behind, leader.name))

        write_keys(c.members[0], 10, KEYS // 2)
        write_keys(c.members[1], KEYS // 2, KEYS)
        wait_until(lambda: info(leader)["first_index"] > behind + 1,
                   "the leader to compact its log past index %d" % behind)
        li = info(leader)
        log("leader log now %d..%d, snapshot at %d" %
            (li["first_index"], li["last_index"], li["snapshot_index"]))
        check("saved snapshot at index" in leader.read_log(), "the leader took snapshots")

        lagger.start()
        wait_redis_ready(c)
        target = info(leader)["commit_index"]
        wait_until(lambda: info(lagger)["applied_index"] >= target,
                   "%s to catch up to %d" % (lagger.name, target))
        check("installing snapshot at index" in lagger.read_log(),
              "%s caught up by snapshot" % lagger.name)
        check_keys(lagger, KEYS)
        check(info(lagger)["snapshot_index"] > behind, "the lagger's log starts at a snapshot")
        wait_converged(c)
        log("%s installed a snapshot and serves all %d keys" % (lagger.name, KEYS))

        # Boot from the installed snapshot, and the leader from its own snapshots + WAL.
        for m in (lagger, leader):
            m.kill()
            m.start()
            wait_redis_ready(c)
            check("recovered: term" in m.read_log(), "%s recovered from its data" % m.name)
            check_keys(m, KEYS)
        check(call(lagger.redis_port, "SET", "after", "restarts") == "OK", "a write afterwards")
        idx, dg = wait_converged(c)
        log("after restarts: converged at %d (%s)" % (idx, dg))

        # A new member joins after compaction (Procfile.learner's flow): added as a learner, it
        # catches up by snapshot, is promoted, and holds the same data.
        leader = redis_leader(c)
        joiner = c.add_member("m4")
        out = ctl(leader, "member", "add", "m4", "--learner", "--peer-urls=" + joiner.peer_url)
        m = re.search(r"Member +([0-9a-f]+) added", out)
        check(m, "member add output: %r" % out)
        joiner.start()
        target = info(leader)["commit_index"]
        wait_until(lambda: info(joiner)["applied_index"] >= target, "the learner to catch up")
        check("installing snapshot at index" in joiner.read_log(), "the learner got a snapshot")
        with Resp(joiner.redis_port) as r:
            check(r.call("READONLY") == "OK", "READONLY")
            check(r.call("GET", "k%d" % (KEYS - 1)) == ("v%d" % (KEYS - 1)).encode(),
                  "the learner serves serializable reads of the data")
        ctl_retry(leader, "member", "promote", m.group(1))
        wait_until(lambda: "learner=0" in str(call(joiner.redis_port, "INFO", "raft")) and
                   info(leader)["members"] == 4, "m4 to be a voter")
        check_keys(joiner, KEYS)
        check(call(joiner.redis_port, "INCR", "four") == 1, "a write through the new voter")
        idx, dg = wait_converged(c)
        log("m4 joined by snapshot and was promoted; converged at %d (%s)" % (idx, dg))


main(test)
