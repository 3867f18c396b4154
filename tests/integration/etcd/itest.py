"""itest.py — shared plumbing of the etcd-API integration tests: command line, the harness
import, skipping (exit 77) and a tiny check() that reports every failure instead of stopping at
the first one."""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cluster  # noqa: E402  (tests/integration/lib/cluster.py)

SKIP = 77


def parse_args(doc, extra=None):
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--server", required=True,
                   help="binary under test (concurd; etcd works too, to check the test itself)")
    p.add_argument("--etcd", default=shutil.which("etcd") or "/usr/bin/etcd",
                   help="reference etcd 3.4 binary")
    p.add_argument("--workdir", default=None, help="where data dirs and logs go (default: temp)")
    if extra:
        extra(p)
    a = p.parse_args()
    for need in [a.server, cluster.ETCDCTL]:
        if not os.access(need, os.X_OK):
            print("SKIP: %s not found" % need)
            sys.exit(SKIP)
    if a.workdir:
        os.makedirs(a.workdir, exist_ok=True)
    return a


def server_env(binary, progress_s=1):
    """Environment that shortens the watch progress-notify interval of a concurd (etcd takes a
    flag instead: server_flags)."""
    if os.path.basename(binary) == "etcd":
        return {}
    return {"CONCUR_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL": "%ds" % progress_s}


def server_flags(binary, progress_s=1):
    if os.path.basename(binary) == "etcd":
        return ["--experimental-watch-progress-notify-interval", "%ds" % progress_s]
    return []


def workdir(args, name):
    if not args.workdir:
        return None
    d = os.path.join(args.workdir, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


class Checks:
    """Collects failures; report() prints them and gives the exit code."""

    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, cond, what, detail=""):
        self.count += 1
        if not cond:
            self.failures.append("%s%s" % (what, (": " + str(detail)) if detail != "" else ""))
            print("FAIL: %s %s" % (what, detail), flush=True)
        return cond

    def equal(self, got, want, what):
        return self.check(got == want, what, "got %r, want %r" % (got, want))

    def report(self):
        print("%d checks, %d failed" % (self.count, len(self.failures)))
        return 1 if self.failures else 0
