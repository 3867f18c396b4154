#!/bin/sh
# run-cluster.sh — `make run`: the local 3-member cluster of ./Procfile in the foreground.
# Each member's log lines are prefixed with its name (coloured on a terminal); Ctrl-C stops all.
# While it runs, control one member from another terminal:
#   build/bin/concurctl cluster stop infra2      (also: start, restart, kill, list)
set -eu
cd "$(dirname "$0")/.."
mkdir -p data
exec build/bin/concurctl cluster run -f Procfile --sock data/.procs.sock
