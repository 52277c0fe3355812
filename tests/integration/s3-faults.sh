#!/bin/bash
# Network faults between lvss-backup and a real RADOS Gateway
# (docs/design/repository.md §15.1, §15.3), injected by tests/lib/faultproxy.py:
# - connections reset in the middle of uploads and downloads: the retries
#   make backup, restore and verify succeed (the resets are asserted);
# - a backup killed (SIGKILL) in the middle of its uploads: no record names
#   a missing pack (check, verify), its lock object blocks writers (exit 4)
#   until its lease expires, then the next command says it ignores it, and
#   the repeat succeeds and restores;
# - a holder that works without a request for four leases keeps its lock
#   (its renewal thread): a second writer is busy meanwhile;
# - prune cut off from the network at its first DELETE and at a later one:
#   it fails, nothing is lost (check, every kept backup restores byte for
#   byte), and the repeat finishes the work;
# - a network that stays down: the command gives up after its retries
#   (exit 1) and names the request.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
. "$LVSS_SOURCE_ROOT/tests/integration/ceph-common.bash"
fixture_init
fixture_plain_build_only "the Ceph suite"
fixture_need_test_hooks
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
command -v python3 >/dev/null || skip "python3 missing"
ceph_need
export LVSS_BACKUP_KDF_MIN=1 LVSS_BACKUP_PASSWORD=faultpw LVSS_CACHE_DIR=$FX_DIR/cache
export LVSS_S3_LOCK_LEASE=6
cd "$FX_DIR"
ceph_start
ceph_bucket faults

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

PD=$FX_DIR/proxy; mkdir -p "$PD"; echo pass >"$PD/control"
fixture_spawn proxy python3 "$LVSS_SOURCE_ROOT/tests/lib/faultproxy.py" "$PD/port" 127.0.0.1 \
    "$CEPH_RGW_PORT" "$PD/control" "$PD/log"
for ((i=0; i<100; i++)); do [ -s "$PD/port" ] && break; sleep 0.1; done
[ -s "$PD/port" ] || fail "fault proxy did not start: $(cat "$FX_DIR/proxy.log")"
PX=http://127.0.0.1:$(cat "$PD/port")
R=s3:$PX/faults/r          # through the proxy
RD=s3:$CEPH_S3/faults/r    # direct, for checking
mode() { echo "$*" >"$PD/control"; sleep 0.05; }
faults() { grep -c "^$1" "$PD/log" || true; }

mkdir -p src
head -c 20000000 /dev/urandom >src/a
head -c 3000 /dev/urandom >src/b
"$B" init --repo "$R" -q || fail "init"

# ---- resets in the middle of requests: retried, the commands succeed
mode reset PUT 2 3
"$B" backup-dir --repo "$R" --json src >b1.json || fail "backup with reset uploads"
[ "$(faults "RESET PUT")" -ge 3 ] || fail "expected 3 resets of PUTs, log: $(grep -c RESET "$PD/log")"
B1=$(jget 'd["id"]' <b1.json)
mode reset GET 3 2
rm -rf out; "$B" restore-files --repo "$R" "$B1" --to out -q || fail "restore with reset downloads"
[ "$(faults "RESET GET")" -ge 2 ] || fail "expected 2 resets of GETs"
cmp src/a "out$FX_DIR/src/a" || fail "restored file differs after resets"
mode pass
"$B" verify --repo "$RD" -q || fail "verify after resets"

# ---- a backup killed in the middle of its uploads
head -c 30000000 /dev/urandom >src/c
mode delay 40
: >"$PD/log"
"$B" backup-dir --repo "$R" -q src & bpid=$!
# kill once a pack upload has started (a PUT under data/) but before any record
for ((i=0; i<600; i++)); do grep -q "^REQ PUT /faults/r/data/" "$PD/log" && break; sleep 0.1; done
grep -q "^REQ PUT /faults/r/data/" "$PD/log" || fail "the backup never started uploading a pack"
kill -KILL $bpid; wait $bpid 2>/dev/null
grep -q "^REQ PUT /faults/r/backups/" "$PD/log" && fail "the record was written before the kill (too late)"
mode pass
# its lock object outlives it: readers and writers are busy until the lease (6 s here) runs out
ceph_s3cmd ls -r s3://faults/r/locks/ | grep -q . || fail "the killed backup left no lock object"
"$B" backup-dir --repo "$RD" -q src 2>busy.err; rc=$?
[ "$rc" = 4 ] || fail "writer while a dead holder's lease runs: exit $rc, expected 4: $(cat busy.err)"
grep -q "locked by an exclusive process" busy.err || fail "busy message: $(cat busy.err)"
ok=0
for ((i=0; i<60; i++)); do
    sleep 1
    if "$B" list --repo "$RD" --json >list.json 2>list.err; then ok=1; break; fi
    grep -q "locked by" list.err || fail "list failed otherwise: $(cat list.err)"
done
[ $ok = 1 ] || fail "the dead holder's lock did not expire"
grep -q "warning: .*ignoring the lock of an exclusive process [0-9]* on .*, whose lease expired [0-9]* s ago" list.err ||
    fail "the command after the expiry did not say it ignores the dead holder's lock: $(cat list.err)"
[ "$(jget 'len(d["backups"])' <list.json)" = 1 ] || fail "a killed backup left a record"
"$B" check --repo "$RD" -q || fail "check after a killed backup (a record names a missing pack?)"
"$B" backup-dir --repo "$RD" --json src >b2.json || fail "the repeat after the kill"
ceph_s3cmd ls -r s3://faults/r/locks/ | grep -q . && fail "the stale lock object was not removed"
B2=$(jget 'd["id"]' <b2.json)
rm -rf out; "$B" restore-files --repo "$RD" "$B2" --to out -q || fail "restore after the repeat"
diff -r src "out$FX_DIR/src" || fail "the repeated backup restores differently"
"$B" check --repo "$RD" --read-data -q || fail "check --read-data after the repeat"

# ---- a holder working for long without a request keeps its lock: its renewal
# thread renews the lease (6 s) while it holds the lock 24 s without a request
ceph_s3cmd ls -r s3://faults/r/locks/ | grep -q . && fail "a lock object is left before the hold test"
LVSS_S3_TEST_HOLD_LOCK=24 "$B" backup-dir --repo "$RD" -q src 2>hold.err & hpid=$!
for ((i=0; i<300; i++)); do ceph_s3cmd ls -r s3://faults/r/locks/ | grep -q . && break; sleep 0.1; done
ceph_s3cmd ls -r s3://faults/r/locks/ | grep -q . || fail "the holder took no lock"
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt 10 ]; do sleep 0.5; done   # past 1.5 leases without a request from the holder
kill -0 $hpid 2>/dev/null || fail "the holder ended before the check (load?): $(cat hold.err)"
"$B" backup-dir --repo "$RD" -q src 2>renew.err; rc=$?
[ "$rc" = 4 ] || fail "writer while the holder works past its lease: exit $rc, expected 4 (lease not renewed): $(cat renew.err)"
grep -q "locked by an exclusive process" renew.err || fail "busy message: $(cat renew.err)"
kill -0 $hpid 2>/dev/null || fail "the holder ended before the second writer was refused (load?)"
wait $hpid || fail "the holder's backup failed: $(cat hold.err)"
grep -q "renewing the lock" hold.err && fail "the holder's renewal failed: $(cat hold.err)"
ceph_s3cmd ls -r s3://faults/r/locks/ | grep -q . && fail "the holder left its lock object"

# ---- prune cut off from the network: nothing lost, the repeat finishes
for i in 1 2 3; do
    head -c 2000000 /dev/urandom >src/c   # garbage once forgotten
    "$B" backup-dir --repo "$RD" -q src || fail "history $i"
done
"$B" forget --repo "$RD" --keep-last 1 -q || fail "forget"
KEEP=$("$B" list --repo "$RD" --json | jget 'd["backups"][-1]["id"]')
before=$(ceph_count faults r/data/)
for n in 1 3; do
    : >"$PD/log"
    mode cut DELETE $n
    "$B" prune --repo "$R" -q 2>prune.err && { grep -q "^CUT" "$PD/log" || fail "prune found nothing to delete"; }
    grep -q "^CUT DELETE" "$PD/log" || fail "the proxy did not cut prune at DELETE $n"
    mode pass
    "$B" check --repo "$RD" -q || fail "check after prune cut at DELETE $n"
    rm -rf out; "$B" restore-files --repo "$RD" "$KEEP" --to out -q || fail "restore after prune cut at DELETE $n"
    diff -r src "out$FX_DIR/src" || fail "kept backup differs after prune cut at DELETE $n"
done
grep -q "after 6 attempts\|HTTP\|Connection\|reset\|Recv\|Send" prune.err || fail "prune error does not name the failure: $(cat prune.err)"
"$B" prune --repo "$R" --json >prune.json || fail "repeat prune"
"$B" check --repo "$RD" --read-data -q || fail "check after the repeat prune"
after=$(ceph_count faults r/data/)
echo "prune: $before packs before, $after after" >&2
[ "$after" -lt "$before" ] || fail "prune freed nothing ($before -> $after)"
rm -rf out; "$B" restore-files --repo "$RD" "$KEEP" --to out -q || fail "restore after the repeat prune"
diff -r src "out$FX_DIR/src" || fail "kept backup differs after the repeat prune"

# ---- a network that stays down: exit 1 after the retries, the request named
mode cut ANY 1
start=$(date +%s)
"$B" list --repo "$R" 2>down.err; rc=$?
[ "$rc" = 1 ] || fail "list with the network down: exit $rc, expected 1"
grep -q "after 6 attempts" down.err || fail "message: $(cat down.err)"
grep -q "REFUSED\|CUT" "$PD/log" || fail "proxy did not refuse"
echo "network down: gave up after $(( $(date +%s) - start )) s" >&2
mode pass
echo "s3-faults: ok" >&2
