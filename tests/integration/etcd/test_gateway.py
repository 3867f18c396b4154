#!/usr/bin/python3
"""test_gateway.py — the HTTP/1.1 side of the client port with curl: the JSON gateway (put,
range, deleterange, txn, compaction, leases, keep-alive stream, watch stream, status) compared
with etcd 3.4's answers (status codes and JSON, IDs and revisions normalised), plus /health,
/version and /metrics.

    test_gateway.py --server build/bin/concurd
"""
import base64
import json
import re
import shutil
import subprocess
import sys
import threading

import itest
from itest import cluster as C

CURL = shutil.which("curl") or "/usr/bin/curl"


def b64(s):
    return base64.b64encode(s.encode()).decode()


def curl(url, body=None, method=None):
    """(HTTP status, body text) of a curl request."""
    cmd = [CURL, "-s", "-o", "-", "-w", "\n%{http_code}", url]
    if body is not None:
        cmd += ["-X", method or "POST", "-d", body if isinstance(body, str) else json.dumps(body)]
    elif method:
        cmd += ["-X", method]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=C.DEADLINE_S)
    text, _, code = r.stdout.rpartition("\n")
    return int(code or 0), text


class Stream:
    """curl -N on a streaming endpoint; lines are collected as they arrive."""

    def __init__(self, url, body):
        self.lines = []
        self.p = subprocess.Popen([CURL, "-s", "-N", "-X", "POST", url, "-d", body],
                                  stdout=subprocess.PIPE, text=True)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            if line.strip():
                self.lines.append(json.loads(line))

    def wait(self, n, what):
        C.wait_until(lambda: len(self.lines) >= n, what)

    def stop(self):
        self.p.kill()
        self.p.wait(10)
        self.t.join(10)
        return self.lines


IDS = {"cluster_id", "member_id", "raft_term", "ID", "leader", "raftIndex", "raftTerm",
       "raftAppliedIndex", "dbSize", "dbSizeInUse"}
REVS = {"revision", "create_revision", "mod_revision", "compact_revision"}


def norm(v, base, key=None):
    """JSON with IDs blanked and revisions made relative to base (strings, as the gateway
    sends 64-bit integers)."""
    if isinstance(v, dict):
        return {k: norm(x, base, k) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x, base, key) for x in v]
    if key in IDS:
        return "<n>"
    if key in REVS and isinstance(v, str) and v.lstrip("-").isdigit():
        n = int(v)
        return "r+%d" % (n - base) if n > base else v
    if key == "TTL" and isinstance(v, str) and v.isdigit() and 0 < int(v) <= 100:
        return "<ttl>"  # remaining TTLs tick down (etcd truncates 99.9 s to 99)
    return v


class Session:
    def __init__(self, c):
        self.c = c
        self.url = c.members[0].client_url
        self.out = []
        self.base = 0

    def call(self, path, body, label=None):
        code, text = curl(self.url + path, body)
        try:
            v = json.loads(text)
        except ValueError:
            v = text
        self.out.append((label or path, code, v))
        return code, v

    def run(self):
        _, v = self.call("/v3/kv/range", {"key": b64("g/")}, "base")
        self.base = int(v["header"]["revision"])
        self.call("/v3/kv/put", {"key": b64("g/a"), "value": b64("1")})
        self.call("/v3/kv/put", {"key": b64("g/b"), "value": b64("2"), "prev_kv": True})
        self.call("/v3/kv/put", {"key": b64("g/b"), "value": b64("3"), "prev_kv": True})
        self.call("/v3/kv/range", {"key": b64("g/a")})
        self.call("/v3/kv/range", {"key": b64("g/"), "range_end": b64("g0")})
        self.call("/v3/kv/range", {"key": b64("g/"), "range_end": b64("g0"), "count_only": True})
        self.call("/v3/kv/range", {"key": b64("g/"), "range_end": b64("g0"), "limit": "1",
                                   "keys_only": True, "sort_order": "DESCEND"})
        self.call("/v3/kv/range", {"key": b64("g/zzz")})
        self.call("/v3/kv/range", '{"key":"Zy9h","serializable":true}')
        # errors
        self.call("/v3/kv/range", {"key": ""}, "range empty key")
        self.call("/v3/kv/range", {"key": b64("g/a"), "revision": "99999"}, "future rev")
        self.call("/v3/kv/range", "garbage", "bad json")
        self.call("/v3/kv/put", {"key": b64("g/a"), "value": b64("x"), "ignore_value": True},
                  "value provided")
        # txn
        self.call("/v3/kv/txn", {
            "compare": [{"target": "VALUE", "key": b64("g/a"), "value": b64("1")}],
            "success": [{"request_put": {"key": b64("g/a"), "value": b64("10")}},
                        {"request_range": {"key": b64("g/a")}}],
            "failure": [{"request_range": {"key": b64("g/b")}}]})
        self.call("/v3/kv/txn", {
            "compare": [{"target": "CREATE", "key": b64("g/nope"), "createRevision": "5",
                         "result": "GREATER"}],
            "success": [], "failure": [{"requestDeleteRange": {"key": b64("g/b"),
                                                               "prev_kv": True}}]})
        self.call("/v3/kv/txn", {"success": [{"request_put": {"key": b64("g/d")}},
                                             {"request_put": {"key": b64("g/d")}}]}, "dup key")
        # deleterange, compaction
        self.call("/v3/kv/deleterange", {"key": b64("g/a"), "prev_kv": True})
        self.call("/v3/kv/deleterange", {"key": b64("g/none")})
        self.call("/v3/kv/compaction", {"revision": str(self.base + 2)})
        self.call("/v3/kv/compaction", {"revision": str(self.base + 1)}, "compacted")
        self.call("/v3/kv/range", {"key": b64("g/a"), "revision": str(self.base + 1)},
                  "range compacted")
        # leases
        _, v = self.call("/v3/lease/grant", {"TTL": "100"})
        lid = v.get("ID", "0") if isinstance(v, dict) else "0"
        self.call("/v3/lease/grant", {"TTL": "1", "ID": "77"}, "grant with id")
        self.call("/v3/lease/grant", {"TTL": "1", "ID": "77"}, "grant existing id")
        self.call("/v3/kv/put", {"key": b64("g/l"), "value": b64("x"), "lease": lid})
        self.call("/v3/lease/timetolive", {"ID": lid, "keys": True})
        self.call("/v3/kv/lease/timetolive", {"ID": lid})
        self.call("/v3/lease/leases", {})
        self.call("/v3/lease/revoke", {"ID": lid})
        self.call("/v3/lease/revoke", {"ID": lid}, "revoke again")
        self.call("/v3/lease/timetolive", {"ID": lid}, "ttl of revoked")
        self.call("/v3/kv/range", {"key": b64("g/l")}, "leased key gone")
        # keep-alive stream: two requests in the body, then the stream ends
        code, text = curl(self.url + "/v3/lease/keepalive", '{"ID":"77"}{"ID":"123456"}')
        lines = [json.loads(l) for l in text.split("\n") if l.strip()]
        self.out.append(("keepalive stream", code, lines))
        # watch stream
        s = Stream(self.url + "/v3/watch",
                   json.dumps({"create_request": {"key": b64("g/w"), "prev_kv": True}}))
        try:
            s.wait(1, "watch created")
            for val in ["1", "2"]:
                curl(self.url + "/v3/kv/put", {"key": b64("g/w"), "value": b64(val)})
            curl(self.url + "/v3/kv/deleterange", {"key": b64("g/w")})
            s.wait(4, "watch events")
        finally:
            lines = s.stop()
        self.out.append(("watch stream", 200, lines))
        # control messages: an empty range, a client-chosen id, a duplicate id, a progress
        # request, a cancel
        s = Stream(self.url + "/v3/watch",
                   '{"create_request":{"key":"Zy9h","range_end":"Zy9h"}}'
                   '{"create_request":{"key":"Zy9h","watch_id":"7"}}'
                   '{"create_request":{"key":"Zy9h","watch_id":"7"}}'
                   '{"progress_request":{}}{"cancel_request":{"watch_id":"7"}}')
        try:
            s.wait(5, "watch control responses")
        finally:
            lines = s.stop()
        self.out.append(("watch controls", 200, lines))
        self.call("/v3/maintenance/status", {})
        self.call("/v3/cluster/member/list", {}, "member list")
        self.call("/v3/maintenance/alarm", {"action": "GET"})
        self.call("/v3/auth/user/get", {"name": "x"}, "auth user get")
        self.call("/v3/auth/authenticate", {"name": "x", "password": "y"}, "authenticate")
        code, _ = curl(self.url + "/v3/kv/range", method="GET")
        self.out.append(("GET on a POST route", code, None))
        code, _ = curl(self.url + "/v3/nope", {})
        self.out.append(("unknown path", code, None))
        return self.out


def compare(t, ref, got):
    rb, gb = ref.base, got.base
    for (label, rc, rv), (glabel, gc, gv) in zip(ref.out, got.out):
        t.equal(glabel, label, "step order")
        t.equal(gc, rc, "HTTP status of %s" % label)
        if label == "member list" and isinstance(rv, dict) and isinstance(gv, dict):
            rv, gv = dict(rv, members=None), dict(gv, members=None)  # 1 vs 3 members
        if label == "bad json":
            continue  # Go's decoder wording; the code and status are compared above
        t.equal(norm(gv, gb), norm(rv, rb), "body of %s" % label)


def health_version_metrics(t, c):
    m = c.members[0]
    code, body, hdrs = C.http_get(m.client_url + "/health")
    t.equal((code, json.loads(body)), (200, {"health": "true"}), "/health")
    code, body, _ = C.http_get(m.client_url + "/version")
    v = json.loads(body)
    t.equal(code, 200, "/version status")
    t.check(v.get("etcdserver", "").startswith("3.4") and v.get("etcdcluster") == "3.4.0",
            "/version body", v)
    code, body, hdrs = C.http_get(m.client_url + "/metrics")
    t.equal(code, 200, "/metrics status")
    text = body.decode()
    for name in ["etcd_server_has_leader", "etcd_server_leader_changes_seen_total",
                 "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
                 "etcd_server_proposals_pending", "etcd_server_proposals_failed_total",
                 "etcd_mvcc_db_total_size_in_bytes", "etcd_debugging_mvcc_db_total_size_in_bytes",
                 "grpc_server_handled_total", "grpc_server_started_total",
                 "process_resident_memory_bytes", "etcd_disk_wal_fsync_duration_seconds",
                 "etcd_disk_backend_commit_duration_seconds"]:
        t.check(re.search(r"^# TYPE %s " % name, text, re.M), "/metrics has " + name)
    t.check(re.search(r"^etcd_server_has_leader 1$", text, re.M), "has_leader is 1")
    # The member wrote and applied entries by now: both disk histograms have samples.
    for name in ["etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds"]:
        mm = re.search(r"^%s_count (\d+)$" % name, text, re.M)
        t.check(mm and int(mm.group(1)) > 0, name + " has samples", mm and mm.group(0))
        inf = re.search(r'^%s_bucket\{le="\+Inf"\} (\d+)$' % name, text, re.M)
        t.check(inf and mm and inf.group(1) == mm.group(1), name + " +Inf bucket == count")
    for line in text.split("\n"):  # Prometheus text format: name{labels} value
        if line and not line.startswith("#"):
            if not re.match(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+]+(e[+-]?\d+)?$|'
                            r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (\+Inf|NaN)$', line):
                t.check(False, "metrics line format", line)
                break


def main():
    args = itest.parse_args(__doc__)
    if not C.os.access(CURL, C.os.X_OK):
        print("SKIP: curl not found")
        return itest.SKIP
    t = itest.Checks()
    with C.Cluster(args.etcd, n=1, workdir=itest.workdir(args, "etcd")) as e:
        e.start()
        ref = Session(e)
        ref.run()
    with C.Cluster(args.server, n=3, workdir=itest.workdir(args, "server")) as c:
        c.start()
        c.leader()
        got = Session(c)
        try:
            got.run()
        finally:
            compare(t, ref, got)
            health_version_metrics(t, c)
            if t.failures:
                c.failed = True
    return t.report()


if __name__ == "__main__":
    sys.exit(main())
