#!/bin/bash
# lvss-backupd's /metrics checked by Prometheus' own linter: a succeeded, a
# failed and a cancelled backup task, a succeeded and a failed sync task
# (lvss_backup_sync_*: only for the jobs with a sync; the same after a
# restart, rebuilt from the task records), and a broken job beside them;
# every documented series is there with its labels and value, and
# `promtool check metrics` (Debian package prometheus, installed by
# scripts/install-deps.sh) accepts the exposition without a single lint
# message.  Skips (77) only when promtool is not installed at all.  Runs in
# the plain build only: what is checked is the text format, which the
# sanitized build does not change (backupd-crash.sh reads /metrics under
# ASan).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backupd-common.bash" || exit 1
fixture_plain_build_only "the promtool check"
fixture_need_test_hooks
command -v promtool >/dev/null || skip "promtool not installed (Debian package prometheus; scripts/install-deps.sh installs it)"
bd_setup 600
deliver a@h1 10
cat >"$JOBS/a.json" <<EOJ
{"repository": "$REPO", "components": ["Mail Store/h1/SG1"]}
EOJ
cat >"$JOBS/c.json" <<EOJ
{"repository": "$REPO", "components": ["Mail Store/h1/SG1"]}
EOJ
echo '{"repository": "/nonexistent/lvss-repo"}' >"$JOBS/f.json"
$LB init --repo "$FX_DIR/offsite" --no-encryption --quiet || fail "init offsite"
cat >"$JOBS/s.json" <<EOJ
{"repository": "$REPO", "sync": {"to": "$FX_DIR/offsite", "schedule": "2099-01-01"}}
EOJ
cat >"$JOBS/sf.json" <<EOJ
{"repository": "$REPO", "sync": {"to": "$FX_DIR/no-repo-here", "schedule": "2099-01-01"}}
EOJ
echo '{"repository": ' >"$JOBS/bad.json"
PAUSE=$FX_DIR/pause
PORT=$((20000 + $$ % 20000))
LVSS_BACKUP_TEST_PAUSE_BEFORE_READ=$PAUSE start_backupd --metrics-listen "127.0.0.1:$PORT"

# a held before its first read; c on the same repository queues (D1) and is cancelled.
A=$($CTL run a --json | json_get task) || fail "run a"
for ((i = 0; i < 600; i++)); do [ -s "$PAUSE" ] && break; sleep 0.1; done
[ -s "$PAUSE" ] || fail "task $A never reached its first read: $($CTL log "$A" | tail -3)"
C=$($CTL run c --json | json_get task) || fail "run c"
[ "$(task_field "$C" state)" = queued ] || fail "task $C is $(task_field "$C" state), want queued"
$CTL cancel "$C" || fail "cancel $C"
rm -f "$PAUSE"
wait_state "$A" succeeded 120
$CTL run f --wait --json >"$FX_DIR/f.json" 2>&1; rc=$?
# lvss-backup refuses a missing repository as bad input (2): the task failed, run --wait says so.
[ $rc = 2 ] && [ "$(json_get state <"$FX_DIR/f.json")" = failed ] || fail "run f: exit $rc, $(cat "$FX_DIR/f.json")"
# the off-site copy of job a's backup, and a sync to no repository
$CTL run s --type sync --wait --json >"$FX_DIR/s.json" 2>&1 || fail "run s: $(cat "$FX_DIR/s.json")"
$CTL run sf --type sync --wait --json >"$FX_DIR/sf.json" 2>&1; rc=$?
[ $rc != 0 ] && [ "$(json_get state <"$FX_DIR/sf.json")" = failed ] || fail "run sf: exit $rc, $(cat "$FX_DIR/sf.json")"

get_metrics() { # get_metrics FILE: GET /metrics into FILE
    python3 - "$PORT" >"$1" <<'PY' || fail "GET /metrics: $(cat "$1")"
import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % int(sys.argv[1]), timeout=10)
assert r.headers.get_content_type() == "text/plain", r.headers
print(r.read().decode(), end="")
PY
}
check_metrics() { # check_metrics FILE
    python3 - "$1" <<'PY' || fail "metrics content: $(cat "$1")"
import re, sys
text = open(sys.argv[1]).read()
samples = {}
for line in text.splitlines():
    if line.startswith("#") or not line:
        continue
    name, value = line.rsplit(" ", 1)
    samples[name] = float(value)
want = {
    'lvss_backup_runs_total{job="a",state="succeeded"}': 1,
    'lvss_backup_runs_total{job="c",state="cancelled"}': 1,
    'lvss_backup_runs_total{job="f",state="failed"}': 1,
    'lvss_backup_runs_total{job="s",state="succeeded"}': 0,
    'lvss_backup_sync_runs_total{job="s",state="succeeded"}': 1,
    'lvss_backup_sync_runs_total{job="s",state="failed"}': 0,
    'lvss_backup_sync_runs_total{job="sf",state="failed"}': 1,
    'lvss_backup_sync_runs_total{job="sf",state="succeeded"}': 0,
    'lvss_backup_sync_backups_copied_total{job="s"}': 1,
    'lvss_backup_sync_backups_copied_total{job="sf"}': 0,
    'lvss_backup_sync_last_success_timestamp_seconds{job="sf"}': 0,
    'lvss_backup_sync_bytes_added_total{job="sf"}': 0,
}
for k, v in want.items():
    assert samples.get(k) == v, (k, samples.get(k))
assert samples['lvss_backup_last_success_timestamp_seconds{job="a"}'] > 1.7e9
assert samples['lvss_backup_duration_seconds{job="a"}'] >= 0
assert samples['lvss_backup_bytes_added_total{job="a"}'] > 0
assert samples['lvss_backup_sync_last_success_timestamp_seconds{job="s"}'] >= samples['lvss_backup_last_success_timestamp_seconds{job="a"}']
assert samples['lvss_backup_sync_duration_seconds{job="s"}'] >= 0
# the copy stores job a's backup again (compressed; the index beside): about what the backup added
assert samples['lvss_backup_sync_bytes_added_total{job="s"}'] > samples['lvss_backup_bytes_added_total{job="a"}'] / 2
assert not any('job="bad"' in k for k in samples), "a broken job has series"
assert not any(k.startswith("lvss_backup_sync_") and 'job="a"' in k for k in samples), "a job without sync has sync series"
for name in ("lvss_backup_last_success_timestamp_seconds", "lvss_backup_runs_total",
             "lvss_backup_duration_seconds", "lvss_backup_bytes_added_total", "lvss_backup_tasks",
             "lvss_backup_sync_last_success_timestamp_seconds", "lvss_backup_sync_runs_total",
             "lvss_backup_sync_duration_seconds", "lvss_backup_sync_bytes_added_total",
             "lvss_backup_sync_backups_copied_total"):
    assert re.search(r"^# HELP %s \S" % name, text, re.M) and re.search(r"^# TYPE %s (counter|gauge)$" % name, text, re.M), name
PY
}
get_metrics "$FX_DIR/metrics"
check_metrics "$FX_DIR/metrics"
# restarted: the counters are rebuilt from the task records, the same values
kill "$FX_PID_backupd"
for ((i = 0; i < 200; i++)); do kill -0 "$FX_PID_backupd" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FX_PID_backupd" 2>/dev/null && fail "lvss-backupd did not stop on SIGTERM"
start_backupd --metrics-listen "127.0.0.1:$PORT"
get_metrics "$FX_DIR/metrics2"
check_metrics "$FX_DIR/metrics2"
diff <(grep '^lvss_backup_sync_' "$FX_DIR/metrics") <(grep '^lvss_backup_sync_' "$FX_DIR/metrics2") ||
    fail "the sync series changed across a restart"
promtool check metrics <"$FX_DIR/metrics" >"$FX_DIR/promtool.out" 2>&1 || fail "promtool check metrics: $(cat "$FX_DIR/promtool.out")"
[ ! -s "$FX_DIR/promtool.out" ] || fail "promtool check metrics printed: $(cat "$FX_DIR/promtool.out")"
echo "/metrics: $(grep -vc '^#' "$FX_DIR/metrics") samples, accepted by $(promtool --version 2>&1 | head -1)"
