#!/bin/bash
# lvss-backup create killed or interrupted in the middle:
#  - kill -9 at several moments (gathering, prepare/snapshot, reading):
#    lvssd drops the session (writers get Abort/BackupShutdown, the
#    auto-release snapshot is deleted), the repository lock vanishes;
#  - SIGTERM and SIGINT: create aborts the backup itself, exit 1, message;
# then the next backup is clean (no "backup in progress" veto), the
# repository verifies clean, and a restore of it brings every message back.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup 900
[ -x "$LVSSADM" ] || skip "lvssadm not built"
deliver a@h1 250 150000   # about 37 MiB, so reading takes a moment
deliver b@h1 20

settled() {   # wait until lvssd holds no set and no snapshot
    local i
    for i in $(seq 100); do
        if $LVSSADM status --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["set_in_progress"] is None else 1)' \
            && [ "$($LVSSADM list shadows --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shadows"]))')" = 0 ]; then
            return 0
        fi
        sleep 0.1
    done
    fail "lvssd still holds a set or snapshots: $($LVSSADM status) $($LVSSADM list shadows)"
}

for delay in 0.05 0.3 0.6 1.0 1.5; do
    $LB create --repo "$REPO" --quiet >/dev/null 2>&1 &
    pid=$!
    sleep $delay
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    settled
    no_snapshots
done
echo "kill -9: nothing left behind"

interrupted_once=0
for try in "TERM 0.1" "INT 0.15" "TERM 0.25" "INT 0.35"; do
    set -- $try; sig=$1; delay=$2
    $LB create --repo "$REPO" 2>"$FX_DIR/sig.err" >/dev/null &
    pid=$!
    sleep $delay
    kill -$sig $pid 2>/dev/null
    wait $pid
    rc=$?
    cat "$FX_DIR/sig.err" | tail -2
    if [ $rc != 0 ]; then
        [ $rc = 1 ] || fail "SIG$sig: exit $rc, want 1"
        grep -q "interrupted" "$FX_DIR/sig.err" || fail "SIG$sig: no message: $(cat "$FX_DIR/sig.err")"
        interrupted_once=1
    fi
    settled
    no_snapshots
done
[ $interrupted_once = 1 ] || fail "no create was interrupted by a signal (all finished first?)"

ID=$($LB create --repo "$REPO" --json 2>"$FX_DIR/clean.err" | json_get id) \
    || fail "clean backup after the kills: $(cat "$FX_DIR/clean.err"); $(tail -3 "$FX_DIR/mstored.log")"
$LB verify --repo "$REPO" >"$FX_DIR/verify.out" 2>&1 || fail "verify after the kills: $(cat "$FX_DIR/verify.out")"
ls "$REPO"/tmp 2>/dev/null | grep -q . && fail "leftovers in the repository's tmp/"
$LB create --repo "$REPO" --type incremental --quiet || fail "incremental after the kills"
snapshot_mail b@h1 "$FX_DIR/b"
offline_flagged
rm -f "$SG"/DB2.edb "$SG"/DB2.stm
$LB restore --repo "$REPO" "$ID" --component "Mail Store/h1/SG1/DB2" --quiet || fail "restore after the kills"
mount_all
same_mail b@h1 "$FX_DIR/b"
[ "$(count a@h1)" = 250 ] || fail "a@h1 lost messages"
echo "backup-kill ok"
