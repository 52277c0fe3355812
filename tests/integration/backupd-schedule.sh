#!/bin/bash
# lvss-backupd end to end: a job with a full every 20 s and an incremental
# every 10 s (when both elapse only the full runs; an incremental with no
# full yet runs as a full, S4) for ~40 s while mail arrives
# over LMTP, with retention keep_last 3 applied after every run; then the
# history (fields, kinds, states, who asked), the task log, the repository
# (retention kept the last 3 and the chain they need), backups (ListBackups),
# list --json, run --wait
# through the API, and the newest backup restored through the service
# (restore task) with every message back byte for byte.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backupd-common.bash" || exit 1
bd_setup 800
cat >"$JOBS/mail.json" <<EOJ
{"repository": "$REPO", "schedule": {"full": "*:*:0/20", "incremental": "*:*:0/10"}, "retention": {"keep_last": 3}}
EOJ
deliver a@h1 20
deliver b@h1 5
start_backupd
( while :; do python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 3 --size 3000 --rcpt a@h1 >/dev/null || exit 1; sleep 0.5; done ) &
BG=$!
sleep 42
kill $BG 2>/dev/null; wait $BG 2>/dev/null
# Stop the schedule through the API (SetJob rewrites the file atomically).
$CTL job set mail - <<EOJ || fail "job set"
{"repository": "$REPO", "retention": {"keep_last": 3}}
EOJ
grep -q schedule "$JOBS/mail.json" && fail "job file not rewritten: $(cat "$JOBS/mail.json")"
# Let a run in progress end.
for i in $(seq 100); do
    $CTL history --json | python3 -c 'import json,sys; sys.exit(any(t["state"] in ("queued","running") for t in json.load(sys.stdin)["tasks"]))' && break
    sleep 0.2
done
$CTL history --json >"$FX_DIR/h.json" || fail "history"
python3 - "$FX_DIR/h.json" <<'PY' || fail "history: $(cat "$FX_DIR/h.json")"
import json, sys
ts = json.load(open(sys.argv[1]))["tasks"]
keys = {"id","job","kind","type","state","queued","started","ended","requested_by","backup_id","bytes_added","freeze_window_ms","error"}
for t in ts:
    assert keys <= set(t), t
ok = [t for t in ts if t["kind"] == "backup" and t["state"] == "succeeded"]
assert len(ok) >= 3, ("want >= 3 scheduled runs in 42 s", ts)
assert all(t["requested_by"] == "schedule" for t in ts), ts
assert ok[0]["type"] == "full" and "incremental" in [t["type"] for t in ok[1:]], [t["type"] for t in ok]
assert all(len(t["backup_id"]) == 64 and t["freeze_window_ms"] > 0 for t in ok), ok
assert all(t["error"] is None for t in ok), ok
assert ok[0]["bytes_added"] > 0
print(len(ok), "scheduled runs")
PY
FIRST=$(python3 -c 'import json,sys; print([t for t in json.load(open(sys.argv[1]))["tasks"] if t["state"]=="succeeded"][0]["id"])' "$FX_DIR/h.json")
$CTL log "$FIRST" >"$FX_DIR/log1" || fail "log"
grep -q "lvss-backup create --type full" "$FX_DIR/log1" && grep -q "forget --keep-last 3" "$FX_DIR/log1" \
    || fail "task log lacks the commands: $(cat "$FX_DIR/log1")"
# Retention: exactly the last 3 backups and the chain they need (each
# incremental is based on the backup before it, back to a full).
$LB list --repo "$REPO" --json >"$FX_DIR/list.json" || fail "lvss-backup list"
python3 - "$FX_DIR/list.json" "$FX_DIR/h.json" <<'PY' || fail "retention: $(cat "$FX_DIR/list.json")"
import json, sys
have = [x["id"] for x in json.load(open(sys.argv[1]))["backups"]]
ts = [t for t in json.load(open(sys.argv[2]))["tasks"] if t["kind"] == "backup" and t["state"] == "succeeded"]
want = set()
for i in range(len(ts) - 3, len(ts)):
    k = i
    while True:
        want.add(ts[k]["backup_id"])
        if ts[k]["type"] == "full":
            break
        k -= 1
assert set(have) == want, (have, [(t["type"], t["backup_id"][:8]) for t in ts])
print("retention kept", len(have), "of", len(ts))
PY
# Whether the scheduled runs left anything to remove depends on how many
# fulls fitted into 42 s (F I F I with keep_last 3 keeps all four). Make it
# certain: keep_last 1 and a full run now must leave exactly that full.
$CTL job set mail - <<EOJ || fail "job set keep_last 1"
{"repository": "$REPO", "retention": {"keep_last": 1}}
EOJ
$CTL run mail --type full --wait >"$FX_DIR/runf.out" || fail "run full --wait: $(cat "$FX_DIR/runf.out")"
$CTL history mail --json >"$FX_DIR/h2.json" || fail "history"
$LB list --repo "$REPO" --json >"$FX_DIR/list.json" || fail "lvss-backup list"
python3 - "$FX_DIR/list.json" "$FX_DIR/h2.json" "$FX_DIR/h.json" <<'PY' || fail "retention keep_last 1: $(cat "$FX_DIR/list.json")"
import json, sys
have = [x["id"] for x in json.load(open(sys.argv[1]))["backups"]]
t = json.load(open(sys.argv[2]))["tasks"][-1]
before = [x for x in json.load(open(sys.argv[3]))["tasks"] if x["kind"] == "backup" and x["state"] == "succeeded"]
assert t["type"] == "full" and t["state"] == "succeeded", t
assert have == [t["backup_id"]], (have, t["backup_id"])
assert len(before) >= 3, before
print("retention removed", len(before), "older backups")
PY
$CTL backups mail >"$FX_DIR/b.json" || fail "backups (ListBackups)"
python3 -c '
import json, sys
a = [x["id"] for x in json.load(open(sys.argv[1]))["backups"]]
b = [x["id"] for x in json.load(open(sys.argv[2]))["backups"]]
assert a == b and a, (a, b)
' "$FX_DIR/b.json" "$FX_DIR/list.json" || fail "ListBackups differs from lvss-backup list"
$CTL list --json >"$FX_DIR/l.json" || fail "list"
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"]
assert [x["name"] for x in j] == ["mail"], j
assert j[0]["next_run"] is None and j[0]["last_run"]["state"] == "succeeded" and j[0]["last_run"]["task"] > 0, j
' "$FX_DIR/l.json" || fail "list --json: $(cat "$FX_DIR/l.json")"

# run --wait through the API: an incremental now, exit 0, requested by uid 0.
$CTL run mail --type incremental --wait >"$FX_DIR/run.out" || fail "run --wait: $(cat "$FX_DIR/run.out")"
NEWEST=$($CTL history mail --json | python3 -c 'import json,sys; t=json.load(sys.stdin)["tasks"][-1]; assert t["requested_by"]=="0", t; print(t["backup_id"])') \
    || fail "run requested_by"
no_snapshots

# Restore the newest backup of the chain through the service.
snapshot_mail a@h1 "$FX_DIR/a1"
snapshot_mail b@h1 "$FX_DIR/b1"
offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm
$CTL restore mail "$NEWEST" --component "Mail Store/h1/SG1/DB1" --wait >"$FX_DIR/r.out" \
    || fail "restore through the service: $(cat "$FX_DIR/r.out"); $(tail -5 "$FX_DIR/backupd.log")"
mount_all
same_mail a@h1 "$FX_DIR/a1"
same_mail b@h1 "$FX_DIR/b1"
$CTL audit --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["records"]
acts = [(x["who"], x["action"]) for x in r]
assert ("0", "change job") in acts and ("0", "run") in acts and ("0", "restore") in acts, acts
assert ("schedule", "backup finished") in acts and ("0", "restore finished") in acts, acts
' || fail "audit: $($CTL audit)"
echo "scheduled runs, retention, run --wait, restore of the newest backup through the service: ok"
