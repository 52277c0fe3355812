#!/bin/bash
# The Debian packages (debian/, `make deb`): scripts/build-deb.sh builds them
# out of tree with dpkg-buildpackage -b (the source tree stays clean) and
# lintian finds no error or warning; they install into a throw-away root
# (dpkg --root, maintainer scripts run chrootless with DPKG_ROOT, as
# debhelper's snippets and systemd-sysusers support): every file lands in
# the package it belongs to, the shipped units are the sandboxed ones from
# packaging/, the system user mstored exists, lvssd, mstored and
# lvss-backupd are enabled and no writer is; the installed programs run on
# the packaged library; purging every package leaves no file behind but the
# system user (Debian never removes system users: it may own data).
# Slow (a full package build), so plain build only.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
fixture_plain_build_only "the Debian package build"
for t in dpkg-buildpackage dh lintian dpkg-deb systemd-sysusers deb-systemd-helper; do
    command -v "$t" >/dev/null || skip "$t not installed (scripts/install-deps.sh)"
done
[ "$(id -u)" = 0 ] || skip "needs root (dpkg --root installs owners and modes)"
fixture_init

# Build as `make deb` does, minus the debug symbol packages (time).
OUT=$FX_DIR/out
before=$(cd "$LVSS_SOURCE_ROOT" && git status --porcelain --ignored=no 2>/dev/null)
DEB_BUILD_OPTIONS="noautodbgsym parallel=2" "$LVSS_SOURCE_ROOT/scripts/build-deb.sh" "$OUT" >"$FX_DIR/build-deb.log" 2>&1 ||
    fail "make deb: $(tail -20 "$FX_DIR/build-deb.log")"
after=$(cd "$LVSS_SOURCE_ROOT" && git status --porcelain --ignored=no 2>/dev/null)
[ "$before" = "$after" ] || fail "the package build changed the source tree: $(diff <(echo "$before") <(echo "$after"))"
[ ! -e "$LVSS_SOURCE_ROOT/debian/tmp" ] && [ ! -e "$LVSS_SOURCE_ROOT/debian/files" ] ||
    fail "the package build left debian/tmp or debian/files in the source tree"
grep -q '^[EW]: ' "$OUT/lintian.log" && fail "lintian: $(grep '^[EW]: ' "$OUT/lintian.log")"

PKGS="liblvss1 liblvss-dev lvss lvss-mailstore lvss-backup lvss-writer-exec lvss-writer-postgresql lvss-writer-sqlite lvss-writer-mariadb"
debs=()
for p in $PKGS; do
    d=$(ls "$OUT"/"${p}"_*.deb 2>/dev/null)
    [ -n "$d" ] && [ "$(echo "$d" | wc -l)" = 1 ] || fail "no single package $p in $OUT: $(ls "$OUT")"
    debs+=("$d")
done
# cockpit-lvss once the console (console/) is in the tree.
if [ -d "$LVSS_SOURCE_ROOT/console" ]; then
    PKGS="$PKGS cockpit-lvss"
    d=$(ls "$OUT"/cockpit-lvss_*.deb 2>/dev/null) || fail "no package cockpit-lvss although console/ exists"
    debs+=("$d")
fi
n=$(ls "$OUT"/*.deb | wc -l)
[ "$n" = "$(echo $PKGS | wc -w)" ] || fail "expected packages $PKGS, built: $(ls "$OUT")"

# contains PKG PATH...: the package ships each PATH.
contains() {
    local p=$1 f; shift
    dpkg-deb -c "$OUT/${p}"_*.deb | awk '{print $6}' | sed 's#^\./#/#; s#/$##' >"$FX_DIR/$p.list"
    for f in "$@"; do
        grep -qx -- "$f" "$FX_DIR/$p.list" || fail "package $p does not ship $f"
    done
}
ARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
contains liblvss1 "/usr/lib/$ARCH/liblvss.so.1" "/usr/lib/$ARCH/liblvss.so.1.1.0"
contains liblvss-dev /usr/include/lvss/lvss.h /usr/include/lvss/writer.h "/usr/lib/$ARCH/liblvss.so" \
    "/usr/lib/$ARCH/pkgconfig/liblvss.pc"
contains lvss /usr/sbin/lvssd /usr/sbin/lvssadm /etc/lvss/lvssd.conf /lib/systemd/system/lvssd.service \
    /usr/share/dbus-1/system.d/org.lvss.Coordinator1.conf /usr/share/man/man8/lvssd.8.gz
contains lvss-mailstore /usr/sbin/mstored /usr/bin/mstore /usr/bin/mstoreutil /etc/lvss/mstored.json \
    /lib/systemd/system/mstored.service /usr/share/dbus-1/system.d/org.lvss.MailStore1.conf \
    /usr/lib/sysusers.d/lvss-mailstore.conf /etc/pam.d/mstored
contains lvss-backup /usr/bin/lvss-backup /usr/sbin/lvss-backupd /usr/bin/lvss-backupctl \
    /lib/systemd/system/lvss-backupd.service /usr/share/dbus-1/system.d/org.lvss.Backup1.conf
contains lvss-writer-exec /usr/bin/lvss-writer-exec /lib/systemd/system/lvss-writer-exec.service
contains lvss-writer-postgresql /usr/bin/lvss-writer-postgresql "/lib/systemd/system/lvss-writer-postgresql@.service"
contains lvss-writer-sqlite /usr/sbin/lvss-writer-sqlite /lib/systemd/system/lvss-writer-sqlite.service
contains lvss-writer-mariadb /usr/sbin/lvss-writer-mariadb /lib/systemd/system/lvss-writer-mariadb.service
# The split: no daemon in a package but its own.
grep -q mstored "$FX_DIR/lvss.list" && fail "package lvss ships mail store files: $(grep mstored "$FX_DIR/lvss.list")"
grep -q 'lvss-backup\|lvss-writer' "$FX_DIR/lvss-mailstore.list" && fail "lvss-mailstore ships another package's files"
dpkg-deb -c "$OUT"/liblvss1_*.deb | grep -q 'bin/' && fail "liblvss1 ships programs"
[ -d "$LVSS_SOURCE_ROOT/console" ] && contains cockpit-lvss /usr/share/cockpit/lvss/manifest.json

# A throw-away root: a dpkg database, the base system's users and groups
# (Debian's base-passwd has group "backup") and the directories the systemd
# package owns.
ROOT=$FX_DIR/root
mkdir -p "$ROOT"/var/lib/dpkg/{info,updates,triggers} "$ROOT/etc/systemd/system" "$ROOT/var/lib/systemd" "$ROOT/var/log"
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
for f in passwd group shadow gshadow; do install -m "$(stat -c %a /etc/$f)" /etc/$f "$ROOT/etc/$f"; done
sed -i '/^mstored:/d' "$ROOT"/etc/{passwd,group,shadow,gshadow}
grep -q '^backup:' "$ROOT/etc/group" || echo 'backup:x:34:' >>"$ROOT/etc/group"
(cd "$ROOT" && find . | sort) >"$FX_DIR/root-before"
cp -a "$ROOT/etc/passwd" "$FX_DIR/passwd-before"

# Unmet dependencies (libc, dbus) are the host's business, not this root's.
DPKG=(dpkg --root="$ROOT" --log="$FX_DIR/dpkg.log" --force-script-chrootless --force-depends --force-not-root)
"${DPKG[@]}" -i "${debs[@]}" >"$FX_DIR/install.log" 2>&1 || fail "dpkg -i into the root: $(tail -20 "$FX_DIR/install.log")"
for p in $PKGS; do
    s=$("${DPKG[@]}" -s "$p" 2>/dev/null | sed -n 's/^Status: //p')
    [ "$s" = "install ok installed" ] || fail "package $p: status '$s' after install: $(tail -5 "$FX_DIR/install.log")"
done

# Files: the units are packaging/'s sandboxed ones, the programs run on the
# packaged library.
for u in lvssd mstored lvss-backupd lvss-writer-exec lvss-writer-sqlite lvss-writer-mariadb lvss-writer-postgresql@; do
    cmp -s "$ROOT/lib/systemd/system/$u.service" "$LVSS_SOURCE_ROOT/packaging/$u.service" ||
        fail "installed $u.service is not packaging/$u.service"
done
[ "$(stat -c '%a %U' "$ROOT/usr/sbin/mstored")" = "755 root" ] || fail "mstored is $(stat -c '%a %U' "$ROOT/usr/sbin/mstored")"
LIBDIR=$ROOT/usr/lib/$ARCH
objdump -p "$ROOT/usr/sbin/lvssadm" | grep -q 'NEEDED *liblvss\.so\.1$' || fail "lvssadm does not link liblvss.so.1"
LD_LIBRARY_PATH=$LIBDIR ldd "$ROOT/usr/sbin/lvssadm" | grep -q "liblvss.so.1 => $LIBDIR/" ||
    fail "lvssadm does not find the packaged liblvss"
for b in usr/sbin/lvssd usr/sbin/mstored usr/bin/lvss-backup usr/sbin/lvss-backupd usr/sbin/lvss-writer-sqlite; do
    LD_LIBRARY_PATH=$LIBDIR "$ROOT/$b" --help >/dev/null 2>&1 || fail "$b --help from the package fails"
done
PKG_CONFIG_LIBDIR=$LIBDIR/pkgconfig pkg-config --cflags liblvss >/dev/null ||
    fail "liblvss.pc is not usable"

# Users: mstored is a system user without a shell, at home in its store.
IFS=: read -r _ _ uid gid _ home shell < <(grep '^mstored:' "$ROOT/etc/passwd") ||
    fail "no user mstored in the root's /etc/passwd"
[ "$uid" -lt 1000 ] || fail "mstored has uid $uid, not a system uid"
[ "$home" = /var/lib/mstored ] || fail "mstored's home is $home"
case $shell in */nologin|/bin/false) ;; *) fail "mstored has a login shell: $shell" ;; esac
grep -q "^mstored:x:$gid:" "$ROOT/etc/group" || fail "no group mstored with gid $gid"
diff <(grep -v '^mstored:' "$ROOT/etc/passwd") "$FX_DIR/passwd-before" >/dev/null ||
    fail "installing changed other users: $(diff <(grep -v '^mstored:' "$ROOT/etc/passwd") "$FX_DIR/passwd-before")"

# Units: the services are enabled, the writers are not (they need configuring).
W=$ROOT/etc/systemd/system/multi-user.target.wants
for u in lvssd mstored lvss-backupd; do
    [ "$(readlink "$W/$u.service")" = "/lib/systemd/system/$u.service" ] || fail "$u.service is not enabled: $(ls "$W" 2>&1)"
done
ls "$W" | grep -q 'writer' && fail "a writer is enabled at install: $(ls "$W")"
[ -z "$(find "$ROOT/etc/systemd/system" -lname '*writer*')" ] || fail "writer unit enabled somewhere"

# What the services would have made when they ran (StateDirectory=,
# ConfigurationDirectory=, RuntimeDirectory= of their units): purging the
# packages removes it, but the mail.
mkdir -p "$ROOT/var/lib/lvss" "$ROOT/var/lib/lvss-backupd/tasks" "$ROOT/etc/lvss/backup.d" "$ROOT/var/lib/mstored"
echo '{}' >"$ROOT/var/lib/lvss/registry.json"
echo log >"$ROOT/var/lib/lvss-backupd/tasks/1.log"

# Purge: nothing left but the system user.
"${DPKG[@]}" --purge $PKGS >"$FX_DIR/purge.log" 2>&1 || fail "dpkg --purge: $(tail -20 "$FX_DIR/purge.log")"
(cd "$ROOT" && find . | sort) >"$FX_DIR/root-after"
left=$(comm -13 "$FX_DIR/root-before" "$FX_DIR/root-after" |
       grep -v '^\./var/lib/dpkg/\|^\./etc/\(passwd\|group\|shadow\|gshadow\)-\?$\|^\./etc/\.pwd\.lock$')
[ -z "$left" ] || fail "purge left behind: $left"
gone=$(comm -23 "$FX_DIR/root-before" "$FX_DIR/root-after")
[ -z "$gone" ] || fail "purge removed what was there before: $gone"
grep -q '^mstored:' "$ROOT/etc/passwd" || fail "purge removed the system user mstored (Debian keeps system users)"
for p in $PKGS; do
    "${DPKG[@]}" -s "$p" >/dev/null 2>&1 && fail "package $p still known after purge"
done
echo "ok: $(echo $PKGS | wc -w) packages built (lintian clean), installed, checked and purged"
