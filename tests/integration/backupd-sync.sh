#!/bin/bash
# lvss-backupd's sync jobs (docs/design/service.md §1, T3): an off-site copy
# of a job's repository kept by `lvss-backup copy`, here between two local
# encrypted repositories with different passwords, on a private bus without
# lvssd (the source is filled with `lvss-backup backup-dir`):
#  1. a sync schedule (every 3 s) copies both backups of the source; the
#     copies restore byte for byte under the destination's password;
#  2. `run --type sync --wait` copies a new backup only (the task's step
#     result: 1 copied, 2 already present), history shows kind sync;
#  3. P1: a sync held by lvss-backup copy's test hook after its first blob
#     shows its progress in the task (0 < bytes_done < bytes_total), and at
#     the end bytes_done == bytes_total, backups_copied 1;
#  4. a sync to a place that holds no repository fails with lvss-backup's
#     reason in the task; sync keys refused by SetJob (exit 2, named), and
#     `run --type sync` of a job without sync (exit 2).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
BACKUPD=$(fx_bin tools/lvss-backupd/lvss-backupd)
CTL=$(fx_bin tools/lvss-backupctl/lvss-backupctl)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$BACKUPD" ] && [ -x "$CTL" ] && [ -x "$LB" ] || skip "lvss-backupd/lvss-backupctl/lvss-backup not built"
command -v python3 >/dev/null || skip "python3 needed (JSON)"
fixture_init
fixture_need_test_hooks
fixture_bus
JOBS=$FX_DIR/backup.d
SRC=$FX_DIR/src-repo
DST=$FX_DIR/offsite-repo
mkdir -p "$JOBS" "$FX_DIR/tree"
printf 'source password\n' >"$FX_DIR/src.pass"
printf 'offsite password\n' >"$FX_DIR/dst.pass"
chmod 600 "$FX_DIR/src.pass" "$FX_DIR/dst.pass"
$LB init --repo "$SRC" --password-file "$FX_DIR/src.pass" -q || fail "init source"
$LB init --repo "$DST" --password-file "$FX_DIR/dst.pass" -q || fail "init destination"
head -c 3000000 /dev/urandom >"$FX_DIR/tree/a.bin"
seq 1 200000 >"$FX_DIR/tree/b.txt"
$LB backup-dir --repo "$SRC" --password-file "$FX_DIR/src.pass" -q "$FX_DIR/tree" || fail "backup 1"
echo more >>"$FX_DIR/tree/b.txt"
$LB backup-dir --repo "$SRC" --password-file "$FX_DIR/src.pass" -q "$FX_DIR/tree" || fail "backup 2"

count() { # count REPO PASSFILE: backups in REPO
    $LB list --repo "$1" --password-file "$2" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))'
}
sync_tasks() { # sync_tasks STATE: how many sync tasks of job off are in STATE
    $CTL history off --json | python3 -c '
import json, sys
print(sum(1 for t in json.load(sys.stdin)["tasks"] if t["kind"] == "sync" and t["state"] == sys.argv[1]))' "$1"
}

cat >"$JOBS/off.json" <<EOF
{"repository": "$SRC", "password_file": "$FX_DIR/src.pass",
 "sync": {"to": "$DST", "schedule": "*:*:0/3", "password_file": "$FX_DIR/dst.pass"}}
EOF
# the copy pauses only while the directory $FX_DIR/hold exists (part 3)
LVSS_BACKUP_TEST_PAUSE_COPY=$FX_DIR/hold/pause LVSS_BACKUP="$LB" fixture_spawn backupd "$BACKUPD" --config-dir "$JOBS" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Backup1 10

# 1. The schedule runs a sync task; both backups arrive.
$CTL list --json | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
assert j["name"] == "off" and "error" not in j, j
assert j["schedules"]["sync"]["calendar"] == "*:*:0/3" and j["schedules"]["sync"]["next"], j' ||
    fail "list: $($CTL list --json)"
for ((i = 0; i < 600; i++)); do
    [ "$(sync_tasks succeeded)" -ge 1 ] && break
    [ "$(sync_tasks failed)" = 0 ] || fail "a scheduled sync failed: $($CTL history off)"
    sleep 0.1
done
[ "$(sync_tasks succeeded)" -ge 1 ] || fail "no scheduled sync succeeded in 60 s: $($CTL history off)"
# no more scheduled syncs from here (the checks below must be deterministic): a schedule that does not elapse now
cat >"$FX_DIR/off2.json" <<EOF
{"repository": "$SRC", "password_file": "$FX_DIR/src.pass",
 "sync": {"to": "$DST", "schedule": "2099-01-01", "password_file": "$FX_DIR/dst.pass"}}
EOF
$CTL job set off "$FX_DIR/off2.json" || fail "job set"
for ((i = 0; i < 600; i++)); do
    [ "$($CTL history off --json | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin)["tasks"] if t["state"] in ("queued","running")))')" = 0 ] && break
    sleep 0.1
done
# (a scheduled sync may have been running meanwhile: only now is the destination unlocked)
[ "$(sync_tasks failed)" = 0 ] || fail "a scheduled sync failed: $($CTL history off)"
[ "$(count "$DST" "$FX_DIR/dst.pass")" = 2 ] || fail "destination holds $(count "$DST" "$FX_DIR/dst.pass") backups, want 2"
LID=$($LB list --repo "$DST" --password-file "$FX_DIR/dst.pass" --json |
    python3 -c 'import json,sys; b = json.load(sys.stdin)["backups"]; print(b[-1]["id"])')
$LB restore-files --repo "$DST" --password-file "$FX_DIR/dst.pass" -q "$LID" --to "$FX_DIR/out" ||
    fail "restore from the copy"
diff -r "$FX_DIR/out/${FX_DIR#/}/tree" "$FX_DIR/tree" || fail "the copy restores different files"
echo "1. a scheduled sync copied both backups; the newest restores byte for byte from the copy"

# 2. A run on request copies only what is new.
echo again >>"$FX_DIR/tree/b.txt"
$LB backup-dir --repo "$SRC" --password-file "$FX_DIR/src.pass" -q "$FX_DIR/tree" || fail "backup 3"
$CTL run off --type sync --wait --quiet >"$FX_DIR/run.out" 2>"$FX_DIR/run.err" ||
    fail "run --type sync: $(cat "$FX_DIR/run.err")"
[ "$(count "$DST" "$FX_DIR/dst.pass")" = 3 ] || fail "destination holds $(count "$DST" "$FX_DIR/dst.pass") backups, want 3"
T=$($CTL history off --json | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["tasks"] if t["kind"] == "sync"][-1]
assert t["state"] == "succeeded" and t["requested_by"] != "schedule" and t["bytes_added"] > 0, t
print(t["id"])') || fail "history: $($CTL history off --json)"
$CTL log "$T" >"$FX_DIR/task.log"
grep -q "copy --from $SRC --to $DST --progress-fd 3 --password-file $FX_DIR/src.pass --to-password-file $FX_DIR/dst.pass --json" \
    "$FX_DIR/task.log" || fail "task log has no copy step: $(cat "$FX_DIR/task.log")"
grep -q '"copied": 1,' "$FX_DIR/task.log" && grep -q '"skipped": 2,' "$FX_DIR/task.log" ||
    fail "the run copied more than the new backup: $(cat "$FX_DIR/task.log")"
$CTL history off | grep -q "sync" || fail "history does not show the sync: $($CTL history off)"
echo "2. run --type sync copied the new backup only (1 copied, 2 present); history shows kind sync"

# 3. Progress of a running sync (P1), held after its first blob by the test hook.
head -c 2000000 /dev/urandom >"$FX_DIR/tree/c.bin"
$LB backup-dir --repo "$SRC" --password-file "$FX_DIR/src.pass" -q "$FX_DIR/tree" || fail "backup 4"
mkdir "$FX_DIR/hold"
T=$($CTL run off --type sync --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["task"])') || fail "run sync"
for ((i = 0; i < 600; i++)); do [ -s "$FX_DIR/hold/pause" ] && break; sleep 0.1; done
[ -s "$FX_DIR/hold/pause" ] || fail "sync task $T never reached its first blob: $($CTL log "$T" | tail -3)"
held_progress() { # the task running with 0 < bytes_done < bytes_total
    $CTL show "$T" | python3 -c '
import json, sys
t = json.load(sys.stdin)
sys.exit(0 if t["state"] == "running" and 0 < t["bytes_done"] < t["bytes_total"] else 1)'
}
for ((i = 0; i < 200; i++)); do held_progress && break; sleep 0.1; done
held_progress || fail "sync task $T shows no progress while held: $($CTL show "$T")"
HELD=$($CTL show "$T")
rm -rf "$FX_DIR/hold"
for ((i = 0; i < 600; i++)); do
    [ "$($CTL show "$T" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = succeeded ] && break
    sleep 0.1
done
$CTL show "$T" | python3 -c '
import json, sys
t = json.load(sys.stdin)
assert t["state"] == "succeeded" and t["bytes_done"] == t["bytes_total"] > 5000000 and t["backups_copied"] == 1, t' ||
    fail "sync task $T at the end: $($CTL show "$T")"
echo "3. sync task $T held: $(echo "$HELD" | python3 -c 'import json,sys; t = json.load(sys.stdin); print(t["bytes_done"], "of", t["bytes_total"])') bytes; at the end done == total, 1 backup copied"

# 4. Failures and refusals.
cat >"$FX_DIR/bad.json" <<EOF
{"repository": "$SRC", "password_file": "$FX_DIR/src.pass",
 "sync": {"to": "$FX_DIR/no-repo-here", "schedule": "2099-01-01"}}
EOF
$CTL job set bad "$FX_DIR/bad.json" || fail "job set bad"
$CTL run bad --type sync --wait --quiet 2>"$FX_DIR/err"; rc=$?
[ $rc != 0 ] || fail "a sync to no repository succeeded"
T=$($CTL history bad --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["tasks"][-1]["id"])')
[ "$(task_state=$($CTL show "$T" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'); echo "$task_state")" = failed ] ||
    fail "task $T: $($CTL show "$T")"
$CTL show "$T" | python3 -c '
import json, sys
t = json.load(sys.stdin)
assert "no-repo-here" in t["error"], t' || fail "the failed sync does not name the destination: $($CTL show "$T")"
refuse() { # refuse WHY JSON: SetJob refused with exit 2 naming WHY, no file written
    printf '%s' "$2" >"$FX_DIR/r.json"
    $CTL job set refused "$FX_DIR/r.json" 2>"$FX_DIR/err"; rc=$?
    [ $rc = 2 ] && grep -qF "$1" "$FX_DIR/err" || fail "job set $2: exit $rc, $(cat "$FX_DIR/err")"
    [ ! -e "$JOBS/refused.json" ] || fail "a refused job was written"
}
refuse "'to' and 'schedule' are required" '{"repository": "/r", "sync": {"schedule": "daily"}}'
refuse "'to' expects an absolute path or s3:http[s]://" '{"repository": "/r", "sync": {"to": "s3:ftp://h/b", "schedule": "daily"}}'
refuse "'to' expects an absolute path" '{"repository": "/r", "sync": {"to": "relative/repo", "schedule": "daily"}}'
refuse "'to' is the job's own repository" '{"repository": "/r", "sync": {"to": "/r", "schedule": "daily"}}'
refuse "'sync': unknown key 'region'" '{"repository": "/r", "sync": {"to": "/s", "schedule": "daily", "region": "x"}}'
refuse "'password_file' expects an absolute path" '{"repository": "/r", "sync": {"to": "/s", "schedule": "daily", "password_file": "p"}}'
echo '{"repository": "/srv/repo"}' >"$FX_DIR/plain.json"
$CTL job set plain "$FX_DIR/plain.json" || fail "job set plain"
$CTL run plain --type sync 2>"$FX_DIR/err"; rc=$?
[ $rc = 2 ] && grep -q "job plain has no 'sync'" "$FX_DIR/err" || fail "run --type sync without sync: exit $rc, $(cat "$FX_DIR/err")"
echo "4. a sync to no repository fails naming it; bad sync keys refused by name; no sync without 'sync'"
echo "backupd-sync: ok"
