#!/bin/bash
# A writer hangs in Freeze past its declared timeout (1 s): the set is
# aborted soon after the timeout (not when the writer wakes up), the writer
# gets Abort, nothing is left behind, and the next backup succeeds.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
fixture_xfs data 300
data="$FX_MNT/data"; mkdir -p "$data"
start_lvssd
start_writer w1 "$data" --rate 500 --freeze-timeout 1000 --hang-at freeze --hang-seconds 5

t0=$(now_ms)
adm create --exec true "$data"
t1=$(now_ms)
[ "$RC" = 1 ] || fail "create exited $RC, want 1: $(cat "$FX_DIR/err")"
echo "create failed after $((t1 - t0)) ms: $(cat "$FX_DIR/err")"
[ $((t1 - t0)) -lt 4500 ] || fail "the set was not aborted at the 1 s timeout (took $((t1 - t0)) ms)"
grep -qi 'timeout\|time' "$FX_DIR/err" || fail "message does not say timeout: $(cat "$FX_DIR/err")"
[ "$(shadow_count)" = 0 ] || fail "shadow left after the timeout"
wait_event w1 abort 10
grep -q "^thaw" "$FX_DIR/w1.events" && echo "note: writer also got Thaw"
# The writer hung once; the next backup must go through.
adm create --exec true "$data"
[ "$RC" = 0 ] || fail "next backup exited $RC: $(cat "$FX_DIR/err")"
echo ok
