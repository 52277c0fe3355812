#!/bin/bash
# Format compatibility: the golden repositories of format version 1
# (tests/unit/repo/golden, never regenerated) still list, show, verify and
# restore byte for byte, and accept a new backup.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
command -v python3 >/dev/null || skip "python3 missing"
export TZ=UTC
cd "$FX_DIR"
cp -r "$LVSS_SOURCE_ROOT/tests/unit/repo/golden" golden
printf 'hello, golden\n' >hello.txt
seq 1 20000 >numbers.txt
echo golden >pw
chmod 600 pw

check_repo() { # check_repo DIR [PASSWORD-ARGS...]
    local repo=$1; shift
    "$B" list --repo "$repo" --json "$@" >list.json || fail "$repo: list"
    local id
    id=$(python3 -c 'import json; b=json.load(open("list.json"))["backups"]; assert len(b)==1 and b[0]["type"]=="full"; print(b[0]["id"])') \
        || fail "$repo: one full backup expected"
    "$B" show --repo "$repo" "$id" --json "$@" >show.json || fail "$repo: show"
    python3 - <<'PY' || fail "$repo: show fields"
import json
d = json.load(open("show.json"))
f = {x["path"]: x for x in d["files"]}
assert set(f) == {"tmp/lvss-golden-src/hello.txt", "tmp/lvss-golden-src/sub/numbers.txt"}, f
assert f["tmp/lvss-golden-src/sub/numbers.txt"]["mode"] == "0640"
assert f["tmp/lvss-golden-src/hello.txt"]["mtime"] == "2026-01-02T03:04:05Z"
PY
    "$B" verify --repo "$repo" -q "$@" || fail "$repo: verify"
    "$B" restore-files --repo "$repo" "$id" --to "out-$repo" -q "$@" || fail "$repo: restore"
    cmp "out-$repo/tmp/lvss-golden-src/hello.txt" hello.txt || fail "$repo: hello.txt differs"
    cmp "out-$repo/tmp/lvss-golden-src/sub/numbers.txt" numbers.txt || fail "$repo: numbers.txt differs"
    # still writable by this version, deduplicating against the old data
    mkdir -p new && cp numbers.txt new/
    "$B" backup-dir --repo "$repo" --json "$@" new >new.json || fail "$repo: backup into the old repository"
    "$B" verify --repo "$repo" -q "$@" || fail "$repo: verify after the new backup"
}
check_repo golden/plain-v1
# enc-v1's key file was made with the weakened test KDF (LVSS_BACKUP_KDF_MIN=1):
# refused as below the documented Argon2id minimum unless that test hook is set
env -u LVSS_BACKUP_KDF_MIN "$B" list --repo golden/enc-v1 --password-file pw >out.txt 2>err.txt
[ $? = 6 ] || fail "a key file below the KDF minimum should be refused with exit 6: $(cat err.txt)"
grep -q "below the minimum" err.txt || fail "weak key file message: $(cat err.txt)"
if [ "${LVSS_TEST_HOOKS:-0}" = 1 ]; then
    export LVSS_BACKUP_KDF_MIN=1
    check_repo golden/enc-v1 --password-file pw
    echo wrong >pw2
    chmod 600 pw2
    "$B" list --repo golden/enc-v1 --password-file pw2 >/dev/null 2>&1
    [ $? = 5 ] || fail "wrong password on the golden repository should exit 5"
fi
echo "repo-golden ok"
