#!/bin/bash
# lvss-backupd under faults, on one fixture (each backup holds the Mail
# Store Writer's freeze 3 s through mstored's test hook, so a run can be
# caught in the middle):
#  1. a caller outside root/group backup (setpriv --reuid nobody) is refused,
#     exit 5, and the refusal is audited;
#  2. two jobs on one repository: the second queues until the first ends;
#     TaskProgress signals at least once a second while a task runs;
#  3. kill -9 of the service during a run: its lvss-backup child dies with it,
#     the task is `interrupted` at restart, writers stable, no snapshot, and
#     the next run succeeds; a schedule that elapsed while the service was
#     down runs once at start;
#  4. kill -9 of the lvss-backup child: the task fails naming the signal and
#     the failure notification (job notify, a sendmail-compatible script that
#     speaks LMTP to mstored) lands in a mailbox and is read back;
#     the exec hook gets the task's JSON; check and prune tasks run; a
#     restore refused by the writer (database mounted) fails naming why;
#  5. cancel of a running task: its lvss-backup ends within a second
#     (SIGTERM, SIGKILL after 500 ms), cancelled, writers released, no snapshot;
#  6. a malformed job file is reported with its name and line, the others run;
#  7. GET /metrics (counters of the runs above; other methods/paths refused,
#     an oversized request cut off); promtool's check is backupd-metrics.sh.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backupd-common.bash" || exit 1
fixture_need_test_hooks
command -v setpriv >/dev/null || skip "setpriv (util-linux) needed"
export MSTORED_TEST_FREEZE_HOLD_MS=3000
bd_setup 600
[ -x "$LVSSADM" ] || skip "lvssadm not built"
$MSTORE mailbox create ops@h1 --db SG1/DB1 || fail "mailbox ops@h1"
deliver a@h1 20
deliver b@h1 5
cat >"$FX_DIR/sendmail" <<EOS
#!/bin/sh
# sendmail-compatible: sendmail -i -- RCPT < message; delivers over LMTP.
[ "\$1" = -i ] && [ "\$2" = -- ] || exit 64
echo "\$3" >>"$FX_DIR/sendmail.calls"
exec python3 "$CLIENT" deliver --socket "$SOCK" --from lvss-backupd@h1 --rcpt "\$3" --file -
EOS
chmod 755 "$FX_DIR/sendmail"
printf '#!/bin/sh\ncat >>"%s/hook.json"\n' "$FX_DIR" >"$FX_DIR/hook"
chmod 755 "$FX_DIR/hook"
cat >"$JOBS/a.json" <<EOJ
{"repository": "$REPO", "notify": {"mail_to": "ops@h1", "on": ["failure"], "sendmail": "$FX_DIR/sendmail",
 "exec": "$FX_DIR/hook"}, "check": {"schedule": "Sun 05:00", "read_data_subset": "50%"}, "prune": "Sun 06:00"}
EOJ
cat >"$JOBS/b.json" <<EOJ
{"repository": "$REPO"}
EOJ
PORT=$((20000 + $$ % 20000))
start_backupd --metrics-listen "127.0.0.1:$PORT"

settled() {   # lvssd holds no set and no snapshot, the writers are stable
    local i
    for i in $(seq "${1:-50}"); do
        if $LVSSADM status --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["set_in_progress"] is None else 1)' \
            && [ "$($LVSSADM list shadows --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shadows"]))')" = 0 ]; then
            writers_stable
            no_snapshots
            return 0
        fi
        sleep 0.1
    done
    fail "lvssd still holds a set or snapshots: $($LVSSADM status) $($LVSSADM list shadows)"
}
run_id() { $CTL run "$@" --json | sed -n 's/^  "task": \([0-9]*\)$/\1/p'; }
child_of() { pgrep -P "$1" -x lvss-backup; }

# 1. Unauthorized caller.
rc=0; setpriv --reuid nobody --regid nogroup --clear-groups "$CTL" list >"$FX_DIR/deny.out" 2>&1 || rc=$?
[ $rc = 5 ] || fail "nobody: list exit $rc, want 5: $(cat "$FX_DIR/deny.out")"
rc=0; setpriv --reuid nobody --regid nogroup --clear-groups "$CTL" run a >"$FX_DIR/deny.out" 2>&1 || rc=$?
[ $rc = 5 ] || fail "nobody: run exit $rc, want 5: $(cat "$FX_DIR/deny.out")"
grep -q "may not use the backup service" "$FX_DIR/deny.out" || fail "refusal message: $(cat "$FX_DIR/deny.out")"
$CTL audit --json | python3 -c '
import json, sys, pwd
r = json.load(sys.stdin)["records"]
uid = str(pwd.getpwnam("nobody").pw_uid)
assert any(x["who"] == uid and x["action"] == "run" and x["outcome"].startswith("refused") for x in r), r
' || fail "refusal not audited: $($CTL audit)"
$CTL history --json | python3 -c 'import json,sys; assert json.load(sys.stdin)["tasks"] == []' || fail "a refused run queued a task"
echo "1. unauthorized caller refused (exit 5), audited"

# 2. Two jobs, one repository.
T1=$(run_id a --type full); T2=$(run_id b --type full)
[ "$(task_field "$T2" state)" = queued ] \
    || fail "task $T2 of job b should queue behind $T1 ($(task_field "$T1" state)), is $(task_field "$T2" state): $($CTL log "$T1")"
wait_state "$T1" running 10
timeout 2.5 busctl --address="$LVSS_BUS" monitor --match "type='signal',member='TaskProgress'" >"$FX_DIR/progress" 2>&1
[ "$(task_field "$T2" state)" = queued ] || fail "task $T2 of job b should queue behind $T1, is $(task_field "$T2" state)"
n=$(grep -c 'Member=TaskProgress' "$FX_DIR/progress")
[ "$n" -ge 2 ] || fail "$n TaskProgress signals in 2.5 s of a run, want >= 2: $(head -20 "$FX_DIR/progress")"
wait_state "$T1" succeeded 30
wait_state "$T2" succeeded 30
[ "$(task_field "$T2" started)" -ge "$(task_field "$T1" ended)" ] || fail "b started before a ended"
echo "2. second job on the repository queued until the first ended; $n progress signals in 2.5 s"

# 3. kill -9 of the service during a run.
T3=$(run_id a --type incremental)
wait_state "$T3" running 10
sleep 1   # inside the writer's freeze
CHILD=$(child_of "$FX_PID_backupd") || fail "no lvss-backup child of lvss-backupd"
kill -9 "$FX_PID_backupd"
for i in $(seq 50); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CHILD" 2>/dev/null && fail "lvss-backup child $CHILD survived the service"
settled
# Catch-up (S2): job c's hourly copy backup (a copy does not truncate the logs job a's
# incrementals need) last elapsed 2 hours ago, while the service was "down".
echo "{\"repository\": \"$FX_DIR/repo-c\", \"schedule\": {\"copy\": \"hourly\"}}" >"$JOBS/c.json"
$LB init --repo "$FX_DIR/repo-c" --no-encryption --quiet || fail "init repo-c"
python3 - "$BSTATE/schedule.json" <<'PY' || fail "schedule.json"
import json, sys, time
p = sys.argv[1]
d = json.load(open(p))
d["c"] = {"copy": int(time.time()) - 7200}
open(p, "w").write(json.dumps(d))
PY
start_backupd --metrics-listen "127.0.0.1:$PORT"
[ "$(task_field "$T3" state)" = interrupted ] || fail "task $T3 is $(task_field "$T3" state) after restart, want interrupted"
$CTL run a --type incremental --wait >"$FX_DIR/run3.out" 2>&1 || fail "the run after the crash failed: $(cat "$FX_DIR/run3.out")"
$CTL history c --json | python3 -c '
import json, sys
t = json.load(sys.stdin)["tasks"]
assert len(t) == 1 and t[0]["requested_by"] == "schedule" and t[0]["type"] == "copy", t
' || fail "missed hourly run of job c not caught up once at start: $($CTL history c)"
TC=$($CTL history c --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][0]["id"])')
wait_state "$TC" succeeded 30
$CTL list --json | python3 -c '
import json, sys, time
j = {x["name"]: x for x in json.load(sys.stdin)["jobs"]}
n = j["c"]["next_run"]
assert n["type"] == "copy" and n["time"] % 3600 == 0 and 0 < n["time"] - time.time() <= 3600, n
' || fail "job c next run: $($CTL list --json)"
settled
echo "3. service killed mid-run: task interrupted, writers stable, no snapshot, next run ok; a missed run caught up once"

# 4. kill -9 of the child; failure notification through LMTP.
T5=$(run_id a --type incremental)
wait_state "$T5" running 10
sleep 0.5
CHILD=$(child_of "$FX_PID_backupd") || fail "no lvss-backup child"
kill -9 "$CHILD"
wait_state "$T5" failed 10
[ "$(task_field "$T5" error)" = "lvss-backup was killed by signal 9" ] || fail "error: $(task_field "$T5" error)"
settled
for i in $(seq 50); do [ "$(count ops@h1)" -ge 1 ] && break; sleep 0.1; done
[ "$(count ops@h1)" = 1 ] || fail "ops@h1 holds $(count ops@h1) notifications, want 1 ($(cat "$FX_DIR/sendmail.calls" 2>/dev/null))"
UID1=$($MSTORE msg list ops@h1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["uid"])')
$MSTORE msg get ops@h1 "$UID1" >"$FX_DIR/notice" || fail "msg get"
grep -q "^Subject: lvss-backupd on .*: backup incremental of job a failed" "$FX_DIR/notice" \
    && grep -q "Task $T5 (backup incremental of job a, requested by 0) failed" "$FX_DIR/notice" \
    && grep -q '"error": "lvss-backup was killed by signal 9"' "$FX_DIR/notice" || fail "notification: $(cat "$FX_DIR/notice")"
python3 - "$FX_DIR/hook.json" "$T5" <<'PY' || fail "exec hook input: $(cat "$FX_DIR/hook.json")"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["id"] == int(sys.argv[2]) and t["state"] == "failed" and t["kind"] == "backup", t
PY
$CTL run a --type incremental --wait >/dev/null || fail "the run after the killed child failed"
echo "4. child killed: task failed, notification delivered over LMTP and read back, exec hook got the task"

# 4b. check and prune tasks; a restore refused by the writer (database mounted) fails with its reason.
$CTL run a --type check --wait >/dev/null || fail "check task"
$CTL run a --type prune --wait >/dev/null || fail "prune task"
LAST=$($CTL history a --json | python3 -c 'import json,sys; print([t for t in json.load(sys.stdin)["tasks"] if t["backup_id"]][-1]["backup_id"])')
rc=0; $CTL restore a "$LAST" --component "Mail Store/h1/SG1/DB1" --wait >"$FX_DIR/rr.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "restore over a mounted database: exit $rc, want 1: $(cat "$FX_DIR/rr.out")"
grep -q "restore refused: nothing was written" "$FX_DIR/rr.out" && grep -q "must be offline to restore" "$FX_DIR/rr.out" \
    || fail "restore refusal not reported as the task's error: $(cat "$FX_DIR/rr.out")"
[ "$(count a@h1)" -ge 20 ] || fail "mail lost by a refused restore"
no_snapshots   # (the writer keeps reporting failed_at_pre_restore until its next operation)
echo "4b. check and prune tasks ok; restore refusal reported: $(cat "$FX_DIR/rr.out")"

# 5. cancel.
T6=$(run_id a --type incremental)
wait_state "$T6" running 10
sleep 0.5
CHILD=$(child_of "$FX_PID_backupd") || fail "no lvss-backup child"
start=$(date +%s%N)
$CTL cancel "$T6" || fail "cancel"
while kill -0 "$CHILD" 2>/dev/null; do sleep 0.02; done
ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ $ms -lt 1000 ] || fail "cancel took $ms ms to end the lvss-backup child"
wait_state "$T6" cancelled 5
settled 100   # lvssd releases the dead requestor's set (after the test hook's held freeze)
rc=0; $CTL cancel "$T6" 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "cancel of a finished task: exit $rc, want 2"
echo "5. cancel: lvss-backup ended $ms ms after the request; writers released, no snapshot"

# 6. malformed job file.
printf '{"repository": "/x",\n "schedule": {"full": "Sun 01:00"},\n "oops"\n}\n' >"$JOBS/bad.json"
$CTL reload || fail "reload"
$CTL list >"$FX_DIR/list.out" || fail "list"
grep -q "bad.json:4: " "$FX_DIR/list.out" || fail "malformed job not reported with its line: $(cat "$FX_DIR/list.out")"
rc=0; $CTL run bad >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "run of a malformed job: exit $rc, want 2"
$CTL run b --type incremental --wait >/dev/null || fail "job b after a malformed job appeared"
echo "6. malformed job reported (bad.json:4), the others run"

# 7. /metrics.
python3 - "$PORT" >"$FX_DIR/metrics" <<'PY' || fail "metrics: $(cat "$FX_DIR/metrics")"
import socket, sys, urllib.request
port = int(sys.argv[1])
body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
def raw(req):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(req)
    d = b""
    while True:
        k = s.recv(4096)
        if not k: break
        d += k
    return d.decode(errors="replace")
assert raw(b"POST /metrics HTTP/1.0\r\n\r\n").startswith("HTTP/1.1 405"), "POST"
assert raw(b"GET /other HTTP/1.0\r\n\r\n").startswith("HTTP/1.1 404"), "path"
assert raw(b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 6000).startswith("HTTP/1.1 431"), "oversized"
print(body, end="")
PY
grep -q '^lvss_backup_runs_total{job="a",state="failed"} 1$' "$FX_DIR/metrics" \
    && grep -q '^lvss_backup_runs_total{job="a",state="cancelled"} 1$' "$FX_DIR/metrics" \
    && grep -q '^lvss_backup_runs_total{job="b",state="succeeded"} 2$' "$FX_DIR/metrics" \
    && grep -q '^lvss_backup_runs_total{job="a",state="interrupted"} 1$' "$FX_DIR/metrics" \
    && ! grep -q 'job="bad"' "$FX_DIR/metrics" \
    && grep -qE '^lvss_backup_last_success_timestamp_seconds\{job="a"\} [1-9][0-9]{9}$' "$FX_DIR/metrics" \
    && grep -qE '^lvss_backup_bytes_added_total\{job="b"\} [1-9]' "$FX_DIR/metrics" \
    && grep -q '^lvss_backup_duration_seconds{job="a"} ' "$FX_DIR/metrics" \
    || fail "metrics content: $(cat "$FX_DIR/metrics")"
echo "7. /metrics served with the counters of the runs above"
