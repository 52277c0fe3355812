#!/bin/bash
# lvss-backupd's job files at their bounds (J4 of docs/design/service.md),
# on a private bus without lvssd (no backup runs):
#  1. a job file over 64 KiB is a broken job naming the file and the limit,
#     and does not stop a good job beside it;
#  2. the same document through SetJob (job set) is refused with exit 2 and
#     leaves no file; 65 components, a 256-byte calendar expression and a
#     4096-byte repository path are refused, each naming its key;
#  3. a job at the limits (64 components, a 255-byte calendar) is accepted
#     and rewritten, and a FIFO named like a job is refused without blocking.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
BACKUPD=$(fx_bin tools/lvss-backupd/lvss-backupd)
CTL=$(fx_bin tools/lvss-backupctl/lvss-backupctl)
[ -x "$BACKUPD" ] && [ -x "$CTL" ] || skip "lvss-backupd/lvss-backupctl not built"
command -v python3 >/dev/null || skip "python3 needed (JSON)"
fixture_init
fixture_bus
JOBS=$FX_DIR/backup.d
mkdir -p "$JOBS"

# A valid job document over 64 KiB: long component paths.
python3 - "$FX_DIR" <<'PY'
import json, sys
d = sys.argv[1]
big = {"repository": "/srv/repo", "components": ["Mail Store/h1/" + "x" * 4000] * 17}
json.dump(big, open(d + "/big.json", "w"))
json.dump({"repository": "/srv/repo", "components": ["C%d" % i for i in range(65)]}, open(d + "/comp65.json", "w"))
two = lambda n: ",".join("%02d" % i for i in range(n))
cal = "*-*-* " + two(24) + ":" + two(32) + ":0,1," + ",".join(str(i) for i in range(10, 36))  # 255 bytes, at most 32 items a field
assert len(cal) == 255, len(cal)
json.dump({"repository": "/srv/repo", "components": ["C%d" % i for i in range(64)],
           "schedule": {"full": "daily", "incremental": cal}}, open(d + "/limits.json", "w"))
json.dump({"repository": "/srv/repo", "schedule": {"full": cal + "0"}}, open(d + "/cal256.json", "w"))
json.dump({"repository": "/" + "p" * 4095}, open(d + "/path4096.json", "w"))
PY
[ "$(stat -c %s "$FX_DIR/big.json")" -gt 65536 ] || fail "test document not over 64 KiB"
cal=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["schedule"]["incremental"]))' "$FX_DIR/limits.json")
[ "$cal" = 255 ] || fail "limits.json: calendar expression is $cal bytes, want 255"
cp "$FX_DIR/big.json" "$JOBS/big.json"
echo '{"repository": "/srv/repo", "schedule": {"full": "daily"}}' >"$JOBS/good.json"
mkfifo "$JOBS/fifo.json"

fixture_spawn backupd "$BACKUPD" --config-dir "$JOBS" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Backup1 10

# 1. The big file is a broken job; the good one and the FIFO are listed.
$CTL list --json >"$FX_DIR/list.json" || fail "list: $(cat "$FX_DIR/backupd.log")"
python3 - "$FX_DIR/list.json" <<'PY' || fail "list: $(cat "$FX_DIR/list.json")"
import json, sys
jobs = {j["name"]: j for j in json.load(open(sys.argv[1]))["jobs"]}
assert jobs["big"]["error"] == "big.json: larger than 65536 bytes", jobs["big"]
assert "error" not in jobs["good"] and jobs["good"]["next_run"]["type"] == "full", jobs["good"]
assert jobs["fifo"]["error"] == "fifo.json: not a regular file", jobs["fifo"]
PY
grep -q "job big ignored: big.json: larger than 65536 bytes" "$FX_DIR/backupd.log" || fail "not logged: $(cat "$FX_DIR/backupd.log")"
$CTL run big 2>"$FX_DIR/err"; rc=$?
[ $rc = 2 ] && grep -q "larger than 65536 bytes" "$FX_DIR/err" || fail "run of the big job: exit $rc, $(cat "$FX_DIR/err")"
echo "1. a job file over 64 KiB is refused by name; the other jobs load"

# 2. SetJob refusals: exit 2, nothing written, the reason names the limit.
refused() { # FILE NAME WHAT
    local rc
    $CTL job set "$2" "$1" 2>"$FX_DIR/err"; rc=$?
    [ $rc = 2 ] || fail "job set $2: exit $rc (want 2): $(cat "$FX_DIR/err")"
    grep -q -- "$3" "$FX_DIR/err" || fail "job set $2: '$(cat "$FX_DIR/err")' does not say '$3'"
    [ ! -e "$JOBS/$2.json" ] || fail "job set $2: a file was written"
}
refused "$FX_DIR/big.json" big2 "job big2: larger than 65536 bytes"
refused "$FX_DIR/comp65.json" comp65 "'components': expected an array of at most 64 component paths"
refused "$FX_DIR/cal256.json" cal256 "schedule 'full': expected a calendar expression string (at most 255 bytes)"
refused "$FX_DIR/path4096.json" path4096 "'repository': expected an absolute path (at most 4095 bytes)"
echo "2. SetJob refuses documents over the bounds (exit 2, no file written)"

# 3. At the limits: accepted and rewritten.
$CTL job set limits "$FX_DIR/limits.json" || fail "job set limits: exit $?"
python3 - "$JOBS/limits.json" <<'PY' || fail "limits.json not rewritten as sent"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["components"]) == 64 and len(d["schedule"]["incremental"]) == 255, d
PY
$CTL job show limits >/dev/null || fail "job show limits"
[ -z "$($CTL list --json | python3 -c 'import json,sys; print([j for j in json.load(sys.stdin)["jobs"] if j["name"]=="limits"][0].get("error",""))')" ] \
    || fail "the job at the limits is broken"
echo "3. a job at the limits (64 components, 255-byte calendar) is accepted"
