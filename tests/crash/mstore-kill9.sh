#!/bin/bash
# kill -9 a real process committing through libmstore, several times, and
# check after each restart that every acknowledged commit is there and the
# files verify.
set -u
writer=$1
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
util="$LVSS_BUILD_ROOT/tools/mstoreutil/mstoreutil"
dir="$FX_DIR/sg"
for round in 1 2 3 4 5; do
    "$writer" "$dir" write >"$FX_DIR/acked" 2>"$FX_DIR/writer.err" &
    pid=$!
    # kill it mid-stream: once it has acknowledged commits (opening runs soft
    # recovery first, which is slow in a sanitizer build on a loaded machine)
    for i in $(seq 600); do [ -s "$FX_DIR/acked" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
    sleep 0.$((RANDOM % 5 + 3))
    kill -9 $pid
    wait $pid 2>/dev/null
    n=$(tail -n 1 "$FX_DIR/acked")
    [ -n "$n" ] || fail "round $round: writer acknowledged nothing: $(cat "$FX_DIR/writer.err")"
    "$writer" "$dir" check $((n + 1)) || fail "round $round: check after kill -9 failed"
    if [ -x "$util" ]; then
        "$util" verify "$dir/K9.edb" "$dir/K9.stm" >/dev/null || fail "round $round: verify failed"
        "$util" verify-logs "$dir" >/dev/null || fail "round $round: verify-logs failed"
    fi
    echo "round $round: $((n + 1)) acknowledged commits survived kill -9"
done
