#!/bin/bash
# The shipped D-Bus policies on a system-like bus: a dbus-daemon whose
# default policy is the system bus's (method calls denied unless a policy
# allows them) and which includes packaging/org.lvss.*.conf.  lvssd (root)
# owns its name and drives a root writer through a backup; uid nobody may
# call org.lvss.Coordinator1 (lvssd decides) but its call to a writer's
# org.lvss.Writer1 is rejected by the bus itself, while root's reaches the
# writer.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_root
command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
command -v dbus-daemon >/dev/null && command -v dbus-send >/dev/null || skip "dbus-daemon or dbus-send not installed"
id nobody >/dev/null 2>&1 || skip "no user nobody"
T=$LVSS_BUILD_ROOT/tests/unit/lvss
LVSSD=$(fx_bin daemon/lvssd/lvssd)
[ -x "$LVSSD" ] && [ -x "$T/test-writer" ] || skip "lvssd or test-writer not built"
fixture_xfs data 300
DATA=$FX_MNT/app; mkdir -p "$DATA"

# System-like bus: the default context of /usr/share/dbus-1/system.conf,
# then the shipped policies.
sock=$FX_DIR/system.sock
cat >"$FX_DIR/system.conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=$sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>$LVSS_SOURCE_ROOT/packaging/org.lvss.Coordinator1.conf</include>
  <include>$LVSS_SOURCE_ROOT/packaging/org.lvss.MailStore1.conf</include>
</busconfig>
EOC
dbus-daemon --config-file="$FX_DIR/system.conf" --nofork --nopidfile >"$FX_DIR/bus.log" 2>&1 &
FX_PIDS+=($!)
for ((i=0; i<100; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "dbus-daemon with the shipped policies did not start: $(cat "$FX_DIR/bus.log")"
chmod 777 "$sock"
export LVSS_BUS="unix:path=$sock"
grep -v "fd limit" "$FX_DIR/bus.log" | grep -i "warn\|error\|invalid" && fail "dbus-daemon complained about the shipped policies"

fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state" --config /dev/null
fixture_wait_name org.lvss.Coordinator1
fixture_spawn w "$T/test-writer" --dir "$DATA"
for ((i=0; i<100; i++)); do grep -qs subscribed "$FX_DIR/w.log" && break; sleep 0.05; done
grep -qs subscribed "$FX_DIR/w.log" || fail "writer did not register: $(cat "$FX_DIR/w.log")"

echo "== lvssd (root) still drives the writer through a backup"
"$T/test-requestor" backup "$DATA" >"$FX_DIR/r.log" 2>&1 || { cat "$FX_DIR/r.log"; fail "backup under the shipped policy failed"; }
grep -q "event Freeze" "$FX_DIR/w.log" || fail "the writer got no Freeze from lvssd: $(cat "$FX_DIR/w.log")"

# The writer's connection, by its pid.
wname=$(busctl --address="$LVSS_BUS" list --unique --json=short |
    python3 -c 'import json,sys; print(next(e["name"] for e in json.load(sys.stdin) if e.get("pid")==int(sys.argv[1])))' "$FX_PID_w") ||
    fail "cannot find the writer's connection"
# dbus-send prints the error's message (busctl only its errno).
call_writer() { # [setpriv ARGS...]
    "$@" dbus-send --bus="$LVSS_BUS" --dest="$wname" --print-reply --reply-timeout=5000 \
        /org/lvss/Writer1 org.lvss.Writer1.Event string:Abort 'string:{}'
}

echo "== uid nobody's call to org.lvss.Writer1 is rejected by the bus"
call_writer setpriv --reuid=nobody --regid=nogroup --clear-groups >"$FX_DIR/n.out" 2>"$FX_DIR/n.err" && fail "uid nobody's Writer1 call succeeded: $(cat "$FX_DIR/n.out")"
grep -q "Rejected send message" "$FX_DIR/n.err" || fail "uid nobody's Writer1 call was not rejected by the bus: $(cat "$FX_DIR/n.err")"
grep -q "from lvssd only" "$FX_DIR/n.err" && fail "the call reached the writer"
echo "== root's call reaches the writer (which refuses it: not lvssd)"
call_writer >"$FX_DIR/r.out" 2>"$FX_DIR/r.err" && fail "root's Writer1 call succeeded"
grep -q "events are accepted from lvssd only" "$FX_DIR/r.err" || fail "root's Writer1 call did not reach the writer: $(cat "$FX_DIR/r.err")"
echo "== uid nobody may still call lvssd (lvssd decides)"
setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --address="$LVSS_BUS" call org.lvss.Coordinator1 \
    /org/lvss/Coordinator1 org.lvss.Coordinator1 ListProviders >"$FX_DIR/l.out" 2>"$FX_DIR/l.err" ||
    fail "uid nobody cannot list providers: $(cat "$FX_DIR/l.err")"
grep -q reflink "$FX_DIR/l.out" || fail "ListProviders reply: $(cat "$FX_DIR/l.out")"
echo "ok: dbus-policy"
