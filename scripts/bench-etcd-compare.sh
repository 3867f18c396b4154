#!/bin/bash
# bench-etcd-compare.sh — one run on loopback: a 3-member concur cluster and a 3-member etcd 3.4
# cluster side by side, the same `concur-bench etcd` loads against both (put and linearizable
# range with 1000 clients over 100 connections, and with 1 client), then throughput and p99
# ratios (concur/etcd), RSS and data-dir sizes. Output: one `name: value` per line on stdout;
# progress on stderr. Kills everything it started, even on failure.
#
# Environment (defaults in brackets):
#   CONCURD [build/bin/concurd]  BENCH [build/bin/concur-bench]  ETCD [/usr/bin/etcd]
#   SYSTEM_A [concur]: set to "etcd" to compare etcd against a second etcd cluster, which shows
#       the noise floor of the method (every ratio should be near 1).
#   ROUNDS [1]: each load runs ROUNDS times per system, alternating which system goes first;
#       ratios use the medians.
#   PUT_TOTAL [100000] RANGE_TOTAL [100000] ONE_TOTAL [1000]: requests per load (fixed totals,
#       so both clusters end up holding the same data).
#   CLIENTS [1000] CONNS [100] KEY_SIZE [8] VAL_SIZE [256] KEY_SPACE [100000]
#   KEEP [0]: 1 keeps the temp dir (data and logs) for inspection.
# shellcheck disable=SC2154 # <tag>_ENDPOINTS, _PIDS, _DIRS, _REDIS, _ADDR are set through eval
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/bench-cluster-lib.sh"

CONCURD=${CONCURD:-$ROOT/build/bin/concurd}
BENCH=${BENCH:-$ROOT/build/bin/concur-bench}
ETCD=${ETCD:-/usr/bin/etcd}
SYSTEM_A=${SYSTEM_A:-concur}
ROUNDS=${ROUNDS:-1}
PUT_TOTAL=${PUT_TOTAL:-100000}
RANGE_TOTAL=${RANGE_TOTAL:-100000}
ONE_TOTAL=${ONE_TOTAL:-1000}
CLIENTS=${CLIENTS:-1000}
CONNS=${CONNS:-100}
KEY_SIZE=${KEY_SIZE:-8}
VAL_SIZE=${VAL_SIZE:-256}
KEY_SPACE=${KEY_SPACE:-100000}
KEEP=${KEEP:-0}

[ "$CLIENTS" -gt 1 ] || { echo "CLIENTS must be more than 1" >&2; exit 2; }
case $SYSTEM_A in
concur) A_BIN=$CONCURD A=concur ;;
etcd) A_BIN=$ETCD A=etcd2 ;;
*) echo "SYSTEM_A must be concur or etcd" >&2; exit 2 ;;
esac
for b in "$A_BIN" "$ETCD" "$BENCH"; do
    [ -x "$b" ] || { echo "bench-etcd-compare: $b not found or not executable" >&2; exit 2; }
done

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-etcd.XXXXXX")
on_exit() {
    bench_cleanup
    if [ "$KEEP" = 1 ]; then echo "kept $BENCH_TMP" >&2; else rm -rf "$BENCH_TMP"; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

bench_start_cluster "$SYSTEM_A" "$A_BIN" "$A"
bench_start_cluster etcd "$ETCD" etcd
bench_wait_ready "$A" 60
bench_wait_ready etcd 60
eval "A_EPS=\$${A}_ENDPOINTS A_PIDS=\$${A}_PIDS A_DIRS=\$${A}_DIRS"

# load_args OP_N: the concur-bench arguments of a load: OP is put or range (linearizable), N is
# 1 (one client) or $CLIENTS (over $CONNS connections).
load_args() {
    local op=${1%_*} n=${1#*_} common="--key-size $KEY_SIZE --val-size $VAL_SIZE --key-space $KEY_SPACE"
    [ "$op" = range ] && common="$common --consistency l"
    if [ "$n" = 1 ]; then
        echo "--op $op --clients 1 --conns 1 --total $ONE_TOTAL $common"
    elif [ "$op" = put ]; then
        echo "--op put --clients $CLIENTS --conns $CONNS --total $PUT_TOTAL $common"
    else
        echo "--op range --clients $CLIENTS --conns $CONNS --total $RANGE_TOTAL $common"
    fi
}
LOADS="put_$CLIENTS range_$CLIENTS put_1 range_1"

# run SYSTEM LOAD ROUND: one load against one cluster, output kept in $BENCH_TMP.
run() {
    local sys=$1 load=$2 round=$3 eps out
    eval "eps=\$${sys}_ENDPOINTS"
    out=$BENCH_TMP/$sys.$load.$round.out
    echo "round $round: $load on $sys" >&2
    # shellcheck disable=SC2046
    if ! "$BENCH" etcd --endpoints "$eps" $(load_args "$load") >"$out" 2>"$out.err"; then
        echo "bench-etcd-compare: $load on $sys failed:" >&2
        cat "$out.err" >&2
        exit 1
    fi
    echo "  $(bench_get requests_per_s "$out") req/s, p50 $(bench_get latency_p50_ms "$out") ms," \
        "p99 $(bench_get latency_p99_ms "$out") ms" >&2
    if [ "$(bench_get requests_failed "$out")" != 0 ]; then
        echo "warning: $load on $sys: $(bench_get requests_failed "$out") failed requests" >&2
        cat "$out.err" >&2
    fi
}

# Warm-up (not measured): connections, caches and the first WAL/db growth of each cluster.
for sys in "$A" etcd; do
    eval "eps=\$${sys}_ENDPOINTS"
    "$BENCH" etcd --endpoints "$eps" --clients 100 --conns 10 --total 2000 >/dev/null
done

for r in $(seq "$ROUNDS"); do
    for load in $LOADS; do
        if [ $((r % 2)) = 1 ]; then
            run "$A" "$load" "$r"; run etcd "$load" "$r"
        else
            run etcd "$load" "$r"; run "$A" "$load" "$r"
        fi
    done
done

# Per system and load: medians over the rounds.
median_of() { # SYSTEM LOAD FIELD
    local vals="" r
    for r in $(seq "$ROUNDS"); do vals="$vals $(bench_get "$3" "$BENCH_TMP/$1.$2.$r.out")"; done
    # shellcheck disable=SC2086
    bench_median $vals
}

echo "system_a: $SYSTEM_A"
echo "rounds: $ROUNDS"
for load in $LOADS; do
    for sys in "$A" etcd; do
        for f in requests_per_s latency_p50_ms latency_p99_ms latency_max_ms requests_failed; do
            echo "${sys}_${load}_$f: $(median_of "$sys" "$load" $f)"
        done
    done
done
for load in $LOADS; do
    op=${load%_*} n=${load#*_}
    echo "etcd_${op}_ratio_${n}_client$([ "$n" = 1 ] || echo s): $(bench_ratio \
        "$(median_of "$A" "$load" requests_per_s)" "$(median_of etcd "$load" requests_per_s)")"
    suffix=$([ "$n" = 1 ] && echo "_1" || echo "")
    echo "etcd_${op}_p99_ratio$suffix: $(bench_ratio \
        "$(median_of "$A" "$load" latency_p99_ms)" "$(median_of etcd "$load" latency_p99_ms)")"
done
# shellcheck disable=SC2086
{
    echo "${A}_rss_bytes: $(bench_rss_bytes $A_PIDS)"
    echo "etcd_rss_bytes: $(bench_rss_bytes $etcd_PIDS)"
    echo "${A}_disk_bytes: $(bench_disk_bytes $A_DIRS)"
    echo "etcd_disk_bytes: $(bench_disk_bytes $etcd_DIRS)"
    echo "${A}_disk_apparent_bytes: $(bench_disk_apparent_bytes $A_DIRS)"
    echo "etcd_disk_apparent_bytes: $(bench_disk_apparent_bytes $etcd_DIRS)"
}
