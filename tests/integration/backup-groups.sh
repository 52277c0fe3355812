#!/bin/bash
# Two storage groups on btrfs (subvolume snapshots): a backup without
# --component takes every selectable component (both groups, one stamp per
# group kept); an incremental of one group is based on the full that holds
# it; one group is restored while the other stays online and keeps receiving
# mail.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
BK_FS=btrfs
bk_setup 600
$MSTORE sg create SG2 && $MSTORE db create SG2/DB3 && $MSTORE mailbox create c@h1 --db SG2/DB3 || fail "SG2 setup"
deliver a@h1 20
deliver c@h1 20

FULL=$($LB create --repo "$REPO" --json 2>"$FX_DIR/full.err" | tee "$FX_DIR/full.json" | json_get id) \
    || fail "full of every component: $(cat "$FX_DIR/full.err")"
python3 - "$FX_DIR/full.json" <<'PY' || fail "components of the full: $(cat "$FX_DIR/full.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert sorted(d["components"]) == ["Mail Store/h1/SG1", "Mail Store/h1/SG2"], d["components"]
PY
$LB show --repo "$REPO" "$FULL" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
st = json.loads([w for w in d["writers"] if w["name"] == "Mail Store Writer"][0]["stamp"])
assert sorted(st) == ["Mail Store/h1/SG1", "Mail Store/h1/SG2"], st
' || fail "one stamp per storage group"
deliver c@h1 10
INC=$($LB create --repo "$REPO" --type incremental --component "Mail Store/h1/SG2" --json | json_get id) \
    || fail "incremental of SG2"
$LB show --repo "$REPO" "$INC" --json | json_get based_on | grep -qx "$FULL" || fail "SG2 incremental not based on the full"
no_snapshots

# SG1 lost; SG2 online, receiving mail during the restore.
snapshot_mail a@h1 "$FX_DIR/a"
offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm "$SG"/DB2.edb "$SG"/DB2.stm
python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 30 --size 2000 --rcpt c@h1 >"$FX_DIR/bg.out" 2>&1 &
BG=$!
$LB restore --repo "$REPO" "$FULL" --component "Mail Store/h1/SG1" --quiet 2>"$FX_DIR/r.err" \
    || fail "restore of SG1: $(cat "$FX_DIR/r.err"); $(tail -3 "$FX_DIR/mstored.log")"
wait $BG || fail "deliveries to SG2 during the restore of SG1: $(cat "$FX_DIR/bg.out")"
mount_all
same_mail a@h1 "$FX_DIR/a"
[ "$(count c@h1)" = 60 ] || fail "c@h1 has $(count c@h1) messages, want 60"

# Both groups lost at once, restored in one command (every component of the
# full; each group's logs staged for its own recovery), rolled forward.
snapshot_mail a@h1 "$FX_DIR/a2"
snapshot_mail c@h1 "$FX_DIR/c2"
offline_flagged
$MSTORE db dismount SG2/DB3 && $MSTORE db set SG2/DB3 allow-restore-overwrite=yes || fail "SG2 offline"
SG2=$DATA/SG2
rm -f "$SG"/DB?.edb "$SG"/DB?.stm "$SG2"/DB3.edb "$SG2"/DB3.stm
$LB restore --repo "$REPO" "$FULL" --quiet 2>"$FX_DIR/r2.err" \
    || fail "restore of both groups: $(cat "$FX_DIR/r2.err"); $(tail -3 "$FX_DIR/mstored.log")"
mount_all
$MSTORE db mount SG2/DB3 || fail "mount DB3"
same_mail a@h1 "$FX_DIR/a2"
same_mail c@h1 "$FX_DIR/c2"
ls -d "$SG"/.lvss-restore "$SG2"/.lvss-restore 2>/dev/null && fail "staging directories left behind"
echo "backup-groups ok"
