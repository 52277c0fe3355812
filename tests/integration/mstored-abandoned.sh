#!/bin/bash
# Sessions that end badly leave no storage group locked and no writer waiting:
#  1. a restore requestor killed (SIGKILL) after PreRestore: lvssd sends
#     BackupShutdown for the restore session, the Mail Store Writer releases
#     the group: mount, dismount and set work again;
#  2. a PostRestore that reports the files as not all restored: the writer
#     refuses recovery and releases the group at once, while the requestor's
#     session is still open;
#  3. a requestor (lvssadm create --exec) killed after the snapshot: every
#     writer is stable again within a second and the Mail Store Writer has
#     ended its backup session (the next backup is not vetoed).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
REQ=$(fx_bin tests/unit/mstored/mstored-test-requestor)
for b in "$MSTORED" "$MSTORE" "$LVSSD" "$LVSSADM" "$REQ"; do
    [ -x "$b" ] || skip "$(basename "$b") not built"
done
fixture_init
fixture_need_root
fixture_bus
fixture_xfs mail 600
DATA=$FX_MNT/data
SG=$DATA/SG1
mkdir -p "$FX_DIR/state"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$FX_DIR/lmtp.sock" --server-name h1
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 100); do
    $LVSSADM list writers --json 2>/dev/null | grep -q '"Mail Store Writer"' && break
    sleep 0.1
done
$MSTORE sg create SG1 >/dev/null && $MSTORE db create SG1/DB1 >/dev/null || fail "setup"
$REQ backup --type full --sg-dir "$SG" --out "$FX_DIR/full" >/dev/null || fail "full backup: $(tail -5 "$FX_DIR/mstored.log")"
$MSTORE db dismount SG1/DB1 || fail "dismount"
$MSTORE db set SG1/DB1 allow-restore-overwrite=yes || fail "db set"

# usable NAME: mount, dismount and set all work on SG1 (retrying up to 2 s).
usable() {
    local i
    for ((i=0; i<40; i++)); do
        $MSTORE db set SG1/DB1 allow-restore-overwrite=yes 2>"$FX_DIR/usable.err" && break
        sleep 0.05
    done
    $MSTORE db set SG1/DB1 allow-restore-overwrite=yes 2>"$FX_DIR/usable.err" ||
        fail "$1: storage group still locked: $(cat "$FX_DIR/usable.err")"
    $MSTORE db mount SG1/DB1 2>"$FX_DIR/usable.err" || fail "$1: mount refused: $(cat "$FX_DIR/usable.err")"
    $MSTORE db dismount SG1/DB1 2>"$FX_DIR/usable.err" || fail "$1: dismount refused: $(cat "$FX_DIR/usable.err")"
}
# held STEP: start a restore that stops after STEP; sets REQPID.
held() {
    local step=$1; shift
    rm -f "$FX_DIR/req.out"
    $REQ restore --from "$FX_DIR/full" --component "Mail Store/h1/SG1/DB1" --sg-dir "$SG" --hold-after "$step" "$@" \
        >"$FX_DIR/req.out" 2>"$FX_DIR/req.err" &
    REQPID=$!
    for ((i=0; i<200; i++)); do grep -q "held after $step" "$FX_DIR/req.out" 2>/dev/null && return 0; sleep 0.05; done
    fail "restore did not reach $step: $(cat "$FX_DIR/req.err")"
}

# 1. Killed after PreRestore: the group is locked while it lives, free after.
held pre
$MSTORE db mount SG1/DB1 2>/dev/null && fail "mount accepted while a restore holds SG1 (nothing to test)"
kill -KILL "$REQPID"; wait "$REQPID" 2>/dev/null
usable "requestor killed after PreRestore"
echo "1. restore requestor killed after PreRestore: SG1 usable again"

# 2. PostRestore with files not all restored: released while the session is open.
held post --partial
grep -q "not all restored" "$FX_DIR/mstored.log" || fail "no partial-restore refusal: $(tail -3 "$FX_DIR/mstored.log")"
usable "PostRestore with a partial failure (session still open)"
kill -KILL "$REQPID"; wait "$REQPID" 2>/dev/null
echo "2. partial restore: SG1 usable while the requestor still holds its session"

# 3. A backup requestor killed after the snapshot.
$MSTORE db mount SG1/DB1 || fail "mount"
"$LVSSADM" create --exec "echo \$\$ >$FX_DIR/exec-started; exec sleep 60" "$DATA" >"$FX_DIR/k.out" 2>&1 &
req=$!
for ((i=0; i<200; i++)); do [ -s "$FX_DIR/exec-started" ] && break; sleep 0.05; done
[ -s "$FX_DIR/exec-started" ] || fail "--exec never started: $(cat "$FX_DIR/k.out")"
$LVSSADM list writers --json >"$FX_DIR/w.json" || fail "list writers"
grep -q '"waiting_for_backup_complete"' "$FX_DIR/w.json" || fail "writer not waiting for BackupComplete: $(cat "$FX_DIR/w.json")"
kill -KILL "$req"; wait "$req" 2>/dev/null
kill -KILL "$(cat "$FX_DIR/exec-started")" 2>/dev/null
sleep 1
$LVSSADM list writers --json >"$FX_DIR/w.json" || fail "list writers"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s={w["state"] for w in d["writers"]}; sys.exit(0 if s=={"stable"} else 1)' \
    "$FX_DIR/w.json" || fail "writers not stable 1 s after the requestor died: $(cat "$FX_DIR/w.json")"
grep -q "ended without truncation: the requestor's session ended" "$FX_DIR/mstored.log" ||
    fail "the Mail Store Writer did not end its backup session: $(tail -3 "$FX_DIR/mstored.log")"
$LVSSADM create --exec true "$DATA" >/dev/null 2>"$FX_DIR/next.err" || fail "next backup failed: $(cat "$FX_DIR/next.err")"
echo "3. backup requestor killed after the snapshot: writers stable, session ended"
echo ok
