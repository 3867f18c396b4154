#!/bin/bash
# bench-resp-compare.sh — one run on loopback: `redis-benchmark -t set,get,incr -c 50`, with -P 1
# and with -P 16, against a 3-member concur cluster's Redis listener (concurd --redis-addr) and
# against one `redis-server --appendonly yes --appendfsync always`; prints both sets of figures
# and the ratios concur/redis (resp_set_vs_redis_fsync: X, ...). Output: one `name: value` per
# line on stdout; progress on stderr. Kills everything it started, even on failure.
#
# Environment (defaults in brackets):
#   CONCURD [build/bin/concurd]  BENCH [build/bin/concur-bench] (readiness probe)
#   REDIS_SERVER [/usr/bin/redis-server]  REDIS_BENCHMARK [/usr/bin/redis-benchmark]
#   SYSTEM_A [concur]: set to "redis" to compare a second fsync-always redis-server instead,
#       which shows the noise floor of the method (every ratio should be near 1).
#   TARGET [leader]: which concur member redis-benchmark talks to: leader, or 1, 2, 3.
#   ROUNDS [1]: each configuration runs ROUNDS times per system, alternating which goes first;
#       ratios use the medians.
#   N_P1 [20000] N_P16 [100000]: requests per test (-n) with -P 1 and -P 16.
#   CLIENTS [50] KEYSPACE [100000] (-r) DATA_SIZE [3] (-d)   KEEP [0]: keep the temp dir.
# shellcheck disable=SC2154 # <tag>_ENDPOINTS, _PIDS, _DIRS, _REDIS, _ADDR are set through eval
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/bench-cluster-lib.sh"

CONCURD=${CONCURD:-$ROOT/build/bin/concurd}
BENCH=${BENCH:-$ROOT/build/bin/concur-bench}
REDIS_SERVER=${REDIS_SERVER:-/usr/bin/redis-server}
REDIS_BENCHMARK=${REDIS_BENCHMARK:-/usr/bin/redis-benchmark}
SYSTEM_A=${SYSTEM_A:-concur}
TARGET=${TARGET:-leader}
ROUNDS=${ROUNDS:-1}
N_P1=${N_P1:-20000}
N_P16=${N_P16:-100000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
DATA_SIZE=${DATA_SIZE:-3}
KEEP=${KEEP:-0}

need="$REDIS_SERVER $REDIS_BENCHMARK"
case $SYSTEM_A in
concur) A=concur need="$need $CONCURD $BENCH" ;;
redis) A=redis2 ;;
*) echo "SYSTEM_A must be concur or redis" >&2; exit 2 ;;
esac
for b in $need; do
    [ -x "$b" ] || { echo "bench-resp-compare: $b not found or not executable" >&2; exit 2; }
done

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-resp.XXXXXX")
on_exit() {
    bench_cleanup
    if [ "$KEEP" = 1 ]; then echo "kept $BENCH_TMP" >&2; else rm -rf "$BENCH_TMP"; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# start_redis TAG: one redis-server with an fsync-always AOF in $BENCH_TMP/TAG; sets TAG_ADDR.
start_redis() {
    local tag=$1 port pid
    port=$(bench_free_ports 1)
    mkdir -p "$BENCH_TMP/$tag"
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --appendonly yes --appendfsync always \
        --save '' --dir "$BENCH_TMP/$tag" --daemonize no >"$BENCH_TMP/$tag/$tag.log" 2>&1 &
    pid=$!
    disown "$pid"
    BENCH_PIDS="$BENCH_PIDS $pid"
    eval "${tag}_ADDR=127.0.0.1:\$port ${tag}_PIDS=\$pid"
    echo "started redis-server $tag: 127.0.0.1:$port" >&2
}

# wait_resp ADDR SECONDS: until a SET through ADDR is acknowledged.
wait_resp() {
    local deadline=$(($(date +%s) + $2))
    until [ "$(redis-cli -h "${1%:*}" -p "${1##*:}" set bench:ready 1 2>/dev/null)" = OK ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "bench-resp-compare: $1 not answering SET after $2 s" >&2
            return 1
        fi
        sleep 0.2
    done
}

# leader_member: 1..3, the concur member that is Raft leader (etcdctl endpoint status), or ""
leader_member() {
    ETCDCTL_API=3 etcdctl --endpoints "$concur_ENDPOINTS" endpoint status -w json 2>/dev/null |
        /usr/bin/python3 -c '
import json, sys
try:
    st = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
for i, s in enumerate(st):
    h = s.get("Status", {}).get("header", {})
    if h.get("member_id") is not None and h.get("member_id") == s["Status"].get("leader"):
        print(i + 1)
'
}

if [ "$SYSTEM_A" = concur ]; then
    bench_start_cluster concur "$CONCURD" concur redis
    bench_wait_ready concur 60
    which=$TARGET
    if [ "$TARGET" = leader ]; then
        which=$(leader_member)
        if [ -z "$which" ]; then
            echo "warning: could not find the leader; using member 1" >&2
            which=1
        fi
    fi
    # shellcheck disable=SC2086
    set -- $concur_REDIS
    eval "concur_ADDR=\${$which}"
    echo "target: concur member $which ($concur_ADDR)" >&2
else
    start_redis redis2
    which=""
fi
start_redis redis
wait_resp "$(eval echo "\$${A}_ADDR")" 60
wait_resp "$redis_ADDR" 60

# run SYSTEM P ROUND: redis-benchmark --csv against one system.
run() {
    local sys=$1 p=$2 round=$3 addr n out
    eval "addr=\$${sys}_ADDR"
    n=$([ "$p" = 1 ] && echo "$N_P1" || echo "$N_P16")
    out=$BENCH_TMP/$sys.P$p.$round.csv
    echo "round $round: -P $p on $sys" >&2
    if ! "$REDIS_BENCHMARK" -h "${addr%:*}" -p "${addr##*:}" -t set,get,incr -c "$CLIENTS" \
        -n "$n" -P "$p" -r "$KEYSPACE" -d "$DATA_SIZE" --csv >"$out" 2>"$out.err"; then
        echo "bench-resp-compare: redis-benchmark against $sys failed:" >&2
        cat "$out.err" >&2
        exit 1
    fi
    awk -F, 'NR > 1 { gsub(/"/, ""); printf "  %s %s req/s, p99 %s ms\n", $1, $2, $7 }' "$out" >&2
}

# Warm-up (not measured) of each system.
for sys in "$A" redis; do
    eval "addr=\$${sys}_ADDR"
    "$REDIS_BENCHMARK" -h "${addr%:*}" -p "${addr##*:}" -t set,get -c "$CLIENTS" -n 2000 \
        -r "$KEYSPACE" -q >/dev/null 2>&1
done

for r in $(seq "$ROUNDS"); do
    for p in 1 16; do
        if [ $((r % 2)) = 1 ]; then
            run "$A" $p "$r"; run redis $p "$r"
        else
            run redis $p "$r"; run "$A" $p "$r"
        fi
    done
done

# csv_field SYSTEM P TEST COLUMN: the median over the rounds of one CSV cell.
csv_field() {
    local vals="" r
    for r in $(seq "$ROUNDS"); do
        vals="$vals $(awk -F, -v t="\"$3\"" -v c="$4" '
            NR == 1 { for (i = 1; i <= NF; i++) { gsub(/"/, "", $i); col[$i] = i } next }
            $1 == t { v = $(col[c]); gsub(/"/, "", v); print v }' "$BENCH_TMP/$1.P$2.$r.csv")"
    done
    # shellcheck disable=SC2086
    bench_median $vals
}

echo "system_a: $SYSTEM_A"
[ -n "$which" ] && echo "concur_target_member: $which"
echo "rounds: $ROUNDS"
for sys in "$A" redis; do
    for p in 1 16; do
        for t in SET GET INCR; do
            lt=${t,,}
            echo "${sys}_${lt}_p${p}_rps: $(csv_field "$sys" $p $t rps)"
            echo "${sys}_${lt}_p${p}_p50_ms: $(csv_field "$sys" $p $t p50_latency_ms)"
            echo "${sys}_${lt}_p${p}_p99_ms: $(csv_field "$sys" $p $t p99_latency_ms)"
        done
    done
done
for t in SET GET INCR; do
    lt=${t,,}
    echo "resp_${lt}_vs_redis_fsync: $(bench_ratio "$(csv_field "$A" 1 $t rps)" \
        "$(csv_field redis 1 $t rps)")"
    echo "resp_${lt}_p16_vs_redis_fsync: $(bench_ratio "$(csv_field "$A" 16 $t rps)" \
        "$(csv_field redis 16 $t rps)")"
done
