#!/bin/sh
# deps.sh — installs the Debian packages a target needs, only those that are missing.
# Usage: scripts/deps.sh build|test|run
set -eu

BUILD_PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev libuv1-dev libnghttp2-dev \
libprotobuf-c-dev protobuf-c-compiler librocksdb-dev libcmocka-dev libcrypt-dev"
RUN_PKGS="ruby-foreman redis-tools etcd-client"
TEST_PKGS="etcd-server etcd-client redis-server redis-tools python3 python3-etcd3 python3-redis \
curl ruby-foreman procps"

case "${1:-build}" in
build) want="$BUILD_PKGS" ;;
run) want="$BUILD_PKGS $RUN_PKGS" ;;
test) want="$BUILD_PKGS $TEST_PKGS" ;;
*) echo "usage: $0 build|test|run" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "deps: need root (or sudo) to install:$missing" >&2; exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $missing
