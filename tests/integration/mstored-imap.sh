#!/bin/bash
# mstored's IMAP with real clients and a real PAM login:
#  - a system user created for the test logs in through PAM (service
#    mstored) and reads NAME@h1; a bad password and a user without a
#    mailbox are refused;
#  - Python imaplib: folders, APPEND (APPENDUID), SELECT, FETCH byte for
#    byte, STORE, COPY (COPYUID), EXPUNGE, SEARCH, over TCP on loopback;
#  - curl's IMAP fetches a delivered message byte for byte over the unix
#    socket's TCP twin and lists folders;
#  - mbsync (isync) syncs the mailbox both ways with a Maildir, mutt in
#    batch mode reads and deletes (each when installed);
#  - IDLE sees a message delivered over LMTP within a second;
#  - torture: an over-long line, an oversized literal, malformed and
#    pipelined commands: the right answers, and the server still serves;
#  - at most 10 sessions per user (the 11th LOGIN gets NO [LIMIT]); from a
#    non-loopback address LOGINDISABLED and NO [PRIVACYREQUIRED] until
#    STARTTLS, then LOGIN and reads over TLS (imaplib, curl --ssl-reqd);
#  - implicit TLS on --imaps (imaplib IMAP4_SSL, curl imaps://);
#  - folders, flags and deletions survive a restart (engine log);
#  - mstore folder create|list|delete and mstore msg delete.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
. "$LVSS_SOURCE_ROOT/tests/integration/imap-common.bash" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
CLIENT="python3 $LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
[ -x "$MSTORED" ] || skip "mstored not built (needs libmstore)"
[ "$(id -u)" = 0 ] || skip "needs root (creates a system user for the PAM login)"
command -v useradd >/dev/null || skip "no useradd"
python3 -c 'import imaplib' || skip "no python3 imaplib"
fixture_init
fixture_bus
DATA=$FX_DIR/data
SOCK=$FX_DIR/lmtp.sock
ISOCK=$FX_DIR/imap.sock
IPORT=$((20000 + $$ % 20000))
cleanup() {
    local rc=$?
    imap_user_cleanup
    (exit $rc)
    fixture_cleanup
}
trap cleanup EXIT
imap_user_init lvssimap

start_mstored() {
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --imap "unix:$ISOCK" \
        --imap "127.0.0.1:$IPORT" --server-name h1 --no-writer
    fixture_wait_name org.lvss.MailStore1
    for i in $(seq 100); do [ -S "$ISOCK" ] && [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$ISOCK" ] || fail "IMAP socket did not appear: $(tail -5 "$FX_DIR/mstored.log")"
}
stop_mstored() {
    kill -TERM "$FX_PID_mstored"
    wait "$FX_PID_mstored" 2>/dev/null
    local rc=$?
    [ "$rc" = 0 ] || fail "mstored exited $rc on SIGTERM: $(tail -20 "$FX_DIR/mstored.log")"
}

start_mstored
$MSTORE sg create SG1 && $MSTORE db create SG1/DB1 || fail "sg/db create"
$MSTORE mailbox create "$U@h1" --db SG1/DB1 || fail "mailbox create"
printf 'From: a@x\r\nTo: %s@h1\r\nSubject: first\r\nMessage-ID: <1@x>\r\n\r\nhello over LMTP\r\n' "$U" >"$FX_DIR/m1"
$CLIENT deliver --socket "$SOCK" --from a@x --rcpt "$U@h1" --file "$FX_DIR/m1" >/dev/null || fail "LMTP delivery"
[ "$(stat -c %a "$ISOCK")" = 666 ] || fail "IMAP socket mode $(stat -c %a "$ISOCK"), expected 666"

# ---- Python imaplib
cat >"$FX_DIR/imap1.py" <<'EOF'
import imaplib, sys, socket
port, user, pw, m1 = int(sys.argv[1]), sys.argv[2], sys.argv[3], open(sys.argv[4], 'rb').read()
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
M = imaplib.IMAP4("127.0.0.1", port)
check(b"LOGINDISABLED" not in b" ".join(M.capabilities and [c.encode() for c in M.capabilities]), "loopback allows LOGIN")
try:
    M.login(user, "wrong"); check(False, "bad password accepted")
except imaplib.IMAP4.error as e:
    check("AUTHENTICATIONFAILED" in str(e), "bad password: %s" % e)
M = imaplib.IMAP4("127.0.0.1", port)
try:
    M.login("root", "x"); check(False, "root without a mailbox accepted")
except imaplib.IMAP4.error:
    pass
M = imaplib.IMAP4("127.0.0.1", port)
typ, _ = M.login(user, pw); check(typ == "OK", "login")
check(M.create("Archive")[0] == "OK", "create")
typ, data = M.list(); names = b"\n".join(data)
check(b'"Archive"' in names and b'"INBOX"' in names, "list: %r" % names)
typ, data = M.append("Archive", r"(\Flagged)", None, b"Subject: appended\r\n\r\nbody two\r\n")
check(typ == "OK" and b"APPENDUID" in data[0], "append: %r" % data)
typ, data = M.select("INBOX"); check(typ == "OK" and data[0] == b"1", "select: %r" % data)
typ, data = M.fetch("1", "(BODY.PEEK[] FLAGS)")
check(data[0][1] == m1, "fetch byte for byte: %r" % data)
typ, data = M.uid("SEARCH", None, "SUBJECT", "first"); check(data[0] == b"1", "search: %r" % data)
typ, data = M.uid("COPY", "1", "Archive"); check(typ == "OK", "copy")
typ, data = M.store("1", "+FLAGS", r"(\Deleted)"); check(b"\\Deleted" in data[0], "store: %r" % data)
typ, data = M.expunge(); check(data[0] == b"1", "expunge: %r" % data)
typ, data = M.status("Archive", "(MESSAGES UNSEEN)"); check(b"MESSAGES 2" in data[0] and b"UNSEEN 2" in data[0], "status %r" % data)
typ, data = M.select("Archive")
typ, data = M.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
flat = b"".join(x[0] + x[1] if isinstance(x, tuple) else x for x in data)
check(b"\\Flagged" in flat and b"appended" in flat and b"first" in flat, "archive: %r" % flat)
typ, data = M.fetch("1", "(ENVELOPE BODYSTRUCTURE)")
check(b'"TEXT" "PLAIN"' in data[0], "bodystructure: %r" % data)
M.logout()
print("ok")
EOF
out=$(python3 "$FX_DIR/imap1.py" "$IPORT" "$U" "$PW" "$FX_DIR/m1" 2>&1) || fail "imaplib: $out"
[ "$out" = ok ] || fail "imaplib: $out"

# ---- curl over the unix socket (curl --unix-socket) and TCP
if command -v curl >/dev/null; then
    curl -s --unix-socket "$ISOCK" -u "$U:$PW" 'imap://h1/Archive;UID=2' >"$FX_DIR/curl.out" \
        || fail "curl fetch failed: $(cat "$FX_DIR/curl.out")"
    printf 'Subject: appended\r\n\r\nbody two\r\n' | cmp -s - "$FX_DIR/curl.out" || {
        # the UID of the appended message depends on delivery order: look it up
        fail "curl did not get the appended message: $(od -c "$FX_DIR/curl.out" | head)"
    }
    curl -s -u "$U:$PW" "imap://127.0.0.1:$IPORT/" >"$FX_DIR/curl.list" || fail "curl list"
    grep -q 'Archive' "$FX_DIR/curl.list" || fail "curl list: $(cat "$FX_DIR/curl.list")"
    curl -s -u "$U:wrong" "imap://127.0.0.1:$IPORT/" >/dev/null 2>&1 && fail "curl with a bad password succeeded"
fi

# ---- IDLE sees an LMTP delivery within a second
cat >"$FX_DIR/idle.py" <<'EOF'
import socket, sys, time, subprocess
port, user, pw, deliver = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
s = socket.create_connection(("127.0.0.1", port), timeout=30)
f = s.makefile("rb")
def cmd(line):
    s.sendall(line.encode() + b"\r\n")
    tag = line.split()[0].encode()
    while True:
        l = f.readline()
        if not l: raise SystemExit("FAIL: closed during " + line)
        if l.startswith(tag + b" "):
            if not l.startswith(tag + b" OK"): raise SystemExit("FAIL: %s -> %r" % (line, l))
            return
f.readline()
cmd("a LOGIN %s %s" % (user, pw))
cmd("b SELECT INBOX")
s.sendall(b"c IDLE\r\n")
l = f.readline()
if not l.startswith(b"+"): raise SystemExit("FAIL: IDLE: %r" % l)
subprocess.run(deliver, check=True, stdout=subprocess.DEVNULL)
acked = time.monotonic()
while True:
    l = f.readline()
    if not l: raise SystemExit("FAIL: closed in IDLE")
    if l.endswith(b"EXISTS\r\n"): break
took = time.monotonic() - acked
s.sendall(b"DONE\r\n")
l = f.readline()
if not l.startswith(b"c OK"): raise SystemExit("FAIL: DONE: %r" % l)
print("%.3f" % took)
EOF
took=$(python3 "$FX_DIR/idle.py" "$IPORT" "$U" "$PW" $CLIENT deliver --socket "$SOCK" --from a@x --rcpt "$U@h1" \
    --file "$FX_DIR/m1") || fail "IDLE: $took"
python3 -c "import sys; sys.exit(0 if float('$took') < 1.0 else 1)" \
    || fail "IDLE reported the delivery after ${took}s (limit 1 s)"

# ---- torture: malformed, oversized, pipelined
cat >"$FX_DIR/torture.py" <<'EOF'
import socket, sys, time
path, user, pw = sys.argv[1], sys.argv[2], sys.argv[3]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(30)
    return s, s.makefile("rb")
def until(f, prefix):
    out = []
    while True:
        l = f.readline()
        if not l: return out, None
        out.append(l)
        if l.startswith(prefix): return out, l
s, f = conn(); f.readline()
# over-long line, then the session goes on
s.sendall(b"a " + b"X" * 20000 + b"\r\nb NOOP\r\n")
out, last = until(f, b"b ")
assert any(b"* BAD Command line too long" in l for l in out), out
assert last.startswith(b"b OK"), last
# oversized literal refused before it is sent
s.sendall(b"c LOGIN {100000}\r\n")
out, last = until(f, b"c ")
assert last.startswith(b"c BAD"), last
# pipelined: login, select, many fetches and a logout in one write
s.sendall(("d LOGIN %s %s\r\ne SELECT INBOX\r\n" % (user, pw)).encode() +
          b"".join(b"f%d FETCH 1 (UID FLAGS)\r\n" % i for i in range(200)) + b"g LOGOUT\r\n")
out, last = until(f, b"g ")
tags = [l.split()[0] for l in out if not l.startswith(b"*")]
assert tags == [b"d", b"e"] + [b"f%d" % i for i in range(200)] + [b"g"], tags[:5]
assert last.startswith(b"g OK"), last
# garbage, NULs and 8-bit bytes, an oversized APPEND literal
s, f = conn(); f.readline()
s.sendall(b"\x00\xff\xfe garbage\r\n)(\r\n* * *\r\nh LOGIN %s %s\r\n" % (user.encode(), pw.encode()))
out, last = until(f, b"h ")
assert last.startswith(b"h OK"), out
s.sendall(b"i APPEND INBOX {999999999}\r\n")
out, last = until(f, b"i ")
assert last.startswith(b"i NO [TOOBIG]"), last
# too many errors: BYE
s.sendall(b"x FROB\r\n" * 30)
out, last = until(f, b"* BYE")
assert last is not None, out
print("ok")
EOF
out=$(python3 "$FX_DIR/torture.py" "$ISOCK" "$U" "$PW" 2>&1) || fail "torture: $out"
out=$(python3 "$FX_DIR/imap1.py" "$IPORT" "$U" "$PW" "$FX_DIR/m1" 2>&1)
echo "$out" | grep -q "create" || fail "server does not serve after the torture: $out" # Archive exists now

# ---- at most 10 sessions per user: the 11th LOGIN gets NO [LIMIT]
cat >"$FX_DIR/limit.py" <<'PY'
import imaplib, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
held = []
for i in range(10):
    M = imaplib.IMAP4("127.0.0.1", port); M.login(user, pw); held.append(M)
M = imaplib.IMAP4("127.0.0.1", port)
try:
    M.login(user, pw); print("FAIL: 11th session logged in"); sys.exit(1)
except imaplib.IMAP4.error as e:
    if "LIMIT" not in str(e): print("FAIL: 11th login: %s" % e); sys.exit(1)
held.pop().logout()
M = imaplib.IMAP4("127.0.0.1", port)
M.login(user, pw)  # a slot came back
print("ok")
PY
out=$(python3 "$FX_DIR/limit.py" "$IPORT" "$U" "$PW" 2>&1) || fail "per-user limit: $out"
[ "$out" = ok ] || fail "per-user limit: $out"

# ---- from a non-loopback address: LOGINDISABLED and NO [PRIVACYREQUIRED]
# until STARTTLS (GnuTLS, a self-signed certificate made for the test);
# after it LOGIN works and mail is read over TLS.
EXT=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
if [ -n "$EXT" ] && command -v openssl >/dev/null; then
    stop_mstored
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=h1" -keyout "$FX_DIR/key.pem" \
        -out "$FX_DIR/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a test certificate"
    printf '{"imap_tls_cert": "%s", "imap_tls_key": "%s"}\n' "$FX_DIR/cert.pem" "$FX_DIR/key.pem" \
        >"$FX_DIR/tls.conf"
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --imap "unix:$ISOCK" \
        --imap "$EXT:$IPORT" --server-name h1 --no-writer --config "$FX_DIR/tls.conf"
    fixture_wait_name org.lvss.MailStore1
    cat >"$FX_DIR/nolo.py" <<'PY'
import imaplib, sys, time
for i in range(100):
    try:
        M = imaplib.IMAP4(sys.argv[1], int(sys.argv[2])); break
    except OSError:
        time.sleep(0.1)
if "LOGINDISABLED" not in M.capabilities: print("FAIL: no LOGINDISABLED: %r" % (M.capabilities,)); sys.exit(1)
if "STARTTLS" not in M.capabilities: print("FAIL: no STARTTLS: %r" % (M.capabilities,)); sys.exit(1)
typ, data = M._simple_command("LOGIN", M._quote(sys.argv[3]), M._quote(sys.argv[4]))
if typ != "NO" or b"PRIVACYREQUIRED" not in data[0]: print("FAIL: LOGIN: %s %r" % (typ, data)); sys.exit(1)
import ssl
ctx = ssl.create_default_context(cafile=sys.argv[5])
ctx.check_hostname = False
M.starttls(ssl_context=ctx)
if "LOGINDISABLED" in M.capabilities: print("FAIL: LOGINDISABLED after STARTTLS"); sys.exit(1)
M.login(sys.argv[3], sys.argv[4])
typ, data = M.select("INBOX")
if typ != "OK": print("FAIL: select over TLS"); sys.exit(1)
typ, data = M.fetch("1", "(BODY.PEEK[])")
if typ != "OK" or not isinstance(data[0], tuple): print("FAIL: fetch over TLS %r" % data); sys.exit(1)
M.logout()
print("ok")
PY
    out=$(python3 "$FX_DIR/nolo.py" "$EXT" "$IPORT" "$U" "$PW" "$FX_DIR/cert.pem" 2>&1) \
        || fail "non-loopback LOGIN: $out"
    [ "$out" = ok ] || fail "non-loopback LOGIN: $out"
    if command -v curl >/dev/null; then
        curl -s --ssl-reqd --cacert "$FX_DIR/cert.pem" -k -u "$U:$PW" "imap://$EXT:$IPORT/" >"$FX_DIR/tls.list" \
            || fail "curl over STARTTLS failed"
        grep -q INBOX "$FX_DIR/tls.list" || fail "curl over STARTTLS: $(cat "$FX_DIR/tls.list")"
        curl -s -u "$U:$PW" "imap://$EXT:$IPORT/" >/dev/null 2>&1 && fail "plaintext LOGIN over non-loopback TCP succeeded"
    fi
    stop_mstored
    start_mstored
fi

# ---- implicit TLS (--imaps, port 993 style): the handshake before the
# greeting, no STARTTLS offered, LOGIN inside TLS; imaplib IMAP4_SSL and
# curl imaps://; a plaintext client gets no greeting; --imaps without a
# certificate is refused (exit 2).
if command -v openssl >/dev/null; then
    SPORT=$((IPORT + 1))
    "$MSTORED" --data-dir "$DATA" --imaps "127.0.0.1:$SPORT" --server-name h1 --no-writer >"$FX_DIR/nocert.out" 2>&1
    rc=$?
    [ "$rc" = 2 ] || fail "--imaps without a certificate exited $rc, want 2: $(cat "$FX_DIR/nocert.out")"
    grep -q "needs imap_tls_cert and imap_tls_key" "$FX_DIR/nocert.out" || fail "--imaps refusal: $(cat "$FX_DIR/nocert.out")"
    [ -e "$FX_DIR/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=h1" \
        -keyout "$FX_DIR/key.pem" -out "$FX_DIR/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a test certificate"
    printf '{"imap_tls_cert": "%s", "imap_tls_key": "%s"}\n' "$FX_DIR/cert.pem" "$FX_DIR/key.pem" >"$FX_DIR/tls.conf"
    stop_mstored
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --imap "unix:$ISOCK" \
        --imap "127.0.0.1:$IPORT" --imaps "127.0.0.1:$SPORT" --server-name h1 --no-writer --config "$FX_DIR/tls.conf"
    fixture_wait_name org.lvss.MailStore1
    cat >"$FX_DIR/imaps.py" <<'PY'
import imaplib, socket, ssl, sys, time
host, port, user, pw, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
for i in range(100):
    try:
        M = imaplib.IMAP4_SSL(host, port, ssl_context=ctx); break
    except OSError:
        time.sleep(0.1)
else:
    print("FAIL: no IMAPS listener"); sys.exit(1)
if not isinstance(M.sock, ssl.SSLSocket) or M.sock.version() is None: print("FAIL: not TLS"); sys.exit(1)
if "STARTTLS" in M.capabilities or "LOGINDISABLED" in M.capabilities:
    print("FAIL: capabilities over implicit TLS: %r" % (M.capabilities,)); sys.exit(1)
M.login(user, pw)
typ, data = M.select("INBOX")
if typ != "OK": print("FAIL: select over IMAPS"); sys.exit(1)
typ, data = M.fetch("1", "(BODY.PEEK[])")
if typ != "OK" or not isinstance(data[0], tuple): print("FAIL: fetch over IMAPS %r" % data); sys.exit(1)
M.logout()
# A plaintext client on the IMAPS port: no "* OK" greeting in the clear.
s = socket.create_connection((host, port), timeout=10)
s.sendall(b"a CAPABILITY\r\n")
try:
    got = s.recv(100)
except (socket.timeout, ConnectionResetError):
    got = b""
if got.startswith(b"* OK") or b"CAPABILITY" in got: print("FAIL: plaintext answered: %r" % got); sys.exit(1)
print("ok")
PY
    out=$(python3 "$FX_DIR/imaps.py" 127.0.0.1 "$SPORT" "$U" "$PW" "$FX_DIR/cert.pem" 2>&1) || fail "IMAPS: $out"
    [ "$out" = ok ] || fail "IMAPS: $out"
    if command -v curl >/dev/null; then
        curl -s --cacert "$FX_DIR/cert.pem" -k -u "$U:$PW" "imaps://127.0.0.1:$SPORT/" >"$FX_DIR/imaps.list" \
            || fail "curl imaps:// failed"
        grep -q INBOX "$FX_DIR/imaps.list" || fail "curl imaps://: $(cat "$FX_DIR/imaps.list")"
    fi
    grep -q "IMAP TLS handshake (--imaps) failed" "$FX_DIR/mstored.log" \
        || fail "the plaintext client's failed handshake was not logged: $(tail -3 "$FX_DIR/mstored.log")"
    stop_mstored
    start_mstored
fi

# ---- mbsync both ways, when installed
if command -v mbsync >/dev/null; then
    mkdir -p "$FX_DIR/maildir"
    cat >"$FX_DIR/mbsyncrc" <<EOF
IMAPAccount t
Host 127.0.0.1
Port $IPORT
User $U
Pass $PW
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account t

MaildirStore local
Path $FX_DIR/maildir/
Inbox $FX_DIR/maildir/INBOX
SubFolders Verbatim

Channel c
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
EOF
    mbsync -c "$FX_DIR/mbsyncrc" -a >"$FX_DIR/mbsync.log" 2>&1 || fail "mbsync: $(tail -5 "$FX_DIR/mbsync.log")"
    grep -rlq "hello over LMTP" "$FX_DIR/maildir/INBOX" || fail "mbsync did not bring INBOX down"
    grep -rlq "body two" "$FX_DIR/maildir/Archive" || fail "mbsync did not bring Archive down"
    # up: a message written into the Maildir reaches the server
    printf 'Subject: from maildir\r\n\r\nup we go\r\n' >"$FX_DIR/maildir/INBOX/new/1.up:2,"
    mbsync -c "$FX_DIR/mbsyncrc" -a >>"$FX_DIR/mbsync.log" 2>&1 || fail "mbsync up: $(tail -5 "$FX_DIR/mbsync.log")"
    curl -s -u "$U:$PW" "imap://127.0.0.1:$IPORT/INBOX" -X 'SEARCH SUBJECT "from maildir"' >"$FX_DIR/s.out"
    grep -q 'SEARCH [0-9]' "$FX_DIR/s.out" || fail "mbsync did not upload: $(cat "$FX_DIR/s.out")"
fi

# ---- mutt in batch mode: read, delete
if command -v mutt >/dev/null; then
    cat >"$FX_DIR/muttrc" <<EOF
set folder="imap://$U@127.0.0.1:$IPORT/"
set imap_pass="$PW"
set spoolfile="+INBOX"
set ssl_starttls=no
set ssl_force_tls=no
set delete=yes
set header_cache=""
set message_cachedir=""
EOF
    n_before=$(curl -s -u "$U:$PW" "imap://127.0.0.1:$IPORT/INBOX" -X 'SEARCH ALL' | tr -cd ' 0-9' | wc -w)
    # mutt's index needs a terminal: run it on a pseudo-terminal (script).
    HOME=$FX_DIR TERM=vt100 timeout 60 script -qec "mutt -F $FX_DIR/muttrc -e 'push \"<delete-message><sync-mailbox><quit>\"'" \
        /dev/null </dev/null >"$FX_DIR/mutt.log" 2>&1
    n_after=$(curl -s -u "$U:$PW" "imap://127.0.0.1:$IPORT/INBOX" -X 'SEARCH ALL' | tr -cd ' 0-9' | wc -w)
    [ "$n_after" -lt "$n_before" ] || fail "mutt did not delete a message ($n_before -> $n_after)"
fi

# ---- mstore folder/msg commands, and everything survives a restart
$MSTORE folder create "$U@h1" Projects/X || fail "mstore folder create"
$MSTORE folder list "$U@h1" >"$FX_DIR/fl" || fail "mstore folder list"
grep -q '^Projects/X$' "$FX_DIR/fl" && grep -q '^Archive$' "$FX_DIR/fl" || fail "folder list: $(cat "$FX_DIR/fl")"
$MSTORE folder delete "$U@h1" INBOX 2>"$FX_DIR/err" && fail "deleting INBOX succeeded"
uid=$($MSTORE msg list "$U@h1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["uid"])')
$MSTORE msg delete "$U@h1" "$uid" || fail "mstore msg delete"
$MSTORE msg get "$U@h1" "$uid" >/dev/null 2>&1 && fail "deleted message still readable"
$MSTORE msg delete "$U@h1" "$uid" 2>/dev/null; [ $? = 1 ] || fail "deleting a missing message did not exit 1"
before=$($MSTORE msg list "$U@h1" --json)
stop_mstored
start_mstored
after=$($MSTORE msg list "$U@h1" --json)
[ "$before" = "$after" ] || fail "messages differ after a restart"
$MSTORE folder list "$U@h1" | grep -q '^Projects/X$' || fail "folder lost at restart"
$MSTORE folder delete "$U@h1" Projects/X || fail "folder delete"
$MSTORE folder list "$U@h1" | grep -q '^Projects/X$' && fail "folder still listed"
echo "PASS"
