#!/bin/sh
# fuzz.sh — `make fuzz`: runs every libFuzzer target of a clang build for SECONDS each, with a
# corpus directory per target kept under the build tree (so runs build on each other).
# Usage: scripts/fuzz.sh BUILD_DIR SECONDS
set -eu
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS}
secs=${2:-600}
found=0
for t in "$build"/fuzz/*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    found=1
    name=$(basename "$t")
    corpus="$build/fuzz-corpus/$name"
    mkdir -p "$corpus"
    echo "== $name for ${secs}s (corpus $corpus)"
    "$t" -max_total_time="$secs" -rss_limit_mb=2048 -artifact_prefix="$build/fuzz/$name-" "$corpus"
done
[ "$found" = 1 ] || { echo "no fuzz targets in $build/fuzz (build with CONCUR_FUZZ=ON)" >&2; exit 1; }
