#!/bin/sh
# make bench: run every bench/*.sh, each printing lvss's figure beside the
# reference tool's, measured in the same run.
set -u
BUILD=${1:-build}
export LVSS_BUILD_ROOT="$(cd "$BUILD" && pwd)"
export LVSS_SOURCE_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
rc=0
for b in "$LVSS_SOURCE_ROOT"/bench/*.sh; do
    [ -e "$b" ] || continue
    echo "=== $(basename "$b")"
    bash "$b" || { echo "bench: $(basename "$b") failed" >&2; rc=1; }
done
exit $rc
