#!/bin/bash
# Application-aware backup and restore with a repository on object storage
# (repository.md §15, backup.md): lvss-backup create through lvssd and the
# Mail Store Writer into a real Ceph RADOS Gateway (a full, mail delivered,
# an incremental), then, with a cold cache, both databases' files deleted
# and the storage group restored in place from the gateway: every message
# of the incremental's point in time back byte for byte, no snapshot left,
# the databases mount and take mail again.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
. "$LVSS_SOURCE_ROOT/tests/integration/ceph-common.bash"
fixture_plain_build_only "the Ceph suite"
ceph_need
bk_setup
export LVSS_BACKUP_KDF_MIN=1 LVSS_BACKUP_PASSWORD=apppw LVSS_CACHE_DIR=$FX_DIR/cache
ceph_start
ceph_bucket app
R=s3:$CEPH_S3/app/sg
$LB init --repo "$R" -q || fail "init on S3"

deliver a@h1 60 3000
deliver b@h1 30 40000
$LB create --repo "$R" --type full --json >"$FX_DIR/full.json" 2>"$FX_DIR/full.err" ||
    fail "full backup to S3: $(cat "$FX_DIR/full.err") $(tail -3 "$FX_DIR/mstored.log")"
deliver a@h1 5 3000
deliver b@h1 5 40000
snapshot_mail a@h1 "$FX_DIR/before-a"
snapshot_mail b@h1 "$FX_DIR/before-b"
$LB create --repo "$R" --type incremental --json >"$FX_DIR/incr.json" 2>"$FX_DIR/incr.err" ||
    fail "incremental backup to S3: $(cat "$FX_DIR/incr.err")"
python3 - "$FX_DIR/full.json" "$FX_DIR/incr.json" <<'PY' || fail "create --json: $(cat "$FX_DIR/full.json" "$FX_DIR/incr.json")"
import json, sys
f, i = (json.load(open(p)) for p in sys.argv[1:3])
assert f["type"] == "full" and i["type"] == "incremental", (f, i)
assert f["components"] == ["Mail Store/h1/SG1"] and i["components"] == f["components"], (f, i)
assert f["bytes_added"] > 0 and i["bytes_read"] > 0, (f, i)
PY
ID=$(json_get id <"$FX_DIR/incr.json")
no_snapshots
# the objects are on the gateway, under the prefix
[ "$(ceph_s3cmd ls -r s3://app/sg/backups/ | wc -l)" = 2 ] || fail "records on the gateway: $(ceph_s3cmd ls -r s3://app/sg/)"
ceph_s3cmd ls -r s3://app/sg/data/ | grep -q . || fail "no packs on the gateway"

offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm "$SG"/DB2.edb "$SG"/DB2.stm
rm -rf "$LVSS_CACHE_DIR"   # as on a new machine: index and records come from the gateway
$LB restore --repo "$R" "$ID" --json >"$FX_DIR/restore.json" 2>"$FX_DIR/restore.err" ||
    fail "restore from S3: $(cat "$FX_DIR/restore.err") $(tail -3 "$FX_DIR/mstored.log")"
[ -d "$SG/.lvss-restore" ] && fail "log staging directory left behind"
no_snapshots
mount_all
same_mail a@h1 "$FX_DIR/before-a"
same_mail b@h1 "$FX_DIR/before-b"
deliver a@h1 3
[ "$(count a@h1)" = 68 ] || fail "delivery after the restore: $(count a@h1) messages, want 68"
echo "s3-app-roundtrip: ok"
