#!/bin/bash
# Repositories on object storage (docs/design/repository.md §15), against a
# real single-node Ceph RADOS Gateway (ceph-common.bash):
# - init, backup-dir (full, incremental; packs above the multipart size),
#   list, show, restore-files byte for byte, verify, check --read-data,
#   forget --prune, key add, all with --repo s3:...; objects land where §2
#   says, under the prefix; init refuses a non-empty prefix;
# - the local cache of index and records: filled, a damaged entry is
#   detected and replaced, a deleted cache is rebuilt;
# - the lock: a second writer is refused busy (exit 4) while one holds it;
# - copy local -> s3 (re-encrypted, another password) and s3 -> local, a
#   rerun copies nothing, a copy interrupted by a network cut (fault proxy)
#   and rerun completes without storing the data twice;
# - bad locations and missing credentials give clear errors (exit 2 / 5);
# - a sync job of lvss-backupd (service.md §1) keeps an S3 copy of a local
#   repository with its own credentials file and password: the run copies
#   every backup, a second copies nothing, the copy restores byte for byte.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
. "$LVSS_SOURCE_ROOT/tests/integration/ceph-common.bash"
fixture_init
fixture_plain_build_only "the Ceph suite"
fixture_need_test_hooks
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
command -v python3 >/dev/null || skip "python3 missing"
ceph_need
export LVSS_BACKUP_KDF_MIN=1 LVSS_BACKUP_PASSWORD=s3pw LVSS_CACHE_DIR=$FX_DIR/cache
cd "$FX_DIR"
ceph_start
echo "ceph start-up: ${CEPH_START_S}s" >&2
ceph_bucket lvss
R=s3:$CEPH_S3/lvss/repo1

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
expect_rc() { # expect_rc RC DESCRIPTION CMD...
    local want=$1 what=$2 rc; shift 2
    "$@" >rc.out 2>rc.err; rc=$?
    [ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want: $(cat rc.err)"
}

# ---- data: one file above the multipart threshold (16 MiB packs), small ones
mkdir -p src/sub
head -c 40000000 /dev/urandom >src/big
for i in 1 2 3 4 5; do head -c $((i * 1000)) /dev/urandom >"src/sub/f$i"; done
ln -s sub/f1 src/link

"$B" init --repo "$R" -q || fail "init on s3"
"$B" init --repo "$R" -q 2>err && fail "init of a non-empty prefix succeeded"
grep -q "not empty" err || fail "init non-empty: $(cat err)"
t0=$(date +%s.%N)
"$B" backup-dir --repo "$R" --json src >full.json || fail "backup-dir to s3"
t1=$(date +%s.%N)
FULL=$(jget 'd["id"]' <full.json)
echo "backup 40 MB to RGW: $(python3 -c "print(round(40/($t1-$t0),1))") MB/s" >&2
[ "$(ceph_count lvss repo1/backups/)" = 1 ] || fail "one record expected under repo1/backups/"
[ "$(ceph_count lvss repo1/config)" = 1 ] || fail "config missing"
ceph_s3cmd ls -r s3://lvss/repo1/data/ | awk '{print $3}' | sort -n | tail -1 >maxpack
[ "$(cat maxpack)" -ge 16777216 ] || fail "no pack reached the multipart size ($(cat maxpack))"
ceph_s3cmd ls -r s3://lvss/repo1/locks/ | grep -q . && fail "a lock object outlived the backup"

echo changed >>src/sub/f3
"$B" backup-dir --repo "$R" --type incremental --json src >inc.json || fail "incremental to s3"
INC=$(jget 'd["id"]' <inc.json)
"$B" list --repo "$R" --json | jget 'len(d["backups"])' | grep -qx 2 || fail "list: 2 backups expected"
"$B" show --repo "$R" "$INC" | grep -q incremental || fail "show"
t0=$(date +%s.%N)
"$B" restore-files --repo "$R" "$INC" --chain --to out -q || fail "restore-files from s3"
t1=$(date +%s.%N)
echo "restore 40 MB from RGW: $(python3 -c "print(round(40/($t1-$t0),1))") MB/s" >&2
diff -r --no-dereference src "out$FX_DIR/src" || fail "restored tree differs"
"$B" verify --repo "$R" -q || fail "verify on s3"
"$B" check --repo "$R" --read-data -q || fail "check --read-data on s3"

# ---- the cache: filled, a damaged entry replaced, a lost cache rebuilt
CD=$(ls -d cache/*/)
[ -n "$(ls "$CD/backups")" ] && [ -n "$(ls "$CD/index")" ] || fail "cache not filled: $(ls -R cache)"
rec=$(ls "$CD/backups" | head -1)
echo garbage >"$CD/backups/$rec"
"$B" list --repo "$R" >/dev/null || fail "list with a damaged cache entry"
"$B" verify --repo "$R" -q || fail "verify with a damaged cache entry"
cmp -s <(head -c 7 "$CD/backups/$rec") <(echo garbage | head -c 7) && fail "damaged cache entry not replaced"
rm -rf cache
"$B" list --repo "$R" >/dev/null || fail "list without a cache"
[ -n "$(ls cache/*/backups)" ] || fail "cache not rebuilt"

# ---- the lock: a writer holding it makes another one busy (exit 4)
# The holder keeps the lock 20 s after taking it (test hook), so the second
# writer meets it however slow the machine is (a big backup raced it before).
LVSS_S3_TEST_HOLD_LOCK=20 "$B" backup-dir --repo "$R" -q src & bpid=$!
for ((i=0; i<300; i++)); do ceph_s3cmd ls -r s3://lvss/repo1/locks/ 2>/dev/null | grep -q . && break; sleep 0.1; done
ceph_s3cmd ls -r s3://lvss/repo1/locks/ | grep -q . || fail "no lock object while a backup runs"
expect_rc 4 "a second writer while a backup holds the lock" "$B" backup-dir --repo "$R" -q src
grep -q "locked by" rc.err || fail "busy message: $(cat rc.err)"
wait $bpid || fail "the backup holding the lock failed"
"$B" backup-dir --repo "$R" -q src || fail "backup after the lock test"

# ---- forget + prune on s3
"$B" forget --repo "$R" --keep-last 1 --prune -q || fail "forget --prune on s3"
"$B" check --repo "$R" -q || fail "check after prune"
rm -rf out; "$B" restore-files --repo "$R" "$("$B" list --repo "$R" --json | jget 'd["backups"][-1]["id"]')" \
    --chain --to out -q || fail "restore after prune"
diff -r --no-dereference src "out$FX_DIR/src" || fail "restored tree after prune differs"

# ---- key add on s3: the new password opens it
echo second >pw2; chmod 600 pw2
"$B" key add --repo "$R" --new-password-file pw2 -q || fail "key add on s3"
LVSS_BACKUP_PASSWORD=second "$B" list --repo "$R" >/dev/null || fail "new key does not open"

# ---- copy local -> s3 and s3 -> local
"$B" init --repo local1 -q || fail "init local1"
"$B" backup-dir --repo local1 -q src || fail "backup local1"
echo more >>src/sub/f5
"$B" backup-dir --repo local1 --type incremental -q src || fail "incremental local1"
R2=s3:$CEPH_S3/lvss/copy2
echo copypw >pwc; chmod 600 pwc
LVSS_BACKUP_PASSWORD=copypw "$B" init --repo "$R2" -q || fail "init copy2"
"$B" copy --from local1 --to "$R2" --to-password-file pwc --json >copy1.json || fail "copy local -> s3"
[ "$(jget 'd["copied"]' <copy1.json)" = 2 ] || fail "copy: 2 expected: $(cat copy1.json)"
"$B" copy --from local1 --to "$R2" --to-password-file pwc --json >copy2.json || fail "copy rerun"
[ "$(jget 'd["copied"]' <copy2.json)" = 0 ] && [ "$(jget 'd["skipped"]' <copy2.json)" = 2 ] ||
    fail "copy rerun copied again: $(cat copy2.json)"
LVSS_BACKUP_PASSWORD=copypw "$B" verify --repo "$R2" -q || fail "verify the copy"
last=$(LVSS_BACKUP_PASSWORD=copypw "$B" list --repo "$R2" --json | jget 'd["backups"][-1]["id"]')
rm -rf out; LVSS_BACKUP_PASSWORD=copypw "$B" restore-files --repo "$R2" "$last" --chain --to out -q ||
    fail "restore the copy"
diff -r --no-dereference src "out$FX_DIR/src" || fail "copy restores differently"
# back to a local repository with another password: the chain comes along
echo localpw >pwl; chmod 600 pwl
LVSS_BACKUP_PASSWORD=localpw "$B" init --repo local2 -q || fail "init local2"
LVSS_BACKUP_PASSWORD=copypw "$B" copy --from "$R2" --to local2 --to-password-file pwl -q "${last:0:12}" ||
    fail "copy s3 -> local"
[ "$(LVSS_BACKUP_PASSWORD=localpw "$B" list --repo local2 --json | jget 'len(d["backups"])')" = 2 ] ||
    fail "copy of one incremental must bring its full"
LVSS_BACKUP_PASSWORD=localpw "$B" verify --repo local2 -q || fail "verify local2"

# ---- a copy interrupted by a network cut, then rerun: completes, nothing stored twice
PROXY_DIR=$FX_DIR/proxy; mkdir -p "$PROXY_DIR"; echo pass >"$PROXY_DIR/control"
fixture_spawn proxy python3 "$LVSS_SOURCE_ROOT/tests/lib/faultproxy.py" "$PROXY_DIR/port" 127.0.0.1 \
    "$CEPH_RGW_PORT" "$PROXY_DIR/control" "$PROXY_DIR/log"
for ((i=0; i<100; i++)); do [ -s "$PROXY_DIR/port" ] && break; sleep 0.1; done
PX=http://127.0.0.1:$(cat "$PROXY_DIR/port")
R3=s3:$PX/lvss/copy3
"$B" init --repo "$R3" -q || fail "init copy3 through the proxy"
# the second record's upload is cut: the first backup is in, the second not
echo "cut PUT 4" >"$PROXY_DIR/control"
"$B" copy --from local1 --to "$R3" -q 2>copy-cut.err && fail "copy through a cut network succeeded"
grep -q "^CUT PUT" "$PROXY_DIR/log" || fail "the proxy did not cut the network"
echo pass >"$PROXY_DIR/control"
"$B" copy --from local1 --to "$R3" --json >copy3.json || fail "copy rerun after the cut"
[ "$(( $(jget 'd["copied"]' <copy3.json) + $(jget 'd["skipped"]' <copy3.json) ))" = 2 ] ||
    fail "rerun: $(cat copy3.json)"
"$B" verify --repo "$R3" -q || fail "verify copy3"
src_bytes=$(du -sb --apparent-size local1/data | cut -f1)
dst_bytes=$(ceph_s3cmd du s3://lvss/copy3/data/ | awk '{print $1}')
echo "copy after a cut: source packs $src_bytes bytes, destination packs $dst_bytes bytes" >&2
[ "$dst_bytes" -le $((src_bytes + src_bytes / 20)) ] || fail "data stored twice: $dst_bytes > $src_bytes"

# ---- bad input
expect_rc 2 "a bad location" "$B" list --repo "s3:ftp://x/y"
grep -q "expected s3:http" rc.err || fail "bad location message: $(cat rc.err)"
expect_rc 2 "a bad bucket" "$B" list --repo "s3:$CEPH_S3/Bad_Bucket!"
expect_rc 5 "no credentials" env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
    AWS_SHARED_CREDENTIALS_FILE=/nonexistent "$B" list --repo "$R"
grep -q "no S3 credentials" rc.err || fail "credentials message: $(cat rc.err)"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$AWS_ACCESS_KEY_ID" \
    "$AWS_SECRET_ACCESS_KEY" >creds
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE=$FX_DIR/creds \
    "$B" list --repo "$R" >/dev/null || fail "credentials file not used"
expect_rc 5 "wrong secret" env AWS_SECRET_ACCESS_KEY=wrong "$B" list --repo "$R"
expect_rc 2 "missing bucket" "$B" list --repo "s3:$CEPH_S3/nosuchbucket/x"
# ---- a sync job of lvss-backupd: the service's environment has no S3 keys,
# the job's credentials_file has them
BACKUPD=$(fx_bin tools/lvss-backupd/lvss-backupd)
CTL=$(fx_bin tools/lvss-backupctl/lvss-backupctl)
[ -x "$BACKUPD" ] && [ -x "$CTL" ] || fail "lvss-backupd/lvss-backupctl not built"
fixture_bus
mkdir -p jobs
printf 's3pw\n' >local.pass; printf 'offsite pw\n' >offsite.pass; chmod 600 local.pass offsite.pass creds
R5=s3:$CEPH_S3/lvss/offsite
LVSS_BACKUP_PASSWORD="offsite pw" "$B" init --repo "$R5" -q || fail "init offsite"
cat >jobs/off.json <<EOF
{"repository": "$FX_DIR/local1", "password_file": "$FX_DIR/local.pass",
 "sync": {"to": "$R5", "schedule": "2099-01-01", "password_file": "$FX_DIR/offsite.pass",
          "credentials_file": "$FX_DIR/creds"}}
EOF
fixture_spawn backupd env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY LVSS_BACKUP="$B" \
    "$BACKUPD" --config-dir "$FX_DIR/jobs" --state-dir "$FX_DIR/bstate"
fixture_wait_name org.lvss.Backup1 20
n_local=$("$B" list --repo local1 --json | jget 'len(d["backups"])')
"$CTL" run off --type sync --wait --quiet 2>sync.err || fail "sync run: $(cat sync.err); $("$CTL" history off)"
"$CTL" run off --type sync --wait --quiet 2>sync.err || fail "second sync run: $(cat sync.err)"
"$CTL" history off --json >hist.json
[ "$(jget '[t["state"] for t in d["tasks"] if t["kind"] == "sync"]' <hist.json)" = "['succeeded', 'succeeded']" ] ||
    fail "sync tasks: $(cat hist.json)"
T2=$(jget 'd["tasks"][-1]["id"]' <hist.json)
"$CTL" log "$T2" | grep -q '"copied": 0,' || fail "the second sync copied again: $("$CTL" log "$T2")"
n_off=$(LVSS_BACKUP_PASSWORD="offsite pw" "$B" list --repo "$R5" --json | jget 'len(d["backups"])')
[ "$n_off" = "$n_local" ] && [ "$n_off" -ge 1 ] || fail "offsite holds $n_off backups, local $n_local"
OID=$(LVSS_BACKUP_PASSWORD="offsite pw" "$B" list --repo "$R5" --json | jget 'd["backups"][-1]["id"]')
LID=$("$B" list --repo local1 --json | jget 'd["backups"][-1]["id"]')
rm -rf out-o out-l
LVSS_BACKUP_PASSWORD="offsite pw" "$B" restore-files --repo "$R5" "$OID" --to out-o -q || fail "restore from offsite"
"$B" restore-files --repo local1 "$LID" --to out-l -q || fail "restore from local1"
diff -r out-o out-l || fail "the offsite copy restores differently"
echo "sync job: $n_off backups copied to $R5 by lvss-backupd, a second run copied none" >&2
echo "s3-repo: ok" >&2
