#!/bin/bash
# lvssd killed (SIGKILL) right after a provider's prepare, before anything is
# committed: the reflink provider has already written its pre-clone, the btrfs
# provider its snapshot area.  The registry entry written before prepare makes
# the next start abort both: nothing is left in .lvss-snapshots, the writer
# was never frozen for good, and the next backup works.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
fixture_need_test_hooks
lvss_setup
fixture_xfs x 300
xmnt=$FX_MNT
xdata="$xmnt/data"; mkdir -p "$xdata"
head -c 20M /dev/urandom >"$xdata/big"
fixture_btrfs b 300
bmnt=$FX_MNT
btrfs -q subvolume create "$bmnt/vol" >/dev/null || fail "btrfs subvolume create failed"
bdata="$bmnt/vol/data"; mkdir -p "$bdata"

LVSSD_TEST_KILL_AT=prepare fixture_spawn lvssd1 "$LVSSD" --state-dir "$LVSS_STATE"
fixture_wait_name org.lvss.Coordinator1 10
start_writer w1 "$xdata" --rate 200

adm create --json "$xdata" "$bdata"
[ "$RC" != 0 ] || fail "create succeeded although lvssd was killed in prepare"
wait "$FX_PID_lvssd1" 2>/dev/null
rc=$?
[ "$rc" = 137 ] || fail "lvssd was expected to die by SIGKILL in prepare (exit $rc)"
left=$(ls -A "$xmnt/.lvss-snapshots" 2>/dev/null)
[ -n "$left" ] || fail "the reflink provider left no pre-clone behind (nothing to test)"
grep -q '"prepared"' "$LVSS_STATE/snapshots.json" || fail "no prepared entry in the registry: $(cat "$LVSS_STATE/snapshots.json")"

start_lvssd lvssd2
left=$(ls -A "$xmnt/.lvss-snapshots" "$bmnt/vol/.lvss-snapshots" 2>/dev/null | grep -v '^$\|:$')
[ -z "$left" ] || fail "left behind after the restart: $left"
grep -q "orphans removed" "$FX_DIR/lvssd2.log" || fail "lvssd did not report the orphans: $(cat "$FX_DIR/lvssd2.log")"

# The writer re-registers with the new lvssd; the next backup works.
for ((i=0; i<100; i++)); do
    "$LVSSADM" list writers --json 2>/dev/null | grep -q '"stable"' && break; sleep 0.1
done
adm create --json --exec true "$xdata" "$bdata"
[ "$RC" = 0 ] || fail "backup after the restart exited $RC: $(cat "$FX_DIR/err")"
[ "$(shadow_count)" = 0 ] || fail "auto-release shadows left: $(cat "$FX_DIR/shadows.json")"
echo "ok: lvss-prepare-crash"
