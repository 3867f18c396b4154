#!/usr/bin/python3
"""test_python_etcd3.py — the Debian python3-etcd3 client (gRPC) against a 3-member cluster of
the server under test: get, put, delete, prefix, transaction, lease, watch, members, status,
compaction and errors, each checked against what etcd 3.4 answers.

    test_python_etcd3.py --server build/bin/concurd
"""
import sys
import threading

import itest
from itest import cluster as C

try:
    import etcd3
    import grpc
except ImportError:
    print("SKIP: python3-etcd3 is not installed")
    sys.exit(itest.SKIP)


def main():
    args = itest.parse_args(__doc__)
    t = itest.Checks()
    with C.Cluster(args.server, n=3, workdir=itest.workdir(args, "py")) as c:
        c.start()
        leader = c.leader()
        follower = [m for m in c.members if m is not leader][0]
        # A follower: writes are forwarded through Raft, reads take a read index.
        cli = etcd3.client(host="127.0.0.1", port=follower.client_port, timeout=30)
        other = etcd3.client(host="127.0.0.1", port=leader.client_port, timeout=30)
        try:
            run(t, c, cli, other)
        except Exception:
            c.failed = True
            raise
        finally:
            cli.close()
            other.close()
        if t.failures:
            c.failed = True
    return t.report()


def run(t, c, cli, other):
    # put / get
    r = cli.put("/py/a", "1")
    t.check(r.header.revision > 1, "put returns the new revision", r.header.revision)
    t.check(r.header.member_id != 0 and r.header.cluster_id != 0, "put header identity")
    value, meta = cli.get("/py/a")
    t.equal(value, b"1", "get value")
    t.equal(meta.version, 1, "version after one put")
    t.equal(meta.create_revision, meta.mod_revision, "create == mod revision")
    t.equal(cli.get("/py/missing"), (None, None), "missing key")
    # linearizable read through the other member sees the write at once
    t.equal(other.get("/py/a")[0], b"1", "read on another member")
    prev = cli.put("/py/a", "2", prev_kv=True)
    t.equal(prev.prev_kv.value, b"1", "put prev_kv")
    t.equal(cli.get("/py/a")[1].version, 2, "version after two puts")

    # prefix and ranges
    for i in range(5):
        cli.put("/py/p/%d" % i, "v%d" % i)
    got = [(v, m.key) for v, m in cli.get_prefix("/py/p/")]
    t.equal([k for _, k in got], [b"/py/p/%d" % i for i in range(5)], "get_prefix keys in order")
    got = list(cli.get_prefix("/py/p/", sort_order="descend", sort_target="key"))
    t.equal(got[0][1].key, b"/py/p/4", "descending sort")
    got = list(cli.get_range("/py/p/1", "/py/p/3"))
    t.equal(len(got), 2, "get_range [1, 3)")
    t.equal(len(list(cli.get_all())), 6, "get_all")

    # delete
    t.equal(cli.delete("/py/p/0"), True, "delete existing")
    t.equal(cli.delete("/py/p/0"), False, "delete missing")
    resp = cli.delete("/py/p/1", prev_kv=True, return_response=True)
    t.equal(resp.deleted, 1, "delete response count")
    t.equal(resp.prev_kvs[0].value, b"v1", "delete prev_kv")
    resp = cli.delete_prefix("/py/p/")
    t.equal(resp.deleted, 3, "delete_prefix count")
    t.equal(len(list(cli.get_prefix("/py/p/"))), 0, "prefix empty after delete_prefix")

    # transactions
    ok, responses = cli.transaction(
        compare=[cli.transactions.value("/py/a") == "2"],
        success=[cli.transactions.put("/py/a", "3"), cli.transactions.get("/py/a")],
        failure=[cli.transactions.put("/py/a", "never")])
    t.equal(ok, True, "txn succeeded")
    t.equal(responses[1][0][0], b"3", "txn get sees the txn's put")
    ok, responses = cli.transaction(
        compare=[cli.transactions.version("/py/a") < 1],
        success=[cli.transactions.put("/py/a", "never")],
        failure=[cli.transactions.get("/py/a")])
    t.equal(ok, False, "txn failed")
    t.equal(responses[0][0][0], b"3", "txn failure branch")
    t.equal(cli.put_if_not_exists("/py/a", "x"), False, "put_if_not_exists on an existing key")
    t.equal(cli.put_if_not_exists("/py/new", "x"), True, "put_if_not_exists on a new key")
    t.equal(cli.replace("/py/new", "x", "y"), True, "replace")
    try:
        cli.transaction(compare=[], success=[cli.transactions.put("/py/d", "1"),
                                             cli.transactions.put("/py/d", "2")], failure=[])
        t.check(False, "duplicate key in txn refused")
    except grpc.RpcError as e:
        t.equal(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "duplicate key code")
        t.equal(e.details(), "etcdserver: duplicate key given in txn request", "duplicate key text")

    # leases
    lease = cli.lease(30)
    t.check(lease.id != 0, "lease granted")
    t.check(0 < lease.remaining_ttl <= 30, "lease remaining TTL", lease.remaining_ttl)
    t.equal(lease.granted_ttl, 30, "lease granted TTL")
    cli.put("/py/l", "leased", lease=lease)
    t.equal(cli.get("/py/l")[1].lease_id, lease.id, "key attached to lease")
    t.equal(lease.keys, [b"/py/l"], "lease keys")
    rr = lease.refresh()
    t.equal(rr[0].TTL, 30, "keep-alive TTL")
    info = other.get_lease_info(lease.id)
    t.equal(info.ID, lease.id, "lease visible on another member")
    t.check(0 < info.TTL <= 30, "remaining TTL seen by another member", info.TTL)
    lease.revoke()
    t.equal(cli.get("/py/l"), (None, None), "key gone with its lease")
    t.equal(cli.get_lease_info(lease.id).TTL, -1, "revoked lease: TTL -1")
    short = cli.lease(1)
    t.equal(short.granted_ttl, 2, "TTL raised to the minimum (1.5 election timeouts)")
    try:
        cli.revoke_lease(424242)
        t.check(False, "revoking an unknown lease fails")
    except grpc.RpcError as e:
        t.equal(e.code(), grpc.StatusCode.NOT_FOUND, "unknown lease code")
        t.equal(e.details(), "etcdserver: requested lease not found", "unknown lease text")

    # watch (events in order, from the other member's writes)
    events = []
    done = threading.Event()

    def cb(resp):
        for ev in getattr(resp, "events", []):
            events.append(ev)
            if ev.value == b"last":
                done.set()
    wid = cli.add_watch_prefix_callback("/py/w/", cb)
    # The watch registers asynchronously: write a probe until the watcher has seen one.
    C.wait_until(lambda: other.put("/py/w/probe", "p") and
                 any(e.key == b"/py/w/probe" for e in events), "watch to deliver a probe", step=0.2)
    other.put("/py/w/1", "a")
    other.delete("/py/w/1")
    other.put("/py/w/2", "last")
    t.check(done.wait(C.DEADLINE_S), "watch saw the last event")
    kinds = [(type(e).__name__, e.key) for e in events if e.key != b"/py/w/probe"]
    t.equal(kinds, [("PutEvent", b"/py/w/1"), ("DeleteEvent", b"/py/w/1"),
                    ("PutEvent", b"/py/w/2")], "watch events in order")
    cli.cancel_watch(wid)
    # watch_once, with a writer that keeps writing until it is seen
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            other.put("/py/w/once", "x")
            stop.wait(0.2)
    th = threading.Thread(target=writer, daemon=True)
    th.start()
    try:
        ev = cli.watch_once("/py/w/once", timeout=C.DEADLINE_S)
        t.equal(ev.key, b"/py/w/once", "watch_once")
    finally:
        stop.set()
        th.join(C.DEADLINE_S)

    # members and status
    members = list(cli.members)
    t.equal(len(members), 3, "three members")
    t.equal(sorted(m.name for m in members), ["m1", "m2", "m3"], "member names")
    t.check(all(m.peer_urls and m.client_urls for m in members), "member URLs")
    st = cli.status()
    t.check(st.leader is not None and st.leader.name in ("m1", "m2", "m3"), "status leader", st.leader)
    t.check(st.raft_index > 0 and st.raft_term > 0, "status raft index/term")
    t.check(st.version.startswith("3.4"), "status version", st.version)
    t.check(st.db_size > 0, "status db size", st.db_size)

    # compaction and its errors
    rev = cli.put("/py/c", "1").header.revision
    cli.put("/py/c", "2")
    cli.compact(rev)
    try:
        other.kvstub.Range(etcd3.etcdrpc.RangeRequest(key=b"/py/c", revision=rev - 1), 30)
        t.check(False, "read below the compacted revision fails")
    except grpc.RpcError as e:
        t.equal(e.code(), grpc.StatusCode.OUT_OF_RANGE, "compacted code")
        t.equal(e.details(), "etcdserver: mvcc: required revision has been compacted",
                "compacted text")
    try:
        cli.kvstub.Range(etcd3.etcdrpc.RangeRequest(key=b""), 30)
        t.check(False, "empty key refused")
    except grpc.RpcError as e:
        t.equal(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "empty key code")
        t.equal(e.details(), "etcdserver: key is not provided", "empty key text")
    h = cli.hash()
    t.check(isinstance(h, int), "hash")


if __name__ == "__main__":
    sys.exit(main())
