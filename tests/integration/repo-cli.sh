#!/bin/bash
# lvss-backup repository commands end to end: init, backup-dir (full,
# incremental, differential), list, show, verify, restore-files; passwords;
# exit codes; corruption detected (exit 6) and refused; path traversal
# refused; a locked repository reported busy (exit 4).
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
command -v python3 >/dev/null || skip "python3 missing"
export LVSS_BACKUP_KDF_MIN=1
unset LVSS_BACKUP_PASSWORD
cd "$FX_DIR"

jget() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }
expect_rc() { # expect_rc RC CMD... ; stderr saved in err.txt
    local want=$1; shift
    "$@" >out.txt 2>err.txt; local rc=$?
    [ "$rc" = "$want" ] || fail "expected exit $want, got $rc: $* ($(cat err.txt))"
}

# -- usage
"$B" --help >/dev/null || fail "--help"
"$B" init --help | grep -q -- "--no-encryption" || fail "init --help"
expect_rc 2 "$B"
expect_rc 2 "$B" frobnicate
expect_rc 2 "$B" list
expect_rc 2 "$B" backup-dir --repo r --type weekly src
expect_rc 2 "$B" backup-dir --repo r --compression zstd9 src
grep -q "compression 'zstd9'" err.txt || fail "--compression zstd9 should be named: $(cat err.txt)"
expect_rc 2 "$B" list --repo r --compression off

# -- source tree
mkdir -p src/db src/logs
head -c 3000000 /dev/urandom >src/db/DB1.edb
seq 1 100000 >src/db/DB1.stm
for i in 1 2 3; do head -c 100000 /dev/urandom >src/logs/E0000$i.log; done
echo checkpoint >src/logs/E00.chk
chmod 600 src/db/DB1.edb

# -- encrypted repository: password sources
expect_rc 2 "$B" init --repo enc </dev/null
grep -q "password" err.txt || fail "init without password should say so: $(cat err.txt)"
echo "s3cret" >pw
chmod 644 pw
# a password file others can read is refused unless --insecure-password-file
expect_rc 2 "$B" init --repo enc --password-file pw
grep -q "readable or writable by group or others" err.txt || fail "0644 password file not refused: $(cat err.txt)"
[ ! -e enc ] || fail "init went on with a refused password file"
expect_rc 0 "$B" init --repo insecure --password-file pw --insecure-password-file
chmod 620 pw
expect_rc 2 "$B" list --repo insecure --password-file pw
# a symlink to the password file is not followed
chmod 600 pw
ln -s pw pwlink
expect_rc 2 "$B" list --repo insecure --password-file pwlink
grep -q "symbolic link" err.txt || fail "password file symlink followed: $(cat err.txt)"
# one owned by another user (not root) is refused
if command -v setpriv >/dev/null; then
    cp pw pwnobody && chown nobody pwnobody && chmod 600 pwnobody
    expect_rc 2 "$B" list --repo insecure --password-file pwnobody
    grep -q "owned by uid" err.txt || fail "password file of another user accepted: $(cat err.txt)"
    expect_rc 0 "$B" list --repo insecure --password-file pwnobody --insecure-password-file
fi
expect_rc 0 "$B" init --repo enc --password-file pw
expect_rc 2 "$B" init --repo enc --password-file pw          # exists
expect_rc 2 "$B" list --repo enc </dev/null
grep -q "password is needed" err.txt || fail "no password message: $(cat err.txt)"
echo wrong >pw2
chmod 600 pw2
expect_rc 5 "$B" list --repo enc --password-file pw2
grep -q "wrong password" err.txt || fail "wrong password message: $(cat err.txt)"
export LVSS_BACKUP_PASSWORD=s3cret
expect_rc 0 "$B" list --repo enc --json
[ "$(jget 'len(d["backups"])' <out.txt)" = 0 ] || fail "new repository not empty"

# -- the password asked on a terminal (script(1) gives the command a pty)
if command -v script >/dev/null; then
    printf 'ttypw\nttypw\n' | env -u LVSS_BACKUP_PASSWORD script -qec "$B init --repo ttyrepo" /dev/null >tty.out 2>&1 || fail "init on a terminal: $(cat tty.out)"
    grep -q "Repeat password" tty.out || fail "no confirmation prompt: $(cat tty.out)"
    printf 'ttypw\n' | env -u LVSS_BACKUP_PASSWORD script -qec "$B list --repo ttyrepo" /dev/null >tty.out 2>&1 || fail "list on a terminal: $(cat tty.out)"
    printf 'nope\n' | env -u LVSS_BACKUP_PASSWORD script -qec "$B list --repo ttyrepo" /dev/null >tty.out 2>&1
    grep -q "wrong password" tty.out || fail "wrong password on a terminal: $(cat tty.out)"
fi

# -- incremental without full refused
expect_rc 1 "$B" backup-dir --repo enc --type incremental src
grep -q "no usable full backup" err.txt || fail "incremental without full: $(cat err.txt)"

# -- full backup
expect_rc 0 "$B" backup-dir --repo enc --json src
for k in id type components bytes_read bytes_added duration_ms; do
    jget "d['$k']" <out.txt >/dev/null || fail "backup-dir JSON lacks $k"
done
FULL=$(jget 'd["id"]' <out.txt)
[ "$(jget 'd["type"]' <out.txt)" = full ] || fail "type"
[ "$(jget 'd["bytes_read"]' <out.txt)" -ge 3000000 ] || fail "bytes_read"
# names never appear in plaintext in an encrypted repository (long enough
# not to turn up by chance in random bytes)
if grep -rqaF "src/db/DB1.stm" enc/; then fail "a file name is stored in plaintext in the encrypted repository"; fi

# -- second full deduplicates
expect_rc 0 "$B" backup-dir --repo enc --json src
[ "$(jget 'd["bytes_added"]' <out.txt)" -lt 10000 ] || fail "second full not deduplicated: $(cat out.txt)"

# -- incremental and differential
echo more >>src/logs/E00.chk
head -c 100000 /dev/urandom >src/logs/E00004.log
expect_rc 0 "$B" backup-dir --repo enc --type incremental --json src
INC=$(jget 'd["id"]' <out.txt)
[ "$(jget 'd["files"]' <out.txt)" = 2 ] || fail "incremental should hold 2 files: $(cat out.txt)"
expect_rc 0 "$B" backup-dir --repo enc --type differential --based-on "${FULL:0:12}" --json src
[ "$(jget 'd["files"]' <out.txt)" = 2 ] || fail "differential should hold 2 files"
expect_rc 2 "$B" backup-dir --repo enc --type differential --based-on "$INC" src
grep -q "must be based on a full" err.txt || fail "differential on incremental: $(cat err.txt)"

# -- overlapping sources and non-UTF-8 names are refused with a clear message
expect_rc 2 "$B" backup-dir --repo enc src src/db
grep -q "stored twice" err.txt || fail "overlap message: $(cat err.txt)"
mkdir -p odd && touch "odd/$(printf 'bad\xffname')"
expect_rc 2 "$B" backup-dir --repo enc odd
grep -q "UTF-8" err.txt || fail "UTF-8 message: $(cat err.txt)"

# -- list and show
expect_rc 0 "$B" list --repo enc --json
[ "$(jget 'len(d["backups"])' <out.txt)" -ge 4 ] || fail "list count"
[ "$(jget 'd["backups"][2]["based_on"]' <out.txt)" != None ] || fail "incremental based_on"
for k in id type time components based_on; do jget "d['backups'][0]['$k']" <out.txt >/dev/null || fail "list lacks $k"; done
expect_rc 0 "$B" list --repo enc
grep -q incremental out.txt || fail "list table"
expect_rc 0 "$B" show --repo enc "${INC:0:10}" --json
[ "$(jget 'd["id"]' <out.txt)" = "$INC" ] || fail "show id"
[ "$(jget 'len([f for f in d["files"] if f["type"] != "dir"])' <out.txt)" = 2 ] || fail "show files"
jget 'd["writers"], d["stamps"], d["components"]' <out.txt >/dev/null || fail "show fields"
expect_rc 0 "$B" show --repo enc "$FULL"
grep -q "DB1.edb" out.txt || fail "show text"
expect_rc 2 "$B" show --repo enc ffffffffff
expect_rc 2 "$B" show --repo enc xyz

# -- verify and restore
expect_rc 0 "$B" verify --repo enc
expect_rc 0 "$B" verify --repo enc "$FULL"
expect_rc 0 "$B" restore-files --repo enc "$FULL" --to restored --json
[ "$(jget 'd["files"]' <out.txt)" = 6 ] || fail "restore count"
SRCREL=${FX_DIR#/}/src
cmp restored/"$SRCREL"/db/DB1.edb src/db/DB1.edb || fail "DB1.edb differs"
# the chain full + incremental, restored in order, gives back today's tree
expect_rc 0 "$B" restore-files --repo enc "$INC" --to restored
diff -r restored/"$SRCREL" src || fail "full + incremental differs from the source"
cmp restored/"$SRCREL"/db/DB1.stm src/db/DB1.stm || fail "DB1.stm differs"
[ "$(stat -c %a restored/"$SRCREL"/db/DB1.edb)" = 600 ] || fail "mode not restored"
[ "$(stat -c %Y restored/"$SRCREL"/db/DB1.edb)" = "$(stat -c %Y src/db/DB1.edb)" ] || fail "mtime not restored"

# -- change detection: a touched file is "changed" by its metadata, but --read-all compares content
touch src/db/DB1.stm
expect_rc 0 "$B" backup-dir --repo enc --type incremental --read-all --json src
[ "$(jget 'd["files"]' <out.txt)" = 0 ] || fail "--read-all: same content should be left out: $(cat out.txt)"
expect_rc 0 "$B" backup-dir --repo enc --type incremental --json src
[ "$(jget 'd["files"]' <out.txt)" = 1 ] || fail "touched file should be in the incremental: $(cat out.txt)"
# a full after that reuses every unchanged file without reading it
expect_rc 0 "$B" backup-dir --repo enc --json src
[ "$(jget 'd["bytes_read"]' <out.txt)" = 0 ] || fail "unchanged full should read nothing: $(cat out.txt)"
[ "$(jget 'd["files"]' <out.txt)" = 7 ] || fail "full lists every file: $(cat out.txt)"

# -- a deleted file: recorded by the next incremental, left out by --chain
rm src/logs/E00001.log
expect_rc 0 "$B" backup-dir --repo enc --type incremental --json src
INC2=$(jget 'd["id"]' <out.txt)
expect_rc 0 "$B" show --repo enc "$INC2" --json
[ "$(jget 'd["deleted"]' <out.txt)" = "['$SRCREL/logs/E00001.log']" ] || fail "deleted list: $(cat out.txt)"
expect_rc 0 "$B" restore-files --repo enc "$INC2" --chain --to chained --json
[ "$(jget 'd["files"]' <out.txt)" = 6 ] || fail "chain restore count: $(cat out.txt)"
diff -r chained/"$SRCREL" src || fail "restore --chain differs from the source"

# -- busy
flock -x enc/lock sleep 3 &
sleep 0.3
expect_rc 4 "$B" backup-dir --repo enc src
grep -q "locked" err.txt || fail "busy message"
wait

# -- path traversal: a symlinked parent in the target
mkdir -p trap outside
first=${SRCREL%%/*}
ln -s "$FX_DIR/outside" "trap/$first"
expect_rc 2 "$B" restore-files --repo enc "$FULL" --to trap
grep -q "symlink" err.txt || fail "symlink refusal message: $(cat err.txt)"
[ -z "$(ls -A outside)" ] || fail "restore wrote through a symlink"

# -- path traversal: a record whose manifest says "../" (unencrypted repo, forged record)
unset LVSS_BACKUP_PASSWORD
expect_rc 0 "$B" init --repo plain --no-encryption
# --compression off: nothing compressed (the seq text would shrink to a third)
expect_rc 0 "$B" init --repo plain-off --no-encryption
expect_rc 0 "$B" backup-dir --repo plain-off --compression off --json src
[ "$(jget "d['bytes_added']" <out.txt)" -ge "$(du -cb src/db/DB1.stm src/db/DB1.edb | tail -1 | cut -f1)" ] ||
    fail "--compression off stored less than the files: $(cat out.txt)"
expect_rc 0 "$B" backup-dir --repo plain --json src
ID=$(jget 'd["id"]' <out.txt)
python3 - "$FX_DIR/plain" "$ID" <<'PY'
import hashlib, json, os, sys
repo, rid = sys.argv[1:]
rec = json.load(open(f"{repo}/backups/{rid}"))
rec["files"][0]["path"] = "../../escaped"
data = json.dumps(rec).encode()
name = hashlib.blake2b(data, digest_size=32).hexdigest()
open(f"{repo}/backups/{name}", "wb").write(data)
print(name)
PY
EVIL=$(ls plain/backups | grep -v "$ID")
expect_rc 6 "$B" restore-files --repo plain "$EVIL" --to evil
grep -q "'\.\.'" err.txt || fail "dotdot refusal message: $(cat err.txt)"
[ ! -e escaped ] && [ ! -e "$FX_DIR/../escaped" ] || fail "escaped file written"
rm plain/backups/"$EVIL"

# -- corruption: flip a byte in a pack, then in the index
PACK=$(find plain/data -type f | head -1)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//3]^=0x10; open(p,"wb").write(b)' "$PACK"
expect_rc 6 "$B" verify --repo plain
grep -q "pack $(basename "$PACK")" err.txt || fail "verify should name the pack: $(cat err.txt)"
expect_rc 6 "$B" verify --repo plain "$ID"
expect_rc 6 "$B" restore-files --repo plain "$ID" --to damaged
[ ! -e damaged/"$SRCREL"/db/DB1.edb ] || fail "damaged file restored under its name"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//3]^=0x10; open(p,"wb").write(b)' "$PACK"
expect_rc 0 "$B" verify --repo plain
INDEX=$(find plain/index -type f | head -1)
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[10]^=0x01; open(p,"wb").write(b)' "$INDEX"
expect_rc 6 "$B" verify --repo plain --json
[ "$(jget 'd["ok"]' <out.txt)" = False ] || fail "verify --json ok"
grep -q "index $(basename "$INDEX")" err.txt || fail "verify should name the index: $(cat err.txt)"
expect_rc 6 "$B" restore-files --repo plain "$ID" --to damaged2
# the index is rebuilt from the packs, and everything is readable again
expect_rc 0 "$B" rebuild-index --repo plain --json
[ "$(jget 'd["ok"]' <out.txt)" = True ] || fail "rebuild-index: $(cat out.txt)"
expect_rc 0 "$B" verify --repo plain
expect_rc 0 "$B" restore-files --repo plain "$ID" --to repaired
cmp repaired/"$SRCREL"/db/DB1.edb src/db/DB1.edb || fail "restore after rebuild-index differs"
# -- symbolic links are stored and restored as links, never followed
mkdir -p ltree && echo data >ltree/target && ln -s target ltree/rel && ln -s /etc ltree/abs
expect_rc 0 "$B" backup-dir --repo plain --json ltree
LID=$(jget 'd["id"]' <out.txt)
expect_rc 0 "$B" show --repo plain "$LID" --json
[ "$(jget '[f.get("symlink") for f in d["files"] if f["path"].endswith("/abs")][0]' <out.txt)" = /etc ] || fail "show symlink"
expect_rc 0 "$B" restore-files --repo plain "$LID" --to lout
LREL=lout/${FX_DIR#/}/ltree
[ "$(readlink "$LREL/rel")" = target ] && [ "$(readlink "$LREL/abs")" = /etc ] || fail "symlinks not restored as links"
echo "repo-cli ok"
