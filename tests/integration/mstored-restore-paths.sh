#!/bin/bash
# mstored (root) runs recovery only where a requestor may not have planted
# files: a restore's alternate_location must lie under a restore root
# (default: the data directory and the groups' paths; mstored.json
# "restore_roots") or be a root-only path (every directory root-owned, not
# writable by group or others).  Refusals name the rule and the culprit.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
REQ=$(fx_bin tests/unit/mstored/mstored-test-requestor)
for b in "$MSTORED" "$MSTORE" "$LVSSD" "$REQ"; do
    [ -x "$b" ] || skip "$(basename "$b") not built"
done
fixture_init
fixture_need_root
fixture_bus
fixture_xfs mail 600
DATA=$FX_MNT/data
SG=$DATA/SG1
mkdir -p "$FX_DIR/state"
chmod 0755 "$FX_DIR"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
start_mstored() { # [CONFIG-JSON]
    local cfg=()
    if [ -n "${1:-}" ]; then echo "$1" >"$FX_DIR/mstored.json"; cfg=(--config "$FX_DIR/mstored.json"); fi
    : >"$FX_DIR/mstored.log"
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$FX_DIR/lmtp.sock" --server-name h1 ${cfg[@]+"${cfg[@]}"}
    fixture_wait_name org.lvss.MailStore1 20
    for ((i=0; i<100; i++)); do grep -q "Mail Store Writer subscribed" "$FX_DIR/mstored.log" && return 0; sleep 0.1; done
    fail "Mail Store Writer not subscribed: $(tail -3 "$FX_DIR/mstored.log")"
}
start_mstored
$MSTORE sg create SG1 >/dev/null && $MSTORE db create SG1/DB1 >/dev/null || fail "setup"
$REQ backup --type full --sg-dir "$SG" --out "$FX_DIR/full" >/dev/null || fail "full backup"

# restore_to DIR: restore SG1 to the alternate location DIR; sets RC, err in alt.err.
restore_to() {
    $REQ restore --from "$FX_DIR/full" --component "Mail Store/h1/SG1" --sg-dir "$SG" --to "$1" \
        >/dev/null 2>"$FX_DIR/alt.err"
    RC=$?
}

# 1. A directory owned by another user: refused, naming the owner.
mkdir -p "$FX_DIR/user/rsg"; chown -R 65534:65534 "$FX_DIR/user"
restore_to "$FX_DIR/user/rsg"
[ "$RC" != 0 ] || fail "restore to a directory owned by uid 65534 accepted"
grep -q "not under a restore root" "$FX_DIR/alt.err" || fail "refusal does not name the root rule: $(cat "$FX_DIR/alt.err")"
grep -q "owned by uid 65534, not root" "$FX_DIR/alt.err" || fail "refusal does not name the owner: $(cat "$FX_DIR/alt.err")"
[ -z "$(ls "$FX_DIR/user/rsg")" ] || fail "files were restored into the refused directory"

# 2. Root-owned, but under a group-writable directory: refused.
mkdir -p "$FX_DIR/shared/rsg"; chmod 0775 "$FX_DIR/shared"
restore_to "$FX_DIR/shared/rsg"
[ "$RC" != 0 ] || fail "restore under a group-writable directory accepted"
grep -q "'$FX_DIR/shared' is writable by its group" "$FX_DIR/alt.err" || fail "refusal does not name the directory: $(cat "$FX_DIR/alt.err")"

# 3. A symlink from a root-only place to the user's directory: resolved, refused.
ln -s "$FX_DIR/user/rsg" "$FX_DIR/link"
restore_to "$FX_DIR/link"
[ "$RC" != 0 ] || fail "restore through a symlink to a user's directory accepted"
grep -q "owned by uid 65534" "$FX_DIR/alt.err" || fail "symlink not resolved: $(cat "$FX_DIR/alt.err")"

# 4. Root-only path: accepted and recovered there.
mkdir -p "$FX_DIR/rootonly/rsg"; chmod 0755 "$FX_DIR/rootonly" "$FX_DIR/rootonly/rsg"
restore_to "$FX_DIR/rootonly/rsg"
[ "$RC" = 0 ] || fail "restore to a root-only directory refused: $(cat "$FX_DIR/alt.err")"
grep -q "recovered: generations" "$FX_DIR/mstored.log" || fail "no recovery at the root-only location"

# 5. Under a configured restore root: accepted even when owned by a user;
#    outside every root and not root-only: refused, naming restore_roots.
kill -TERM "$FX_PID_mstored"; wait "$FX_PID_mstored"
start_mstored "{\"restore_roots\": [\"$FX_DIR/user\"]}"
restore_to "$FX_DIR/user/rsg"
[ "$RC" = 0 ] || fail "restore under a configured restore root refused: $(cat "$FX_DIR/alt.err")"
restore_to "$FX_DIR/shared/rsg"
[ "$RC" != 0 ] || fail "restore outside restore_roots under a group-writable directory accepted"
grep -q "mstored.json restore_roots" "$FX_DIR/alt.err" || fail "refusal does not name restore_roots: $(cat "$FX_DIR/alt.err")"
echo "bad: $(grep -m1 'refused' "$FX_DIR/alt.err")"

# 6. A bad restore_roots setting is a configuration error (exit 2).
echo '{"restore_roots": ["relative/dir"]}' >"$FX_DIR/bad.json"
"$MSTORED" --data-dir "$DATA" --config "$FX_DIR/bad.json" --no-writer >/dev/null 2>"$FX_DIR/bad.err"; rc=$?
[ "$rc" = 2 ] || fail "mstored with a relative restore root exited $rc, want 2: $(cat "$FX_DIR/bad.err")"
grep -q "restore_roots" "$FX_DIR/bad.err" || fail "no message naming restore_roots"
echo ok
