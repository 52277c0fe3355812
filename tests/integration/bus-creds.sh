#!/bin/bash
# Authorization from bus-vouched credentials only (lib/core/bus-creds.h):
# a caller whose process groups (/proc/<pid>/status, as after exec of a
# setgid program) name the privileged group, while the user database does
# not list its uid in it, is refused by lvssd (requestor), by mstored
# (admin group) and by lvss-backupd (group backup, audited) with exit 5; a
# user the user database puts in the group is granted.  Uses the system
# users nobody (groups: nogroup) and backup (primary group backup), run
# with setpriv.  The admin group (not root) may name storage group paths
# only where root alone controls them (mailstore.md §5).
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
id nobody >/dev/null 2>&1 && id backup >/dev/null 2>&1 || skip "system users nobody and backup needed"
getent group backup >/dev/null || skip "group backup missing"
id -nG nobody | grep -qw backup && skip "nobody is in group backup in this user database"
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
start_lvssd
NOID=00000000-0000-4000-8000-000000000000
# spoofed: uid nobody whose process carries group backup (egid and
# supplementary), which the user database does not give it.
spoofed() { setpriv --reuid=nobody --regid=backup --groups=backup "$@"; }
member() { setpriv --reuid=backup --regid=backup --init-groups "$@"; }
g=$(spoofed awk '/^Groups:/ {print $2}' /proc/self/status)
[ "$g" = "$(getent group backup | cut -d: -f3)" ] || fail "setpriv did not give the process group backup (Groups: $g)"

echo "== lvssd: group backup only in /proc is refused"
spoofed "$LVSSADM" delete shadows --shadow "$NOID" >"$FX_DIR/o" 2>"$FX_DIR/e"; rc=$?
[ "$rc" = 5 ] || fail "lvssd granted requestor to uid nobody with group backup only in /proc (exit $rc, want 5): $(cat "$FX_DIR/e")"
grep -q "uid 65534 is not allowed" "$FX_DIR/e" || fail "refusal message unclear: $(cat "$FX_DIR/e")"
grep -q "uid 65534 refused" "$FX_DIR/lvssd.log" || fail "no access-denied journal line: $(cat "$FX_DIR/lvssd.log")"
echo "== lvssd: a member of group backup per the user database is a requestor"
member "$LVSSADM" delete shadows --shadow "$NOID" >"$FX_DIR/o" 2>"$FX_DIR/e"; rc=$?
[ "$rc" = 2 ] || fail "user backup: exit $rc, want 2 (authorized, no such snapshot): $(cat "$FX_DIR/e")"
grep -q "no snapshot $NOID" "$FX_DIR/e" || fail "user backup was not let through: $(cat "$FX_DIR/e")"

if [ -x "$MSTORED" ] && [ -x "$MSTORE" ]; then
    echo "== mstored: admin group only in /proc is refused"
    printf '{"admin_group": "backup"}\n' >"$FX_DIR/mstored.json"
    fixture_spawn mstored "$MSTORED" --data-dir "$FX_DIR/data" --lmtp "unix:$FX_DIR/lmtp.sock" --no-writer \
        --config "$FX_DIR/mstored.json"
    fixture_wait_name org.lvss.MailStore1
    spoofed "$MSTORE" sg list >"$FX_DIR/o" 2>"$FX_DIR/e"; rc=$?
    [ "$rc" = 5 ] || fail "mstored granted admin to uid nobody with the admin group only in /proc (exit $rc, want 5): $(cat "$FX_DIR/e")"
    grep -q "access denied" "$FX_DIR/e" || fail "mstored refusal unclear: $(cat "$FX_DIR/e")"
    echo "== mstored: a member of the admin group per the user database administers"
    member "$MSTORE" sg list >"$FX_DIR/o" 2>"$FX_DIR/e" || fail "user backup (admin group) refused: $(cat "$FX_DIR/e")"
    echo "== mstored: the admin group may not name storage group paths it could change"
    mkdir "$FX_DIR/bk-owned" && chown backup "$FX_DIR/bk-owned"
    member "$MSTORE" sg create SGX --path "$FX_DIR/bk-owned/sg" >"$FX_DIR/o" 2>"$FX_DIR/e"; rc=$?
    [ "$rc" = 5 ] && grep -q "owned by uid $(id -u backup), not root" "$FX_DIR/e" \
        && grep -qF "mstored: storage group 'SGX': uid $(id -u backup) may not use path '$FX_DIR/bk-owned/sg': " "$FX_DIR/e" \
        && grep -qF "(root only: the path must be root's and writable by root only)" "$FX_DIR/e" \
        || fail "sg create in a directory of user backup: exit $rc (want 5), $(cat "$FX_DIR/e")"
    member "$MSTORE" sg create SGY --log-path "/tmp/lvss-sg-$$" >"$FX_DIR/o" 2>"$FX_DIR/e"; rc=$?
    [ "$rc" = 5 ] && grep -q "'/tmp' is writable by others" "$FX_DIR/e" \
        || fail "sg create with logs directly in /tmp: exit $rc (want 5), $(cat "$FX_DIR/e")"
    [ -e "$FX_DIR/bk-owned/sg" ] || [ -e "/tmp/lvss-sg-$$" ] && fail "a refused storage group path was created"
    member "$MSTORE" sg create SGZ >"$FX_DIR/o" 2>"$FX_DIR/e" || fail "sg create in the data directory as the admin group: $(cat "$FX_DIR/e")"
    "$MSTORE" sg create SGR --path "$FX_DIR/bk-owned/sg" >"$FX_DIR/o" 2>"$FX_DIR/e" || fail "root's sg create with a path: $(cat "$FX_DIR/e")"
else
    echo "note: mstored not built, its half of the test not run"
fi
BACKUPD=$(fx_bin tools/lvss-backupd/lvss-backupd)
CTL=$(fx_bin tools/lvss-backupctl/lvss-backupctl)
if [ -x "$BACKUPD" ] && [ -x "$CTL" ]; then
    echo "== lvss-backupd: group backup only in /proc is refused"
    mkdir -p "$FX_DIR/backup.d"
    fixture_spawn backupd "$BACKUPD" --config-dir "$FX_DIR/backup.d" --state-dir "$FX_DIR/backupd-state"
    fixture_wait_name org.lvss.Backup1
    spoofed "$CTL" list >"$FX_DIR/o" 2>"$FX_DIR/e"; rc=$?
    [ "$rc" = 5 ] || fail "lvss-backupd served uid nobody with group backup only in /proc (exit $rc, want 5): $(cat "$FX_DIR/e")"
    "$CTL" audit | grep -q "uid=65534 list jobs : refused: access denied" \
        || fail "lvss-backupd's refusal not audited: $("$CTL" audit | tail -3)"
    echo "== lvss-backupd: a member of group backup per the user database is served"
    member "$CTL" list >"$FX_DIR/o" 2>"$FX_DIR/e" || fail "user backup refused by lvss-backupd: $(cat "$FX_DIR/e")"
else
    echo "note: lvss-backupd not built, its part of the test not run"
fi
echo "ok: bus-creds"
