#!/bin/bash
# The snapshot registry's non-durable saves are deferred (registry.c): an
# auto-release snapshot cycle writes snapshots.json once (the durable
# "prepared" save), and the removal later.  The hook
# LVSSD_TEST_REGISTRY_LAZY_MS stretches the delay so the test sees the
# file between the two:
#   1. right after `lvssadm create --exec true` the file still lists the
#      set (state "prepared"): the removal was not written (old code wrote
#      it at once);
#   2. lvssd killed with SIGKILL then: the next start removes that orphan,
#      nothing is left in .lvss-snapshots, the file ends up empty;
#   3. lvssd stopped with SIGTERM while a save waits: written at exit;
#   4. with the default delay the removal reaches the file by itself.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
fixture_need_test_hooks
lvss_setup
fixture_xfs x 300
data="$FX_MNT/data"; mkdir -p "$data"
head -c 1M /dev/urandom >"$data/f"
REG=$LVSS_STATE/snapshots.json
entries() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["snapshots"]))' "$REG"; }
wait_entries() { # N: the file lists N entries within 30 s
    local i
    for ((i = 0; i < 300; i++)); do [ "$(entries)" = "$1" ] && return 0; sleep 0.1; done
    fail "the registry lists $(entries) entries after 30 s, expected $1: $(cat "$REG")"
}
area_left() { ls -A "$FX_MNT/.lvss-snapshots" 2>/dev/null; }

# 1 + 2
LVSSD_TEST_REGISTRY_LAZY_MS=600000 start_lvssd lvssd1
start_writer w1 "$data" --rate 0
adm create --exec true "$data"
[ "$RC" = 0 ] || fail "create failed: $(cat "$FX_DIR/err")"
[ "$(entries)" = 1 ] || fail "the removal was written at once (expected it deferred): $(cat "$REG")"
grep -q '"prepared"' "$REG" || fail "the deferred registry does not hold the prepared entry: $(cat "$REG")"
[ -z "$(area_left)" ] || fail "the snapshot was not deleted at the end of the cycle: $(area_left)"
kill -KILL "$FX_PID_lvssd1"; wait "$FX_PID_lvssd1" 2>/dev/null
start_lvssd lvssd2
grep -q "1 orphans removed" "$FX_DIR/lvssd2.log" || fail "the next start did not remove the orphan: $(cat "$FX_DIR/lvssd2.log")"
[ "$(entries)" = 0 ] || fail "the registry still lists entries after the restart: $(cat "$REG")"
[ -z "$(area_left)" ] || fail "left behind after the restart: $(area_left)"
kill -TERM "$FX_PID_lvssd2"; wait "$FX_PID_lvssd2" 2>/dev/null

# 3
LVSSD_TEST_REGISTRY_LAZY_MS=600000 start_lvssd lvssd3
for ((i = 0; i < 100; i++)); do "$LVSSADM" list writers --json 2>/dev/null | grep -q '"stable"' && break; sleep 0.1; done
adm create --exec true "$data"
[ "$RC" = 0 ] || fail "create failed: $(cat "$FX_DIR/err")"
[ "$(entries)" = 1 ] || fail "the removal was written at once (expected it deferred): $(cat "$REG")"
kill -TERM "$FX_PID_lvssd3"; wait "$FX_PID_lvssd3" 2>/dev/null
[ "$(entries)" = 0 ] || fail "the waiting save was not written at exit: $(cat "$REG")"

# 4
start_lvssd lvssd4
for ((i = 0; i < 100; i++)); do "$LVSSADM" list writers --json 2>/dev/null | grep -q '"stable"' && break; sleep 0.1; done
adm create --exec true "$data"
[ "$RC" = 0 ] || fail "create failed: $(cat "$FX_DIR/err")"
wait_entries 0
echo "lvssd-lazy-registry: ok"
