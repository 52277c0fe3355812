#!/bin/bash
# Two requestors at once: while one snapshot set is being created (the writer
# holds PrepareForBackup for 3 s), a second `lvssadm create` gets "in
# progress" and exits 4; the first one then completes.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
fixture_xfs data 300
data="$FX_MNT/data"; mkdir -p "$data"
start_lvssd
start_writer w1 "$data" --rate 200 --hang-at prepare --hang-seconds 3

"$LVSSADM" create --exec true "$data" >"$FX_DIR/first.out" 2>"$FX_DIR/first.err" &
first=$!
wait_event w1 hang 10
adm create --no-writers --json "$data"
[ "$RC" = 4 ] || fail "second requestor exited $RC, want 4 (busy): $(cat "$FX_DIR/err")"
grep -qi 'progress' "$FX_DIR/err" || fail "no 'in progress' message: $(cat "$FX_DIR/err")"
[ ! -s "$FX_DIR/out.json" ] || fail "stdout not empty on failure: $(cat "$FX_DIR/out.json")"
adm status --json
[ "$RC" = 0 ] || fail "status exited $RC"
[ -n "$(json "$FX_DIR/out.json" 'd["set_in_progress"]')" ] || fail "status shows no set in progress: $(cat "$FX_DIR/out.json")"
wait "$first"; rc=$?
[ "$rc" = 0 ] || fail "first requestor exited $rc: $(cat "$FX_DIR/first.err")"
adm status --json
[ -z "$(json "$FX_DIR/out.json" 'd["set_in_progress"]')" ] || fail "set still in progress after the first finished"
# Now the second one goes through.
adm create --exec true "$data"
[ "$RC" = 0 ] || fail "create after the first finished exited $RC: $(cat "$FX_DIR/err")"
echo ok
