#!/usr/bin/python3
"""test_cluster_ops.py — membership and maintenance with the real etcdctl against a cluster of
the server under test: a learner added with `member add --learner`, started with
--initial-cluster-state existing, caught up and promoted; a member removed (it stops taking
part); `move-leader`; `snapshot save`; `defrag`; `alarm list`. Then every membership change
through a different follower (which relays it to the leader and answers once it has applied
the change itself): a learner added through one follower, promoted through another,
an unstarted learner added through a follower's JSON gateway and removed again, leadership
moved through a follower (concur relays MoveLeader; etcd refuses it there), and a member
removed through a follower.

    test_cluster_ops.py --server build/bin/concurd
"""
import os
import re
import sys

import itest
from itest import cluster as C

try:
    import etcd3
except ImportError:  # the MoveLeader-through-a-follower check needs it
    etcd3 = None


def main():
    args = itest.parse_args(__doc__)
    t = itest.Checks()
    with C.Cluster(args.server, n=3, workdir=itest.workdir(args, "ops")) as c:
        try:
            run(t, c)
            run_via_followers(t, c)
        except Exception:
            c.failed = True
            raise
        if t.failures:
            c.failed = True
    return t.report()


def member_ids(c, endpoints=None):
    """{name: (hex id, is learner)} from `member list`."""
    r = c.etcdctl("member", "list", endpoints=endpoints)
    out = {}
    for line in r.stdout.strip().split("\n"):
        f = [x.strip() for x in line.split(",")]
        out[f[2]] = (f[0], f[5] == "true")
    return out


def change(c, *args, endpoints=None, retry_on=("unhealthy cluster",)):
    """A membership change, retried while the server says it is not safe yet (etcd refuses
    changes until its members have been connected for a while: "unhealthy cluster"; a learner
    is promoted only once in sync)."""
    def attempt():
        r = c.etcdctl(*args, endpoints=endpoints, check=False)
        if r.returncode == 0 or not any(s in r.stderr for s in retry_on):
            return r
        return None
    r = C.wait_until(attempt, "etcdctl " + " ".join(args), step=0.5)
    if r.returncode != 0:
        raise RuntimeError("etcdctl %s: %s" % (" ".join(args), r.stderr))
    return r


def run(t, c):
    c.start()
    leader = c.leader()
    # Membership changes go through a follower: etcd forwards them to the leader.
    fol = [m for m in c.members if m is not leader][0].endpoint
    c.etcdctl("put", "ops/before", "1")

    # ---- a learner joins, catches up, is promoted ----
    new = c.add_member("m4")
    r = change(c, "member", "add", "m4", "--learner", "--peer-urls=" + new.peer_url, endpoints=fol)
    # etcdctl pads IDs to 16 columns with spaces (%16x)
    m = re.search(r"Member +([0-9a-f]+) added to cluster +([0-9a-f]+)", r.stdout)
    t.check(m, "member add output", r.stdout)
    t.check('ETCD_INITIAL_CLUSTER_STATE="existing"' in r.stdout, "member add env output")
    lid = m.group(1)
    ids = member_ids(c)
    t.equal(ids.get("", (None, None))[1], True, "the added learner is listed unstarted")
    voters = c.endpoints(c.members[:3])  # a learner answers most RPCs with an error
    new.start()
    for i in range(20):
        c.etcdctl("put", "ops/k%d" % i, str(i), endpoints=voters)

    def caught_up():
        r = c.etcdctl("get", "ops/k19", "--consistency=s", endpoints=new.endpoint, check=False)
        return r.returncode == 0 and r.stdout.strip().endswith("19")
    C.wait_until(caught_up, "the learner to serve the latest write (serializable)")
    r = c.etcdctl("get", "ops/k19", endpoints=new.endpoint, check=False)
    t.check(r.returncode != 0 and "rpc not supported for learner" in r.stderr,
            "a learner refuses linearizable reads", r.stderr)
    st = new.status()
    t.equal(st["is_learner"], True, "status of the learner says isLearner")

    r = change(c, "member", "promote", lid, endpoints=fol,
               retry_on=("in sync with leader", "unhealthy cluster"))
    t.check(re.search(r"Member +%s promoted in cluster +[0-9a-f]+" % lid, r.stdout),
            "member promote output", r.stdout)
    C.wait_until(lambda: not member_ids(c, voters).get("m4", (None, True))[1],
                 "m4 to be a voter with its name published")
    C.wait_until(lambda: not new.status()["is_learner"], "m4's status to say voter")
    c.wait_healthy()

    # ---- a removed member stops taking part ----
    leader = c.leader()
    gone = [m for m in c.members if m is not leader and m.name != "m4"][0]
    gid = member_ids(c)[gone.name][0]
    others = [m for m in c.members if m is not gone]
    fol = [m for m in others if m is not leader][0].endpoint
    r = change(c, "member", "remove", gid, endpoints=fol)
    t.check(re.search(r"Member +%s removed from cluster +[0-9a-f]+" % gid, r.stdout),
            "member remove output", r.stdout)
    C.wait_until(lambda: not gone.alive(), "the removed member to exit")
    t.check(gid not in [v[0] for v in member_ids(c, c.endpoints(others)).values()],
            "removed member not listed")
    c.etcdctl("put", "ops/after-remove", "1", endpoints=c.endpoints(others))
    r = c.etcdctl("get", "ops/after-remove", endpoints=c.endpoints(others))
    t.check(r.stdout.strip().endswith("1"), "the cluster works without it")

    # ---- move-leader ----
    leader = c.leader()
    ids = member_ids(c, c.endpoints(others))
    target_name = [n for n in ids if n != leader.name and not ids[n][1]][0]
    target = [m for m in c.members if m.name == target_name][0]
    lhex = ids[leader.name][0]
    r = c.etcdctl("move-leader", ids[target_name][0], endpoints=c.endpoints(others))
    t.check("Leadership transferred from %s to %s" % (lhex, ids[target_name][0]) in r.stdout,
            "move-leader output", r.stdout)
    t.check(c.leader() is target, "the target leads")
    r = c.etcdctl("move-leader", ids[target_name][0], endpoints=leader.endpoint, check=False)
    t.check(r.returncode != 0, "move-leader through a follower fails", r.stdout)

    # ---- maintenance ----
    snap = os.path.join(c.workdir, "snap.db")
    r = c.etcdctl("snapshot", "save", snap, endpoints=target.endpoint)
    t.check("Snapshot saved at " + snap in r.stdout, "snapshot save output", r.stdout + r.stderr)
    size = os.path.getsize(snap)
    t.check(size > 0 and size % 512 == 32, "snapshot size is sectors + SHA-256", size)
    r = c.etcdctl("defrag", endpoints=target.endpoint)
    t.check("Finished defragmenting etcd member[%s]" % target.endpoint in r.stdout,
            "defrag output", r.stdout)
    r = c.etcdctl("alarm", "list", endpoints=c.endpoints(others))
    t.equal(r.stdout.strip(), "", "no alarms")
    r = c.etcdctl("alarm", "disarm", endpoints=c.endpoints(others))
    t.equal(r.returncode, 0, "alarm disarm")


def listed(c, endpoint, mid):
    """(present, is learner) of member mid (hex) in the member list of one endpoint."""
    for hid, learner in member_ids(c, endpoint).values():
        if hid == mid:
            return True, learner
    return False, None


def run_via_followers(t, c):
    leader = c.leader()
    fols = [m for m in c.running() if m is not leader]
    t.check(len(fols) >= 2, "two followers to change membership through", len(fols))
    a, b = fols[0], fols[1]

    # ---- a learner added through follower a ----
    new = c.add_member("m5")
    r = change(c, "member", "add", "m5", "--learner", "--peer-urls=" + new.peer_url,
               endpoints=a.endpoint)
    m = re.search(r"Member +([0-9a-f]+) added to cluster +([0-9a-f]+)", r.stdout)
    t.check(m, "member add through a follower: output", r.stdout)
    nid = m.group(1)
    # No waiting: the follower answered after applying the change itself.
    t.equal(listed(c, a.endpoint, nid), (True, True),
            "the follower that relayed the add lists the learner at once")
    new.start()
    c.etcdctl("put", "ops/via-followers", "1", endpoints=a.endpoint)

    def caught_up():
        r = c.etcdctl("get", "ops/via-followers", "--consistency=s", endpoints=new.endpoint,
                      check=False)
        return r.returncode == 0 and r.stdout.strip().endswith("1")
    C.wait_until(caught_up, "the second learner to catch up")

    # ---- promoted through follower b ----
    r = change(c, "member", "promote", nid, endpoints=b.endpoint,
               retry_on=("in sync with leader", "unhealthy cluster"))
    t.check(re.search(r"Member +%s promoted in cluster +[0-9a-f]+" % nid, r.stdout),
            "member promote through another follower: output", r.stdout)
    t.equal(listed(c, b.endpoint, nid), (True, False),
            "the follower that relayed the promotion lists a voter at once")
    C.wait_until(lambda: not new.status()["is_learner"], "m5's status to say voter")
    c.wait_healthy()

    # ---- a learner added through a follower's JSON gateway (the request is re-encoded there,
    # not relayed as received), then removed again through another follower ----
    extra_url = "http://127.0.0.1:%d" % C.free_ports(1)[0]

    def add_via_gateway():
        code, body = C.http_json(a.client_url + "/v3/cluster/member/add",
                                 {"peerURLs": [extra_url], "isLearner": True})
        if code != 200 and "unhealthy cluster" in str(body):
            return None  # not safe yet, as etcdctl's changes above
        return code, body
    code, body = C.wait_until(add_via_gateway, "member add through a follower's gateway",
                              step=0.5)
    t.equal(code, 200, "member add through a follower's gateway: HTTP status")
    added = body.get("member", {}) if isinstance(body, dict) else {}
    t.equal(added.get("peerURLs"), [extra_url], "member add through a follower's gateway: member")
    xid = "%x" % int(added.get("ID", 0))
    t.equal(listed(c, a.endpoint, xid), (True, True),
            "the follower that relayed the gateway's add lists the learner at once")
    r = change(c, "member", "remove", xid, endpoints=b.endpoint)
    t.equal(listed(c, b.endpoint, xid), (False, None),
            "the follower that relayed the removal of the unstarted learner no longer lists it")

    # ---- MoveLeader through a follower ----
    if c.is_concur and etcd3 is not None:
        leader = c.leader()
        ids = member_ids(c, leader.endpoint)
        via = [m for m in c.running() if m is not leader and m is not new][0]
        target = [m for m in c.running() if m is not leader and m is not via][0]
        cli = etcd3.client(host="127.0.0.1", port=via.client_port, timeout=30)
        try:
            cli.maintenancestub.MoveLeader(
                etcd3.etcdrpc.MoveLeaderRequest(targetID=int(ids[target.name][0], 16)), 30)
        finally:
            cli.close()
        t.check(c.leader() is target, "MoveLeader through a follower moved leadership",
                c.leader().name)

    # ---- removed through a follower ----
    leader = c.leader()
    via = [m for m in c.running() if m is not leader and m is not new][0]
    r = change(c, "member", "remove", nid, endpoints=via.endpoint)
    t.check(re.search(r"Member +%s removed from cluster +[0-9a-f]+" % nid, r.stdout),
            "member remove through a follower: output", r.stdout)
    t.equal(listed(c, via.endpoint, nid), (False, None),
            "the follower that relayed the removal no longer lists it")
    C.wait_until(lambda: not new.alive(), "the member removed through a follower to exit")
    rest = [m for m in c.running()]
    c.etcdctl("put", "ops/after-second-remove", "2", endpoints=c.endpoints(rest))
    r = c.etcdctl("get", "ops/after-second-remove", endpoints=c.endpoints(rest))
    t.check(r.stdout.strip().endswith("2"), "the cluster works after the second removal")


if __name__ == "__main__":
    sys.exit(main())
