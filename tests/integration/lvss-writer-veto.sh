#!/bin/bash
# A writer vetoes at PrepareForBackup, then (another run) at Freeze: the
# set fails (exit 1) naming the writer, nothing is left behind (no shadow,
# no snapshot directory, no set in progress, writer not frozen); with a
# well-behaved writer the next backup succeeds.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
fixture_xfs data 300
data="$FX_MNT/data"; mkdir -p "$data"
start_lvssd

check_clean() {
    [ "$(shadow_count)" = 0 ] || fail "$1: shadows left: $(cat "$FX_DIR/shadows.json")"
    adm status --json
    [ -z "$(json "$FX_DIR/out.json" 'd["set_in_progress"]')" ] || fail "$1: set still in progress"
    if [ -d "$FX_MNT/.lvss-snapshots" ] && [ -n "$(ls -A "$FX_MNT/.lvss-snapshots")" ]; then
        fail "$1: snapshot area not empty: $(ls -A "$FX_MNT/.lvss-snapshots")"
    fi
}

start_writer wp "$data" --veto-at prepare
adm create --exec true "$data"
[ "$RC" = 1 ] || fail "veto at prepare: create exited $RC, want 1: $(cat "$FX_DIR/err")"
grep -q 'Example Writer' "$FX_DIR/err" || fail "veto at prepare: message does not name the writer: $(cat "$FX_DIR/err")"
grep -q '^veto [0-9]* prepare' "$FX_DIR/wp.events" || fail "writer did not veto"
grep -q '^freeze' "$FX_DIR/wp.events" && fail "writer was frozen although it vetoed at prepare"
check_clean "veto at prepare"
stop_writer wp

start_writer wf "$data" --veto-at freeze --rate 500
adm create --exec true "$data"
[ "$RC" = 1 ] || fail "veto at freeze: create exited $RC, want 1: $(cat "$FX_DIR/err")"
grep -q 'Example Writer' "$FX_DIR/err" || fail "veto at freeze: message does not name the writer: $(cat "$FX_DIR/err")"
grep -q '^veto [0-9]* freeze' "$FX_DIR/wf.events" || fail "writer did not veto at freeze"
wait_event wf abort 5
check_clean "veto at freeze"
stop_writer wf

start_writer ok "$data" --rate 500
adm create --exec "\"$EW\" --verify \"\${LVSS_SHADOW_PATHS#*=}/records.dat\"" "$data"
[ "$RC" = 0 ] || fail "backup after the vetoes exited $RC: $(cat "$FX_DIR/err")"
check_clean "after the good backup"
echo ok
