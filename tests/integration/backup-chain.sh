#!/bin/bash
# Restore chains through lvss-backup and the Mail Store Writer:
#  1. a full backup taken while mail keeps arriving over LMTP, two
#     incrementals (each based on the previous one, previous stamps handed
#     back), mail delivered after the last backup; one database deleted and
#     restored through full + incremental + incremental (additional restores
#     on all but the last step), rolled forward through the live logs: every
#     message back byte for byte, including those delivered after the backup;
#  2. a new full, a differential (based on the full), more mail; the whole
#     storage group deleted and restored through full + differential.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup 800
create() { $LB create --repo "$REPO" --json "$@" 2>"$FX_DIR/create.err" | json_get id || fail "create $*: $(cat "$FX_DIR/create.err"); $(tail -3 "$FX_DIR/mstored.log")"; }

deliver a@h1 30 4000
deliver b@h1 20 4000
# Mail keeps arriving during the full backup.
python3 "$CLIENT" load --socket "$SOCK" --clients 2 --messages 60 --size 3000 --rcpt a@h1 >"$FX_DIR/bg.out" 2>&1 &
BG=$!
FULL=$(create --type full)
wait $BG || fail "deliveries during the full backup: $(cat "$FX_DIR/bg.out")"
deliver a@h1 20
INC1=$(create --type incremental)
deliver a@h1 10
deliver b@h1 5
INC2=$(create --type incremental)
deliver a@h1 7   # after the last backup: only roll-forward brings these back
no_snapshots

$LB list --repo "$REPO" --json >"$FX_DIR/list.json" || fail "list"
python3 - "$FX_DIR/list.json" "$FULL" "$INC1" "$INC2" <<'PY' || fail "chain links in list: $(cat "$FX_DIR/list.json")"
import json, sys
b = {x["id"]: x for x in json.load(open(sys.argv[1]))["backups"]}
full, inc1, inc2 = sys.argv[2:5]
assert b[full]["type"] == "full" and b[full]["based_on"] is None
assert b[inc1]["type"] == "incremental" and b[inc1]["based_on"] == full
assert b[inc2]["type"] == "incremental" and b[inc2]["based_on"] == inc1
PY
# The incremental holds logs only, and got the full's stamp back.
$LB show --repo "$REPO" "$INC1" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
paths = [f["path"] for f in d["files"]]
assert paths and all(p.endswith(".log") for p in paths), paths
' || fail "incremental should hold log files only"

[ "$(count a@h1)" = 187 ] || fail "a@h1 has $(count a@h1) messages, want 187"
snapshot_mail a@h1 "$FX_DIR/a1"
snapshot_mail b@h1 "$FX_DIR/b1"
offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm
$LB restore --repo "$REPO" "$INC2" --component "Mail Store/h1/SG1/DB1" --json >"$FX_DIR/r1.json" 2>"$FX_DIR/r1.err" \
    || fail "chain restore: $(cat "$FX_DIR/r1.err"); $(tail -5 "$FX_DIR/mstored.log")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["type"] for s in d["chain"]]==["full","incremental","incremental"], d' \
    "$FX_DIR/r1.json" || fail "restore chain: $(cat "$FX_DIR/r1.json")"
grep -q "more restores announced" "$FX_DIR/mstored.log" || fail "additional restores were not announced on the first steps"
mount_all
same_mail a@h1 "$FX_DIR/a1"
same_mail b@h1 "$FX_DIR/b1"
echo "full + 2 incrementals + roll-forward: ok"

# 2. full + differential.
FULL2=$(create --type full)
deliver a@h1 9
deliver b@h1 4
DIFF=$(create --type differential)
$LB show --repo "$REPO" "$DIFF" --json | json_get based_on | grep -qx "$FULL2" || fail "differential not based on the last full"
deliver b@h1 6
snapshot_mail a@h1 "$FX_DIR/a2"
snapshot_mail b@h1 "$FX_DIR/b2"
offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm "$SG"/DB2.edb "$SG"/DB2.stm
$LB restore --repo "$REPO" "$DIFF" --quiet 2>"$FX_DIR/r2.err" \
    || fail "full + differential restore: $(cat "$FX_DIR/r2.err"); $(tail -5 "$FX_DIR/mstored.log")"
mount_all
same_mail a@h1 "$FX_DIR/a2"
same_mail b@h1 "$FX_DIR/b2"
$LB verify --repo "$REPO" --quiet || fail "verify"
no_snapshots
echo "backup-chain ok"
