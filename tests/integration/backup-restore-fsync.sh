#!/bin/bash
# An application-aware restore whose target directory cannot be fsynced
# fails (finding 14: lvss-backup's restore used to ignore that fsync): with
# the test hook LVSS_REPO_FAIL_DIR_FSYNC=restore, `lvss-backup restore --to
# DIR` exits 1 with a one-line message naming the file and "fsync of its
# directory failed", the Mail Store Writer is told the restore failed (no
# recovery runs there), and nothing stays held: the same restore without the
# hook then succeeds and the mail read from DIR is the backed-up mail.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
fixture_need_test_hooks
bk_setup
$MSTORE --help 2>&1 | grep -q "rsg msg list" || skip "mstore has no 'rsg' commands to read an alternate location"
deliver a@h1 10 2000
snapshot_mail a@h1 "$FX_DIR/at-full"
FULL=$($LB create --repo "$REPO" --json | json_get id) || fail "full backup"

rc=0
LVSS_REPO_FAIL_DIR_FSYNC=restore $LB restore --repo "$REPO" "$FULL" --to "$FX_DIR/rsg-bad" --json \
    >"$FX_DIR/bad.json" 2>"$FX_DIR/bad.err" || rc=$?
[ "$rc" = 1 ] || fail "restore with a failing directory fsync exited $rc, want 1: $(cat "$FX_DIR/bad.err")"
grep -q "fsync of its directory failed: Input/output error (injected by LVSS_REPO_FAIL_DIR_FSYNC)" "$FX_DIR/bad.err" \
    || fail "the injected fsync failure was not reported: $(cat "$FX_DIR/bad.err")"
grep -q "'DB1.edb\|'DB2.edb\|'DB1.stm\|'DB2.stm\|\.log'" "$FX_DIR/bad.err" \
    || fail "the message does not name the file: $(cat "$FX_DIR/bad.err")"
echo "refused as it should be: $(grep -m1 "fsync of its directory" "$FX_DIR/bad.err")"
no_snapshots

$LB restore --repo "$REPO" "$FULL" --to "$FX_DIR/rsg" --json >"$FX_DIR/r.json" 2>"$FX_DIR/r.err" \
    || fail "restore --to after the failed one: $(cat "$FX_DIR/r.err"); $(tail -5 "$FX_DIR/mstored.log")"
for f in "$FX_DIR"/at-full/*; do
    $MSTORE rsg msg get "$FX_DIR/rsg" a@h1 "$(basename "$f")" | cmp -s - "$f" \
        || fail "alternate copy of message $(basename "$f") differs"
done
[ "$(count a@h1)" = 10 ] || fail "production changed by an alternate-location restore"
no_snapshots
echo "backup-restore-fsync ok"
