#!/bin/bash
# libmstore commit throughput beside SQLite (WAL, synchronous=FULL), both
# doing durable one-record (10 KiB) transactions on the same filesystem in
# the same run, with 1 and 16 writers; then log replay speed.
# MSTORE_BENCH_DIR picks the filesystem (default: a scratch dir in /var/tmp).
set -u
: "${LVSS_BUILD_ROOT:=$(pwd)/build}"
: "${LVSS_SOURCE_ROOT:=$(cd "$(dirname "$0")/.." && pwd)}"
lib="$LVSS_BUILD_ROOT/lib/mstore/libmstore.a"
[ -f "$lib" ] || { echo "mstore-bench: $lib not built; skipped"; exit 0; }
pkg-config --exists sqlite3 || { echo "mstore-bench: libsqlite3-dev missing; skipped"; exit 0; }
work=$(mktemp -d "${MSTORE_BENCH_DIR:-/var/tmp}/mstore-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cc -O2 -D_GNU_SOURCE -I"$LVSS_SOURCE_ROOT" -I"$LVSS_SOURCE_ROOT/include" "$LVSS_SOURCE_ROOT/bench/mstore-bench.c" "$lib" \
   "$LVSS_BUILD_ROOT/lib/core/liblvss-core.a" \
   $(pkg-config --cflags --libs sqlite3 libxxhash) -lpthread -o "$work/mstore-bench" || exit 1
echo "filesystem: $(df -T "$work" | awk 'NR==2 {print $2 " on " $1}')"
"$work/mstore-bench" "$work" "${MSTORE_BENCH_COMMITS:-1600}"
