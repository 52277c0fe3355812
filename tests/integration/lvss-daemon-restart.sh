#!/bin/bash
# lvssd killed (SIGKILL) and restarted on the same --state-dir: the
# auto-release snapshot of the session that was running is removed at start,
# the persistent snapshot is kept (listed and readable), the writer registers
# again and the next backup works.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
fixture_btrfs data 300
btrfs -q subvolume create "$FX_MNT/vol" >/dev/null || fail "btrfs subvolume create failed"
fixture_xfs x 300
xdata="$FX_MNT/data"; mkdir -p "$xdata"
data="$FX_DIR/mnt-data/vol/data"; mkdir -p "$data"
start_lvssd lvssd1
start_writer w1 "$data" --rate 200

# A persistent set on btrfs and on XFS.
adm create --json "$data" "$xdata"
[ "$RC" = 0 ] || fail "persistent create exited $RC: $(cat "$FX_DIR/err")"
cp "$FX_DIR/out.json" "$FX_DIR/persistent.json"
pset=$(json "$FX_DIR/persistent.json" 'd["set_id"]')
ppaths=$(json "$FX_DIR/persistent.json" '" ".join(s["path"] for s in d["shadows"])')

# An auto-release set, alive while --exec sleeps.
"$LVSSADM" create --exec "echo \$\$ >$FX_DIR/exec-started; exec sleep 60" "$data" "$xdata" >"$FX_DIR/auto.out" 2>&1 &
req=$!
for ((i=0; i<200; i++)); do [ -s "$FX_DIR/exec-started" ] && break; sleep 0.05; done
[ -s "$FX_DIR/exec-started" ] || fail "--exec never started: $(cat "$FX_DIR/auto.out")"
[ "$(shadow_count)" -ge 3 ] || fail "expected persistent + auto-release shadows: $(cat "$FX_DIR/shadows.json")"
apaths=$(json "$FX_DIR/shadows.json" '" ".join(s["path"] for s in d["shadows"] if s["set_id"] != "'"$pset"'")')
[ -n "$apaths" ] || fail "auto-release shadows not listed"

kill -KILL "$FX_PID_lvssd1"
wait "$FX_PID_lvssd1" 2>/dev/null
kill -KILL "$req" 2>/dev/null; wait "$req" 2>/dev/null
kill -KILL "$(cat "$FX_DIR/exec-started")" 2>/dev/null
for p in $apaths; do [ -e "$p" ] || fail "auto-release snapshot $p vanished before the restart (nothing to test)"; done

start_lvssd lvssd2
for ((i=0; i<50; i++)); do
    left=0; for p in $apaths; do [ -e "$p" ] && left=1; done
    [ $left = 0 ] && break
    sleep 0.1
done
for p in $apaths; do [ ! -e "$p" ] || fail "orphaned auto-release snapshot $p not removed at restart"; done
for p in $ppaths; do [ -e "$p" ] || fail "persistent snapshot $p lost across the restart"; done
[ "$(shadow_count)" = 2 ] || fail "after restart want the 2 persistent shadows: $(cat "$FX_DIR/shadows.json")"
[ "$(json "$FX_DIR/shadows.json" 'set(s["set_id"] for s in d["shadows"]) == {"'"$pset"'"}')" = True ] || fail "wrong shadows after restart: $(cat "$FX_DIR/shadows.json")"
"$EW" --verify "$(json "$FX_DIR/persistent.json" 'd["shadows"][0]["path"]')/records.dat" >/dev/null 2>&1 ||
    "$EW" --verify "$(json "$FX_DIR/persistent.json" 'd["shadows"][1]["path"]')/records.dat" >/dev/null ||
    fail "persistent snapshot content not readable after restart"

# The writer comes back (it resubscribes) and the next backup works.
for ((i=0; i<100; i++)); do
    "$LVSSADM" list writers --json >"$FX_DIR/writers.json" 2>/dev/null &&
        [ "$(json "$FX_DIR/writers.json" 'len(d["writers"])')" -ge 1 ] && break
    sleep 0.1
done
[ "$(json "$FX_DIR/writers.json" 'len(d["writers"])')" -ge 1 ] || fail "writer did not register again after the restart"
adm create --exec true "$data"
[ "$RC" = 0 ] || fail "backup after restart exited $RC: $(cat "$FX_DIR/err")"
adm delete shadows --set "$pset"
[ "$RC" = 0 ] || fail "delete of the persistent set after restart exited $RC: $(cat "$FX_DIR/err")"
for p in $ppaths; do [ ! -e "$p" ] || fail "persistent snapshot $p not deleted"; done
echo ok
