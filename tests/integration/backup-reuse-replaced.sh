#!/bin/bash
# Reuse of unchanged ranges after a database was put back to older content
# (docs/design/backup.md §8): DB1's files are copied aside (state A, clean
# shutdown), more mail arrives, a full records its map (stamp = DB1's
# highest page version); then the older copy is put back under the same
# names (what a restore of an older backup does: pages whose versions are
# below that stamp), and new mail arrives (its pages get versions below the
# stamp too, over the pages the later mail had used).  The next full must
# reuse only what is byte for byte the previous backup's: restored, every
# message of both mailboxes is the live one.  With a test that only
# compared page versions to the stamp, the restored DB1 would hold the
# later mail's pages.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup
deliver a@h1 45 100000
deliver b@h1 30 100000
$MSTORE db dismount SG1/DB1 || fail "dismount DB1"
mkdir -p "$FX_DIR/older"
cp -p "$SG/DB1.edb" "$SG/DB1.stm" "$FX_DIR/older/" || fail "copy of DB1"
$MSTORE db mount SG1/DB1 || fail "mount DB1"
deliver a@h1 45 100000
$LB create --repo "$REPO" --json >"$FX_DIR/f1.json" 2>"$FX_DIR/f1.err" || fail "full: $(cat "$FX_DIR/f1.err")"

$MSTORE db dismount SG1/DB1 || fail "dismount DB1"
cp -p "$FX_DIR/older/DB1.edb" "$FX_DIR/older/DB1.stm" "$SG/" || fail "put the older DB1 back"
$MSTORE db mount SG1/DB1 || fail "mount the older DB1: $(tail -3 "$FX_DIR/mstored.log")"
[ "$(count a@h1)" = 45 ] || fail "the older DB1 should hold 45 messages, not $(count a@h1)"
deliver a@h1 30 80000
snapshot_both

$LB create --repo "$REPO" --json >"$FX_DIR/f2.json" 2>"$FX_DIR/f2.err" || fail "full after the older copy: $(cat "$FX_DIR/f2.err")"
cat "$FX_DIR/f2.json"
reused=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_reused"])' <"$FX_DIR/f2.json")
[ "$reused" -gt 0 ] || fail "nothing reused: DB2 did not change at all"
ID2=$(json_get id <"$FX_DIR/f2.json")
restore_and_compare "$ID2" "restore"
echo "backup-reuse-replaced ok"
