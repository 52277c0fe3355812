#!/bin/bash
# lvss-backupd's API for consoles and waiters (docs/design/service.md A3, P1):
#  1. PropertiesChanged invalidates "Jobs" when a job changes, "ActiveTasks"
#     (and "Jobs") when a task changes state; Get of either is authorized
#     like every method (an outsider is refused, and audited);
#  2. during a backup (held by lvss-backup's pause hook before its first
#     read, after it has planned the files) ActiveTasks and TaskProgress
#     signals carry bytes_total > 0; at the end bytes_done == bytes_total;
#  3. `lvss-backupctl run --wait` on a terminal (script(1)) shows
#     "task N running Ts: X of Y (P%)" while it waits, then the outcome;
#  4. with --quiet it shows the outcome only, although TaskProgress
#     signals with bytes were sent meanwhile.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backupd-common.bash" || exit 1
fixture_need_test_hooks
command -v script >/dev/null || skip "script (util-linux) needed"
command -v dbus-monitor >/dev/null || skip "dbus-monitor needed"
command -v setpriv >/dev/null || skip "setpriv (util-linux) needed"
bd_setup 600
deliver a@h1 30
deliver b@h1 10
cat >"$JOBS/a.json" <<EOJ
{"repository": "$REPO", "components": ["Mail Store/h1/SG1"]}
EOJ
PAUSE=$FX_DIR/pause
LVSS_BACKUP_TEST_PAUSE_BEFORE_READ=$PAUSE start_backupd
fixture_spawn monitor dbus-monitor --address "$LVSS_BUS" \
    "type='signal',interface='org.lvss.Backup1'" \
    "type='signal',interface='org.freedesktop.DBus.Properties',path='/org/lvss/Backup1'"
MON=$FX_DIR/monitor.log
BUSCTL=(busctl --address="$LVSS_BUS" --json=short get-property org.lvss.Backup1 /org/lvss/Backup1 org.lvss.Backup1)

# signals MEMBER [ID]: the monitored signals as JSON lines {"member", "args"}.
signals() {
    python3 - "$MON" "$1" "${2:-}" <<'PY'
import json, re, sys
text, member, want = open(sys.argv[1]).read(), sys.argv[2], sys.argv[3]
for block in re.split(r"\n(?=signal )", text):
    head, _, body = block.partition("\n")
    if not head.startswith("signal ") or "member=%s" % member not in head:
        continue
    args = [int(v) if t.startswith(("uint", "int")) else v.strip('"')
            for t, v in re.findall(r"^\s+(uint64|int32|uint32|string) (.*)$", body, re.M)]
    if want and (not args or str(args[0]) != want):
        continue
    print(json.dumps({"member": member, "args": args}))
PY
}
# wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds.
wait_for() {
    local end=$((SECONDS + $1)) what=$2
    shift 2
    while ((SECONDS < end)); do
        "$@" && return 0
        sleep 0.1
    done
    "$@" || fail "$what: not within the time allowed"
}
invalidated() { signals PropertiesChanged | grep -q "\"$1\""; }

# 1a. Jobs invalidated on a job change (reloads until the monitor is attached).
reload_and_see_jobs() { $CTL reload && invalidated Jobs; }
wait_for 30 "PropertiesChanged invalidating Jobs after ReloadJobs" reload_and_see_jobs
"${BUSCTL[@]}" Jobs >"$FX_DIR/jobs.json" || fail "get-property Jobs"
python3 - "$FX_DIR/jobs.json" <<'PY' || fail "Jobs property: $(cat "$FX_DIR/jobs.json")"
import json, sys
jobs = json.loads(json.load(open(sys.argv[1]))["data"])["jobs"]
assert [j["name"] for j in jobs] == ["a"] and jobs[0]["last_run"] is None, jobs
PY
setpriv --reuid nobody --regid nogroup --clear-groups "${BUSCTL[@]}" ActiveTasks >"$FX_DIR/denied" 2>&1 \
    && fail "an outsider read ActiveTasks: $(cat "$FX_DIR/denied")"
grep -qi "access denied" "$FX_DIR/denied" || fail "refusal: $(cat "$FX_DIR/denied")"
$CTL audit --json | grep -q '"action": "get property"' || fail "the refused Get is not audited"
echo "1. Jobs invalidated on reload; Get authorized (an outsider refused, audited)"

# active_field ID FIELD: FIELD of task ID in the ActiveTasks property.
active_field() {
    "${BUSCTL[@]}" ActiveTasks | python3 -c '
import json, sys
ts = json.loads(json.load(sys.stdin)["data"])["tasks"]
print(*[t[sys.argv[2]] for t in ts if t["id"] == int(sys.argv[1])])' "$1" "$2"
}
total_known() { [ "$(active_field "$1" bytes_total)" -gt 0 ] 2>/dev/null; }
progress_with_bytes() { # ID N: N TaskProgress signals of ID with bytes_total > 0
    [ "$(signals TaskProgress "$1" | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if json.loads(l)["args"][5] > 0))')" -ge "$2" ]
}

# 2 + 3. A backup held before its first read; run --wait on a terminal.
script -qfec "$CTL run a --wait" "$FX_DIR/tty1" >/dev/null 2>&1 &
W1=$!
wait_for 60 "the backup reaching its first read (pause hook)" test -s "$PAUSE"
ID=$("${BUSCTL[@]}" ActiveTasks | python3 -c 'import json,sys; print(json.loads(json.load(sys.stdin)["data"])["tasks"][0]["id"])')
[ -n "$ID" ] || fail "no active task"
[ "$(active_field "$ID" state)" = running ] || fail "task $ID not running in ActiveTasks"
wait_for 20 "ActiveTasks bytes_total > 0 for task $ID" total_known "$ID"
wait_for 20 "a TaskProgress signal with bytes for task $ID" progress_with_bytes "$ID" 1
invalidated ActiveTasks || fail "no PropertiesChanged invalidating ActiveTasks: $(signals PropertiesChanged)"
show_progress() { grep -aqE "task $ID running [0-9]+s: [0-9.]+ (B|KiB|MiB|GiB) of [0-9.]+ (KiB|MiB|GiB) \([0-9]+%\)" "$FX_DIR/tty1"; }
wait_for 20 "run --wait showing progress on the terminal" show_progress
rm -f "$PAUSE"
wait $W1 || fail "run --wait: exit $?: $(cat "$FX_DIR/tty1")"
grep -aq "task $ID succeeded" "$FX_DIR/tty1" || fail "run --wait outcome: $(cat "$FX_DIR/tty1")"
$CTL show "$ID" >"$FX_DIR/t1.json" || fail "show $ID"
python3 - "$FX_DIR/t1.json" <<'PY' || fail "bytes of task $ID: $(cat "$FX_DIR/t1.json")"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["state"] == "succeeded" and t["bytes_total"] > 0 and t["bytes_done"] == t["bytes_total"], t
PY
echo "2. task $ID: bytes_total in ActiveTasks and TaskProgress while running; done == total at the end"
echo "3. run --wait on a terminal: $(grep -aoE "[0-9.]+ (B|KiB|MiB|GiB) of [0-9.]+ (KiB|MiB|GiB) \([0-9]+%\)" "$FX_DIR/tty1" | tail -1)"

# 4. --quiet: the outcome only.
script -qfec "$CTL run a --wait --quiet" "$FX_DIR/tty2" >/dev/null 2>&1 &
W2=$!
wait_for 60 "the second backup reaching its first read" test -s "$PAUSE"
ID2=$("${BUSCTL[@]}" ActiveTasks | python3 -c 'import json,sys; print(json.loads(json.load(sys.stdin)["data"])["tasks"][0]["id"])')
[ "$ID2" -gt "$ID" ] 2>/dev/null || fail "second task id '$ID2'"
wait_for 30 "two TaskProgress signals with bytes for task $ID2" progress_with_bytes "$ID2" 2
rm -f "$PAUSE"
wait $W2 || fail "run --wait --quiet: exit $?"
grep -aq "task $ID2 succeeded" "$FX_DIR/tty2" || fail "run --wait --quiet outcome: $(cat "$FX_DIR/tty2")"
grep -aq " of \|running" "$FX_DIR/tty2" && fail "--quiet showed progress: $(cat -v "$FX_DIR/tty2")"
"${BUSCTL[@]}" Jobs | grep -q "\\\\\"task\\\\\":$ID2" || fail "Jobs last_run is not task $ID2: $("${BUSCTL[@]}" Jobs)"
echo "4. run --wait --quiet: the outcome only (while TaskProgress signals carried bytes)"
