#!/bin/bash
# Before BackupComplete, lvss-backup create verifies what it read from the
# snapshot with libmstore's page and log verifiers.  A database page damaged
# on disk (silent corruption) is caught: the component is reported failed
# (SetBackupSucceeded false), so the Mail Store Writer does not truncate its
# logs; nothing is stored and create exits 1 naming the file.  A copy backup
# (never truncates) of the repaired store then works.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup
deliver a@h1 40 8000
deliver b@h1 30 8000
$MSTORE db dismount SG1/DB2 || fail "dismount DB2"
cp "$SG/DB2.stm" "$FX_DIR/DB2.stm.good"
size=$(stat -c %s "$SG/DB2.stm")
[ "$size" -ge 65536 ] || fail "DB2.stm too small"
# Flip bytes in a stream page in the middle of the file (message content:
# mount does not read it, a backup's verification must).
printf '\xde\xad\xbe\xef' | dd of="$SG/DB2.stm" bs=1 seek=$((size / 8192 * 4096 + 1000)) conv=notrunc status=none
$MSTORE db mount SG1/DB2 || fail "mount DB2 with a damaged stream page"

$LB create --repo "$REPO" 2>"$FX_DIR/create.err"
rc=$?
cat "$FX_DIR/create.err"
[ $rc = 1 ] || fail "create with a damaged page: exit $rc, want 1"
grep -q "DB2.stm" "$FX_DIR/create.err" || fail "the damaged file is not named"
grep -q "failed verification" "$FX_DIR/create.err" || fail "no verification failure reported"
[ "$($LB list --repo "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))')" = 0 ] \
    || fail "a backup that failed verification was stored"
grep -q "reported failed by the requestor: no truncation" "$FX_DIR/mstored.log" \
    || fail "the writer was not told the backup failed: $(tail -3 "$FX_DIR/mstored.log")"
grep -q "logs truncated" "$FX_DIR/mstored.log" && fail "logs truncated after a failed backup"
# The generations the failed backup covered (the freeze closed one) stay.
logs_after=$(ls "$SG"/E00????????.log 2>/dev/null)
[ -n "$logs_after" ] || fail "no closed log generation left after the failed backup"
no_snapshots

# Repaired: a copy backup succeeds and leaves the logs alone too.
$MSTORE db dismount SG1/DB2 || fail "dismount DB2"
cp "$FX_DIR/DB2.stm.good" "$SG/DB2.stm"
$MSTORE db mount SG1/DB2 || fail "mount DB2 after repair"
$LB create --repo "$REPO" --type copy --quiet || fail "copy backup after the repair: $(tail -3 "$FX_DIR/mstored.log")"
grep -q "logs truncated" "$FX_DIR/mstored.log" && fail "a copy backup truncated logs"
for f in $logs_after; do [ -e "$f" ] || fail "log $f gone after a copy backup"; done
$LB create --repo "$REPO" --type incremental 2>/dev/null && fail "an incremental based on a copy was accepted"

# Two groups, one damaged: verification runs while the files are stored, so
# the damaged group's files are read into the repository before the check
# fails; it must still be reported failed and be neither a component of the
# record nor in its manifest, while the good group is stored.
$MSTORE sg create SG2 && $MSTORE db create SG2/DB3 && $MSTORE mailbox create c@h1 --db SG2/DB3 \
    || fail "SG2 setup"
deliver c@h1 10
$MSTORE db dismount SG1/DB2 || fail "dismount DB2"
printf '\xde\xad\xbe\xef' | dd of="$SG/DB2.stm" bs=1 seek=$((size / 8192 * 4096 + 1000)) conv=notrunc status=none
$MSTORE db mount SG1/DB2 || fail "mount DB2 with a damaged stream page"
$LB create --repo "$REPO" --type copy --json >"$FX_DIR/two.json" 2>"$FX_DIR/two.err"
rc=$?
cat "$FX_DIR/two.err"
[ $rc = 1 ] || fail "create of two groups, one damaged: exit $rc, want 1"
grep -q "DB2.stm.*failed verification" "$FX_DIR/two.err" || fail "the damaged file is not named"
id=$(json_get id <"$FX_DIR/two.json") || fail "no record for the good group: $(cat "$FX_DIR/two.json")"
$LB show --repo "$REPO" "$id" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["components"] == ["Mail Store/h1/SG2"], d["components"]
paths = [f["path"] for f in d["files"]]
assert not [p for p in paths if "/SG1/" in p], paths
assert [p for p in paths if p.endswith("/SG2/DB3.stm")], paths
' || fail "the failed group is in the record"
$LB verify --repo "$REPO" >/dev/null || fail "repository verify after a failed component"
no_snapshots
echo "backup-verify-fail ok"
