#!/bin/bash
# mstored's LMTP unix socket: who may connect and what one client may hold.
#  - the socket is root:LMTP_GROUP mode 0660 (config key lmtp_group);
#  - an unprivileged uid outside the group is refused by the kernel (EACCES),
#    the same uid with the group as a supplementary group gets "220";
#  - at most lmtp_max_sessions_per_client sessions per peer uid (per
#    address over TCP): the next gets "421 4.7.0";
#  - 70 clients of one uid that flood commands and never read their replies
#    do not stop delivery by another uid, and are dropped after
#    lmtp_write_timeout seconds (the slots come back);
#  - with hung clients connected (silent ones and non-reading ones),
#    mstored exits 0 within 1 s of SIGTERM.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
CLIENT="python3 $LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
[ -x "$MSTORED" ] || skip "mstored not built (needs libmstore)"
[ "$(id -u)" = 0 ] || skip "needs root (runs clients as another uid)"
getent group mail >/dev/null || skip "no group 'mail'"
OTHER_UID=$(id -u nobody 2>/dev/null) || skip "no user 'nobody'"
MAIL_GID=$(getent group mail | cut -d: -f3)
id -G nobody | tr ' ' '\n' | grep -qx "$MAIL_GID" && skip "nobody is in group mail here"
fixture_init
fixture_bus
DATA=$FX_DIR/data
SOCK=$FX_DIR/lmtp.sock
PORT=$((20000 + $$ % 20000))

# hog.py SOCK UID GID|- N MODE: connect N times as UID (with GID as the only
# supplementary group, or none), read each greeting; MODE "flood" then
# pipelines NOOPs without ever reading, "hold" stays silent.  Prints one
# summary line ("220=A 421-4.7.0=B 421-other=C eacces=D other=E"), then
# keeps every connection open until killed.
cat >"$FX_DIR/hog.py" <<'EOF'
import os, socket, sys, time
path, uid, gid, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
os.setgroups([int(gid)] if gid != "-" else [])
os.setgid(65534)
os.setuid(uid)
count = {"220": 0, "421-4.7.0": 0, "421-other": 0, "eacces": 0, "other": 0}
keep = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except PermissionError:
        count["eacces"] += 1
        continue
    s.settimeout(5)
    try:
        line = s.recv(512).decode(errors="replace")
    except OSError:
        line = ""
    if line.startswith("220"):
        count["220"] += 1
        keep.append(s)
    elif line.startswith("421 4.7.0"):
        count["421-4.7.0"] += 1
    elif line.startswith("421"):
        count["421-other"] += 1
    else:
        count["other"] += 1
if mode == "flood":
    s_data = b"NOOP\r\n" * 200000
    for s in keep:
        s.setblocking(False)
        try:
            s.send(s_data)
        except OSError:
            pass
print(" ".join("%s=%d" % kv for kv in count.items()), flush=True)
time.sleep(600)
EOF

start_mstored() { # start_mstored WRITE_TIMEOUT
    printf '{"lmtp_group": "mail", "lmtp_max_sessions_per_client": 4, "lmtp_write_timeout": %s}\n' "$1" \
        >"$FX_DIR/mstored.conf"
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --lmtp "127.0.0.1:$PORT" \
        --server-name h1 --no-writer --config "$FX_DIR/mstored.conf"
    fixture_wait_name org.lvss.MailStore1
    for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || fail "no LMTP socket: $(tail -5 "$FX_DIR/mstored.log")"
}
# hog NAME UID GID N MODE: run hog.py in the background (in this shell, so
# the fixture kills it); wait for its summary, which lands in $out
hog() {
    local name=$1; shift
    fixture_spawn "$name" python3 "$FX_DIR/hog.py" "$SOCK" "$@"
    for i in $(seq 100); do [ -s "$FX_DIR/$name.log" ] && break; sleep 0.1; done
    out=$(cat "$FX_DIR/$name.log")
}
deliver() { # deliver TAG: one message to alice as root, must be accepted
    printf 'Subject: %s\r\n\r\nbody %s\r\n' "$1" "$1" >"$FX_DIR/m"
    timeout 20 $CLIENT deliver --socket "$SOCK" --from x@test --rcpt alice@example.org --file "$FX_DIR/m" \
        >"$FX_DIR/deliver.out" 2>&1
    grep -q "^alice@example.org 250" "$FX_DIR/deliver.out" || fail "delivery '$1' failed: $(cat "$FX_DIR/deliver.out")"
}
bad_config() { # bad_config JSON: mstored refuses to start, exit 2
    printf '%s\n' "$1" >"$FX_DIR/bad.conf"
    timeout 10 "$MSTORED" --data-dir "$DATA" --lmtp "unix:$FX_DIR/bad.sock" --no-writer --config "$FX_DIR/bad.conf" \
        >"$FX_DIR/bad.out" 2>&1
    local rc=$?
    [ $rc = 2 ] || fail "config '$1': exit $rc, expected 2: $(cat "$FX_DIR/bad.out")"
}

bad_config '{"lmtp_group": "no-such-group-lvss"}'
grep -q "LMTP group 'no-such-group-lvss' does not exist" "$FX_DIR/bad.out" || fail "unknown group message"
bad_config '{"lmtp_max_sessions_per_client": 0}'
bad_config '{"lmtp_write_timeout": "x"}'

start_mstored 2
$MSTORE sg create SG1 >/dev/null || fail "sg create"
$MSTORE db create SG1/DB1 >/dev/null || fail "db create"
$MSTORE mailbox create alice@example.org --db SG1/DB1 >/dev/null || fail "mailbox create"

# 1. the socket: root, group mail, 0660
read -r mode owner group < <(stat -c '%a %U %G' "$SOCK")
[ "$mode" = 660 ] && [ "$owner" = root ] && [ "$group" = mail ] ||
    fail "socket is $mode $owner:$group, expected 660 root:mail"

# 2. outside the group: refused by the kernel; inside: served
hog outsider "$OTHER_UID" - 1 hold
[[ $out == *"eacces=1"* && $out == *"220=0"* ]] || fail "uid $OTHER_UID outside group mail: $out"
hog member "$OTHER_UID" "$MAIL_GID" 1 hold
[[ $out == *"220=1"* ]] || fail "uid $OTHER_UID in group mail was not served: $out"
kill "$FX_PID_member"

# 3. per-uid cap, while another uid (root) still delivers
sleep 0.3
hog capped "$OTHER_UID" "$MAIL_GID" 6 hold
[[ $out == *"220=4 421-4.7.0=2"* ]] || fail "per-uid cap of 4: $out"
deliver capped
kill "$FX_PID_capped"
# over TCP the cap is per peer address
python3 - "$PORT" <<'EOF' || fail "per-address cap over TCP"
import socket, sys
got = []
for i in range(5):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    got.append((s, s.recv(512).decode()[:9]))
codes = [g[1] for g in got]
print(codes)
sys.exit(0 if codes[:4] == ["220 h1 LM"] * 4 and codes[4] == "421 4.7.0" else 1)
EOF

# 4. 70 non-reading clients of one uid: root still delivers; they are
#    dropped after the write timeout (2 s) and their slots come back
sleep 0.3
hog flood "$OTHER_UID" "$MAIL_GID" 70 flood
[[ $out == *"220=4 421-4.7.0=66"* ]] || fail "flood: $out"
deliver during-flood
for i in $(seq 100); do
    grep -q "dropped: a reply was not read within 2 s" "$FX_DIR/mstored.log" && break
    sleep 0.1
done
[ "$(grep -c "dropped: a reply was not read within 2 s" "$FX_DIR/mstored.log")" = 4 ] ||
    fail "non-reading sessions not dropped: $(grep -c dropped "$FX_DIR/mstored.log") drops"
hog after "$OTHER_UID" "$MAIL_GID" 4 hold
[[ $out == *"220=4"* ]] || fail "slots did not come back after the drops: $out"
kill "$FX_PID_flood" "$FX_PID_after"
kill -TERM "$FX_PID_mstored"
wait "$FX_PID_mstored"
rc=$?
[ $rc = 0 ] || fail "mstored exited $rc"

# 5. SIGTERM with hung clients (a long write timeout: nothing drops them
#    by itself): silent ones of root, non-reading ones of another uid
start_mstored 600
hog silent 0 0 4 hold
hog stuck "$OTHER_UID" "$MAIL_GID" 4 flood
[[ $out == *"220=4"* ]] || fail "stuck clients: $out"
sleep 1 # their replies fill the socket buffers; the sessions block in send
t0=$(date +%s%N)
kill -TERM "$FX_PID_mstored"
for i in $(seq 100); do kill -0 "$FX_PID_mstored" 2>/dev/null || break; sleep 0.02; done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
kill -0 "$FX_PID_mstored" 2>/dev/null && fail "mstored still running ${ms} ms after SIGTERM"
wait "$FX_PID_mstored"
rc=$?
[ $rc = 0 ] || fail "mstored exited $rc after SIGTERM: $(tail -5 "$FX_DIR/mstored.log")"
[ $ms -lt 1000 ] || fail "mstored took ${ms} ms to exit on SIGTERM"
[ -e "$SOCK" ] && fail "socket left behind"
echo "mstored exited ${ms} ms after SIGTERM with 8 hung clients"
echo "PASS"
