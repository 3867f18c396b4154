#!/usr/bin/python3
"""ctl_compare.py — runs the etcdctl session of issue 6 with the real etcdctl 3.4 and with
concurctl against the same cluster and requires identical output, exit codes and errors.

By default it starts a fresh 3-member cluster on free 127.0.0.1 ports with --server (etcd 3.4 from
Debian; any binary taking etcd's flags, such as concurd, works) and kills it on exit. With
--endpoints it uses an existing, dedicated cluster instead (keys under "ctltest/" are written and
deleted, and keys >= "ctltest/~" are deleted by the --from-key step).

Both tools run the same session one after the other. Outputs are normalised only where they
must differ: revisions are made relative to the revision at which each session (or segment)
started, Raft terms/indexes, lease and learner IDs, hashes, database sizes and durations are
replaced by placeholders, and the log lines both tools write to stderr (etcdctl's zap JSON
warnings, concurctl's "concurctl: ..." details) are dropped. Exit code 0 when everything matched.
"""
import argparse
import base64
import difflib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DEADLINE_S = 20  # any single wait


CHILDREN = []  # every process started here, killed on the way out whatever happens


def die_with_parent():
    """preexec_fn: SIGKILL the child if this runner dies (ctest timeouts, SIGKILL)."""
    import ctypes
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, preexec_fn=die_with_parent, **kw)
    CHILDREN.append(p)
    return p


def kill_children():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
    for p in CHILDREN:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_until(pred, what, timeout=DEADLINE_S, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise TimeoutError("timed out waiting for " + what)


class Cluster:
    """A 3-member cluster started from a binary that takes etcd's flags."""

    def __init__(self, server, workdir, etcdctl):
        self.server, self.workdir, self.etcdctl = server, workdir, etcdctl
        self.procs = []

    def start(self):
        ports = free_ports(6)
        names = ["ctl1", "ctl2", "ctl3"]
        peer = ["http://127.0.0.1:%d" % ports[3 + i] for i in range(3)]
        self.client = ["127.0.0.1:%d" % ports[i] for i in range(3)]
        initial = ",".join("%s=%s" % (names[i], peer[i]) for i in range(3))
        for i in range(3):
            data = os.path.join(self.workdir, names[i] + ".data")
            cmd = [self.server, "--name", names[i], "--data-dir", data,
                   "--listen-client-urls", "http://" + self.client[i],
                   "--advertise-client-urls", "http://" + self.client[i],
                   "--listen-peer-urls", peer[i], "--initial-advertise-peer-urls", peer[i],
                   "--initial-cluster", initial, "--initial-cluster-state", "new",
                   "--initial-cluster-token", "ctl-compare"]
            if os.path.basename(self.server) == "etcd":
                cmd += ["--experimental-watch-progress-notify-interval", "1s"]
            log = open(os.path.join(self.workdir, names[i] + ".log"), "wb")
            self.procs.append(spawn(cmd, stdout=log, stderr=subprocess.STDOUT))
        for ep in self.client:
            def healthy(ep=ep):
                for p in self.procs:
                    if p.poll() is not None:
                        raise RuntimeError("server exited early; see logs in " + self.workdir)
                r = subprocess.run([self.etcdctl, "--endpoints", ep, "--command-timeout", "1s",
                                    "endpoint", "health"], capture_output=True)
                return r.returncode == 0
            wait_until(healthy, "member %s to be healthy" % ep, timeout=60, step=0.2)
        return self.client

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass


# ---- normalisation ------------------------------------------------------------------------------

REV_PATTERNS = [
    r'("(?:revision|create_revision|mod_revision|compact_revision)":)(\d+)',
    r'("CompactRevision":)(\d+)',
    r'("(?:Prev)?(?:Create|Mod)?Revision" : )(\d+)',
    r'(compacted revision )(\d+)',
    r'(progress notify: )(\d+)',
]


def norm_revs(text, base):
    def rel(m):
        n = int(m.group(2))
        return m.group(1) + ("r+%d" % (n - base) if n >= base else str(n))
    for p in REV_PATTERNS:
        text = re.sub(p, rel, text)
    return text


COMMON = [
    (r'("raft_term":)\d+', r'\1<term>'),
    (r'("RaftTerm" : )\d+', r'\1<term>'),
    (r'("raftTerm":|"raftIndex":|"raftAppliedIndex":|"dbSize":|"dbSizeInUse":)\d+', r'\1<n>'),
    (r'("(?:RaftIndex|RaftAppliedIndex|DBSize)" : )\d+', r'\1<n>'),
    (r'("leader":)\d+', r'\1<leader>'),  # elections are time-driven
    (r'("Leader" : )\d+', r'\1<leader>'),
    (r'took = \S+', 'took = <dur>'),
    (r'("took":)"[^"]*"', r'\1"<dur>"'),
    (r'("Took" : )\S+', r'\1<dur>'),
    # "%16x" pads shorter IDs with spaces: placeholders stand for IDs of any length.
    (r' +(<(?:LEARNER|LEASE|SHORT)>)', r' \1'),
]


def distinct_lines(text):
    """Keeps each distinct non-empty line once (for cobra's usage noise on stdout/stderr)."""
    seen = []
    for l in text.split("\n"):
        if l and not l.startswith(("NAME:", "\t", "USAGE:", "OPTIONS:", "GLOBAL OPTIONS:")) \
                and l not in seen and not l.startswith(" "):
            seen.append(l)
    return "\n".join(l for l in seen if l.startswith("Error:"))


def sorted_lines(text):
    return "\n".join(sorted(text.split("\n")))


def blank_columns(cols):
    """Re-renders "a, b, c" rows or tablewriter rows as cells with the given columns blanked
    (their values, and so the table's column widths, legitimately differ)."""
    def f(text):
        out = []
        for line in text.split("\n"):
            if line.startswith("|"):
                cells = [c.strip() for c in line.strip("|").split("|")]
            elif ", " in line:
                cells = line.split(", ")
            else:
                if not line.startswith("+"):
                    out.append(line)
                continue
            if not line.startswith("|") or not cells[0].isupper():
                cells = ["<x>" if i in cols else c for i, c in enumerate(cells)]
            out.append(" | ".join(cells))
        return "\n".join(out)
    return f


def sort_members(text):
    """Members come sorted by ID; a learner's ID is random, so its position is too."""
    def sort_json(m):
        objs = re.findall(r'\{"ID":[^{}]*\}', m.group(1))
        return '"members":[' + ",".join(sorted(objs)) + "]"
    text = re.sub(r'"members":\[(.*)\](?=\}$)', sort_json, text, flags=re.M)
    text = re.sub(r'(ETCD_INITIAL_CLUSTER=")([^"]*)"',
                  lambda m: m.group(1) + ",".join(sorted(m.group(2).split(","))) + '"', text)
    lines = text.split("\n")
    rows = [i for i, l in enumerate(lines) if l.startswith("| ") and not l[2:].lstrip()[:1].isupper()]
    if rows:
        block = sorted(lines[i] for i in rows)
        for i, l in zip(rows, block):
            lines[i] = l
    return "\n".join(lines)


def sort_lease_keys(text):
    """The server lists a lease's keys in no particular order (etcd walks a map)."""
    text = re.sub(r'("keys":\[)([^\]]*)\]',
                  lambda m: m.group(1) + ",".join(sorted(m.group(2).split(","))) + "]", text)
    text = re.sub(r"attached keys\(\[([^\]]*)\]\)",
                  lambda m: "attached keys([" + " ".join(sorted(m.group(1).split())) + "])", text)
    lines = text.split("\n")
    idx = [i for i, l in enumerate(lines) if l.startswith('"Key" : ')]
    for i, l in zip(idx, sorted(lines[i] for i in idx)):
        lines[i] = l
    return "\n".join(lines)


def drop_log_lines(err):
    keep = [l for l in err.split("\n")
            if not l.startswith('{"level":') and not l.startswith("concurctl: ")]
    return "\n".join(keep)


class Tool:
    def __init__(self, name, path, one, all_eps, admin):
        self.name, self.path, self.one, self.all = name, path, one, all_eps
        self.admin = admin  # the reference etcdctl, for set-up steps that are not compared
        self.results = []
        self.subst = []  # (literal, placeholder) pairs found during the session
        self.base = 0

    def cmd(self, args, eps):
        return [self.path, "--endpoints", ",".join(eps)] + args

    def norm(self, text, base, extra=()):
        for lit, ph in self.subst:
            text = text.replace(lit, ph)
        text = norm_revs(text, base)
        for item in list(COMMON) + list(extra):
            if callable(item):
                text = item(text)
            else:
                text = re.sub(item[0], item[1], text, flags=re.M)
        return text

    def record(self, name, rc, out, err, base=None, extra=()):
        b = self.base if base is None else base
        self.results.append((name, rc, self.norm(out, b, extra),
                             self.norm(drop_log_lines(err), b, extra)))

    def run(self, name, args, stdin=None, eps=None, extra=(), record=True, timeout=30, env=None):
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run(self.cmd(args, eps or self.one), input=stdin, capture_output=True,
                           timeout=timeout, env=e)
        out = p.stdout.decode("utf-8", "backslashreplace")
        err = p.stderr.decode("utf-8", "backslashreplace")
        if record:
            self.record(name, p.returncode, out, err, extra=extra)
        return p.returncode, out, err

    def popen(self, args, stdin=False, eps=None):
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        p = spawn(self.cmd(args, eps or self.one), stdout=out, stderr=err,
                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL)
        p.outf, p.errf = out, err
        return p

    # -- admin helpers (the reference etcdctl; not compared) --
    def admin_json(self, args, eps=None):
        r = subprocess.run([self.admin, "--endpoints", ",".join(eps or self.one), "-w", "json"]
                           + args, capture_output=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("admin %s failed: %s" % (args, r.stderr.decode()))
        return json.loads(r.stdout)

    def current_rev(self):
        return int(self.admin_json(["get", "ctltest/"])["header"]["revision"])


def read_file(f):
    f.seek(0)
    return f.read().decode("utf-8", "backslashreplace")


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return p.returncode


def wait_output(p, pred, what):
    return wait_until(lambda: pred(read_file(p.outf)), what)


# ---- the session ---------------------------------------------------------------------------------

def kv_segment(t):
    t.base = t.current_rev()
    r = lambda n: str(t.base + n)  # noqa: E731  (revision n of this segment)
    t.run("put", ["put", "ctltest/foo", "bar"])                                      # r+1
    t.run("put --prev-kv", ["put", "ctltest/foo", "bar2", "--prev-kv"])              # r+2
    t.run("put -w json", ["put", "ctltest/k1", "v1", "-w", "json"])                  # r+3
    t.run("put -w fields", ["put", "ctltest/k2", "v2", "-w", "fields"])              # r+4
    t.run("put spaces", ["put", "ctltest/k3", "v 3 <&>"])                            # r+5
    t.run("put from stdin", ["put", "ctltest/k4"], stdin=b"from stdin\n")            # r+6
    t.run("put -- -value", ["put", "ctltest/k5", "--", "-dash"])                     # r+7
    t.run("put --prev-kv --hex", ["put", "ctltest/k5", "x", "--prev-kv", "--hex"])   # r+8
    t.run("put --ignore-value", ["put", "ctltest/k5", "--ignore-value", "--prev-kv"])  # r+9
    t.run("get", ["get", "ctltest/foo"])
    t.run("get --print-value-only", ["get", "ctltest/foo", "--print-value-only"])
    t.run("get -w json", ["get", "ctltest/foo", "-w", "json"])
    t.run("get -w fields", ["get", "ctltest/foo", "-w", "fields"])
    t.run("get --hex", ["get", "ctltest/foo", "--hex"])
    t.run("get range", ["get", "ctltest/k1", "ctltest/k3"])
    t.run("get range -w json", ["get", "ctltest/k1", "ctltest/k4", "-w", "json"])
    t.run("get --prefix", ["get", "ctltest/k", "--prefix"])
    t.run("get --prefix --limit", ["get", "ctltest/k", "--prefix", "--limit", "2", "-w", "json"])
    t.run("get --prefix --limit fields", ["get", "ctltest/k", "--prefix", "--limit=2", "-w",
                                           "fields"])
    t.run("get --keys-only", ["get", "ctltest/k", "--prefix", "--keys-only"])
    t.run("get --rev", ["get", "ctltest/foo", "--rev", r(1)])
    t.run("get --rev json", ["get", "ctltest/foo", "--rev=" + r(1), "-w", "json"])
    t.run("get --from-key", ["get", "ctltest/k3", "--from-key", "--limit", "2"])
    t.run("get --sort-by", ["get", "ctltest/k", "--prefix", "--sort-by=MODIFY",
                            "--order=DESCEND", "--keys-only"])
    t.run("get --sort-by value", ["get", "ctltest/k", "--prefix", "--sort-by", "value"])
    t.run("get --consistency s", ["get", "ctltest/foo", "--consistency", "s"])
    t.run("get missing", ["get", "ctltest/missing", "-w", "json"])
    t.run("get no args", ["get"])
    t.run("get bad consistency", ["get", "x", "--consistency", "q"])
    t.run("get bad order", ["get", "x", "--order", "up"])
    t.run("get prefix+from-key", ["get", "x", "--prefix", "--from-key"])
    t.run("get value-only json", ["get", "ctltest/foo", "--print-value-only", "-w", "json"])
    t.run("get bad output", ["get", "ctltest/foo", "-w", "yaml"])
    t.run("get table", ["get", "ctltest/foo", "-w", "table"])
    t.run("get future rev", ["get", "ctltest/foo", "--rev", r(100000)])
    t.run("put no args", ["put"], stdin=b"")
    t.run("put bad lease", ["put", "a", "b", "--lease", "zz"])
    t.run("del", ["del", "ctltest/foo"])                                           # r+10
    t.run("del missing json", ["del", "ctltest/foo", "-w", "json"])
    t.run("del range", ["del", "ctltest/k1", "ctltest/k3"])                        # r+11
    t.run("put p/a", ["put", "ctltest/p/a", "1"])                                  # r+12
    t.run("put p/b", ["put", "ctltest/p/b", "2"])                                  # r+13
    t.run("del --prefix --prev-kv", ["del", "ctltest/p/", "--prefix", "--prev-kv"])  # r+14
    t.run("put ~1", ["put", "ctltest/~1", "1"])                                    # r+15
    t.run("put ~2", ["put", "ctltest/~2", "2"])                                    # r+16
    t.run("del --from-key -w json", ["del", "ctltest/~", "--from-key", "--prev-kv", "-w", "json"])
    t.run("del --prev-kv fields", ["del", "ctltest/k3", "--prev-kv", "-w", "fields"])  # r+18
    t.run("del no args", ["del"])
    # cobra also prints the usage text and repeats the error: compare the distinct lines of
    # stderr only (help text is not part of the contract).
    t.run("unknown flag", ["get", "x", "--bogus"], extra=[distinct_lines])
    t.run("bad flag value", ["get", "x", "--limit", "abc"], extra=[distinct_lines])


def txn_segment(t):
    t.base = t.current_rev()
    t.run("txn setup", ["put", "ctltest/t", "1"])
    ok = (b'mod("ctltest/t") > "0"\nvalue("ctltest/t") = "1"\n\n'
          b'put ctltest/t 2\nget ctltest/t\ndel ctltest/none\nput "ctltest/t q" "v q" --prev-kv\n'
          b'\nget ctltest/t\n\n')
    t.run("txn success", ["txn"], stdin=ok)
    t.run("txn -w json", ["txn", "-w", "json"], stdin=b'version("ctltest/t") = "2"\n\n'
          b'get ctltest/t\nput ctltest/t 3\n\n\n')
    t.run("txn failure -w fields", ["txn", "-w", "fields"], stdin=b'create("ctltest/t") = "0"\n\n'
          b'put ctltest/t x\n\nget ctltest/t\ndel ctltest/t --prev-kv\n\n')
    t.run("txn -i", ["txn", "-i"], stdin=b'val("ctltest/none") = "x"\n\n\nput ctltest/t i\n\n')
    t.run("txn EOF", ["txn"], stdin=b'mod("ctltest/t") = "0"\n\nput ctltest/t 1\n\nget k')
    t.run("txn malformed", ["txn"], stdin=b"bad\n")
    t.run("txn bad number", ["txn"], stdin=b'ver("ctltest/t") < "x"\n')
    t.run("txn bad request", ["txn"], stdin=b'mod("ctltest/t") = "0"\n\nfoo bar\n')
    t.run("txn short request", ["txn"], stdin=b'\nget\n')
    t.run("txn unquoted", ["txn"], stdin=b'mod("ctltest/t") > 0\n\n\n\n')
    t.run("txn no space", ["txn"], stdin=b'mod("ctltest/t")>"0"\n\n\n\n')
    t.run("txn with args", ["txn", "x"])


def watch_history_segment(t):
    t.base = t.current_rev()
    r = lambda n: str(t.base + n)  # noqa: E731
    for i, (k, v) in enumerate([("w1", "a"), ("w2", "b"), ("w1", "c"), ("w3", "d")]):
        t.run("watch setup %d" % i, ["put", "ctltest/w/" + k, v])                  # r+1..r+4
    t.run("watch setup del", ["del", "ctltest/w/w2"])                              # r+5
    cases = [
        ("watch key --rev", ["watch", "ctltest/w/w1", "--rev", r(1)],
         lambda s: "ctltest/w/w1\nc\n" in s),
        ("watch range --rev", ["watch", "ctltest/w/w1", "ctltest/w/w3", "--rev", r(1)],
         lambda s: "DELETE\nctltest/w/w2\n\n" in s),
        ("watch prefix --prev-kv json", ["watch", "ctltest/w/", "--prefix", "--rev", r(1),
                                          "--prev-kv", "-w", "json"],
         lambda s: '"type":1' in s and s.endswith("\n")),
        ("watch prefix --prev-kv fields", ["watch", "ctltest/w/", "--prefix", "--rev", r(2),
                                            "--prev-kv", "-w", "fields"],
         lambda s: '"Type" : DELETE' in s and s.count('"Lease" :') == 4),
        ("watch prefix simple", ["watch", "ctltest/w/", "--prefix", "--rev", r(3), "--prev-kv"],
         lambda s: "DELETE\nctltest/w/w2\nb\nctltest/w/w2\n\n" in s),
    ]
    for name, args, done in cases:
        p = t.popen(args)
        wait_output(p, done, t.name + " " + name)
        rc = stop(p)
        t.record(name, rc, read_file(p.outf), read_file(p.errf))
    t.run("watch no args", ["watch"])
    t.run("watch range+prefix", ["watch", "a", "b", "--prefix"])
    t.run("watch -- no command", ["watch", "a", "--"])
    t.run("watch env conflict", ["watch", "a"], env={"ETCDCTL_WATCH_KEY": "b"})
    t.run("watch env range only", ["watch", "a"], env={"ETCDCTL_WATCH_RANGE_END": "b"})
    return t.base


def live_watch(t, args, probe_key, actions, done_marker, interactive=None):
    """A watch without --rev: probe until it delivers, then act; compares what follows."""
    p = t.popen(args, stdin=interactive is not None)
    if interactive is not None:
        p.stdin.write(interactive.encode())
        p.stdin.flush()
    last = [0]

    def probed():
        last[0] = int(t.admin_json(["put", probe_key, "p"])["header"]["revision"])
        try:
            wait_until(lambda: probe_key in read_file(p.outf), "probe", timeout=0.3)
            return True
        except TimeoutError:
            return False
    wait_until(probed, "watch %s to deliver the probe" % args, timeout=DEADLINE_S, step=0)
    base = last[0]
    t.base = base
    for name, a in actions:
        t.run(name, a)
    wait_output(p, lambda s: done_marker(s), "watch %s output" % args)
    return p, base


def strip_probes(out, probe_key):
    return out.split("PUT\n%s\np\n" % probe_key)[-1]


def watch_live_segment(t):
    probe = "ctltest/live/probe"
    p, base = live_watch(t, ["watch", "ctltest/live/", "--prefix"], probe,
                         [("live put", ["put", "ctltest/live/a", "1"]),
                          ("live del", ["del", "ctltest/live/a"])],
                         lambda s: "DELETE\nctltest/live/a\n\n" in s)
    rc = stop(p)
    t.record("watch live prefix", rc, strip_probes(read_file(p.outf), probe),
             read_file(p.errf), base=base)

    probe = "ctltest/ilive/probe"
    p, base = live_watch(t, ["watch", "-i"], probe,
                         [("interactive put", ["put", "ctltest/ilive/a", "1"])],
                         lambda s: s.count("ctltest/ilive/a\n1\n") == 2,
                         interactive="watch ctltest/ilive/a\nwatch ctltest/ilive/ --prefix\n")
    p.stdin.write(b"progress\n")
    p.stdin.flush()
    wait_output(p, lambda s: s.count("progress notify:") == 2, "progress notify")
    p.stdin.write(b"bogus\nwatch\n\n")
    p.stdin.close()
    rc = p.wait(DEADLINE_S)
    t.record("watch -i with progress", rc, strip_probes(read_file(p.outf), probe),
             read_file(p.errf), base=base)


def compaction_segment(t, watch_base):
    t.base = t.current_rev()
    t.run("compaction", ["compaction", str(t.base)])
    t.run("compaction --physical", ["compaction", "--physical", str(t.base)])
    t.run("get compacted", ["get", "ctltest/w/w1", "--rev", str(watch_base + 1)])
    for fmt in ("simple", "json"):
        p = t.popen(["watch", "ctltest/w/w1", "--rev", str(watch_base + 1), "-w", fmt])
        rc = p.wait(DEADLINE_S)
        t.record("watch compacted " + fmt, rc, read_file(p.outf), read_file(p.errf))
    t.run("compaction bad", ["compaction", "abc"])
    t.run("compaction future", ["compaction", str(t.base + 1000)])


def lease_segment(t):
    t.base = t.current_rev()
    rc, out, err = t.run("", ["lease", "grant", "100"], record=False)
    lid = out.split()[1]
    t.subst.append((lid, "<LEASE>"))
    t.subst.append((str(int(lid, 16)), "<LEASE>"))
    t.record("lease grant", rc, out, err)
    ttl = [(r"remaining\(\d+s\)", "remaining(<ttl>s)"), (r'("ttl":)\d+', r"\1<ttl>"),
           (r'("TTL" : )\d+', r"\1<ttl>"), sort_lease_keys]
    t.run("put --lease", ["put", "ctltest/lk", "v", "--lease", lid])
    t.run("put --lease 2", ["put", "ctltest/lk2", "v", "--lease=" + lid])
    t.run("get leased json", ["get", "ctltest/lk", "-w", "json"])
    t.run("timetolive --keys", ["lease", "timetolive", lid, "--keys"], extra=ttl)
    t.run("timetolive --keys json", ["lease", "timetolive", lid, "--keys", "-w", "json"], extra=ttl)
    t.run("timetolive fields", ["lease", "timetolive", lid, "--keys", "-w", "fields"], extra=ttl)
    t.run("timetolive", ["lease", "timetolive", lid], extra=ttl)
    t.run("lease list", ["lease", "list"])
    t.run("lease list json", ["lease", "list", "-w", "json"])
    t.run("keep-alive --once", ["lease", "keep-alive", "--once", lid])
    t.run("keep-alive --once json", ["lease", "keep-alive", "--once", lid, "-w", "json"])
    rc, out, err = t.run("", ["lease", "grant", "3", "-w", "json"], record=False)
    short = json.loads(out)["ID"]
    t.subst.append(("%016x" % short, "<SHORT>"))
    t.subst.append((str(short), "<SHORT>"))
    t.record("lease grant 3 json", rc, out, err)
    # keep-alive renews every TTL/3 s until the lease is revoked, then says so and exits 0.
    p = t.popen(["lease", "keep-alive", "%x" % short])
    wait_output(p, lambda s: "keepalived" in s, "keep-alive")
    t.run("revoke short", ["lease", "revoke", "%x" % short])
    rc = p.wait(DEADLINE_S)
    out = re.sub(r"(lease \w+ keepalived with TTL\(3\)\n)+", r"\1", read_file(p.outf))
    t.record("keep-alive until revoked", rc, out, read_file(p.errf))
    t.run("lease revoke", ["lease", "revoke", lid])
    t.run("get after revoke", ["get", "ctltest/lk", "--prefix"])
    t.run("timetolive expired", ["lease", "timetolive", lid])
    t.run("timetolive expired json", ["lease", "timetolive", lid, "-w", "json"])
    t.run("revoke again", ["lease", "revoke", lid])
    t.run("keep-alive --once gone", ["lease", "keep-alive", "--once", lid])
    t.run("keep-alive gone", ["lease", "keep-alive", lid])
    t.run("grant bad", ["lease", "grant", "x"])
    t.run("revoke bad", ["lease", "revoke", "zz"])


def cluster_segment(t, learner_port):
    t.base = t.current_rev()
    # db size, is leader (an election may happen on a loaded machine), raft term/index/applied
    status = blank_columns({3, 4, 6, 7, 8})
    hashes = [(r'("hash":)\d+', r"\1<hash>"), (r'("Hash" : )\d+', r"\1<hash>"),
              (r'("compact_revision":)[^,}]+', r"\1<c>"), blank_columns({1})]
    t.run("member list", ["member", "list"])
    t.run("member list table", ["member", "list", "-w", "table"])
    t.run("member list json", ["member", "list", "-w", "json"])
    t.run("member list fields", ["member", "list", "-w", "fields"])
    t.run("member list all eps table", ["member", "list", "-w", "table"], eps=t.all)
    t.run("endpoint status", ["endpoint", "status"], extra=[status])
    t.run("endpoint status json", ["endpoint", "status", "-w", "json"])
    t.run("endpoint status table", ["endpoint", "status", "-w", "table", "--cluster"],
          extra=[status], eps=t.all)
    t.run("endpoint status fields", ["endpoint", "status", "-w", "fields"])
    t.run("endpoint health", ["endpoint", "health"], eps=t.all, extra=[sorted_lines])
    t.run("endpoint health table", ["endpoint", "health", "-w", "table"],
          extra=[blank_columns({2})])
    t.run("endpoint health json", ["endpoint", "health", "-w", "json"])
    t.run("endpoint hashkv", ["endpoint", "hashkv"], extra=hashes)
    t.run("endpoint hashkv json", ["endpoint", "hashkv", "-w", "json"], extra=hashes)
    t.run("endpoint hashkv cluster table", ["endpoint", "hashkv", "--cluster", "-w", "table"],
          extra=hashes)
    t.run("alarm list", ["alarm", "list"])
    t.run("alarm list json", ["alarm", "list", "-w", "json"])
    t.run("defrag", ["defrag"])
    t.run("defrag --cluster", ["defrag", "--cluster"])

    peer = "http://127.0.0.1:%d" % learner_port
    rc, out, err = t.run("", ["member", "add", "ctltest-learner", "--peer-urls=" + peer,
                              "--learner"], record=False)
    new_id = out.split()[1]
    t.subst.append((new_id, "<LEARNER>"))
    t.subst.append((str(int(new_id, 16)), "<LEARNER>"))
    t.record("member add --learner", rc, out, err, extra=[sort_members])
    t.run("member list with learner", ["member", "list", "-w", "table"], extra=[sort_members])
    t.run("member list with learner json", ["member", "list", "-w", "json"],
          extra=[sort_members])
    t.run("member promote unready", ["member", "promote", new_id])
    t.run("member update", ["member", "update", new_id, "--peer-urls=" + peer])
    t.run("member update json", ["member", "update", new_id, "--peer-urls", peer, "-w", "json"],
          extra=[sort_members])
    t.run("member remove", ["member", "remove", new_id])
    t.run("member remove again", ["member", "remove", new_id])
    t.run("member add no urls", ["member", "add", "x"])
    t.run("member add too many", ["member", "add", "x", "http://a:1"])
    t.run("member remove bad id", ["member", "remove", "zz"])

    # move-leader there and back, so the next session starts from the same leader.
    st = [t.admin_json(["endpoint", "status"], eps=[ep])[0]["Status"] for ep in t.all]
    leader = st[0]["leader"]
    follower = next(s["header"]["member_id"] for s in st if s["header"]["member_id"] != leader)
    ids = [("%x" % leader, "<LEADER>"), ("%x" % follower, "<FOLLOWER>")]
    t.run("move-leader", ["move-leader", "%x" % follower], eps=t.all, extra=ids)
    wait_until(lambda: t.admin_json(["endpoint", "status"], eps=[t.all[0]])[0]["Status"]
               ["leader"] == follower, "leadership to move")
    t.run("move-leader back json", ["move-leader", "%x" % leader, "-w", "json"], eps=t.all)
    wait_until(lambda: t.admin_json(["endpoint", "status"], eps=[t.all[0]])[0]["Status"]
               ["leader"] == leader, "leadership to move back")
    t.run("move-leader no leader given", ["move-leader", "%x" % leader],
          eps=[ep for ep, s in zip(t.all, st) if s["header"]["member_id"] != leader][:1],
          extra=[(r"at \[[^\]]*\]", "at [<ep>]")])


def misc_segment(t, workdir):
    path = os.path.join(workdir, "snapshot.db")
    if os.path.exists(path):
        os.unlink(path)
    t.run("snapshot save", ["snapshot", "save", path], extra=[(re.escape(workdir), "<dir>")])
    t.run("snapshot save two eps", ["snapshot", "save", path], eps=t.all,
          extra=[(r"\[.*\]", "[<eps>]")])
    t.run("version", ["version"], extra=[(r"^(etcdctl|concurctl) version: .*$", "<tool> version")])
    closed = free_ports(1)[0]
    port = [(r"127\.0\.0\.1:%d\b" % closed, "127.0.0.1:<closed>")]
    t.run("unreachable", ["get", "x", "--command-timeout", "1s"],
          eps=["127.0.0.1:%d" % closed], extra=port)
    t.run("unreachable health", ["endpoint", "health", "--command-timeout", "1s"],
          eps=["127.0.0.1:%d" % closed], extra=port)
    t.run("prefix command", ["mem", "li"])


def session(t, workdir, learner_port):
    # Start from a clean key space under ctltest/ (and nothing at or after ctltest/~).
    t.admin_json(["del", "ctltest/", "--prefix"])
    t.admin_json(["del", "ctltest/~", "--from-key"])
    kv_segment(t)
    txn_segment(t)
    wbase = watch_history_segment(t)
    watch_live_segment(t)
    compaction_segment(t, wbase)
    lease_segment(t)
    cluster_segment(t, learner_port)
    misc_segment(t, workdir)


# ---- concurctl-only checks (etcd 3.5 flags, concur's counter) ----------------------------------

def concurctl_only(c, failures):
    def check(name, cond, detail=""):
        if not cond:
            failures.append("concurctl-only: %s %s" % (name, detail))
    c.admin_json(["del", "ctltest/", "--prefix"])
    for k in ("a", "b", "c"):
        c.run("", ["put", "ctltest/n/" + k, k], record=False)
    rc, out, err = c.run("", ["get", "ctltest/n/", "--prefix", "--count-only", "-w", "fields"],
                         record=False)
    check("get --count-only", rc == 0 and '"Count" : 3' in out and '"Key"' not in out, out + err)
    rc, out, err = c.run("", ["get", "ctltest/n/", "--prefix", "--count-only"], record=False)
    check("get --count-only simple refused", rc == 128, err)
    rev = c.current_rev()
    rc, out, _ = c.run("", ["get", "ctltest/n/", "--prefix", "--keys-only",
                            "--min-mod-rev", str(rev)], record=False)
    check("get --min-mod-rev", rc == 0 and out.split() == ["ctltest/n/c"], out)
    # counters
    rc, out, _ = c.run("", ["counter", "create", "ctltest/ctr"], record=False)
    check("counter create", rc == 0 and out == "0\n", out)
    rc, out, _ = c.run("", ["counter", "create", "ctltest/ctr", "--by", "7"], record=False)
    check("counter create existing", rc == 0 and out == "0\n", out)
    rc, out, _ = c.run("", ["counter", "incr", "ctltest/ctr", "--by", "5"], record=False)
    check("counter incr", rc == 0 and out == "5\n", out)
    rc, out, _ = c.run("", ["counter", "decr", "ctltest/ctr"], record=False)
    check("counter decr", rc == 0 and out == "4\n", out)
    procs = [spawn(c.cmd(["counter", "incr", "ctltest/ctr"], c.all), stdout=subprocess.PIPE)
             for _ in range(8)]
    outs = sorted(int(p.communicate(timeout=60)[0]) for p in procs)
    check("concurrent incr results", outs == list(range(5, 13)), str(outs))
    rc, out, _ = c.run("", ["counter", "get", "ctltest/ctr"], record=False)
    check("counter get", rc == 0 and out == "12\n", out)
    kv = c.admin_json(["get", "ctltest/ctr"])["kvs"][0]
    check("counter stored as text", base64.b64decode(kv["value"]) == b"12", str(kv))
    rc, out, err = c.run("", ["counter", "get", "ctltest/nope"], record=False)
    check("counter get missing", rc == 1 and "does not exist" in err, err)
    c.run("", ["put", "ctltest/txt", "abc"], record=False)
    rc, out, err = c.run("", ["counter", "incr", "ctltest/txt"], record=False)
    check("counter incr non-integer", rc == 1 and "not an integer" in err, err)
    # --progress-notify (etcd 3.5 flag; the self-started etcd sends one every second)
    if c.progress_interval:
        p = c.popen(["watch", "ctltest/pn", "--progress-notify"])
        try:
            wait_output(p, lambda s: "progress notify:" in s, "--progress-notify")
        except TimeoutError:
            check("watch --progress-notify", False, read_file(p.errf))
        stop(p)
    c.admin_json(["del", "ctltest/", "--prefix"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--concurctl", required=True)
    ap.add_argument("--etcdctl", default="/usr/bin/etcdctl")
    ap.add_argument("--server", default="/usr/bin/etcd",
                    help="binary taking etcd's flags, started as a fresh 3-member cluster")
    ap.add_argument("--endpoints", help="use this existing dedicated cluster (comma list)")
    ap.add_argument("--workdir", help="where data dirs and logs go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    a = ap.parse_args()
    for b in (a.concurctl, a.etcdctl) + (() if a.endpoints else (a.server,)):
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            print("SKIP: %s not found" % b)
            return 77
    if a.workdir:
        os.makedirs(a.workdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="ctl-compare-", dir=a.workdir)
    cluster = None
    started = time.monotonic()
    try:
        if a.endpoints:
            eps = a.endpoints.split(",")
        else:
            cluster = Cluster(a.server, workdir, a.etcdctl)
            eps = cluster.start()
        learner_port = free_ports(1)[0]
        tools = [Tool("etcdctl", a.etcdctl, eps[:1], eps, a.etcdctl),
                 Tool("concurctl", a.concurctl, eps[:1], eps, a.etcdctl)]
        for t in tools:
            session(t, workdir, learner_port)
        failures = []
        ref, got = tools
        if len(ref.results) != len(got.results):
            failures.append("different number of steps: %d vs %d" %
                            (len(ref.results), len(got.results)))
        for (n1, rc1, o1, e1), (n2, rc2, o2, e2) in zip(ref.results, got.results):
            assert n1 == n2
            if (rc1, o1, e1) != (rc2, o2, e2):
                d = "\n".join(difflib.unified_diff(
                    ("rc=%s\n%s\n--- stderr ---\n%s" % (rc1, o1, e1)).split("\n"),
                    ("rc=%s\n%s\n--- stderr ---\n%s" % (rc2, o2, e2)).split("\n"),
                    "etcdctl", "concurctl", lineterm=""))
                failures.append("step %r differs:\n%s" % (n1, d))
        got.progress_interval = cluster is not None and os.path.basename(a.server) == "etcd"
        concurctl_only(got, failures)
        for f in failures:
            print("FAIL:", f)
        print("%d compared steps, %d failures, %.1fs" % (len(ref.results), len(failures),
                                                         time.monotonic() - started))
        return 1 if failures else 0
    finally:
        kill_children()
        if cluster:
            cluster.stop()
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("work dir kept:", workdir)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run finally: kill the cluster
    sys.exit(main())
