#!/bin/sh
# Install the Debian packages lvss needs to build and test, when they are
# missing and we are root.  Keep this list and README.md's in step.
set -eu
PKGS="meson ninja-build pkg-config gcc clang clang-tidy python3 libsystemd-dev libjansson-dev
libcmocka-dev libzstd-dev libxxhash-dev libsodium-dev dbus-daemon xfsprogs
btrfs-progs util-linux e2fsprogs man-db acl attr libpq-dev postgresql-15 libsqlite3-dev
mariadb-server mariadb-client libmariadb-dev dovecot-lmtpd sqlite3 pgbackrest mariadb-backup
libgmime-3.0-dev libpam0g-dev libgnutls28-dev curl isync mutt openssl dovecot-imapd
prometheus
cockpit-ws cockpit-bridge chromium chromium-driver python3-selenium
debhelper dpkg-dev lintian
libcurl4-openssl-dev ceph-mon ceph-osd radosgw s3cmd
libssl-dev strace"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages:$missing (run as root or install them)" >&2
    exit 0
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
