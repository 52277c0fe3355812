#!/bin/bash
# Backup and restore through the Mail Store Writer with the real lvssd (a
# small test requestor over liblvss plays the backup application): restore
# of one database refused while its storage group is online, refused while
# the database is not flagged, accepted offline; PostRestore hard recovery
# rolls forward to the latest delivery (mail delivered after the backup is
# back too, byte for byte); restore to an alternate location leaves
# production alone.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
REQ=$(fx_bin tests/unit/mstored/mstored-test-requestor)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
for b in "$MSTORED" "$MSTORE" "$LVSSD" "$REQ"; do
    [ -x "$b" ] || skip "$(basename "$b") not built"
done
fixture_init
fixture_need_root
fixture_bus
fixture_xfs mail 800
DATA=$FX_MNT/data
SG=$DATA/SG1
SOCK=$FX_DIR/lmtp.sock
mkdir -p "$FX_DIR/state"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 100); do
    grep -q "Mail Store Writer subscribed" "$FX_DIR/mstored.log" && break
    sleep 0.1
done
$MSTORE sg create SG1 && $MSTORE db create SG1/DB1 && $MSTORE db create SG1/DB2 || fail "setup"
$MSTORE mailbox create a@h1 --db SG1/DB1 && $MSTORE mailbox create b@h1 --db SG1/DB2 || fail "mailboxes"
python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 100 --rcpt a@h1 >/dev/null || fail "deliveries to a"
python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 50 --rcpt b@h1 >/dev/null || fail "deliveries to b"

$REQ backup --type full --sg-dir "$SG" --out "$FX_DIR/full" || fail "full backup: $(tail -5 "$FX_DIR/mstored.log")"
# Mail after the backup: must come back by roll-forward.
python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 30 --rcpt a@h1 >/dev/null || fail "later deliveries"
count() { $MSTORE msg list "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))'; }
[ "$(count a@h1)" = 130 ] || fail "a@h1 should have 130 messages"
$MSTORE msg get a@h1 120 >"$FX_DIR/a120" || fail "msg get 120"

# 1. Group online: refused with a message the requestor prints.
$REQ restore --from "$FX_DIR/full" --component "Mail Store/h1/SG1/DB1" --sg-dir "$SG" 2>"$FX_DIR/r1.err" \
    && fail "restore accepted while SG1 is online"
cat "$FX_DIR/r1.err"
grep -q "storage group SG1 must be offline to restore a database" "$FX_DIR/r1.err" || fail "no clear refusal message"

# 2. Offline but not flagged: refused.
$MSTORE db dismount SG1/DB1 && $MSTORE db dismount SG1/DB2 || fail "dismount"
$REQ restore --from "$FX_DIR/full" --component "Mail Store/h1/SG1/DB1" --sg-dir "$SG" 2>"$FX_DIR/r2.err" \
    && fail "restore accepted without allow-restore-overwrite"
grep -q "allow-restore-overwrite" "$FX_DIR/r2.err" || fail "no flag refusal message: $(cat "$FX_DIR/r2.err")"

# 3. Offline and flagged: the database is lost, restored, rolled forward.
$MSTORE db set SG1/DB1 allow-restore-overwrite=yes || fail "db set"
rm -f "$SG/DB1.edb" "$SG/DB1.stm"
# (backed-up logs staged in SG1/.lvss-restore and handed over as backup_log_dir,
# as lvss-backup does; live logs untouched)
live_log=$(md5sum <"$SG/E00.log")
$REQ restore --from "$FX_DIR/full" --component "Mail Store/h1/SG1/DB1" --sg-dir "$SG" --stage-logs \
    || fail "restore refused: $(tail -5 "$FX_DIR/mstored.log")"
[ "$(md5sum <"$SG/E00.log")" = "$live_log" ] || fail "the live log was changed by the restore"
grep -q "recovered: generations" "$FX_DIR/mstored.log" || fail "no hard recovery: $(tail -5 "$FX_DIR/mstored.log")"
$MSTORE db mount SG1/DB1 && $MSTORE db mount SG1/DB2 || fail "mount after restore: $(tail -3 "$FX_DIR/mstored.log")"
[ "$(count a@h1)" = 130 ] || fail "after restore a@h1 has $(count a@h1) messages, want 130 (roll-forward)"
[ "$(count b@h1)" = 50 ] || fail "b@h1 lost messages"
$MSTORE msg get a@h1 120 | cmp - "$FX_DIR/a120" || fail "message 120 differs after restore"
python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 5 --rcpt a@h1 >/dev/null || fail "delivery after restore"
[ "$(count a@h1)" = 135 ] || fail "delivery after restore not stored"

# 4. Alternate location (Recovery Storage Group): production untouched.
$REQ restore --from "$FX_DIR/full" --component "Mail Store/h1/SG1" --sg-dir "$SG" --to "$FX_DIR/rsg" \
    || fail "restore to an alternate location refused"
ls "$FX_DIR/rsg"/DB1.edb >/dev/null || fail "nothing restored to the alternate location"
[ "$(count a@h1)" = 135 ] || fail "production changed by an alternate-location restore"
# An admin reads a mailbox from there, offline, without touching production.
n=$($MSTORE rsg msg list "$FX_DIR/rsg" a@h1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))') \
    || fail "rsg msg list"
[ "$n" = 100 ] || fail "the alternate-location restore has $n messages for a@h1, want 100 (the backup's)"
$MSTORE rsg msg get "$FX_DIR/rsg" a@h1 50 >"$FX_DIR/rsg50" || fail "rsg msg get"
$MSTORE msg get a@h1 50 | cmp - "$FX_DIR/rsg50" || fail "message 50 differs between production and the recovery group"
$MSTORE rsg msg list "$SG" a@h1 >/dev/null 2>"$FX_DIR/rsg.err"; rc=$?
[ "$rc" = 2 ] || fail "rsg on a live storage group exited $rc, want 2"
grep -q "live storage group SG1" "$FX_DIR/rsg.err" || fail "no refusal message for a live group: $(cat "$FX_DIR/rsg.err")"
[ "$(count a@h1)" = 135 ] || fail "production changed by reading the recovery group"
kill -TERM "$FX_PID_mstored"; wait "$FX_PID_mstored"; rc=$?
[ "$rc" = 0 ] || fail "mstored exited $rc on SIGTERM: $(tail -20 "$FX_DIR/mstored.log")"
echo "mstored-restore ok"
