#!/bin/bash
# An incremental spanning ~150 log generations (64 KiB log files): the Mail
# Store Writer's list of the backup's files no longer fits the document's
# 4 KiB string limit and is dropped, so create chooses the files by the
# writer's stamp (generation range); the incremental holds exactly the
# closed generations, and a database restored through full + incremental
# rolls forward to the last delivery.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
BK_MSTORED_CONFIG='{"log_file_size": 65536}'
bk_setup 800
deliver a@h1 20
$LB create --repo "$REPO" --quiet || fail "full backup"
deliver a@h1 200 30000
INC=$($LB create --repo "$REPO" --type incremental --json 2>"$FX_DIR/inc.err" | json_get id) \
    || fail "incremental: $(cat "$FX_DIR/inc.err")"
$LB show --repo "$REPO" "$INC" --json | python3 -c '
import json, re, sys
d = json.load(sys.stdin)
names = [f["path"].rsplit("/", 1)[1] for f in d["files"]]
assert len(names) > 70, len(names)
bad = [n for n in names if not re.fullmatch(r"E00[0-9A-F]{8}\.log", n)]
assert not bad, bad
gens = sorted(int(n[3:11], 16) for n in names)
assert gens == list(range(gens[0], gens[-1] + 1)), "generations not contiguous"
' || fail "incremental should hold a contiguous range of closed log generations"
deliver a@h1 5
snapshot_mail a@h1 "$FX_DIR/a"
offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm
$LB restore --repo "$REPO" "$INC" --component "Mail Store/h1/SG1/DB1" --quiet 2>"$FX_DIR/r.err" \
    || fail "restore: $(cat "$FX_DIR/r.err"); $(tail -5 "$FX_DIR/mstored.log")"
mount_all
same_mail a@h1 "$FX_DIR/a"
echo "backup-many-logs ok"
