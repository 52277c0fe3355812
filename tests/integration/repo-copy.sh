#!/bin/bash
# lvss-backup copy between local repositories (docs/design/repository.md
# §15.4; the S3 side is s3-repo.sh): chains come along, data is re-encrypted
# under the destination's password and deduplicated against it, a rerun
# copies nothing, and a copy killed at every crash point of its commits
# (after-pack, after-index; LVSS_REPO_CRASH_AT) and rerun completes with
# every backup restoring byte for byte and no data stored twice; --progress-fd's
# lines (monotonic, final == total, one read while the copy is held).
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_test_hooks
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
command -v python3 >/dev/null || skip "python3 missing"
export LVSS_BACKUP_KDF_MIN=1 LVSS_BACKUP_PASSWORD=srcpw
cd "$FX_DIR"
jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
ids() { "$B" list --repo "$1" --json | jget '" ".join(b["id"] for b in d["backups"])'; }

# ---- source: full, incremental, incremental, and a second full; a symlink, a directory, an empty file
mkdir -p src/d/e
head -c 6000000 /dev/urandom >src/a
head -c 300000 /dev/urandom >src/d/b
: >src/d/empty
ln -s d/b src/l
"$B" init --repo r1 -q || fail "init r1"
"$B" backup-dir --repo r1 -q src || fail "full"
cp -a src snap1
head -c 100000 /dev/urandom >>src/d/b
"$B" backup-dir --repo r1 --type incremental -q src || fail "incr 1"
rm src/d/empty
"$B" backup-dir --repo r1 --type incremental -q src || fail "incr 2"
cp -a src snap3
head -c 2000000 /dev/urandom >src/c
"$B" backup-dir --repo r1 -q src || fail "full 2"
read -r -a SRC <<<"$(ids r1)"
[ "${#SRC[@]}" = 4 ] || fail "4 source backups expected"

# ---- one incremental: its chain (full, incr 1, incr 2) comes along, the later full does not
echo dstpw >pwd; chmod 600 pwd
LVSS_BACKUP_PASSWORD=dstpw "$B" init --repo r2 -q || fail "init r2"
"$B" copy --from r1 --to r2 --to-password-file pwd --json "${SRC[2]:0:10}" >c1.json || fail "copy one incremental"
[ "$(jget 'd["copied"]' <c1.json)" = 3 ] || fail "chain of 3 expected: $(cat c1.json)"
export LVSS_BACKUP_PASSWORD=dstpw
read -r -a DST <<<"$(ids r2)"
"$B" show --repo r2 "${DST[2]}" --json | jget 'd["type"]' | grep -qx incremental || fail "type not kept"
[ "$("$B" list --repo r2 --json | jget 'd["backups"][2]["based_on"]')" = "${DST[1]}" ] || fail "base not mapped"
"$B" restore-files --repo r2 "${DST[2]}" --chain --to out -q || fail "restore the copied chain"
diff -r --no-dereference snap3 "out$FX_DIR/src" || fail "copied chain restores differently"
"$B" verify --repo r2 -q || fail "verify r2"
# the source password does not open the copy (re-encrypted)
LVSS_BACKUP_PASSWORD=srcpw "$B" list --repo r2 >/dev/null 2>&1 && fail "r2 opens with r1's password"

# ---- all: only the missing one is copied, its blobs deduplicated against r2
LVSS_BACKUP_PASSWORD=srcpw "$B" copy --from r1 --to r2 --to-password-file pwd --json >c2.json || fail "copy all"
[ "$(jget 'd["copied"]' <c2.json)" = 1 ] && [ "$(jget 'd["skipped"]' <c2.json)" = 3 ] || fail "copy all: $(cat c2.json)"
[ "$(jget 'd["blobs_known"]' <c2.json)" -gt 0 ] || fail "no deduplication against r2: $(cat c2.json)"
LVSS_BACKUP_PASSWORD=srcpw "$B" copy --from r1 --to r2 --to-password-file pwd --json >c3.json || fail "rerun"
[ "$(jget 'd["copied"]' <c3.json)" = 0 ] || fail "rerun copied again: $(cat c3.json)"
# a copy of the copy knows its origin: copying r2 to r3 and r1 to r3 stores each backup once
"$B" init --repo r3 -q || fail "init r3"
"$B" copy --from r2 --to r3 -q || fail "copy r2 -> r3"
LVSS_BACKUP_PASSWORD=srcpw "$B" copy --from r1 --to r3 --to-password-file pwd --json >c4.json || fail "copy r1 -> r3"
[ "$(jget 'd["copied"]' <c4.json)" = 0 ] || fail "r1 -> r3 after r2 -> r3 copied again: $(cat c4.json)"
# the same repository twice is refused
"$B" copy --from r2 --to r2 -q 2>same.err; rc=$?
[ "$rc" = 2 ] && grep -q "same repository" same.err || fail "copy to itself: exit $rc $(cat same.err)"
# unencrypted destination
"$B" init --repo plain --no-encryption -q || fail "init plain"
"$B" copy --from r2 --to plain -q || fail "copy to an unencrypted repository"
"$B" verify --repo plain -q || fail "verify plain"

# ---- --progress-fd: a line when the copy is planned, one while it is held after its first blob (test hook
# LVSS_BACKUP_TEST_PAUSE_COPY), one after each backup, the last at the end: the totals fixed from the first
# line (the 4 backups, the sizes of their files), every count monotonic, the last line done == total
export LVSS_BACKUP_PASSWORD=srcpw
"$B" init --repo rp -q || fail "init rp"
want_bytes=$(python3 - "$B" "${SRC[@]}" <<'PY'
import json, subprocess, sys
total = 0
for i in sys.argv[2:]:
    rec = json.loads(subprocess.check_output([sys.argv[1], "show", "--repo", "r1", i, "--json"]))
    total += sum(f["size"] for f in rec["files"])
print(total)
PY
) || fail "sizes of r1's backups"
mkdir hold
LVSS_BACKUP_TEST_PAUSE_COPY=$FX_DIR/hold/pause "$B" copy --from r1 --to rp -q --progress-fd 3 3>prog.lines &
cp_pid=$!
for ((i = 0; i < 600; i++)); do [ -s hold/pause ] && break; sleep 0.1; done
[ -s hold/pause ] || fail "the copy never reached its first blob (pause hook)"
held=$(tail -n 1 prog.lines)
rm -rf hold
wait "$cp_pid" || fail "copy with --progress-fd"
python3 - prog.lines "$want_bytes" "$held" <<'PY' || fail "progress lines: $(cat prog.lines)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
want, held = int(sys.argv[2]), json.loads(sys.argv[3])
keys = {"bytes_done", "bytes_total", "files", "backups_done", "backups_total"}
assert want > 6000000 and len(lines) >= 6, (want, lines)
for l in lines:
    assert set(l) == keys and l["bytes_total"] == want and l["backups_total"] == 4, l
for a, b in zip(lines, lines[1:]):
    assert all(b[k] >= a[k] for k in ("bytes_done", "files", "backups_done")), (a, b)
assert lines[0]["bytes_done"] == 0 and lines[0]["backups_done"] == 0, lines[0]
assert 0 < held["bytes_done"] < want and held["backups_done"] == 0, held
assert lines[-1]["bytes_done"] == want and lines[-1]["backups_done"] == 4 and lines[-1]["files"] > 0, lines[-1]
PY
"$B" verify --repo rp -q || fail "verify rp"
"$B" copy --from r1 --to rp -q --progress-fd 2 2>pfd.err; rc=$?
[ "$rc" = 2 ] && grep -q "progress-fd '2'" pfd.err || fail "--progress-fd 2: exit $rc $(cat pfd.err)"
echo "repo-copy: $(wc -l <prog.lines) progress lines, monotonic, final $want_bytes bytes of 4 backups == total" >&2

# ---- killed at each crash point of the commits, then rerun: complete, nothing stored twice
export LVSS_BACKUP_PASSWORD=srcpw
"$B" init --repo ref -q && "$B" copy --from r1 --to ref -q || fail "reference copy"
ref_bytes=$(du -sb --apparent-size ref/data | cut -f1)
for point in after-pack:1 after-pack:3 after-index:1 after-index:2 after-index:3; do
    rm -rf rk; "$B" init --repo rk -q || fail "init rk"
    LVSS_REPO_CRASH_AT=$point "$B" copy --from r1 --to rk -q 2>/dev/null; rc=$?
    [ "$rc" = 137 ] || fail "copy not killed at $point (exit $rc)"
    "$B" check --repo rk -q || fail "check after a copy killed at $point"
    "$B" copy --from r1 --to rk --json >rk.json || fail "rerun after $point"
    [ "$(( $(jget 'd["copied"]' <rk.json) + $(jget 'd["skipped"]' <rk.json) ))" = 4 ] || fail "rerun after $point: $(cat rk.json)"
    "$B" verify --repo rk -q || fail "verify after $point"
    bytes=$(du -sb --apparent-size rk/data | cut -f1)
    [ "$bytes" -le $((ref_bytes + ref_bytes / 50)) ] || fail "after $point: $bytes bytes of packs, a clean copy has $ref_bytes"
    last=$("$B" list --repo rk --json | jget 'd["backups"][-1]["id"]')
    rm -rf out; "$B" restore-files --repo rk "$last" --to out -q || fail "restore after $point"
    diff -r --no-dereference src "out$FX_DIR/src" || fail "restore after $point differs"
done
echo "repo-copy: ok" >&2
