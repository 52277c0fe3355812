#!/bin/bash
# The snapshot registry after disk damage: with lvssd stopped and a
# persistent snapshot (plus the leftovers of an unfinished reflink commit)
# on disk, snapshots.json is overwritten with garbage.  lvssd still starts,
# says so on stderr (the journal), moves the file aside to
# snapshots.json.corrupt-<time>, finds the snapshot again by the providers'
# scan of the [recovery] scan root (kept, persistent, owner root,
# "recovered"), removes the leftovers, and the snapshot can be deleted with
# lvssadm: nothing leaks.  A truncated (empty) registry is recovered the
# same, and so is the snapshot of a malformed entry.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
fixture_xfs data 300
data="$FX_MNT/data"; mkdir -p "$data"; echo hello >"$data/file"
REG=$LVSS_STATE/snapshots.json
printf '[recovery]\nscan = %s\n' "$FX_MNT" >"$FX_DIR/lvssd.conf"
n=0
run_lvssd() {
    n=$((n+1))
    fixture_spawn "lvssd$n" "$LVSSD" --state-dir "$LVSS_STATE" --config "$FX_DIR/lvssd.conf"
    fixture_wait_name org.lvss.Coordinator1 10
}
stop_lvssd() {
    local p; eval p=\$FX_PID_lvssd$n
    kill -TERM "$p"; wait "$p" 2>/dev/null
}
area_names() { ls -A "$FX_MNT/.lvss-snapshots" 2>/dev/null | sort | tr '\n' ' '; }

run_lvssd
adm create --no-writers --json "$data"
[ "$RC" = 0 ] || fail "persistent create exited $RC: $(cat "$FX_DIR/err")"
id=$(json "$FX_DIR/out.json" 'd["shadows"][0]["id"]')
[ "$(shadow_count)" = 1 ] || fail "persistent snapshot not listed"
[ "$(json "$FX_DIR/shadows.json" 'd["shadows"][0]["owner_uid"]')" = 0 ] || fail "owner_uid is not 0: $(cat "$FX_DIR/shadows.json")"
grep -q "\"$id\"" "$REG" || fail "registry does not name the snapshot"
stop_lvssd

echo "== garbage registry"
# An unfinished commit of another (lost) snapshot.
ghost=11111111-2222-4333-8444-555555555555
mkdir -p "$FX_MNT/.lvss-snapshots/.$ghost.partial/x" "$FX_MNT/.lvss-snapshots/.$ghost.pre"
head -c 3000 /dev/urandom >"$REG"
run_lvssd
log=$FX_DIR/lvssd$n.log
grep -q "snapshot registry '$REG' is unreadable" "$log" || fail "no clear message about the unreadable registry: $(cat "$log")"
ls "$REG".corrupt-* >/dev/null 2>&1 || fail "the unreadable registry was not moved aside: $(ls "$LVSS_STATE")"
grep -q "moved aside to '$REG.corrupt-" "$log" || fail "the message does not say where the registry went: $(cat "$log")"
[ "$(shadow_count)" = 1 ] || fail "after recovery: $(cat "$FX_DIR/shadows.json")"
python3 - "$FX_DIR/shadows.json" "$id" "$FX_MNT" <<'EOP' || fail "recovered entry: $(cat "$FX_DIR/shadows.json")"
import json, sys
s = json.load(open(sys.argv[1]))["shadows"][0]
assert s["id"] == sys.argv[2] and s["context"] == "persistent" and s["recovered"] is True, s
assert s["owner_uid"] == 0 and s["provider"] == "reflink" and s["original"] == sys.argv[3], s
assert s["path"] == sys.argv[3] + "/.lvss-snapshots/" + sys.argv[2], s
EOP
cmp "$FX_MNT/.lvss-snapshots/$id/data/file" "$data/file" || fail "recovered snapshot content"
[ "$(area_names)" = "$id " ] || fail "leftovers of the unfinished commit not removed: $(area_names)"
grep -q "\"$id\"" "$REG" || fail "the recovered registry does not name the snapshot"

echo "== empty registry (a rename that reached the disk before its data)"
stop_lvssd
: >"$REG"
run_lvssd
[ "$(shadow_count)" = 1 ] || fail "after recovery from an empty registry: $(cat "$FX_DIR/shadows.json")"
[ "$(ls "$REG".corrupt-* | wc -l)" = 2 ] || fail "empty registry not moved aside (or it replaced the first corrupt copy): $(ls "$LVSS_STATE")"

echo "== a malformed entry: its snapshot is found by the scan too"
stop_lvssd
python3 - "$REG" <<'EOP'
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["snapshots"]) == 1
d["snapshots"][0]["provider"] = 42
json.dump(d, open(sys.argv[1], "w"))
EOP
run_lvssd
grep -q "1 malformed entries; scanning" "$FX_DIR/lvssd$n.log" || fail "no message about the malformed entry: $(cat "$FX_DIR/lvssd$n.log")"
[ "$(shadow_count)" = 1 ] || fail "the snapshot of the malformed entry was not found: $(cat "$FX_DIR/shadows.json")"
[ "$(json "$FX_DIR/shadows.json" 'd["shadows"][0]["id"]')" = "$id" ] || fail "wrong snapshot: $(cat "$FX_DIR/shadows.json")"

echo "== the recovered snapshot can be deleted; nothing leaks"
adm delete shadows --shadow "$id"
[ "$RC" = 0 ] || fail "delete of the recovered snapshot exited $RC: $(cat "$FX_DIR/err")"
[ "$(shadow_count)" = 0 ] || fail "deleted snapshot still listed"
[ -z "$(area_names)" ] || fail "snapshot area not empty: $(area_names)"
stop_lvssd
run_lvssd
[ "$(shadow_count)" = 0 ] || fail "the deleted snapshot came back after a restart"
grep -q "unreadable" "$FX_DIR/lvssd$n.log" && fail "the registry written after recovery is unreadable"
echo "ok: lvssd-registry"
