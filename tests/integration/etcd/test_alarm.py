#!/usr/bin/python3
"""test_alarm.py — the backend quota and NOSPACE alarm, as etcd 3.4 behaves: a member over
--quota-backend-bytes refuses writes that add data with "etcdserver: mvcc: database space
exceeded" and raises the NOSPACE alarm for the whole cluster; deletes still work; `etcdctl alarm
list` shows it; `etcdctl alarm disarm` clears it; a write over the quota raises it again. Also
exercised through the Redis protocol. Runs against etcd too (--server /usr/bin/etcd) to check the
test's expectations."""
import os
import re
import sys

import itest
from itest import cluster as C

SPACE = "etcdserver: mvcc: database space exceeded"


def main():
    args = itest.parse_args(__doc__)
    t = itest.Checks()
    is_etcd = os.path.basename(args.server) == "etcd"
    # A quota of 1 byte: every member's backend is over it from the start.
    with C.Cluster(args.server, n=3, workdir=itest.workdir(args, "alarm"),
                   extra_args=["--quota-backend-bytes", "1"]) as c:
        c.start()
        r = c.etcdctl("put", "k", "v", check=False)
        t.check(r.returncode != 0 and SPACE in r.stderr, "put over quota refused", r.stderr)
        # The alarm is replicated: every member lists it.
        def listed():
            out = c.etcdctl("alarm", "list").stdout
            return out if "alarm:NOSPACE" in out else None
        out = C.wait_until(listed, "NOSPACE in alarm list", timeout=30)
        t.check(re.search(r"^memberID:\d+ alarm:NOSPACE ?$", out, re.M), "alarm list format", out)
        for m in c.members:
            o = c.etcdctl("alarm", "list", endpoints=m.endpoint).stdout
            t.check("alarm:NOSPACE" in o, "alarm listed by " + m.name, o)
        # Deletes and reads still work while the alarm is active.
        r = c.etcdctl("del", "k", check=False)
        t.equal(r.returncode, 0, "delete allowed under NOSPACE")
        r = c.etcdctl("get", "k", check=False)
        t.equal(r.returncode, 0, "get allowed under NOSPACE")
        r = c.etcdctl("lease", "grant", "10", check=False)
        t.check(r.returncode != 0 and SPACE in r.stderr, "lease grant refused", r.stderr)
        if not is_etcd:
            rc = C.run(["redis-cli", "-p", str(c.members[0].redis_port), "set", "a", "b"])
            t.check(SPACE in rc.stdout, "Redis SET refused with the same text", rc.stdout)
        # Disarm clears it; the next write over the quota raises it again.
        r = c.etcdctl("alarm", "disarm")
        t.check("alarm:NOSPACE" in r.stdout, "disarm prints the cleared alarm", r.stdout)
        t.equal(c.etcdctl("alarm", "list").stdout.strip(), "", "alarm list empty after disarm")
        r = c.etcdctl("put", "k", "v", check=False)
        t.check(r.returncode != 0 and SPACE in r.stderr, "put over quota refused again", r.stderr)
        C.wait_until(listed, "NOSPACE raised again", timeout=30)
    # Without a quota problem there are no alarms and writes work.
    with C.Cluster(args.server, n=1, workdir=itest.workdir(args, "alarm1")) as c:
        c.start()
        t.equal(c.etcdctl("alarm", "list").stdout.strip(), "", "no alarms by default")
        t.equal(c.etcdctl("put", "k", "v").stdout.strip(), "OK", "put works")
    return t.report()


if __name__ == "__main__":
    sys.exit(main())
