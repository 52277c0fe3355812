#!/bin/bash
# Retention end to end (docs/design/repository.md §3.2, §11c-§11e):
# - a history of "days" (LVSS_REPO_FAKE_TIME), forget keeps what the policy
#   and the chains need (reasons, 'chain'), --dry-run changes nothing, a
#   forget killed between removals leaves no backup without its base;
# - prune killed at its named crash points (NAME:N) and by kill -9 at random
#   moments: after each, verify is clean, every kept backup restores byte for
#   byte, a second prune finishes the work (LVSS_PRUNE_CRASH_ROUNDS, default 20);
# - a backup running while prune starts: prune waits, nothing is lost;
# - key passwd killed between add and remove: both passwords open; the last
#   key is not removed (exit 2);
# - a byte flipped in a pack of the chosen data subset is found by
#   check --read-data-subset, not by the other subset nor the structure check.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_test_hooks
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
command -v python3 >/dev/null || skip "python3 missing"
export LVSS_BACKUP_KDF_MIN=1 LVSS_BACKUP_PASSWORD=retpw TZ=UTC
ROUNDS=${LVSS_PRUNE_CRASH_ROUNDS:-20}
cd "$FX_DIR"

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
ids() { "$B" list --repo "$1" --json | jget '" ".join(b["id"] for b in d["backups"])'; }

# ---- a history: 10 days, a full every 4, incrementals between
mkdir -p src snaps
head -c 1500000 /dev/urandom >src/base
"$B" init --repo repo -q || fail "init"
T0=1780000000
for d in 0 1 2 3 4 5 6 7 8 9; do
    head -c 1200000 /dev/urandom >src/cur          # replaced every day: garbage once forgotten
    head -c 200000 /dev/urandom >"src/day$d"
    rm -f "src/day$((d - 3))"                       # and older files go away
    type=incremental; [ $((d % 4)) = 0 ] && type=full
    LVSS_REPO_FAKE_TIME=$((T0 + d * 86400)) "$B" backup-dir --repo repo --type $type --json src >out.json ||
        fail "backup day $d"
    id=$(jget 'd["id"]' <out.json)
    cp -a src "snaps/$id"
done
read -r -a ALL <<<"$(ids repo)"
[ "${#ALL[@]}" = 10 ] || fail "10 backups expected, got ${#ALL[@]}"

# ---- forget: the dry run changes nothing and decides as the real run
cp -a repo preforget
"$B" forget --repo repo --keep-daily 2 --keep-weekly 1 --dry-run --json >dry.json || fail "forget --dry-run"
[ "$(ids repo)" = "${ALL[*]}" ] || fail "forget --dry-run removed something"
"$B" forget --repo repo --keep-daily 2 --keep-weekly 1 --json >forget.json || fail "forget"
cmp -s <(jget 'sorted(k["id"] for k in d["kept"])' <dry.json) <(jget 'sorted(k["id"] for k in d["kept"])' <forget.json) ||
    fail "dry run and real run differ"
# T0 is a Thursday.  Days 9 (incr on 8) and 8 (full) are daily; their ISO week
# is taken, so weekly keeps day 3 (Sunday of the week before; incr on 2, 1, 0)
# and its chain 2, 1, 0 comes with it; days 4-7 go.
reasons() { jget "{k['id']: ','.join(k['reasons']) for k in d['kept']}.get('$1', '-')" <forget.json; }
[ "$(reasons "${ALL[9]}")" = daily ] || fail "day 9: $(reasons "${ALL[9]}")"
[ "$(reasons "${ALL[8]}")" = daily ] || fail "day 8: $(reasons "${ALL[8]}")"
[ "$(reasons "${ALL[3]}")" = weekly ] || fail "day 3: $(reasons "${ALL[3]}")"
for d in 2 1 0; do [ "$(reasons "${ALL[$d]}")" = chain ] || fail "day $d: $(reasons "${ALL[$d]}") (chain expected)"; done
for d in 4 5 6 7; do [ "$(reasons "${ALL[$d]}")" = - ] || fail "day $d kept: $(reasons "${ALL[$d]}")"; done
read -r -a KEPT <<<"$(ids repo)"
[ "${#KEPT[@]}" = 6 ] || fail "6 backups expected after forget, got ${#KEPT[@]}"
"$B" verify --repo repo -q || fail "verify after forget"

# ---- forget killed after its 2nd removal (F1: newest first): no backup left without its base
LVSS_REPO_CRASH_AT=forget-unlinked:2 "$B" forget --repo preforget --keep-daily 2 --keep-weekly 1 -q 2>/dev/null
rc=$?
[ "$rc" = 137 ] || fail "forget crash point: exit $rc"
[ "$(ids preforget | wc -w)" = 8 ] || fail "forget killed after the 2nd removal left $(ids preforget | wc -w) backups"
"$B" check --repo preforget -q || fail "forget killed: a remaining backup lacks its base"
"$B" forget --repo preforget --keep-daily 2 --keep-weekly 1 -q || fail "forget after the crash"
[ "$(ids preforget)" = "${KEPT[*]}" ] || fail "forget after the crash kept other backups"
rm -rf preforget

check_all() { # check_all WHAT: verify clean, every kept backup restores byte for byte
    "$B" verify --repo repo -q || fail "$1: verify"
    [ "$(ids repo)" = "${KEPT[*]}" ] || fail "$1: the backups changed"
    for id in "${KEPT[@]}"; do
        rm -rf out
        "$B" restore-files --repo repo "$id" --chain --to out -q || fail "$1: restore $id"
        diff -r "out/${FX_DIR#/}/src" "snaps/$id" >/dev/null || fail "$1: restore of $id differs"
    done
}

# The repository as forget left it, before any prune: each round starts from it.
cp -a repo pre
"$B" prune --repo repo --json >prune.json || fail "prune"
WRITTEN=$(jget 'd["packs_written"]' <prune.json)
SWEPT=$(jget 'd["packs_deleted"] + d["packs_repacked"]' <prune.json)
NINDEX=$(ls pre/index | wc -l)
[ "$(jget 'd["bytes_freed"]' <prune.json)" -gt 2000000 ] || fail "prune freed too little: $(cat prune.json)"
[ "$(jget 'd["bytes_after"]' <prune.json)" -lt "$(jget 'd["bytes_before"]' <prune.json)" ] || fail "no shrink"
[ "$SWEPT" -ge 2 ] || fail "prune swept fewer than 2 packs: $(cat prune.json)"
check_all "after prune"
"$B" prune --repo repo --json >again.json || fail "second prune"
[ "$(jget 'd["packs_deleted"] + d["packs_repacked"]' <again.json)" = 0 ] || fail "second prune not idle: $(cat again.json)"
"$B" prune --repo repo --dry-run -q || fail "prune --dry-run"

# ---- prune killed at many points
points=()
for ((n = 1; n <= WRITTEN; n++)); do points+=("prune-after-pack:$n"); done
points+=("prune-after-index")
for ((n = 1; n <= NINDEX; n++)); do points+=("prune-index-unlinked:$n"); done
for ((n = 1; n <= SWEPT; n++)); do points+=("prune-pack-unlinked:$n"); done
for ((round = 0; round < ROUNDS; round++)); do
    rm -rf repo && cp -a pre repo
    if ((round % 4 == 3)); then   # a real kill -9 at a random moment
        "$B" prune --repo repo -q 2>/dev/null &
        pid=$!
        sleep "0.0$((RANDOM % 10))"
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        what="kill -9 (round $round)"
    else
        p=${points[$((round < ${#points[@]} ? round : RANDOM % ${#points[@]}))]}
        LVSS_REPO_CRASH_AT=$p "$B" prune --repo repo -q 2>/dev/null
        rc=$?
        [ "$rc" = 137 ] || fail "crash point $p: expected SIGKILL (137), got $rc"
        what="crash at $p"
    fi
    check_all "$what"
    "$B" prune --repo repo -q || fail "$what: prune afterwards"
    "$B" verify --repo repo -q || fail "$what, pruned again: verify"
    [ "$(du -sb repo/data | cut -f1)" -le "$(( $(du -sb pre/data | cut -f1) - 2000000 ))" ] || fail "$what: space not freed by the next prune"
done

# ---- a backup running while prune starts: prune waits, the backup's data stays
head -c 30000000 /dev/urandom >src/big
for round in 1 2; do
    rm -rf repo && cp -a pre repo
    LVSS_REPO_FAKE_TIME=$((T0 + (20 + round) * 86400)) "$B" backup-dir --repo repo --json src >new.json 2>new.err &
    bpid=$!
    sleep 0.2
    "$B" prune --repo repo -q 2>prune.err || fail "prune beside a backup"
    wait "$bpid" || fail "backup beside prune: $(cat new.err)"
    grep -q "waiting" prune.err || fail "prune did not say it waited for the lock: $(cat prune.err)"
    NEW=$(jget 'd["id"]' <new.json)
    "$B" verify --repo repo -q || fail "verify after backup + prune"
    rm -rf out
    "$B" restore-files --repo repo "$NEW" --to out -q || fail "restore of the backup made beside prune"
    diff -r "out/${FX_DIR#/}/src" src >/dev/null || fail "backup made beside prune differs"
done
rm -f src/big

# ---- keys
rm -rf repo && cp -a pre repo
export LVSS_BACKUP_NEW_PASSWORD=second
"$B" key add --repo repo -q || fail "key add"
LVSS_BACKUP_PASSWORD=second "$B" list --repo repo -q >/dev/null || fail "second password does not open"
[ "$("$B" key list --repo repo --json | jget 'len(d["keys"])')" = 2 ] || fail "two keys expected"
FIRST=$("$B" key list --repo repo --json | jget '[k["id"] for k in d["keys"] if k["current"]][0]')
"$B" key remove --repo repo "$FIRST" 2>err.txt; rc=$?
[ "$rc" = 2 ] || fail "removing the key in use: exit $rc"
LVSS_BACKUP_PASSWORD=second "$B" key remove --repo repo "${FIRST:0:8}" -q || fail "key remove"
LVSS_BACKUP_PASSWORD=retpw "$B" list --repo repo -q 2>/dev/null; rc=$?
[ "$rc" = 5 ] || fail "removed password still opens (exit $rc)"
LVSS_BACKUP_PASSWORD=second "$B" key remove --repo repo "$(LVSS_BACKUP_PASSWORD=second "$B" key list --repo repo --json | jget 'd["keys"][0]["id"]')" 2>err.txt; rc=$?
[ "$rc" = 2 ] && grep -q "last key" err.txt || fail "removing the last key: exit $rc ($(cat err.txt))"
# passwd killed between add and remove: both work; then a clean passwd
LVSS_BACKUP_PASSWORD=second LVSS_BACKUP_NEW_PASSWORD=third LVSS_REPO_CRASH_AT=key-after-add "$B" key passwd --repo repo -q 2>/dev/null
rc=$?
[ "$rc" = 137 ] || fail "key passwd crash point: exit $rc"
for pw in second third; do LVSS_BACKUP_PASSWORD=$pw "$B" list --repo repo -q >/dev/null || fail "after the crash, '$pw' does not open"; done
for round in 1 2 3 4 5; do   # kill -9 at random moments: some password always opens
    LVSS_BACKUP_PASSWORD=third LVSS_BACKUP_NEW_PASSWORD=pw$round "$B" key passwd --repo repo -q 2>/dev/null &
    pid=$!; sleep "0.0$((RANDOM % 5))"; kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    ok=0
    for pw in third pw$round; do LVSS_BACKUP_PASSWORD=$pw "$B" list --repo repo -q >/dev/null 2>&1 && ok=1; done
    [ $ok = 1 ] || fail "key passwd killed (round $round): no password opens"
    # continue from whichever works
    LVSS_BACKUP_PASSWORD=pw$round "$B" list --repo repo -q >/dev/null 2>&1 &&
        { LVSS_BACKUP_PASSWORD=pw$round LVSS_BACKUP_NEW_PASSWORD=third "$B" key passwd --repo repo -q || fail "passwd back"; }
done
LVSS_BACKUP_PASSWORD=third "$B" verify --repo repo -q || fail "verify after key changes"
unset LVSS_BACKUP_NEW_PASSWORD

# ---- check: structure, data, subsets find a flipped byte where they read
rm -rf repo && cp -a pre repo
"$B" check --repo repo -q || fail "check"
"$B" check --repo repo --read-data -q || fail "check --read-data"
PACK=$(ls repo/data/*/* | head -1); PID=$(basename "$PACK")
"$B" check --repo repo --read-data-subset 1/2 --json >s1.json || fail "check 1/2"
if jget "'$PID' in d['read']" <s1.json | grep -q True; then IN=1/2; OUT=2/2; else IN=2/2; OUT=1/2; fi
python3 - "$PACK" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 3] ^= 0x40
open(p, "wb").write(b)
PY
"$B" check --repo repo -q || fail "the structure check read pack data"
"$B" check --repo repo --read-data-subset $OUT -q || fail "check $OUT read a pack outside its subset"
"$B" check --repo repo --read-data-subset $IN 2>err.txt; rc=$?
[ "$rc" = 6 ] || fail "check --read-data-subset $IN missed the flipped byte (exit $rc)"
grep -q "$PID" err.txt || fail "the damaged pack is not named: $(cat err.txt)"
"$B" check --repo repo --read-data -q 2>/dev/null; rc=$?
[ "$rc" = 6 ] || fail "check --read-data missed the flipped byte (exit $rc)"
"$B" check --repo repo --read-data-subset 100% -q 2>/dev/null; rc=$?
[ "$rc" = 6 ] || fail "check --read-data-subset 100% missed it (exit $rc)"
# a percentage picks the same packs within a week, and reads fewer than all
"$B" check --repo repo --read-data-subset 30% --json 2>/dev/null >p1.json
"$B" check --repo repo --read-data-subset 30% --json 2>/dev/null >p2.json
cmp -s <(jget 'd["read"]' <p1.json) <(jget 'd["read"]' <p2.json) || fail "N% subset not deterministic"
"$B" check --repo repo --read-data-subset 0/2 2>/dev/null; rc=$?
[ "$rc" = 2 ] || fail "bad subset: exit $rc"
# ---- the golden encrypted repository of format 1: its old key file lists,
# takes a second password, and both open it; check, forget, prune work on it
cp -r "$LVSS_SOURCE_ROOT/tests/unit/repo/golden/enc-v1" golden
echo golden >gpw && chmod 600 gpw   # a password file must be private
"$B" key list --repo golden --password-file gpw --json >keys.json || fail "golden: key list"
[ "$(jget 'len(d["keys"])' <keys.json)" = 1 ] && [ "$(jget 'd["keys"][0]["created"]' <keys.json)" = None ] ||
    fail "golden: old key file not listed as such: $(cat keys.json)"
echo second >gpw2 && chmod 600 gpw2
"$B" key add --repo golden --password-file gpw --new-password-file gpw2 -q || fail "golden: key add"
"$B" check --repo golden --password-file gpw2 --read-data -q || fail "golden: check with the new password"
"$B" forget --repo golden --password-file gpw --keep-last 1 --prune -q || fail "golden: forget --prune"
"$B" verify --repo golden --password-file gpw -q || fail "golden: verify"
echo "repo-retention ok"
