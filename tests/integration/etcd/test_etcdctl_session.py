#!/usr/bin/python3
"""test_etcdctl_session.py — issue 6's etcdctl session, run with the real etcdctl 3.4 against a
3-member cluster of the server under test and against a 3-member etcd 3.4 cluster: every step
must exit the same way and print the same thing once values that legitimately differ are
normalised (member and lease IDs, revisions made relative to the session's start, Raft terms
and indexes, sizes, durations, ports, hashes). Prints a diff of every step that differs.

    test_etcdctl_session.py --server build/bin/concurd [--etcd /usr/bin/etcd] [--workdir DIR]
"""
import difflib
import os
import re
import subprocess
import sys
import threading

import itest
from itest import cluster

C = cluster


class Watcher:
    """A background etcdctl watch whose stdout lines are collected as they come."""

    def __init__(self, endpoint, args, stdin=None):
        self.lines = []
        self.p = subprocess.Popen([C.ETCDCTL, "--endpoints", endpoint, "watch"] + args,
                                  stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, ETCDCTL_API="3"))
        if stdin is not None:
            self.p.stdin.write(stdin)
            self.p.stdin.flush()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self):
        self.p.kill()
        self.p.wait(10)
        self.t.join(10)
        err = self.p.stderr.read()
        return "\n".join(self.lines), err


def watchers_on(member):
    """etcd_debugging_mvcc_watcher_total of a member (both etcd and concurd export it)."""
    status, body, _ = C.http_get(member.client_url + "/metrics")
    m = re.search(rb"^etcd_debugging_mvcc_watcher_total (\S+)$", body, re.M)
    return int(float(m.group(1))) if status == 200 and m else -1


class Session:
    """Runs the steps against one cluster, recording (step, exit code, stdout, stderr)."""

    def __init__(self, c):
        self.c = c
        self.ep = c.members[0].endpoint  # one endpoint: watches and reads see one member
        self.out = []
        self.vars = {}

    def ctl(self, *args, endpoints=None, input=None, record=True):
        label = " ".join(args)  # the template: revisions and IDs differ between clusters
        args = [a.format(**self.vars) for a in args]
        r = self.c.etcdctl(*args, endpoints=endpoints or self.ep, input=input, check=False)
        if record:
            self.out.append((label, r.returncode, r.stdout, r.stderr))
        return r

    def watch(self, args, actions, until, stdin=None, progress=False):
        """Starts `etcdctl watch args`, waits until the member counts one more watcher, runs the
        actions (etcdctl argument lists), waits until a stdout line matches `until`, stops."""
        member = self.c.members[0]
        before = watchers_on(member)
        w = Watcher(self.ep, [a.format(**self.vars) for a in args], stdin)
        try:
            C.wait_until(lambda: watchers_on(member) > before, "watch %s to register" % args)
            for a in actions:
                self.ctl(*a, record=False)
            C.wait_until(lambda: any(re.search(until, l) for l in w.lines),
                         "watch %s output %r" % (args, until))
        finally:
            out, err = w.stop()
            # The member drops the watcher when the client is gone: wait for it, so the next
            # watch step counts from a settled baseline.
            C.wait_until(lambda: watchers_on(member) <= before, "watch %s to go away" % args)
        if progress:  # progress lines may repeat while we wait: keep the first
            kept, seen = [], False
            for l in out.split("\n"):
                if l.startswith("progress notify:"):
                    if seen:
                        continue
                    seen = True
                kept.append(l)
            out = "\n".join(kept)
        self.out.append(("watch " + " ".join(args) + (" <<%r" % stdin if stdin else ""), 0, out,
                         err))

    def run(self):
        r = self.ctl("get", "s/", "-w", "json", record=False)
        base = int(re.search(r'"revision":(\d+)', r.stdout).group(1))
        self.vars = {"r1": str(base + 1), "r3": str(base + 3)}
        # put
        self.ctl("put", "s/a", "1")
        self.ctl("put", "s/b", "2")
        self.ctl("put", "s/c", "3")
        self.ctl("put", "s/d/x", "4")
        self.ctl("put", "s/e", "5", "--prev-kv")
        self.ctl("put", "s/e", "6", "--prev-kv")
        # get, with every flag of the session
        self.ctl("get", "s/a")
        self.ctl("get", "s/a", "--print-value-only")
        self.ctl("get", "s/a", "-w", "json")
        self.ctl("get", "s/a", "--hex")
        self.ctl("get", "s/a", "s/c")
        self.ctl("get", "s/", "--prefix")
        self.ctl("get", "s/", "--prefix", "--limit", "2")
        self.ctl("get", "s/", "--prefix", "--keys-only")
        self.ctl("get", "s/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND")
        self.ctl("get", "s/", "--prefix", "--consistency", "s")
        self.ctl("get", "s/", "--prefix", "--limit", "1", "-w", "fields")
        self.ctl("get", "s/b", "--from-key")
        self.ctl("get", "s/a", "--rev", "{r1}")
        self.ctl("get", "s/zzz")
        self.ctl("get", "s/a", "--rev", "9999999")
        self.ctl("get", "")
        # txn (non-interactive: compares, success ops, failure ops on stdin)
        self.ctl("txn", input='value("s/e") = "6"\n\nput s/e 7\nget s/a\n\nput s/e 0\n\n')
        self.ctl("txn", input='mod("s/e") < "2"\n\nput s/x 1\n\nget s/e\n\n')
        self.ctl("txn", "-w", "json", input='version("s/a") > "0"\n\nget s/a\n\n\n')
        # del
        self.ctl("del", "s/a")
        self.ctl("del", "s/b", "s/c")
        self.ctl("del", "s/d", "--prefix")
        self.ctl("del", "s/nope")
        self.ctl("put", "s/f1", "x")
        self.ctl("put", "s/f2", "y")
        self.ctl("del", "s/f", "--from-key", "--prev-kv")
        self.ctl("put", "s/c", "again")
        self.ctl("del", "s/c", "--prev-kv")
        # watch: a key, a range, a prefix, interactive, from a revision, with prev kv, progress
        self.watch(["s/w"], [["put", "s/w", "1"], ["del", "s/w"], ["put", "s/w", "END"]], "^END$")
        self.watch(["s/wa", "s/wc"], [["put", "s/wb", "1"], ["put", "s/wc", "no"],
                                      ["put", "s/wa", "END"]], "^END$")
        self.watch(["--prefix", "s/p/"], [["put", "s/p/1", "a"], ["put", "s/q", "no"],
                                          ["put", "s/p/2", "END"]], "^END$")
        self.watch(["-i"], [["put", "s/i", "END"]], "^END$", stdin="watch s/i\n")
        self.watch(["--rev", "{r1}", "--prefix", "s/w"], [], "^END$")
        self.watch(["--prev-kv", "s/pk"], [["put", "s/pk", "old"], ["put", "s/pk", "END"]],
                   "^END$")
        # etcdctl 3.4 asks for progress in interactive mode (RequestProgress: watch_id -1)
        self.watch(["-i"], [], "^progress notify:", stdin="watch s/prog\nprogress\n",
                   progress=True)
        # compaction
        self.ctl("compaction", "{r3}")
        self.ctl("get", "s/a", "--rev", "{r1}")
        self.ctl("compaction", "{r1}")
        # leases
        r = self.ctl("lease", "grant", "100")
        m = re.search(r"lease ([0-9a-f]+) granted", r.stdout)
        self.vars["lease"] = m.group(1) if m else "0"
        self.ctl("put", "--lease={lease}", "s/l", "leased")
        self.ctl("get", "s/l", "-w", "json")
        self.ctl("lease", "timetolive", "{lease}", "--keys")
        self.ctl("lease", "timetolive", "{lease}")
        self.ctl("lease", "list")
        self.ctl("lease", "keep-alive", "--once", "{lease}")
        self.ctl("lease", "revoke", "{lease}")
        self.ctl("get", "s/l")
        self.ctl("lease", "timetolive", "{lease}")
        self.ctl("lease", "revoke", "{lease}")
        self.ctl("lease", "grant", "1")
        # members and endpoints
        eps = self.c.endpoints()
        self.ctl("member", "list")
        self.ctl("member", "list", "-w", "table")
        self.ctl("endpoint", "health", endpoints=eps)
        self.ctl("endpoint", "status", "-w", "table", endpoints=eps)
        self.ctl("endpoint", "hashkv", endpoints=eps)
        self.ctl("alarm", "list")
        return self.out


# ---- normalisation ----

def norm(text, base):
    def rel(m):
        n = int(m.group(2))
        return m.group(1) + ("r+%d" % (n - base) if n > base else str(n))
    for p in [r'("(?:revision|create_revision|mod_revision|compact_revision)":)(\d+)',
              r'("(?:Revision|CreateRevision|ModRevision|PrevRevision)" : )(\d+)',
              r'(compacted revision )(\d+)', r'(progress notify: )(\d+)',
              r'(required revision )(\d+)']:
        text = re.sub(p, rel, text)
    subs = [
        (r'(127\.0\.0\.1:\d+), \d+$', r'\1, <hash>'),
        (r'("(?:cluster_id|member_id|raft_term|ID|lease)":)\d+', r'\1<n>'),
        (r'("(?:ClusterID|MemberID|RaftTerm|Lease)" : )\d+', r'\1<n>'),
        (r'\b[0-9a-f]{10,16}\b', '<id>'),
        (r'127\.0\.0\.1:\d+', '<addr>'),
        (r'remaining\(\d+s\)', 'remaining(<n>s)'),
        (r'took = \S+', 'took = <dur>'),
        (r'\d+(\.\d+)? (kB|MB|B)\b', '<size>'),
    ]
    for p, r in subs:
        text = re.sub(p, r, text, flags=re.M)
    lines = []
    for l in text.split("\n"):
        if l.startswith("+-"):
            continue  # table rules (their widths follow the data)
        if l.startswith("|"):
            cells = [re.sub(r'^\d+$', '<n>', c.strip()) for c in l.strip("|").split("|")]
            l = "| " + " | ".join(cells) + " |"
        lines.append(l)
    return "\n".join(lines)


def normalise(out, base):
    res = []
    for step, code, stdout, stderr in out:
        err = "\n".join(l for l in stderr.split("\n") if l and not l.startswith("{"))
        o = norm(stdout, base).rstrip("\n")
        # Rows of tables and multi-endpoint outputs come in ID or completion order.
        if re.match(r"(member list|endpoint)", step):
            head = [l for l in o.split("\n") if l.startswith("| ID") or l.startswith("| ENDPOINT")]
            rest = sorted(l for l in o.split("\n") if l not in head)
            o = "\n".join(head + rest)
        res.append("$ etcdctl %s\n[exit %d]\n%s\n%s" % (norm(step, base), code, o,
                                                       norm(err, base)))
    return res


def base_rev(out):
    """The revision before the first put: the session's first put creates r+1."""
    for step, code, stdout, _ in out:
        m = re.search(r'"mod_revision":(\d+)', stdout)
        if step.startswith("get s/a -w json") and m:
            return int(m.group(1)) - 1
    return 0


def run_session(binary, n, wd, name):
    with C.Cluster(binary, n=n, workdir=wd, env=itest.server_env(binary),
                   extra_args=itest.server_flags(binary)) as c:
        c.start()
        c.leader()
        try:
            out = Session(c).run()
        except Exception:
            c.failed = True
            raise
        return out, c


def main():
    args = itest.parse_args(__doc__)
    if not os.access(args.etcd, os.X_OK):
        print("SKIP: reference etcd not found")
        return itest.SKIP
    ref, _ = run_session(args.etcd, 3, itest.workdir(args, "etcd"), "etcd")
    got, c = run_session(args.server, 3, itest.workdir(args, "server"), "server")
    want = normalise(ref, base_rev(ref))
    have = normalise(got, base_rev(got))
    bad = 0
    for w, h in zip(want, have):
        if w != h:
            bad += 1
            sys.stdout.write("".join(difflib.unified_diff(
                (w + "\n").splitlines(True), (h + "\n").splitlines(True), "etcd", "server")))
    if len(want) != len(have):
        print("step counts differ: %d vs %d" % (len(want), len(have)))
        bad += 1
    print("%d steps, %d differ" % (len(want), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
