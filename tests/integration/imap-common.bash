# shellcheck shell=bash
# Shared by the IMAP tests (mstored-imap.sh, mstored-imap-restore.sh): a
# system user for real PAM logins.  Not a test itself (no .sh suffix).

# imap_user_init PREFIX: creates user U=PREFIX$$ with password PW and, when
# the system has none, the PAM service mstored as packaged (common-auth:
# pam_unix); imap_user_cleanup (call it from the test's EXIT trap) removes
# both.
imap_user_init() {
    U=$1$$
    PW="pw-$$-Secret"
    IMAP_PAMFILE=
    useradd -M -s /usr/sbin/nologin "$U" || fail "useradd $U"
    echo "$U:$PW" | chpasswd || fail "chpasswd"
    if [ ! -e /etc/pam.d/mstored ]; then
        IMAP_PAMFILE=/etc/pam.d/mstored
        cp "$LVSS_SOURCE_ROOT/packaging/pam.d/mstored" "$IMAP_PAMFILE" || fail "cannot install $IMAP_PAMFILE"
    fi
}

imap_user_cleanup() {
    [ -n "${U:-}" ] && userdel -r "$U" >/dev/null 2>&1
    [ -n "${IMAP_PAMFILE:-}" ] && rm -f "$IMAP_PAMFILE"
    return 0
}
