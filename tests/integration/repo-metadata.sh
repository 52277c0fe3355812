#!/bin/bash
# File metadata through backup-dir and restore-files (manifest entry version
# 2, docs/design/repository.md §6.2): as root, owners and groups, modes with a
# set-uid bit on a file that root does not own, a 0700 directory, mtimes to
# the nanosecond (directories' too: set after their contents), user.* xattrs,
# a POSIX ACL, a hard link, an empty directory come back; a FIFO is recorded
# and skipped with one message.  As an unprivileged user (setpriv), owners are
# skipped with one warning and the set-uid bit is NOT restored.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_root
B=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$B" ] || skip "lvss-backup not built"
for t in python3 setfacl getfacl setfattr getfattr setpriv mkfifo; do
    command -v $t >/dev/null || skip "$t missing (scripts/install-deps.sh installs acl and attr)"
done
cd "$FX_DIR"
chmod 755 "$FX_DIR"   # the unprivileged restore below must reach its repository copy
S=src
setfattr -n user.lvss-probe -v 1 . 2>/dev/null || skip "no user xattrs on $FX_DIR's filesystem"

mkdir -p $S/empty $S/private $S/sub
echo "set-uid program of uid 1234" >$S/sub/user-suid
chown 1234:1235 $S/sub/user-suid
chmod 4755 $S/sub/user-suid
echo "root's own set-gid file" >$S/sub/root-sgid
chmod 2750 $S/sub/root-sgid
echo secret >$S/private/f
chmod 600 $S/private/f
chown -R 1234:1234 $S/private
chmod 700 $S/private
echo colored >$S/sub/file
setfattr -n user.color -v blue $S/sub/file
setfattr -n user.bin -v 0x00ff00fe $S/sub/file
echo acl >$S/sub/acl
setfacl -m u:nobody:rw,g:nogroup:r $S/sub/acl
setfacl -d -m u:nobody:rx $S/sub   # a default ACL on a directory
ln $S/sub/file $S/link-to-file
mkfifo $S/fifo
touch -d '2020-01-02 03:04:05.123456789' $S/sub/file
touch -h -d '2019-05-06 07:08:09.5' $S/empty
touch -d '2018-01-01 00:00:00.987654321' $S/private $S/sub $S

stats() { # stats ROOT: one line per entry, sorted: path owner mode mtime(ns) inode-group
    (cd "$1" && find . -mindepth 1 ! -name fifo -printf '%p %U:%G %m %T@ %n\n' | sort)
}

"$B" init --repo repo --no-encryption -q || fail "init"
"$B" backup-dir --repo repo --json $S >out.json 2>err.txt || fail "backup-dir: $(cat err.txt)"
ID=$(python3 -c 'import json; print(json.load(open("out.json"))["id"])')
"$B" show --repo repo "$ID" --json >show.json || fail "show"
python3 - "$FX_DIR" <<'PY' || fail "show: entry metadata"
import json, sys
d = json.load(open("show.json"))
f = {x["path"].split("/src/", 1)[-1] if "/src/" in x["path"] else x["path"].rsplit("/", 1)[-1]: x for x in d["files"]}
assert f["sub/user-suid"]["uid"] == 1234 and f["sub/user-suid"]["gid"] == 1235, f["sub/user-suid"]
assert f["sub/user-suid"]["mode"] == "4755", f["sub/user-suid"]
assert f["private"]["type"] == "dir" and f["private"]["mode"] == "0700", f["private"]
assert f["empty"]["type"] == "dir", f["empty"]
assert f["fifo"]["type"] == "fifo", f["fifo"]
# the name met first in the walk holds the data, the other is a link to it
a, b = f["link-to-file"], f["sub/file"]
assert (a["type"], b["type"]) == ("file", "hardlink") and b["link"] == a["path"], (a, b)
assert "user.color" in f["link-to-file"]["xattrs"], f["link-to-file"]
assert "system.posix_acl_access" in f["sub/acl"]["xattrs"], f["sub/acl"]
assert "system.posix_acl_default" in f["sub"]["xattrs"], f["sub"]
PY
SRCREL=$(realpath $S | sed 's|^/||')

# -- as root: everything comes back
"$B" restore-files --repo repo "$ID" --to out >rout.txt 2>rerr.txt || fail "restore as root: $(cat rerr.txt)"
O=out/$SRCREL
stats $S >want.txt
stats $O >got.txt
diff -u want.txt got.txt >diff.txt || fail "owners, modes, mtimes or link counts differ: $(cat diff.txt)"
[ "$(stat -c '%u:%g %a' $O/sub/user-suid)" = "1234:1235 4755" ] || fail "user's set-uid file: $(stat -c '%u:%g %a' $O/sub/user-suid)"
[ "$(stat -c '%u:%g %a' $O/private)" = "1234:1234 700" ] || fail "0700 directory: $(stat -c '%u:%g %a' $O/private)"
[ "$(stat -c '%y' $O/sub/file)" = "$(stat -c '%y' $S/sub/file)" ] || fail "mtime ns: $(stat -c '%y' $O/sub/file)"
[ "$(stat -c '%y' $O/sub)" = "$(stat -c '%y' $S/sub)" ] || fail "directory mtime (set after its contents): $(stat -c '%y' $O/sub)"
[ "$(getfattr --only-values -n user.color $O/sub/file)" = blue ] || fail "user.color xattr"
[ "$(getfattr -e hex --only-values -n user.bin $O/sub/file 2>/dev/null)" = "$(getfattr -e hex --only-values -n user.bin $S/sub/file)" ] ||
    fail "binary xattr value"
getfacl --omit-header $S/sub/acl >acl.want 2>/dev/null
getfacl --omit-header $O/sub/acl >acl.got 2>/dev/null
grep -q "user:nobody:rw-" acl.got && cmp -s acl.want acl.got || fail "ACL: $(cat acl.got)"
getfacl --omit-header -d $O/sub 2>/dev/null | grep -q "user:nobody:r-x" || fail "default ACL of a directory"
[ "$(stat -c %i $O/link-to-file)" = "$(stat -c %i $O/sub/file)" ] || fail "hard link restored as a copy"
[ -d $O/empty ] && [ -z "$(ls -A $O/empty)" ] || fail "empty directory"
[ ! -e $O/fifo ] || fail "a FIFO was created"
[ "$(grep -c "fifo.*not restored" rerr.txt)" = 1 ] || fail "FIFO: expected one message: $(cat rerr.txt)"
cmp $S/private/f $O/private/f || fail "content"

# -- as nobody: owners skipped with one warning, no set-id bit on what nobody owns
cp -a repo repo-nobody && chown -R nobody:nogroup repo-nobody
mkdir outn && chown nobody:nogroup outn
setpriv --reuid=nobody --regid=nogroup --clear-groups "$B" restore-files --repo repo-nobody "$ID" --to outn/r \
    >nout.txt 2>nerr.txt || fail "restore as nobody: $(cat nerr.txt)"
N=outn/r/$SRCREL
[ "$(grep -c "owners are not restored" nerr.txt)" = 1 ] || fail "expected one owner warning: $(cat nerr.txt)"
[ "$(stat -c '%U %a' $N/sub/user-suid)" = "nobody 755" ] || fail "set-uid restored without its owner: $(stat -c '%U %a' $N/sub/user-suid)"
[ "$(stat -c '%a' $N/sub/root-sgid)" = 750 ] || fail "set-gid restored without its owner: $(stat -c '%a' $N/sub/root-sgid)"
[ "$(stat -c '%a' $N/private)" = 700 ] || fail "0700 directory as nobody: $(stat -c '%a' $N/private)"
[ "$(stat -c '%y' $N/sub/file)" = "$(stat -c '%y' $S/sub/file)" ] || fail "mtime as nobody"
[ "$(getfattr --only-values -n user.color $N/sub/file)" = blue ] || fail "user xattr as nobody"
[ "$(stat -c %i $N/link-to-file)" = "$(stat -c %i $N/sub/file)" ] || fail "hard link as nobody"
cmp $S/private/f $N/private/f || fail "content as nobody"
echo "repo-metadata ok"
