#!/usr/bin/python3
"""test_faults.py — the fault test: client threads do INCR on shared counters, SET of unique
keys, SET and linearizable GET of a per-client register, and SET .. PX on a 3-member cluster
while members (the leader every other round) are killed with SIGKILL and restarted every few
seconds, never more than one down at once; every third round the victim is frozen (SIGSTOP,
then SIGCONT) instead, like a paused or partitioned member. Snapshots are taken often, so
restarted members also catch up by snapshot. Each client knows exactly which commands it sent
(a minimal RESP client without retries) and records acknowledged and unacknowledged (error,
timeout, connection lost after sending) ones. After healing:
  - every counter's final value lies between its acknowledged INCRs and that plus the
    unacknowledged attempts, and no two acknowledged INCRs returned the same value;
  - every acknowledged SET of a unique key reads back with its value;
  - every read of a client's register returned at least its last acknowledged value (and at
    most its last attempt), and at the end the register holds such a value;
  - keys SET with PX are gone;
  - every member applied the same index and their DEBUG DIGESTs are equal;
and all of that still holds after every member is killed at once and restarted.
FAULT_SECONDS (default 32) sets the length of the fault phase, FAULT_SEED the schedule and
FAULT_ARGS more concurd flags (later ones win, e.g. "--snapshot-count 50")."""
import os
import random
import signal
import threading
import time

from mtest import (CLIENT_TIMEOUT_S, Resp, RespError, call, check, log, main, new_cluster,
                   parse_args, redis_leader, wait_converged, wait_redis_ready, wait_until)

args = parse_args(__doc__)
FAULT_SECONDS = float(os.environ.get("FAULT_SECONDS", "32"))
SEED = int(os.environ.get("FAULT_SEED", str(int(time.time()))))
CLIENTS = 5
COUNTERS = ["ctr0", "ctr1", "ctr2"]


class Client(threading.Thread):
    """One client: sequential commands to a random member, switching member when its
    connection fails. Only reads its own records until joined."""

    def __init__(self, tid, cluster, stop, seed):
        super().__init__(name="client%d" % tid, daemon=True)
        self.tid = tid
        self.cluster = cluster
        self.stop = stop
        self.rng = random.Random(seed)
        self.incr_acked = {k: 0 for k in COUNTERS}
        self.incr_unknown = {k: 0 for k in COUNTERS}
        self.incr_values = {k: [] for k in COUNTERS}
        self.sets_acked = {}        # unique key -> value
        self.reg_acked = 0          # last acknowledged value of this client's register
        self.reg_attempted = 0      # last value sent
        self.eph = 0                # SET .. PX keys sent
        self.reads = 0              # successful GETs of the register
        self.errors = {}            # error reply kind -> count
        self.lost = 0               # connections lost after sending
        self.ops = 0
        self.conn = None

    def connect(self):
        members = list(self.cluster.members)
        self.rng.shuffle(members)
        for m in members:
            try:
                self.conn = Resp(m.redis_port, timeout=CLIENT_TIMEOUT_S)
                return True
            except OSError:
                continue
        return False

    def command(self, *cmd):
        """Returns ("ok", reply) or ("unknown", None) once the command may have been sent;
        ("unsent", None) when no member accepted a connection."""
        if self.conn is None and not self.connect():
            return "unsent", None
        try:
            self.conn.send(*cmd)
            reply = self.conn.read()
        except (OSError, ConnectionError, ValueError):
            self.conn.close()
            self.conn = None
            self.lost += 1
            return "unknown", None
        if isinstance(reply, RespError):
            kind = str(reply).split()[0]
            what = "%s %s" % (cmd[0], kind)
            self.errors[what] = self.errors.get(what, 0) + 1
            if kind.startswith("ERR"):
                raise AssertionError("%s: unexpected error %r for %r" % (self.name, reply, cmd))
            # Ask another member next time: this one may be cut off.
            self.conn.close()
            self.conn = None
            return "unknown", None
        return "ok", reply

    def step(self):
        x = self.rng.random()
        if x < 0.5:
            key = self.rng.choice(COUNTERS)
            outcome, reply = self.command("INCR", key)
            if outcome == "ok":
                self.incr_acked[key] += 1
                self.incr_values[key].append(reply)
            elif outcome == "unknown":
                self.incr_unknown[key] += 1
        elif x < 0.75:
            key = "u%d-%d" % (self.tid, self.ops)
            outcome, reply = self.command("SET", key, key)
            if outcome == "ok":
                check(reply == "OK", "SET %s: %r" % (key, reply))
                self.sets_acked[key] = key
        elif x < 0.85:
            # A linearizable read of this client's own register: at least its last
            # acknowledged write, at most its last attempt.
            lo, hi = self.reg_acked, self.reg_attempted
            outcome, reply = self.command("GET", "reg%d" % self.tid)
            if outcome == "ok":
                self.reads += 1
                v = int(reply) if reply is not None else 0
                check(lo <= v <= hi, "%s read reg%d=%d, acknowledged %d, attempted %d" %
                      (self.name, self.tid, v, lo, hi))
        elif x < 0.95:
            n = self.reg_attempted + 1
            outcome, reply = self.command("SET", "reg%d" % self.tid, str(n))
            if outcome != "unsent":
                self.reg_attempted = n
            if outcome == "ok":
                self.reg_acked = n
        else:
            self.eph += 1
            key = "eph%d-%d" % (self.tid, self.eph)
            outcome, _ = self.command("SET", key, "x", "PX", "800")
        if outcome == "unsent":
            time.sleep(0.05)  # every member down for a moment (a restart): try again shortly

    def run(self):
        try:
            while not self.stop.is_set():
                self.ops += 1
                self.step()
        except BaseException as e:  # reported by the main thread
            self.failure = e
        finally:
            if self.conn:
                self.conn.close()

    failure = None


def fault_schedule(c, rng, seconds):
    """Kills (SIGKILL) and restarts one member at a time, the leader every other round; every
    third round instead freezes the leader (SIGSTOP, then SIGCONT: a paused or partitioned
    leader that comes back after the others elected a new one)."""
    end = time.monotonic() + seconds
    rounds = 0
    while time.monotonic() < end:
        rounds += 1
        if rounds % 2 == 1:
            victim = redis_leader(c, timeout=60)
        else:
            victim = rng.choice(c.members)
        time.sleep(rng.uniform(0.5, 1.5))  # let the clients run between faults
        if rounds % 3 == 0:
            victim.proc.send_signal(signal.SIGSTOP)
            log("round %d: froze %s" % (rounds, victim.name))
            time.sleep(rng.uniform(1.5, 3.0))
            victim.proc.send_signal(signal.SIGCONT)
            continue
        victim.kill()
        log("round %d: killed %s" % (rounds, victim.name))
        time.sleep(rng.uniform(1.0, 2.5))  # down for a while
        victim.start()
        wait_until(lambda: call(victim.redis_port, "PING", timeout=3) == "PONG",
                   "%s to restart" % victim.name, timeout=60, step=0.1)
    return rounds


def verify(c, clients):
    port = c.members[0].redis_port
    for key in COUNTERS:
        acked = sum(cl.incr_acked[key] for cl in clients)
        unknown = sum(cl.incr_unknown[key] for cl in clients)
        values = [v for cl in clients for v in cl.incr_values[key]]
        got = call(port, "GET", key)
        final = int(got) if got is not None else 0
        log("%s: final %d, acknowledged %d, unacknowledged %d" % (key, final, acked, unknown))
        check(acked <= final <= acked + unknown,
              "%s=%d outside [%d, %d]" % (key, final, acked, acked + unknown))
        check(len(set(values)) == len(values), "two acknowledged INCRs of %s returned the same "
              "value" % key)
        check(not values or max(values) <= final, "%s: an INCR returned more than the final "
              "value" % key)
    acked_sets = {k: v for cl in clients for k, v in cl.sets_acked.items()}
    keys = sorted(acked_sets)
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        got = call(port, "MGET", *chunk)
        bad = [(k, g) for k, g in zip(chunk, got) if g != acked_sets[k].encode()]
        check(not bad, "acknowledged SETs lost or changed: %r" % bad[:5])
    log("%d acknowledged SETs of unique keys read back" % len(keys))
    for cl in clients:
        got = call(port, "GET", "reg%d" % cl.tid)
        v = int(got) if got is not None else 0
        check(cl.reg_acked <= v <= cl.reg_attempted,
              "reg%d=%d, acknowledged %d, attempted %d" % (cl.tid, v, cl.reg_acked,
                                                           cl.reg_attempted))
    wait_until(lambda: call(port, "KEYS", "eph*") == [], "keys SET with PX 800 to expire",
               timeout=30, step=0.2)


def test():
    log("seed %d, %.0f s of faults" % (SEED, FAULT_SECONDS))
    rng = random.Random(SEED)
    extra = ["--snapshot-count", "300", "--experimental-snapshot-catchup-entries", "100"]
    extra += os.environ.get("FAULT_ARGS", "").split()
    with new_cluster(args, extra_args=extra) as c:
        c.start(wait=False)
        wait_redis_ready(c)
        stop = threading.Event()
        clients = [Client(i, c, stop, rng.random()) for i in range(CLIENTS)]
        for cl in clients:
            cl.start()
        try:
            rounds = fault_schedule(c, rng, FAULT_SECONDS)
        finally:
            stop.set()
            for cl in clients:
                cl.join(3 * CLIENT_TIMEOUT_S)
        for cl in clients:
            check(not cl.is_alive(), "%s hangs" % cl.name)
            if cl.failure:
                raise cl.failure
        ops = sum(cl.ops for cl in clients)
        errors = {}
        for cl in clients:
            for k, n in cl.errors.items():
                errors[k] = errors.get(k, 0) + n
        log("%d fault rounds; %d commands (%d register reads); error replies %r; %d "
            "connections lost mid-command" % (rounds, ops, sum(cl.reads for cl in clients),
                                              errors, sum(cl.lost for cl in clients)))

        for m in c.members:
            check(m.alive(), "%s is running" % m.name)
        wait_redis_ready(c)
        verify(c, clients)
        idx, dg = wait_converged(c)
        installs = sum(m.read_log().count("installing snapshot at index") for m in c.members)
        log("converged at index %d, digest %s; %d snapshot installs during the run" %
            (idx, dg, installs))

        # The whole cluster crashes at once: everything acknowledged is still there after.
        c.kill_all()
        c.start(wait=False)
        wait_redis_ready(c)
        verify(c, clients)
        idx2, dg2 = wait_converged(c)
        check(idx2 >= idx, "applied index after the crash of every member: %d < %d" % (idx2, idx))
        log("after SIGKILL of every member and a restart: converged at %d (%s)" % (idx2, dg2))


main(test)
