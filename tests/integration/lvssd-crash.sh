#!/bin/bash
# lvssd under failure: writer vetoes (PrepareForBackup, Freeze), a writer
# hanging in Freeze past its timeout, a requestor killed with SIGKILL while
# its snapshot exists, lvssd killed and restarted (orphans removed,
# persistent snapshots kept, writer registers again), an unauthorized uid.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_root
fixture_bus
fixture_xfs data 300
DATA=$FX_MNT/app
mkdir -p "$DATA"
T=$LVSS_BUILD_ROOT/tests/unit/lvss
LVSSD=$LVSS_BUILD_ROOT/daemon/lvssd/lvssd
[ -x "$LVSSD" ] || skip "lvssd not built (no providers)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) needed for the unauthorized-uid checks"
id nobody >/dev/null 2>&1 && id backup >/dev/null 2>&1 || skip "system users nobody and backup needed"
B="busctl --address=$LVSS_BUS"
coord() {
    $B --json=short call org.lvss.Coordinator1 /org/lvss/Coordinator1 org.lvss.Coordinator1 "$@" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0])'
}
count_shadows() { coord ListShadows | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shadows"]))'; }
snap_area_count() { ls -A "$FX_MNT/.lvss-snapshots" 2>/dev/null | grep -vc '^\.' ; }
wait_log() { # FILE PATTERN [SECONDS]
    local i; for ((i=0; i<${3:-5}*20; i++)); do grep -qs -- "$2" "$1" && return 0; sleep 0.05; done
    fail "'$2' did not appear in $(basename "$1"): $(cat "$1" 2>/dev/null)"
}
n=0
start_writer() { # ARGS...
    n=$((n+1)); W=w$n
    fixture_spawn "$W" "$T/test-writer" --dir "$DATA" "$@"
    wait_log "$FX_DIR/$W.log" subscribed
}
stop_writer() { local p; eval p=\$FX_PID_$W; kill "$p"; wait "$p" 2>/dev/null; }

fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state" --config /dev/null
fixture_wait_name org.lvss.Coordinator1

echo "== veto at PrepareForBackup"
start_writer --veto PrepareForBackup
"$T/test-requestor" backup "$DATA" --expect LVSS_E_BACKUP_REFUSED >"$FX_DIR/r1.log" 2>&1 || { cat "$FX_DIR/r1.log"; fail "veto at PrepareForBackup not reported"; }
grep -q "test veto at PrepareForBackup" "$FX_DIR/r1.log" || fail "the writer's veto message did not reach the requestor: $(cat "$FX_DIR/r1.log")"
wait_log "$FX_DIR/$W.log" "event Abort"
stop_writer

echo "== non-fatal failure at PostSnapshot"
start_writer --nonfatal PostSnapshot
"$T/test-requestor" backup "$DATA" >"$FX_DIR/r1b.log" 2>&1 || { cat "$FX_DIR/r1b.log"; fail "a non-fatal writer failure failed the backup"; }
grep -q "state failed_at_post_snapshot failure LVSS_E_WRITERERROR_RETRYABLE.*test non-fatal failure" "$FX_DIR/r1b.log" ||
    fail "non-fatal failure not in writer status: $(cat "$FX_DIR/r1b.log")"
stop_writer

echo "== veto at Freeze"
start_writer --veto Freeze
"$T/test-requestor" backup "$DATA" --expect LVSS_E_BACKUP_REFUSED >"$FX_DIR/r2.log" 2>&1 || { cat "$FX_DIR/r2.log"; fail "veto at Freeze not reported"; }
grep -q "failed_at_freeze" "$FX_DIR/r2.log" || fail "writer status does not say failed_at_freeze: $(cat "$FX_DIR/r2.log")"
wait_log "$FX_DIR/$W.log" "event Abort"
[ "$(count_shadows)" = 0 ] || fail "a snapshot survived the vetoed set"
[ "$(snap_area_count)" = 0 ] || fail "snapshot area not empty after the vetoed set: $(ls -A "$FX_MNT/.lvss-snapshots")"
stop_writer

echo "== writer hanging in Freeze past its timeout"
start_writer --freeze-timeout 1000 --hang Freeze 3
t0=$(date +%s%N)
"$T/test-requestor" backup "$DATA" --expect LVSS_E_WRITERERROR_TIMEOUT >"$FX_DIR/r3.log" 2>&1 || { cat "$FX_DIR/r3.log"; fail "freeze timeout not reported"; }
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "set aborted after ${ms} ms"
[ "$ms" -lt 2900 ] || fail "the set was aborted only after ${ms} ms (timeout 1000 ms)"
wait_log "$FX_DIR/$W.log" "event Abort" 6
[ "$(count_shadows)" = 0 ] || fail "a snapshot survived the timed-out set"
stop_writer
start_writer --freeze-timeout 5000
"$T/test-requestor" backup "$DATA" >"$FX_DIR/r4.log" 2>&1 || { cat "$FX_DIR/r4.log"; fail "the backup after a timeout failed"; }

echo "== DoSnapshotSet cancelled while a writer is frozen"
stop_writer
start_writer --freeze-timeout 10000 --hang Freeze 2
"$T/test-requestor" cancel "$DATA" >"$FX_DIR/rc.log" 2>&1 || { cat "$FX_DIR/rc.log"; fail "cancel failed"; }
wait_log "$FX_DIR/$W.log" "event Abort" 5
coord Status | grep -q '"set_in_progress":null' || fail "set still in progress after cancel"
[ "$(count_shadows)" = 0 ] || fail "a snapshot survived the cancelled set"
[ "$(snap_area_count)" = 0 ] || fail "snapshot area not empty after cancel"

echo "== writer killed while frozen"
stop_writer
start_writer --freeze-timeout 20000 --hang Freeze 30
fixture_spawn req_wd "$T/test-requestor" backup "$DATA" --expect LVSS_E_WRITER_NOT_RESPONDING
wait_log "$FX_DIR/$W.log" "event Freeze" 10
t0=$(date +%s%N)
eval kill -KILL \$FX_PID_$W
wait_log "$FX_DIR/req_wd.log" "failed as expected" 5
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "set aborted ${ms} ms after the frozen writer died"
grep -q "failed_at_freeze" "$FX_DIR/req_wd.log" || fail "dead writer not marked failed: $(cat "$FX_DIR/req_wd.log")"
[ "$(count_shadows)" = 0 ] || fail "a snapshot survived the writer's death"
[ "$(snap_area_count)" = 0 ] || fail "snapshot area not empty after the writer's death"
start_writer --freeze-timeout 5000

echo "== requestor killed with SIGKILL while its snapshot exists"
fixture_spawn victim "$T/test-requestor" backup "$DATA" --hold 30
wait_log "$FX_DIR/victim.log" holding 10
[ "$(count_shadows)" = 1 ] || fail "the held snapshot is not listed"
t0=$(date +%s%N)
kill -KILL "$FX_PID_victim"
# Timed on the snapshot area (an ls), not on ListShadows: a busctl + python
# round trip per poll would measure the machine's load, not lvssd.
for i in $(seq 300); do [ "$(snap_area_count)" = 0 ] && break; sleep 0.01; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(snap_area_count)" = 0 ] || fail "snapshot area not empty ${ms} ms after SIGKILL: $(ls -A "$FX_MNT/.lvss-snapshots")"
[ "$(count_shadows)" = 0 ] || fail "auto-release snapshot still listed after its area was emptied"
echo "auto-release snapshot gone ${ms} ms after SIGKILL"
[ "$ms" -lt 1000 ] || fail "took ${ms} ms (limit 1000)"
wait_log "$FX_DIR/$W.log" "event BackupShutdown"
grep -q "event BackupComplete" <(tail -n 3 "$FX_DIR/$W.log") && fail "writer got BackupComplete from a killed requestor"

echo "== lvssd killed and restarted"
"$T/test-requestor" backup "$DATA" --persistent >"$FX_DIR/r5.log" 2>&1 || { cat "$FX_DIR/r5.log"; fail "persistent backup failed"; }
fixture_spawn victim2 "$T/test-requestor" backup "$DATA" --hold 30
wait_log "$FX_DIR/victim2.log" holding 10
[ "$(count_shadows)" = 2 ] || fail "expected one persistent and one auto-release snapshot: $(coord ListShadows)"
kill -KILL "$FX_PID_lvssd"
sleep 0.2
[ "$(snap_area_count)" = 2 ] || fail "snapshots on disk before restart: $(ls -A "$FX_MNT/.lvss-snapshots")"
fixture_spawn lvssd2 "$LVSSD" --state-dir "$FX_DIR/state" --config /dev/null
fixture_wait_name org.lvss.Coordinator1
[ "$(count_shadows)" = 1 ] || fail "after restart: $(coord ListShadows)"
coord ListShadows | grep -q '"context":"persistent"' || fail "the persistent snapshot was lost"
[ "$(snap_area_count)" = 1 ] || fail "orphan left on disk: $(ls -A "$FX_MNT/.lvss-snapshots")"
grep -q orphan-removed "$FX_DIR/lvssd2.log" || fail "no orphan-removed event"
for i in $(seq 100); do coord ListWriters | grep -q "Test Writer" && break; sleep 0.05; done
coord ListWriters | grep -q "Test Writer" || fail "the writer did not register again with the new lvssd"
"$T/test-requestor" backup "$DATA" >"$FX_DIR/r6.log" 2>&1 || { cat "$FX_DIR/r6.log"; fail "backup after restart failed"; }

echo "== unauthorized uid"
# uid nobody: not root, not in group backup in the user database.
mkdir -p "$FX_DIR/nobody"; chmod 777 "$FX_DIR/nobody"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/test-requestor" backup "$DATA" \
    --expect LVSS_E_ACCESS_DENIED >"$FX_DIR/r7.log" 2>&1 || { cat "$FX_DIR/r7.log"; fail "uid nobody was not refused"; }
grep -q "uid 65534 is not allowed to act as a requestor" "$FX_DIR/r7.log" || fail "refusal message unclear: $(cat "$FX_DIR/r7.log")"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/test-writer" --dir "$FX_DIR/nobody" >"$FX_DIR/w-nobody.log" 2>&1
rc=$?; [ $rc = 5 ] || fail "uid nobody as a writer: exit $rc, want 5: $(cat "$FX_DIR/w-nobody.log")"
grep -q "uid 65534 refused for RegisterWriter" "$FX_DIR/lvssd2.log" || fail "no access-denied event for the writer"
echo "== group backup only in the process (not in the user database) is refused"
setpriv --reuid=nobody --regid=backup --groups=backup "$T/test-requestor" backup "$DATA" \
    --expect LVSS_E_ACCESS_DENIED >"$FX_DIR/r7a.log" 2>&1 ||
    { cat "$FX_DIR/r7a.log"; fail "uid nobody with group backup only in /proc was not refused"; }
echo "== a member of group backup (user database) may be a requestor, not a writer"
setpriv --reuid=backup --regid=backup --init-groups "$T/test-requestor" out-of-order >"$FX_DIR/r7b.log" 2>&1 ||
    { cat "$FX_DIR/r7b.log"; fail "group backup was not allowed requestor calls"; }
mkdir -p "$FX_DIR/backupuser"; chmod 777 "$FX_DIR/backupuser"
setpriv --reuid=backup --regid=backup --init-groups "$T/test-writer" --dir "$FX_DIR/backupuser" >"$FX_DIR/w-backup.log" 2>&1
rc=$?; [ $rc = 5 ] || fail "group backup as a writer: exit $rc, want 5: $(cat "$FX_DIR/w-backup.log")"
echo "== a stuck requestor loses the set after set-timeout"
kill "$FX_PID_lvssd2"; wait "$FX_PID_lvssd2" 2>/dev/null
printf '[access]\nuser:nobody = both\n[limits]\nset-timeout = 1\n' >"$FX_DIR/lvssd.conf"
fixture_spawn lvssd3 "$LVSSD" --state-dir "$FX_DIR/state" --config "$FX_DIR/lvssd.conf"
fixture_wait_name org.lvss.Coordinator1
fixture_spawn stuck "$T/test-requestor" start-set-and-wait 30
wait_log "$FX_DIR/stuck.log" started
coord Status | grep -q '"set_in_progress":null' && fail "set not in progress"
sleep 1.5
coord Status | grep -q '"set_in_progress":null' || fail "the stuck set was not taken back: $(coord Status)"
grep -q "without DoSnapshotSet" "$FX_DIR/lvssd3.log" || fail "no set-failed event for the stuck set"
"$T/test-requestor" backup "$DATA" >"$FX_DIR/r8.log" 2>&1 || { cat "$FX_DIR/r8.log"; fail "backup after a stuck set failed"; }
echo "== a configured user may act as requestor and writer"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/test-requestor" out-of-order >"$FX_DIR/r9.log" 2>&1 ||
    { cat "$FX_DIR/r9.log"; fail "user:nobody = both did not allow requestor calls"; }
fixture_spawn wn setpriv --reuid=nobody --regid=nogroup --clear-groups "$T/test-writer" --dir "$FX_DIR/nobody" --name "Nobody Writer"
for i in $(seq 100); do coord ListWriters | grep -q "Nobody Writer" && break; sleep 0.05; done
coord ListWriters | grep -q "Nobody Writer" || fail "user:nobody = both did not allow writer registration: $(cat "$FX_DIR/wn.log")"
echo "lvssd-crash: ok"
