#!/bin/bash
# The Cockpit page through a real PAM login (cockpit-ws without
# --local-session: login form, cockpit-session, pam "cockpit", the bridge
# running as the user): a test user in group "backup" runs a backup from the
# page and finds it in the history and the audit under its uid; a user
# outside the group sees lvss-backupd's refusal in the page.  Both users are
# created with useradd and removed at exit.  cockpit-ws runs in its own mount
# namespace where /run/dbus/system_bus_socket is the test's private bus (the
# bridge of a PAM session gets a clean environment, so DBUS_SYSTEM_BUS_ADDRESS
# cannot reach it); the page is staged in each user's ~/.local/share/cockpit.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/console-common.bash" || exit 1
console_need
[ -x /usr/lib/cockpit/cockpit-session ] && [ -f /etc/pam.d/cockpit ] || skip "cockpit-session or /etc/pam.d/cockpit missing"
command -v useradd >/dev/null && command -v unshare >/dev/null || skip "useradd and unshare needed"
getent group backup >/dev/null || skip "no group 'backup' on this system"
[ -d /run/dbus ] || skip "no /run/dbus to shadow in a mount namespace"
bd_setup 400
U_IN=lvssc$$i
U_OUT=lvssc$$o
PW=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
remove_users() {
    local rc=$? u i pids
    # cockpit-ws first: its sessions (the users' bridges) end with it.
    [ -n "${FX_PID_cockpit:-}" ] && kill -TERM "$FX_PID_cockpit" 2>/dev/null
    for u in "$U_IN" "$U_OUT"; do
        getent passwd "$u" >/dev/null || continue
        # What the user's sessions left (the bridge's session dbus-daemon), by pid.
        for ((i = 0; i < 50; i++)); do
            pids=$(pgrep -u "$u") || break
            # shellcheck disable=SC2086
            kill -TERM $pids 2>/dev/null
            sleep 0.1
        done
        userdel -f "$u" 2>/dev/null || echo "console-pam: could not remove test user $u" >&2
    done
    (exit $rc)
    fixture_cleanup
}
trap remove_users EXIT
for u in "$U_IN" "$U_OUT"; do
    extra=()
    [ "$u" = "$U_IN" ] && extra=(-G backup)
    useradd -M -d "$FX_DIR/home-$u" -s /bin/bash "${extra[@]}" "$u" || fail "useradd $u"
    echo "$u:$PW" | chpasswd || fail "chpasswd $u"
    console_stage "$FX_DIR/home-$u/.local/share"
    chown -R "$u:" "$FX_DIR/home-$u"
done
cat >"$JOBS/mail.json" <<EOJ
{"repository": "$REPO"}
EOJ
start_backupd
PORT=$(free_port)
fixture_spawn cockpit unshare --mount --propagation private bash -c '
    mount -t tmpfs -o mode=755 tmpfs /run/dbus && ln -s "$1" /run/dbus/system_bus_socket || exit 1
    exec "$2" --no-tls --address 127.0.0.1 --port "$3"' ns "$FX_DIR/bus.sock" "$COCKPIT_WS" "$PORT"
wait_http "$PORT"
# The console's own methods refuse the outsider like every method (the bus vouches for the uid),
# audited (checked below).
for call in "NextRuns su daily 5" "PreviewRetention ss mail {\"keep_last\":1}" "ShowBackup ss mail 00"; do
    # shellcheck disable=SC2086
    out=$(setpriv --reuid "$U_OUT" --regid "$U_OUT" --init-groups \
        busctl --address="$LVSS_BUS" call org.lvss.Backup1 /org/lvss/Backup1 org.lvss.Backup1 $call 2>&1) \
        && fail "$call as $U_OUT succeeded: $out"
    # busctl words AccessDenied as "Access denied"; the audit below shows it was lvss-backupd's.
    case $out in *"Access denied"*) ;; *) fail "$call as $U_OUT: $out" ;; esac
done
out=$(busctl --address="$LVSS_BUS" call org.lvss.Backup1 /org/lvss/Backup1 org.lvss.Backup1 NextRuns su daily 5) \
    || fail "NextRuns as root: $out"
case $out in 's "{\"calendar\":\"*-*-* 00:00:00\",\"next\":['*) ;; *) fail "NextRuns daily 5: $out" ;; esac
browser pam-refused pam-refused "$U_OUT" "$PW"
browser pam-allowed pam-allowed "$U_IN" "$PW"
# The refusal was the service's, audited with the outsider's uid.
$CTL audit --json | python3 -c '
import json, sys
uid_out, uid_in = sys.argv[1:3]
r = json.load(sys.stdin)["records"]
assert any(x["who"] == uid_out and "refused" in x["outcome"] for x in r), r
assert any(x["who"] == uid_in and x["action"] == "run" for x in r), r
for a in ("next runs", "preview retention", "show backup"):
    assert any(x["who"] == uid_out and x["action"] == a and "refused" in x["outcome"] for x in r), (a, r)
' "$(id -u "$U_OUT")" "$(id -u "$U_IN")" || fail "audit: $($CTL audit)"
[ -s "$ARTIFACTS/pam-refused/refused.png" ] && [ -s "$ARTIFACTS/pam-allowed/pam-audit.png" ] || fail "screenshots missing"
echo "console-pam: OK"
