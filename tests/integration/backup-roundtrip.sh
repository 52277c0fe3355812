#!/bin/bash
# lvss-backup create/restore round trip through lvssd and the Mail Store
# Writer: a full backup (JSON fields checked, writer metadata and stamps
# kept), both databases' files deleted, the whole storage group restored in
# place, every message back byte for byte, every file of the group still
# 0600; no snapshot left behind.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup
deliver a@h1 60 3000
deliver b@h1 40 20000
snapshot_mail a@h1 "$FX_DIR/before-a"
snapshot_mail b@h1 "$FX_DIR/before-b"

$LB create --repo "$REPO" --json >"$FX_DIR/full.json" 2>"$FX_DIR/full.err" \
    || fail "full backup: $(cat "$FX_DIR/full.err") $(tail -3 "$FX_DIR/mstored.log")"
cat "$FX_DIR/full.json"
python3 - "$FX_DIR/full.json" <<'PY' || fail "create --json output"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("id", "type", "components", "bytes_read", "bytes_added", "duration_ms", "freeze_window_ms"):
    assert k in d, k
assert d["type"] == "full", d
assert d["components"] == ["Mail Store/h1/SG1"], d["components"]
assert d["bytes_read"] > 0 and d["bytes_added"] > 0
PY
ID=$(json_get id <"$FX_DIR/full.json")
no_snapshots
$LB show --repo "$REPO" "$ID" --json >"$FX_DIR/show.json" || fail "show"
python3 - "$FX_DIR/show.json" <<'PY' || fail "show: record contents"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["backup_components_document"], "no BCD"
w = [w for w in d["writers"] if w["name"] == "Mail Store Writer"]
assert w and w[0]["metadata"] and w[0]["stamp"], d["writers"]
assert "Mail Store/h1/SG1" in json.loads(w[0]["stamp"])
paths = [f["path"] for f in d["files"]]
assert any(p.endswith("/SG1/DB1.edb") for p in paths) and any(p.endswith("/SG1/DB2.stm") for p in paths), paths
assert any(p.endswith(".log") for p in paths), paths
PY
$LB verify --repo "$REPO" --quiet || fail "verify after create"

offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm "$SG"/DB2.edb "$SG"/DB2.stm
# Finding #6: entries planted where the restore used to put its temporary
# files (".NAME.lvss-tmp-PID", O_CREAT|O_TRUNC without O_EXCL) are neither
# followed nor reused: the symlink's target and the hard-linked victim keep
# their content, and the restore does not trip over them.  bash's $$ is the
# PID lvss-backup gets through exec.
echo "victim, not to be overwritten" >"$FX_DIR/victim-symlink"
echo "victim, not to be overwritten" >"$SG/victim-hardlink"
bash -c 'ln -s "$1/victim-symlink" "$2/.DB1.edb.lvss-tmp-$$" && ln "$2/victim-hardlink" "$2/.DB2.edb.lvss-tmp-$$" &&
         exec "$3" restore --repo "$4" "$5" --json' planted "$FX_DIR" "$SG" "$LB" "$REPO" "$ID" \
    >"$FX_DIR/restore.json" 2>"$FX_DIR/restore.err" \
    || fail "restore: $(cat "$FX_DIR/restore.err") $(tail -3 "$FX_DIR/mstored.log")"
cat "$FX_DIR/restore.json"
for v in "$FX_DIR/victim-symlink" "$SG/victim-hardlink"; do
    [ "$(cat "$v")" = "victim, not to be overwritten" ] || fail "restore wrote through a planted temporary name into $v"
done
ls -la "$SG" | grep -q "lvss-tmp" || fail "the planted entries should be left alone"
rm -f "$SG"/.DB?.edb.lvss-tmp-* "$SG/victim-hardlink"
[ -d "$SG/.lvss-restore" ] && fail "log staging directory left behind"
mount_all
# Finding #5: the engine's files are private (0600) and stay so through an
# application-aware restore (databases, streams, logs, checkpoint).
wide=$(find "$SG" -type f ! -perm 600 -printf '%m %p\n')
[ -z "$wide" ] || fail "storage group files not 0600 after the restore: $wide"
[ "$(find "$SG" -type f -name '*.edb' | wc -l)" = 2 ] || fail "expected 2 .edb files in $SG"
same_mail a@h1 "$FX_DIR/before-a"
same_mail b@h1 "$FX_DIR/before-b"
deliver a@h1 3
[ "$(count a@h1)" = 63 ] || fail "delivery after restore"
echo "backup-roundtrip ok"
