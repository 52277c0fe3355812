#!/bin/bash
# lvssd end to end: a private bus, lvssd with a scratch state dir, a test
# writer appending records on an XFS (reflink) loop mount, and a test
# requestor running the full backup sequence (snapshot content verified:
# no torn record), calls out of order, a second set refused while one is in
# creation, and the auto-release snapshot gone when the session ends.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_root
fixture_bus
fixture_xfs data 300
DATA=$FX_MNT/app
mkdir -p "$DATA"
T=$LVSS_BUILD_ROOT/tests/unit/lvss
LVSSD=$LVSS_BUILD_ROOT/daemon/lvssd/lvssd
[ -x "$LVSSD" ] || skip "lvssd not built (no providers)"
B="busctl --address=$LVSS_BUS"
# coord METHOD: the JSON document a Coordinator1 method returns.
coord() {
    $B --json=short call org.lvss.Coordinator1 /org/lvss/Coordinator1 org.lvss.Coordinator1 "$@" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0])'
}

fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state" --config /dev/null
fixture_wait_name org.lvss.Coordinator1
fixture_spawn writer "$T/test-writer" --dir "$DATA" --freeze-timeout 5000
for i in $(seq 100); do grep -qs subscribed "$FX_DIR/writer.log" && break; sleep 0.05; done
grep -q subscribed "$FX_DIR/writer.log" || fail "writer did not subscribe: $(cat "$FX_DIR/writer.log")"
sleep 0.3   # let the writer append some records

echo "== full backup sequence"
"$T/test-requestor" backup "$DATA" --save "$FX_DIR/bcd.json" >"$FX_DIR/req1.log" 2>&1 || { cat "$FX_DIR/req1.log"; fail "backup sequence failed"; }
cat "$FX_DIR/req1.log"
grep -q "records consistent" "$FX_DIR/req1.log" || fail "snapshot content was not verified"
grep -q "backup stamp stamp-1 differenced 1 partial 1" "$FX_DIR/req1.log" || fail "writer's backup stamp, differenced and partial files did not reach the requestor"
sleep 0.3
want="Identify PrepareForBackup PrepareForSnapshot Freeze Thaw PostSnapshot BackupComplete BackupShutdown"
got=$(sed -n 's/^event //p' "$FX_DIR/writer.log" | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ] || fail "writer events: got '$got', want '$want'"
grep -q "backup_succeeded 1" "$FX_DIR/writer.log" || fail "writer did not see backup succeeded"
grep -q "volumes 1 affected 1" "$FX_DIR/writer.log" || fail "writer did not see the set's volume at PrepareForSnapshot"
coord Metrics | grep -q '^lvss_sets_created_total 1$' || fail "metrics: $(coord Metrics)"
shadows=$(coord ListShadows)
[ "$(echo "$shadows" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shadows"]))')" = 0 ] || fail "auto-release snapshot still listed after the session ended: $shadows"
[ -z "$(ls -A "$FX_MNT/.lvss-snapshots" 2>/dev/null)" ] || fail "snapshot area not empty: $(ls -A "$FX_MNT/.lvss-snapshots")"

echo "== restore with the saved components document"
"$T/test-requestor" restore "$FX_DIR/bcd.json" >"$FX_DIR/rest.log" 2>&1 || { cat "$FX_DIR/rest.log"; fail "restore sequence failed"; }
cat "$FX_DIR/rest.log"
grep -q "restore target original_location" "$FX_DIR/rest.log" || fail "the writer's restore target did not reach the requestor"
grep -q "pre_restore component data selected 1 additional 0 stamp stamp-1" "$FX_DIR/writer.log" || fail "writer did not see its selected component: $(cat "$FX_DIR/writer.log")"
grep -q "post_restore status all" "$FX_DIR/writer.log" || fail "writer did not see the file restore status"

echo "== restore of a subcomponent only"
"$T/test-requestor" restore "$FX_DIR/bcd.json" --sub test/data db1 >"$FX_DIR/rest2.log" 2>&1 || { cat "$FX_DIR/rest2.log"; fail "subcomponent restore failed"; }
grep -q "pre_restore component db1 selected 1" "$FX_DIR/writer.log" || fail "writer did not see the subcomponent selected: $(cat "$FX_DIR/writer.log")"
grep -q "pre_restore component data selected 0" "$FX_DIR/writer.log" || fail "writer saw the parent selected"

echo "== freeze by level, thaw in reverse"
kill "$FX_PID_writer"; wait "$FX_PID_writer" 2>/dev/null
mkdir -p "$DATA/front" "$DATA/back" "$DATA/sys"
fixture_spawn wfront "$T/test-writer" --dir "$DATA/front" --name Front --level front_end --class-id 11111111-1111-4111-8111-111111111111
fixture_spawn wback "$T/test-writer" --dir "$DATA/back" --name Back --level back_end --class-id 22222222-2222-4222-8222-222222222222
fixture_spawn wsys "$T/test-writer" --dir "$DATA/sys" --name Sys --level system --class-id 33333333-3333-4333-8333-333333333333
for w in wfront wback wsys; do
    for i in $(seq 100); do grep -qs subscribed "$FX_DIR/$w.log" && break; sleep 0.05; done
done
"$T/test-requestor" backup "$DATA" >"$FX_DIR/req-levels.log" 2>&1 || { cat "$FX_DIR/req-levels.log"; fail "backup with three levels failed"; }
at() { sed -n "s/^at \([0-9]*\) $2\$/\1/p" "$FX_DIR/$1.log" | tail -1; }
ff=$(at wfront Freeze); fb=$(at wback Freeze); fs=$(at wsys Freeze)
tf=$(at wfront Thaw); tb=$(at wback Thaw); ts=$(at wsys Thaw)
[ -n "$ff" ] && [ -n "$fb" ] && [ -n "$fs" ] && [ -n "$tf" ] && [ -n "$tb" ] && [ -n "$ts" ] || fail "a writer missed Freeze or Thaw"
[ "$ff" -lt "$fb" ] && [ "$fb" -lt "$fs" ] || fail "freeze order wrong: front $ff back $fb system $fs"
[ "$ts" -lt "$tb" ] && [ "$tb" -lt "$tf" ] || fail "thaw order wrong: system $ts back $tb front $tf"
[ "$fs" -lt "$ts" ] || fail "system thawed before it was frozen"
echo "freeze front -> back -> system, thaw system -> back -> front: ok"
n_sys=$(grep -c "^event" "$FX_DIR/wsys.log")
"$T/test-requestor" backup "$DATA" --disable-class 33333333-3333-4333-8333-333333333333 >"$FX_DIR/req-filter.log" 2>&1 ||
    { cat "$FX_DIR/req-filter.log"; fail "backup with a disabled writer class failed"; }
grep -q "writers 2 components 2" "$FX_DIR/req-filter.log" || fail "disabled class still gathered: $(cat "$FX_DIR/req-filter.log")"
[ "$(grep -c "^event" "$FX_DIR/wsys.log")" = "$n_sys" ] || fail "a disabled writer class got events"
for w in wfront wback wsys; do eval kill \$FX_PID_$w; done

echo "== calls out of order"
"$T/test-requestor" out-of-order || fail "a call out of order was accepted"

echo "== one set in creation at a time"
fixture_spawn holder "$T/test-requestor" start-set-and-wait 3
for i in $(seq 100); do grep -qs started "$FX_DIR/holder.log" && break; sleep 0.05; done
grep -q started "$FX_DIR/holder.log" || fail "holder did not start a set: $(cat "$FX_DIR/holder.log")"
"$T/test-requestor" backup "$DATA" --expect LVSS_E_SNAPSHOT_SET_IN_PROGRESS >"$FX_DIR/req2.log" 2>&1 ||
    { cat "$FX_DIR/req2.log"; fail "second set was not refused with LVSS_E_SNAPSHOT_SET_IN_PROGRESS"; }
grep -q "failed as expected" "$FX_DIR/req2.log" || fail "second set: $(cat "$FX_DIR/req2.log")"
kill "$FX_PID_holder"; wait "$FX_PID_holder" 2>/dev/null
sleep 0.2
coord Status | grep -q '"set_in_progress":null' || fail "set still in progress after its requestor died: $(coord Status)"

echo "== persistent snapshot"
"$T/test-requestor" backup "$DATA" --persistent >"$FX_DIR/req3.log" 2>&1 || { cat "$FX_DIR/req3.log"; fail "persistent backup failed"; }
coord ListShadows | grep -q '"context":"persistent"' || fail "persistent snapshot not listed: $(coord ListShadows)"
echo "lvssd-basic: ok"
