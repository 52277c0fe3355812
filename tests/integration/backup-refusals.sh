#!/bin/bash
# What lvss-backup create/restore refuse, with clear messages:
#  - an incremental or a differential without a full backup (exit 1, nothing
#    stored, no snapshot left, the writer keeps its logs);
#  - an unknown component, or a database selected for backup alone (exit 2);
#  - restore of one database while its storage group is online: exit 1,
#    the writer's reason printed as it gave it, nothing written;
#  - restore of a backup made by backup-dir (no writers' documents): exit 2.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup
deliver a@h1 20

for t in incremental differential; do
    $LB create --repo "$REPO" --type $t 2>"$FX_DIR/$t.err"
    rc=$?
    cat "$FX_DIR/$t.err"
    [ $rc = 1 ] || fail "$t without a full: exit $rc, want 1"
    grep -q "no full backup" "$FX_DIR/$t.err" || fail "$t without a full: unclear message"
done
[ "$($LB list --repo "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))')" = 0 ] \
    || fail "a refused backup left a record"
no_snapshots

$LB create --repo "$REPO" --component "Mail Store/h1/NOPE" 2>"$FX_DIR/u.err"
[ $? = 2 ] || fail "unknown component: want exit 2"
grep -q "component 'Mail Store/h1/NOPE'" "$FX_DIR/u.err" || fail "unknown component not named: $(cat "$FX_DIR/u.err")"
$LB create --repo "$REPO" --component "Mail Store/h1/SG1/DB1" 2>"$FX_DIR/d.err"
[ $? = 2 ] || fail "database alone: want exit 2"
grep -q "not selectable for backup" "$FX_DIR/d.err" || fail "database alone: $(cat "$FX_DIR/d.err")"
$LB create --repo "$REPO" --type weekly 2>/dev/null
[ $? = 2 ] || fail "bad --type: want exit 2"

ID=$($LB create --repo "$REPO" --component "Mail Store/h1/SG1" --json | json_get id) || fail "full backup"
# Incremental now accepted.
$LB create --repo "$REPO" --type incremental --quiet || fail "incremental after a full refused"

# Restore of one database with the group online: refused, nothing written.
sum_before=$(md5sum "$SG"/DB1.edb "$SG"/DB1.stm)
$LB restore --repo "$REPO" "$ID" --component "Mail Store/h1/SG1/DB1" 2>"$FX_DIR/online.err"
rc=$?
cat "$FX_DIR/online.err"
[ $rc = 1 ] || fail "restore with the group online: exit $rc, want 1"
grep -q "lvss-backup: component 'Mail Store/h1/SG1/DB1': storage group SG1 must be offline to restore a database" \
    "$FX_DIR/online.err" || fail "the writer's refusal was not printed as it came"
[ "$(md5sum "$SG"/DB1.edb "$SG"/DB1.stm)" = "$sum_before" ] || fail "files written despite the refusal"
[ -e "$SG/.lvss-restore" ] && fail "staging directory created despite the refusal"
# Offline but not flagged: refused too.
$MSTORE db dismount SG1/DB1 && $MSTORE db dismount SG1/DB2 || fail "dismount"
$LB restore --repo "$REPO" "$ID" --component "Mail Store/h1/SG1/DB1" 2>"$FX_DIR/flag.err" && fail "restore of an unflagged database accepted"
grep -q "allow-restore-overwrite" "$FX_DIR/flag.err" || fail "flag refusal: $(cat "$FX_DIR/flag.err")"
$LB restore --repo "$REPO" "$ID" --component "Mail Store/h1/SG1/DB9" 2>/dev/null
[ $? = 2 ] || fail "restore of an unknown component: want exit 2"
mount_all
[ "$(count a@h1)" = 20 ] || fail "mail changed by refused restores"

# A backup-dir backup has no documents: restore points to restore-files.
mkdir -p "$FX_DIR/plain" && echo hi >"$FX_DIR/plain/f"
PLAIN=$($LB backup-dir --repo "$REPO" --json "$FX_DIR/plain" | json_get id) || fail "backup-dir"
$LB restore --repo "$REPO" "$PLAIN" 2>"$FX_DIR/plain.err"
[ $? = 2 ] || fail "restore of a backup-dir backup: want exit 2: $(cat "$FX_DIR/plain.err")"
no_snapshots
echo "backup-refusals ok"
