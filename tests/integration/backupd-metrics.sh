#!/bin/bash
# lvss-backupd's /metrics checked by Prometheus' own linter: a succeeded, a
# failed and a cancelled backup task, and a broken job beside them; every
# documented series is there with its labels and value, and
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

python3 - "$PORT" >"$FX_DIR/metrics" <<'PY' || fail "GET /metrics: $(cat "$FX_DIR/metrics")"
import sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % int(sys.argv[1]), timeout=10)
assert r.headers.get_content_type() == "text/plain", r.headers
print(r.read().decode(), end="")
PY
python3 - "$FX_DIR/metrics" <<'PY' || fail "metrics content: $(cat "$FX_DIR/metrics")"
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
}
for k, v in want.items():
    assert samples.get(k) == v, (k, samples.get(k))
assert samples['lvss_backup_last_success_timestamp_seconds{job="a"}'] > 1.7e9
assert samples['lvss_backup_duration_seconds{job="a"}'] >= 0
assert samples['lvss_backup_bytes_added_total{job="a"}'] > 0
assert not any('job="bad"' in k for k in samples), "a broken job has series"
for name in ("lvss_backup_last_success_timestamp_seconds", "lvss_backup_runs_total",
             "lvss_backup_duration_seconds", "lvss_backup_bytes_added_total", "lvss_backup_tasks"):
    assert re.search(r"^# HELP %s \S" % name, text, re.M) and re.search(r"^# TYPE %s (counter|gauge)$" % name, text, re.M), name
PY
promtool check metrics <"$FX_DIR/metrics" >"$FX_DIR/promtool.out" 2>&1 || fail "promtool check metrics: $(cat "$FX_DIR/promtool.out")"
[ ! -s "$FX_DIR/promtool.out" ] || fail "promtool check metrics printed: $(cat "$FX_DIR/promtool.out")"
echo "/metrics: $(grep -vc '^#' "$FX_DIR/metrics") samples, accepted by $(promtool --version 2>&1 | head -1)"
