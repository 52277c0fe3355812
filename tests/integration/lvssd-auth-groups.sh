#!/bin/bash
# lvssd reuses a uid's roles from the user database for at most 1 s
# (auth.c, ROLES_CACHE_USEC; issue 14), so a group change still takes
# effect at once for the next cycle: a user refused as a requestor (exit 5)
# is allowed within seconds of being added to group backup, and refused
# again within seconds of being removed, lvssd running all along; the uid
# itself always comes from the bus.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
command -v useradd >/dev/null || skip "useradd not installed"
command -v gpasswd >/dev/null || skip "gpasswd not installed"
command -v runuser >/dev/null || skip "runuser not installed"
getent group backup >/dev/null || skip "no group 'backup'"
TUSER=lvssg$$
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$TUSER" ||
    fail "useradd $TUSER"
ag_cleanup() {
    local rc=$?
    userdel "$TUSER" 2>/dev/null
    getent group "$TUSER" >/dev/null && groupdel "$TUSER"
    (exit $rc)
    fixture_cleanup
}
trap ag_cleanup EXIT
start_lvssd
as_user() { runuser -u "$TUSER" -- env LVSS_BUS="$LVSS_BUS" "$LVSSADM" "$@" >"$FX_DIR/u.out" 2>"$FX_DIR/u.err"; }
# want RC within 15 s: list writers needs no rights; delete shadows --all
# needs the requestor role (and deletes nothing here).
expect_delete() {
    local want=$1 start=$SECONDS rc
    while :; do
        as_user delete shadows --all; rc=$?
        [ "$rc" = "$want" ] && return 0
        ((SECONDS - start > 15)) && fail "delete as $TUSER exited $rc, want $want: $(cat "$FX_DIR/u.err")"
        sleep 0.2
    done
}
expect_delete 5
grep -qi 'not allowed' "$FX_DIR/u.err" || fail "no clear refusal: $(cat "$FX_DIR/u.err")"
gpasswd -a "$TUSER" backup >/dev/null || fail "gpasswd -a"
expect_delete 0
gpasswd -d "$TUSER" backup >/dev/null || fail "gpasswd -d"
expect_delete 5
echo "lvssd-auth-groups: ok"
