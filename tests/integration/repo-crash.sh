#!/bin/bash
# Crash safety of lvss-backup backup-dir: killed right after a pack is
# durable, right after the index is durable (named crash points), and by a
# real kill -9 at a random moment.  After each crash the earlier backups are
# intact, no backup lists missing data, verify is clean; the next backup-dir
# succeeds, cleans what was left, and restores byte for byte.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_test_hooks
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
command -v python3 >/dev/null || skip "python3 missing"
export LVSS_BACKUP_KDF_MIN=1 LVSS_BACKUP_PASSWORD=crashpw
cd "$FX_DIR"

count() { "$B" list --repo repo --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))'; }

mkdir -p src
for i in 1 2 3 4 5 6; do head -c 20000000 /dev/urandom >src/f$i; done
"$B" init --repo repo -q || fail "init"
"$B" backup-dir --repo repo -q src || fail "first full backup"
[ "$(count)" = 1 ] || fail "one backup expected"

mutate() { for i in 2 5; do head -c 4000000 /dev/urandom | dd of=src/f$i bs=1M seek=$((RANDOM % 12)) conv=notrunc status=none; done; }

for point in after-pack after-index; do
    mutate
    LVSS_REPO_CRASH_AT=$point "$B" backup-dir --repo repo -q src 2>/dev/null
    rc=$?
    [ "$rc" = 137 ] || fail "crash point $point: expected SIGKILL (137), got $rc"
    [ "$(count)" = 1 ] || fail "crash at $point left a backup record"
    "$B" verify --repo repo -q || fail "verify after crash at $point"
done

for round in 1 2 3; do
    mutate
    "$B" backup-dir --repo repo -q src 2>/dev/null &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    n=$(count) || fail "list after kill -9"
    [ "$n" -ge 1 ] || fail "earlier backup lost"
    "$B" verify --repo repo -q || fail "verify after kill -9 (round $round)"
done

# A clean run afterwards: succeeds, removes leftovers, restores exactly.
"$B" backup-dir --repo repo --json src >out.json || fail "backup after crashes"
[ -z "$(ls -A repo/tmp)" ] || fail "tmp/ not cleaned: $(ls repo/tmp)"
"$B" verify --repo repo -q || fail "verify after the clean backup"
ID=$(python3 -c 'import json; print(json.load(open("out.json"))["id"])')
"$B" restore-files --repo repo "$ID" --to restored -q || fail "restore"
diff -r "restored/${FX_DIR#/}/src" src || fail "restored tree differs"
# (That the orphan packs of interrupted runs are removed is checked by
# test-repo's test_interrupted_backup_cleanup.)
echo "repo-crash ok"
