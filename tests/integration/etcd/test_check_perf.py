#!/usr/bin/python3
"""test_check_perf.py — `etcdctl check perf --load=s` against a 3-member cluster of the server
under test must pass (throughput, slowest request and stddev criteria of etcdctl 3.4's small
load: 50 clients, ~150 writes/s of 256 B values for 60 s). Takes about a minute.

    test_check_perf.py --server build/bin/concurd
"""
import sys

import itest
from itest import cluster as C


def main():
    args = itest.parse_args(__doc__)
    with C.Cluster(args.server, n=3, workdir=itest.workdir(args, "perf")) as c:
        c.start()
        c.leader()
        r = c.etcdctl("check", "perf", "--load=s", timeout=300, check=False)
        print(r.stdout)
        passed = r.returncode == 0 and "PASS" in r.stdout and "FAIL" not in r.stdout
        if not passed:
            print(r.stderr[-4000:])
            c.failed = True
    print("check perf: %s" % ("PASS" if passed else "FAIL"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
