#!/bin/bash
# lvssadm's command line: --help everywhere, usage errors exit 2, JSON
# shapes of list/status, providers listed, an unsupported path (tmpfs) is
# refused with exit 2 and a reason, a missing lvssd is a clear failure.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
for c in "" "list" "create" "delete" "writer-metadata" "status"; do
    # shellcheck disable=SC2086
    "$LVSSADM" $c --help >"$FX_DIR/help" 2>&1 || fail "lvssadm $c --help failed"
    grep -q 'Usage' "$FX_DIR/help" || fail "lvssadm $c --help prints no usage"
done
for bad in "frobnicate" "list gizmos" "create" "delete shadows" "delete shadows --all --set x" "create --bogus /"; do
    # shellcheck disable=SC2086
    "$LVSSADM" $bad >/dev/null 2>"$FX_DIR/err"; rc=$?
    [ "$rc" = 2 ] || fail "'lvssadm $bad' exited $rc, want 2"
done
# No lvssd yet: a clear failure, not a hang.
LVSS_BUS="$LVSS_BUS" timeout 30 "$LVSSADM" list writers >/dev/null 2>"$FX_DIR/err"; rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "list writers without lvssd exited $rc"
[ -s "$FX_DIR/err" ] || fail "no message when lvssd is missing"

start_lvssd
adm list providers --json
[ "$RC" = 0 ] || fail "list providers exited $RC"
[ "$(json "$FX_DIR/out.json" 'sorted(p["name"] for p in d["providers"])')" = "['btrfs', 'reflink']" ] || fail "providers: $(cat "$FX_DIR/out.json")"
json "$FX_DIR/out.json" 'all(set(p) >= {"id","name","type"} for p in d["providers"])' | grep -q True || fail "provider fields: $(cat "$FX_DIR/out.json")"
adm list writers --json
[ "$RC" = 0 ] && [ "$(json "$FX_DIR/out.json" 'd["writers"]')" = "[]" ] || fail "writers: $(cat "$FX_DIR/out.json")"
adm status --json
[ "$RC" = 0 ] || fail "status exited $RC"
json "$FX_DIR/out.json" '"set_in_progress" in d and "frozen_filesystems" in d and "counters" in d' | grep -q True || fail "status shape: $(cat "$FX_DIR/out.json")"
adm list shadows
[ "$RC" = 0 ] || fail "list shadows (text) exited $RC"

fixture_xfs data 300
start_writer w1 "$FX_MNT" --rate 0
adm list writers --json
[ "$(json "$FX_DIR/out.json" 'd["writers"][0]["name"]')" = "Example Writer" ] || fail "writer not listed: $(cat "$FX_DIR/out.json")"
[ "$(json "$FX_DIR/out.json" 'd["writers"][0]["state"]')" = "stable" ] || fail "writer not stable: $(cat "$FX_DIR/out.json")"
adm writer-metadata --json
[ "$RC" = 0 ] || fail "writer-metadata exited $RC: $(cat "$FX_DIR/err")"
grep -q records "$FX_DIR/out.json" || fail "writer metadata lacks the component: $(cat "$FX_DIR/out.json")"
adm writer-metadata
grep -q "Component:.*records" "$FX_DIR/out.json" || fail "text writer metadata: $(cat "$FX_DIR/out.json")"

# --type reaches the writer (default copy); delete one shadow by id.
adm create --exec true "$FX_MNT"
[ "$RC" = 0 ] || fail "create exited $RC: $(cat "$FX_DIR/err")"
grep -q '^prepare_backup [0-9]* type=copy' "$FX_DIR/w1.events" || fail "default type is not copy: $(cat "$FX_DIR/w1.events")"
adm create --type full --json "$FX_MNT"
[ "$RC" = 0 ] || fail "create --type full exited $RC: $(cat "$FX_DIR/err")"
grep -q '^prepare_backup [0-9]* type=full' "$FX_DIR/w1.events" || fail "--type full not seen by the writer"
sid=$(json "$FX_DIR/out.json" 'd["shadows"][0]["id"]')
adm create --no-writers "$FX_MNT"
[ "$(shadow_count)" = 2 ] || fail "want 2 persistent shadows: $(cat "$FX_DIR/shadows.json")"
adm delete shadows --shadow "$sid" --json
[ "$RC" = 0 ] && [ "$(json "$FX_DIR/out.json" 'd["deleted"]')" = 1 ] || fail "delete --shadow: $RC $(cat "$FX_DIR/out.json" "$FX_DIR/err")"
[ "$(shadow_count)" = 1 ] || fail "delete --shadow removed the wrong number"
[ "$(json "$FX_DIR/shadows.json" 'd["shadows"][0]["id"]')" != "$sid" ] || fail "delete --shadow removed the other one"
adm create --type bogus "$FX_MNT"
[ "$RC" = 2 ] || fail "--type bogus exited $RC, want 2"

# tmpfs: no provider can snapshot it.
mkdir -p "$FX_DIR/tmpfs"; mount -t tmpfs none "$FX_DIR/tmpfs" && FX_MOUNTS+=("$FX_DIR/tmpfs")
adm create --no-writers "$FX_DIR/tmpfs"
[ "$RC" = 2 ] || fail "create on tmpfs exited $RC, want 2: $(cat "$FX_DIR/err")"
grep -q tmpfs "$FX_DIR/err" || fail "refusal does not say why: $(cat "$FX_DIR/err")"
adm create --no-writers "$FX_DIR/does-not-exist"
[ "$RC" = 2 ] || fail "create on a missing path exited $RC, want 2"
adm delete shadows --shadow 00000000-0000-0000-0000-000000000000
[ "$RC" = 2 ] || fail "delete of an unknown shadow exited $RC, want 2: $(cat "$FX_DIR/err")"
echo ok
