#!/usr/bin/python3
"""cluster.py — start and drive real clusters of concurd (or etcd: same flags) for integration
tests.

    from cluster import Cluster, wait_until
    with Cluster("/path/to/concurd", n=3) as c:      # free ports, temp dir, all killed on exit
        c.start()                                     # waits until every member is healthy
        leader = c.leader()                           # a Member, via the JSON gateway
        c.etcdctl("put", "k", "v")                    # etcdctl against every endpoint
        leader.kill(); c.wait_leader(exclude=leader)  # SIGKILL, then a new leader
        leader.restart()                              # same flags, same data dir
        m = c.add_member("extra")                     # a member for --initial-cluster-state existing
        ...

Everything a test starts is killed when the `with` block ends, also on failure; then, if the
block failed (or CLUSTER_KEEP_LOGS is set), every member's log is printed to stderr so a CI log
shows what the servers said. With CLUSTER_STOP_GRACEFULLY set, members get SIGTERM first (a
clean shutdown: what a sanitizer build needs to report leaks), then SIGKILL if they linger.
Waits are deadlines on conditions, never sleeps.

The binary may be concurd or etcd 3.4 (detected from its name): both take etcd's flags;
concurd additionally gets --redis-addr when redis=True. Environment for the servers can be
passed with env= (e.g. CONCUR_* variables).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

DEADLINE_S = 60  # default for any wait: generous, the machines are shared and slow
ETCDCTL = shutil.which("etcdctl") or "/usr/bin/etcdctl"

__all__ = ["Cluster", "Member", "free_ports", "wait_until", "http_json", "http_get", "ETCDCTL",
           "DEADLINE_S", "run"]


def free_ports(n):
    """n distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(pred, what, timeout=DEADLINE_S, step=0.05):
    """Calls pred until it returns a true value (returned) or the deadline passes (raises)."""
    end = time.monotonic() + timeout
    last_err = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # the condition may fail while things start
            last_err = e
        if time.monotonic() >= end:
            raise TimeoutError("timed out after %ss waiting for %s%s" %
                               (timeout, what, " (last error: %r)" % last_err if last_err else ""))
        time.sleep(step)


def http_get(url, timeout=5):
    """(status, body bytes, headers) of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def http_json(url, body, timeout=10):
    """(status, decoded JSON or raw text) of a POST with a JSON body (dict or str)."""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if isinstance(data, str):
        data = data.encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def run(args, timeout=DEADLINE_S, input=None, env=None):
    """Runs a command; returns CompletedProcess with text stdout/stderr (never raises on exit)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input,
                          env=e)


class Member:
    """One server process: its flags, ports, data directory and log file."""

    def __init__(self, cluster, name, client_port, peer_port, redis_port):
        self.cluster = cluster
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.redis_port = redis_port
        self.client_url = "http://127.0.0.1:%d" % client_port
        self.peer_url = "http://127.0.0.1:%d" % peer_port
        self.endpoint = "127.0.0.1:%d" % client_port
        self.data_dir = os.path.join(cluster.workdir, name + ".data")
        self.log_path = os.path.join(cluster.workdir, name + ".log")
        self.initial_cluster = None  # set by the cluster
        self.state = "new"
        self.proc = None
        self.log = None

    def args(self):
        c = self.cluster
        a = [c.binary, "--name", self.name, "--data-dir", self.data_dir,
             "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
             "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
             "--initial-cluster", self.initial_cluster, "--initial-cluster-state", self.state,
             "--initial-cluster-token", c.token]
        if c.is_concur and c.redis:
            a += ["--redis-addr", "127.0.0.1:%d" % self.redis_port]
        return a + list(c.extra_args)

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.log = open(self.log_path, "ab")
        self.log.write(("\n=== start %s\n" % " ".join(self.args())).encode())
        self.log.flush()
        env = dict(os.environ)
        env.update(self.cluster.env)
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL and reap."""
        if self.alive():
            self.proc.kill()
        self._reap(10)

    def stop(self, timeout=DEADLINE_S):
        """SIGTERM (clean shutdown); SIGKILL if it does not exit in time. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self._reap(10)

    def restart(self):
        self.stop()
        return self.start()

    def _reap(self, timeout):
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        if self.log:
            self.log.close()
            self.log = None
        return code

    def healthy(self):
        """True when GET /health says so (a leader and a quorum read within a second)."""
        try:
            status, body, _ = http_get(self.client_url + "/health", timeout=3)
        except OSError:
            return False
        return status == 200 and json.loads(body).get("health") == "true"

    def status(self):
        """Maintenance.Status through the JSON gateway (integers decoded)."""
        code, r = http_json(self.client_url + "/v3/maintenance/status", {}, timeout=5)
        if code != 200:
            raise RuntimeError("status of %s: HTTP %d %r" % (self.name, code, r))
        h = r.get("header", {})
        return {"member_id": int(h.get("member_id", 0)), "leader": int(r.get("leader", 0)),
                "raft_term": int(r.get("raftTerm", 0)), "raft_index": int(r.get("raftIndex", 0)),
                "applied_index": int(r.get("raftAppliedIndex", 0)),
                "is_learner": bool(r.get("isLearner", False)), "errors": r.get("errors", [])}

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Cluster:
    """n members of binary on free 127.0.0.1 ports in a fresh temporary directory."""

    def __init__(self, binary, n=3, workdir=None, token=None, extra_args=(), env=None,
                 redis=True, names=None):
        self.binary = binary
        self.is_concur = os.path.basename(binary) != "etcd"
        self.redis = redis
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="cluster-")
        os.makedirs(self.workdir, exist_ok=True)
        self.token = token or "itest-%d" % os.getpid()
        self.members = []
        self.failed = False
        names = names or ["m%d" % (i + 1) for i in range(n)]
        for name in names:
            self.members.append(self._new_member(name))
        initial = self.initial_cluster()
        for m in self.members:
            m.initial_cluster = initial

    def _new_member(self, name):
        cp, pp, rp = free_ports(3)
        return Member(self, name, cp, pp, rp)

    def initial_cluster(self, members=None):
        return ",".join("%s=%s" % (m.name, m.peer_url) for m in (members or self.members))

    # ---- lifecycle ----

    def start(self, wait=True, timeout=DEADLINE_S):
        for m in self.members:
            m.start()
        if wait:
            self.wait_healthy(timeout=timeout)
        return self

    def wait_healthy(self, members=None, timeout=DEADLINE_S):
        for m in members or self.running():
            def ok(m=m):
                if not m.alive():
                    raise RuntimeError("%s exited with %s" % (m.name, m.proc.returncode))
                return m.healthy()
            wait_until(ok, "%s to be healthy" % m.name, timeout=timeout, step=0.1)

    def running(self):
        return [m for m in self.members if m.alive()]

    def leader(self, exclude=None, timeout=DEADLINE_S):
        """The member every running member (but exclude) names as leader."""
        def find():
            ids = set()
            for m in self.running():
                if m is exclude:
                    continue
                ids.add(m.status()["leader"])
            if len(ids) != 1 or 0 in ids:
                return None
            lid = ids.pop()
            for m in self.members:
                if m.alive() and m.status()["member_id"] == lid:
                    return m
            return None
        return wait_until(find, "one leader", timeout=timeout, step=0.1)

    wait_leader = leader

    def add_member(self, name):
        """A new Member configured to join this cluster (--initial-cluster-state existing).
        Register it first (e.g. etcdctl member add), then start() it."""
        m = self._new_member(name)
        self.members.append(m)
        m.initial_cluster = self.initial_cluster([x for x in self.members if x.alive()] + [m])
        m.state = "existing"
        return m

    def endpoints(self, members=None):
        return ",".join(m.endpoint for m in (members or self.running()))

    def etcdctl(self, *args, endpoints=None, timeout=DEADLINE_S, input=None, check=True):
        """Runs ETCDCTL_API=3 etcdctl against the cluster. Returns CompletedProcess; raises
        when check and the exit code is not 0."""
        cmd = [ETCDCTL, "--endpoints", endpoints or self.endpoints()] + list(args)
        r = run(cmd, timeout=timeout, input=input, env={"ETCDCTL_API": "3"})
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (" ".join(cmd), r.returncode, r.stdout,
                                                        r.stderr))
        return r

    def kill_all(self):
        for m in self.members:
            if m.alive():
                m.proc.kill()
        for m in self.members:
            m._reap(10)

    def dump_logs(self, out=sys.stderr):
        for m in self.members:
            out.write("\n===== log of %s (%s) =====\n%s" % (m.name, m.log_path, m.read_log()[-20000:]))
        out.flush()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.failed = self.failed or exc_type is not None
        if os.environ.get("CLUSTER_STOP_GRACEFULLY"):
            for m in self.members:
                if m.alive():
                    m.proc.send_signal(signal.SIGTERM)
            for m in self.members:
                if m.proc is not None:
                    try:
                        m.proc.wait(30)
                    except subprocess.TimeoutExpired:
                        pass
        self.kill_all()
        if self.failed or os.environ.get("CLUSTER_KEEP_LOGS"):
            self.dump_logs()
        if self.own_dir and not os.environ.get("CLUSTER_KEEP_LOGS"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        return False
