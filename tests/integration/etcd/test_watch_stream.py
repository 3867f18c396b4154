#!/usr/bin/python3
"""test_watch_stream.py — the Watch stream over raw gRPC (python3-grpcio with etcd's protos from
python3-etcd3): many watchers on one stream, a client that stops reading while ~100 MB of
events are written (the server must stay bounded: events are pulled from the store only when
the stream can send), then reads everything back in order without a gap; a watcher from a
compacted revision is created, then canceled with the compact revision; cancel answers;
progress notifications (interval shortened to 1 s); a stream that asked for a leader
("hasleader") ends with "etcdserver: no leader" once the quorum is gone.

    test_watch_stream.py --server build/bin/concurd
"""
import queue
import re
import sys
import threading

import itest
from itest import cluster as C

try:
    import grpc
    from etcd3.etcdrpc import rpc_pb2 as pb
    from etcd3.etcdrpc import rpc_pb2_grpc as pbg
except ImportError:
    print("SKIP: python3-grpcio / python3-etcd3 not installed")
    sys.exit(itest.SKIP)

N_WATCHERS = 50
VALUE = b"v" * (64 << 10)
N_WRITES = 1600  # ~100 MB of events queued behind a client that does not read


class Stream:
    """A Watch stream: requests are fed from a queue, responses collected by the caller."""

    def __init__(self, channel, metadata=None):
        self.q = queue.Queue()
        self.stub = pbg.WatchStub(channel)
        self.it = self.stub.Watch(iter(self.q.get, None), timeout=120, metadata=metadata)

    def send(self, **kw):
        self.q.put(pb.WatchRequest(**kw))

    def next(self):
        return next(self.it)

    def close(self):
        self.q.put(None)
        self.it.cancel()


def rss(member):
    code, body, _ = C.http_get(member.client_url + "/metrics")
    m = re.search(rb"^process_resident_memory_bytes (\S+)$", body, re.M)
    return float(m.group(1)) if m else 0.0


def main():
    args = itest.parse_args(__doc__)
    t = itest.Checks()
    with C.Cluster(args.server, n=3, workdir=itest.workdir(args, "watch"),
                   env=itest.server_env(args.server), extra_args=itest.server_flags(args.server)) as c:
        c.start()
        leader = c.leader()
        # Two followers: one serves the stream, the other is the memory baseline.
        m = [x for x in c.members if x is not leader][0]
        ch = grpc.insecure_channel(m.endpoint, options=[("grpc.max_receive_message_length",
                                                         64 << 20)])
        kv = pbg.KVStub(ch)
        try:
            run(t, c, m, ch, kv)
        except Exception:
            c.failed = True
            raise
        finally:
            ch.close()
        if t.failures:
            c.failed = True
    return t.report()


def run(t, c, m, ch, kv):
    s = Stream(ch)
    # Many watchers on one stream: each gets its created response, with increasing ids.
    for i in range(N_WATCHERS):
        s.send(create_request=pb.WatchCreateRequest(key=b"w/%02d" % i))
    ids = []
    for i in range(N_WATCHERS):
        r = s.next()
        t.check(r.created and not r.canceled, "watcher %d created" % i, r)
        ids.append(r.watch_id)
    t.equal(ids, list(range(N_WATCHERS)), "automatic watch ids from 0")
    # One more on the bulk range; then stop reading while writing ~100 MB through it.
    s.send(create_request=pb.WatchCreateRequest(key=b"big/", range_end=b"big0"))
    r = s.next()
    big_id = r.watch_id
    t.check(r.created, "bulk watcher created")
    # Every member holds the written data (Raft log, store); only m serves the stalled stream.
    other = [x for x in c.members if x is not m and x is not c.leader()][0]
    before, before_o = rss(m), rss(other)
    first = None
    for i in range(N_WRITES):
        rev = kv.Put(pb.PutRequest(key=b"big/%05d" % i, value=VALUE), timeout=60).header.revision
        first = first or rev
    after, after_o = rss(m), rss(other)
    # concur must not buffer the 100 MB for the stalled client (etcd does): m grows by no more
    # than a member without the watcher, plus the bounded send queues.
    extra = (after - before) - (after_o - before_o)
    if c.is_concur:
        t.check(extra < 32 << 20, "memory stays bounded behind a stalled watcher",
                "%.0f MB more than a member without it" % (extra / 1e6))
    print("stalled watcher: %.0f MB more than a member without it" % (extra / 1e6))
    # Now read everything: every revision once, in order.
    revs = []
    while len(revs) < N_WRITES:
        r = s.next()
        if r.watch_id != big_id:
            continue
        for ev in r.events:
            revs.append(ev.kv.mod_revision)
            if len(ev.kv.value) != len(VALUE):
                t.check(False, "event value intact")
    t.equal(revs, list(range(first, first + N_WRITES)), "all events, in order, no gap")
    # Cancel answers canceled for the id.
    s.send(cancel_request=pb.WatchCancelRequest(watch_id=3))
    r = s.next()
    t.check(r.canceled and r.watch_id == 3, "cancel response", r)
    s.close()

    # A watcher from a compacted revision: created, then canceled with the compact revision.
    rev = kv.Put(pb.PutRequest(key=b"c/k", value=b"1"), timeout=60).header.revision
    kv.Put(pb.PutRequest(key=b"c/k", value=b"2"), timeout=60)
    kv.Compact(pb.CompactionRequest(revision=rev + 1), timeout=60)
    s2 = Stream(ch)
    s2.send(create_request=pb.WatchCreateRequest(key=b"c/k", start_revision=rev))
    r = s2.next()
    t.check(r.created and not r.canceled, "created before the compaction notice", r)
    r = s2.next()
    t.check(r.canceled and r.compact_revision == rev + 1, "canceled with compact_revision", r)
    # A watcher on a key still gets history from a kept revision.
    s2.send(create_request=pb.WatchCreateRequest(key=b"c/k", start_revision=rev + 1))
    r = s2.next()
    t.check(r.created, "second watcher created")
    r = s2.next()
    t.check(len(r.events) == 1 and r.events[0].kv.value == b"2", "history from a kept revision", r)
    s2.close()

    # fragment (etcd 3.4 field 8, unknown to python3-etcd3's protos: appended by hand): one
    # revision deleting 30 keys of 100 KB, with prev_kv, is 3 MB of events; a fragmenting
    # watcher gets it in pieces under the 2 MiB limit, each but the last marked fragment.
    create = pb.WatchCreateRequest(key=b"frag/", range_end=b"frag0", prev_kv=True)
    raw = create.SerializeToString() + b"\x40\x01"
    req = b"\x0a" + bytes([len(raw)]) + raw
    fq = queue.Queue()
    fit = ch.stream_stream("/etcdserverpb.Watch/Watch", request_serializer=lambda b: b,
                           response_deserializer=lambda b: b)(iter(fq.get, None), timeout=120)
    fq.put(req)
    r = pb.WatchResponse.FromString(next(fit))
    t.check(r.created, "fragmenting watcher created")
    for i in range(30):
        kv.Put(pb.PutRequest(key=b"frag/%02d" % i, value=b"f" * (100 << 10)), timeout=60)
    got = 0
    while got < 30:
        got += len(pb.WatchResponse.FromString(next(fit)).events)
    kv.DeleteRange(pb.DeleteRangeRequest(key=b"frag/", range_end=b"frag0"), timeout=60)
    pieces, n = [], 0
    while n < 30:
        raw = next(fit)
        r = pb.WatchResponse.FromString(raw)
        # fragment is WatchResponse field 7: tag 0x38, value 1
        pieces.append((len(r.events), b"\x38\x01" in raw[:64], len(raw)))
        n += len(r.events)
    t.check(len(pieces) > 1, "a large revision comes in fragments", pieces)
    t.check(all(p[1] for p in pieces[:-1]) and not pieces[-1][1],
            "fragment set on all but the last piece", pieces)
    t.check(all(p[2] < (2 << 20) for p in pieces), "each piece under the limit", pieces)
    fq.put(None)
    fit.cancel()

    # Progress notifications: an idle watcher that asked for them gets empty responses with
    # the current revision (the interval is 1 s in this cluster).
    s3 = Stream(ch, metadata=[("hasleader", "true")])
    s3.send(create_request=pb.WatchCreateRequest(key=b"idle", progress_notify=True))
    r = s3.next()
    t.check(r.created, "progress watcher created")
    wid = r.watch_id
    cur = kv.Range(pb.RangeRequest(key=b"idle"), timeout=60).header.revision
    r = s3.next()
    t.check(r.watch_id == wid and not r.events and not r.created and not r.canceled and
            r.header.revision == cur, "a progress notification", r)

    # Losing the quorum ends a stream that required a leader.
    for x in c.members:
        if x is not m:
            x.kill()
    try:
        while True:
            s3.next()  # more progress notifications may come first
    except grpc.RpcError as e:
        t.equal(e.code(), grpc.StatusCode.UNAVAILABLE, "no-leader code")
        t.equal(e.details(), "etcdserver: no leader", "no-leader text")


if __name__ == "__main__":
    sys.exit(main())
