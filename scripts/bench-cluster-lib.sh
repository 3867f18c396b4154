# shellcheck shell=bash
# bench-cluster-lib.sh — shell helpers sourced by the bench-*-compare.sh drivers: free ports,
# 3-member etcd/concur clusters with etcd's flags on loopback, readiness, RSS, disk, cleanup.
# Bash. Not executable on its own. Callers set BENCH_TMP (a temp dir they own) and BENCH (the
# concur-bench binary), call bench_cleanup from an EXIT trap, and use `set -eu`.

BENCH_PIDS=""

# Prints N distinct free TCP ports on 127.0.0.1 (bound together, then released).
bench_free_ports() {
    /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# bench_start_cluster KIND BINARY TAG [redis]
# Starts a 3-member cluster of BINARY (etcd or concurd: both take etcd's flags) with data under
# $BENCH_TMP/TAG/. With a 4th argument "redis", each member also gets --redis-addr.
# Sets <TAG>_ENDPOINTS (comma list), <TAG>_PIDS, <TAG>_DIRS and, with redis, <TAG>_REDIS
# (space-separated host:port of the members' Redis listeners).
bench_start_cluster() {
    local kind=$1 bin=$2 tag=$3 redis=${4:-}
    local cports pports rports cluster="" eps="" pids="" dirs="" reds="" i=0 p cp pp rp dir extra pid
    # shellcheck disable=SC2046 # nine port numbers, split on purpose
    set -- $(bench_free_ports 9)
    cports="$1 $2 $3" pports="$4 $5 $6" rports="$7 $8 $9"
    for p in $pports; do
        i=$((i + 1))
        cluster="${cluster:+$cluster,}${tag}$i=http://127.0.0.1:$p"
    done
    i=0
    for cp in $cports; do
        i=$((i + 1))
        pp=$(echo "$pports" | cut -d' ' -f$i)
        rp=$(echo "$rports" | cut -d' ' -f$i)
        dir=$BENCH_TMP/$tag/${tag}$i
        mkdir -p "$dir"
        extra=""
        if [ "$redis" = redis ]; then
            extra="--redis-addr 127.0.0.1:$rp"
            reds="$reds 127.0.0.1:$rp"
        fi
        # shellcheck disable=SC2086
        "$bin" --name "${tag}$i" --data-dir "$dir" \
            --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
            --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
            --initial-cluster-token "bench-$tag" --initial-cluster "$cluster" \
            --initial-cluster-state new $extra >"$BENCH_TMP/$tag/${tag}$i.log" 2>&1 &
        pid=$!
        disown "$pid" # no job-status noise when cleanup has to SIGKILL it
        BENCH_PIDS="$BENCH_PIDS $pid"
        pids="$pids $pid"
        dirs="$dirs $dir"
        eps="${eps:+$eps,}127.0.0.1:$cp"
    done
    eval "${tag}_ENDPOINTS=\$eps ${tag}_PIDS=\$pids ${tag}_DIRS=\$dirs ${tag}_REDIS=\$reds"
    echo "started $kind cluster $tag: $eps" >&2
}

# bench_wait_ready TAG SECONDS: waits until one Put through each member succeeds (the cluster
# has a leader and every member serves clients); fails with the members' log tails otherwise.
bench_wait_ready() {
    local tag=$1 limit=$2 eps pids deadline ep pid
    eval "eps=\$${tag}_ENDPOINTS pids=\$${tag}_PIDS"
    deadline=$(($(date +%s) + limit))
    for ep in $(echo "$eps" | tr , ' '); do
        until "$BENCH" etcd --endpoints "$ep" --op put --total 1 --timeout 2 \
            --connect-timeout 2 >/dev/null 2>&1; do
            for pid in $pids; do
                if ! kill -0 "$pid" 2>/dev/null; then
                    echo "bench: a member of $tag exited early" >&2
                    bench_show_logs "$tag"
                    return 1
                fi
            done
            if [ "$(date +%s)" -ge "$deadline" ]; then
                echo "bench: $tag not ready after ${limit}s" >&2
                bench_show_logs "$tag"
                return 1
            fi
            sleep 0.2
        done
    done
}

bench_show_logs() {
    local f
    for f in "$BENCH_TMP/$1"/*.log; do
        echo "---- $f" >&2
        tail -n 20 "$f" >&2
    done
}

# Sum of VmRSS (bytes) over the given pids.
bench_rss_bytes() {
    local total=0 pid kb
    for pid in "$@"; do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0} * 1024))
    done
    echo $total
}

# Disk space (bytes) allocated to the given directories (preallocated files count in full).
bench_disk_bytes() {
    du -s -B1 "$@" | awk '{s += $1} END {print s + 0}'
}

# Apparent size (bytes) of the files in the given directories.
bench_disk_apparent_bytes() {
    du -sb "$@" | awk '{s += $1} END {print s + 0}'
}

# Field NAME of a `name: value` file.
bench_get() {
    awk -F': ' -v k="$1" '$1 == k {print $2; exit}' "$2"
}

# Median of the numbers given as arguments.
bench_median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
        if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
        else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# a / b with 3 decimals ("nan" when b is 0 or missing).
bench_ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.3f\n", a / b }'
}

# Stops everything started through these helpers: SIGTERM, a grace period, then SIGKILL.
bench_cleanup() {
    local pid alive _
    for pid in $BENCH_PIDS; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        alive=""
        for pid in $BENCH_PIDS; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for pid in $BENCH_PIDS; do kill -9 "$pid" 2>/dev/null || true; done
    BENCH_PIDS=""
}
