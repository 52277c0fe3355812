#!/bin/bash
# UIDVALIDITY and UIDs across restores, seen by a real IMAP client (Python
# imaplib, PAM login) that caches them as clients do:
#  - a restore that rolls forward to the end of the live log keeps
#    UIDVALIDITY and every UID with the same message;
#  - a restore without the later logs (the live logs lost) brings back a
#    state whose UIDNEXT is below UIDs already handed out: the first mount
#    gives every mailbox of the restored database a new, higher
#    UIDVALIDITY, so a new delivery that gets an old UID again can never be
#    mistaken for the cached message; the new UIDVALIDITY is kept across a
#    restart (bumped once, not at every mount);
#  - a session that stays logged in across a restore that changed
#    UIDVALIDITY is told so (* BYE) instead of mixing the two UID spaces.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
. "$LVSS_SOURCE_ROOT/tests/integration/imap-common.bash" || exit 1
[ "$(id -u)" = 0 ] || skip "needs root (creates a system user for the PAM login)"
command -v useradd >/dev/null || skip "no useradd"
python3 -c 'import imaplib' || skip "no python3 imaplib"
ISOCK=/tmp/lvss-imap-restore.$$.sock
cleanup_user() {
    local rc=$?
    imap_user_cleanup
    rm -f "$ISOCK"
    (exit $rc)
    fixture_cleanup
}
BK_MSTORED_ARGS="--imap unix:$ISOCK"
bk_setup
trap cleanup_user EXIT
imap_user_init lvssrst
$MSTORE mailbox create "$U@h1" --db SG1/DB1 || fail "mailbox create"

# msg N SUBJECT: deliver one message with that subject.
msg() {
    printf 'From: a@x\r\nTo: %s@h1\r\nSubject: %s\r\n\r\nbody of %s\r\n' "$U" "$1" "$1" >"$FX_DIR/m"
    python3 "$CLIENT" deliver --socket "$SOCK" --from a@x --rcpt "$U@h1" --file "$FX_DIR/m" >/dev/null \
        || fail "LMTP delivery of '$1'"
}

# The client's view: UIDVALIDITY, then "UID subject" per message of INBOX.
cat >"$FX_DIR/view.py" <<'PY'
import imaplib, socket, sys, re
class IMAP4_unix(imaplib.IMAP4):
    def __init__(self, path):
        self.path = path
        imaplib.IMAP4.__init__(self, "localhost")
    def open(self, host, port, timeout=None):
        self.host, self.port = host, port
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(self.path)
        self.file = self.sock.makefile("rb")
M = IMAP4_unix(sys.argv[1])
M.login(sys.argv[2], sys.argv[3])
typ, data = M.select("INBOX", readonly=True)
assert typ == "OK", data
uv = M.response("UIDVALIDITY")[1][0].decode()
print(uv)
typ, data = M.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
for x in data:
    if isinstance(x, tuple):
        uid = re.search(rb"UID (\d+)", x[0]).group(1).decode()
        subj = x[1].decode().strip().split(":", 1)[1].strip()
        print(uid, subj)
M.logout()
PY
view() { python3 "$FX_DIR/view.py" "$ISOCK" "$U" "$PW" || fail "imaplib: $(tail -3 "$FX_DIR/mstored.log")"; }

msg one; msg two; msg three
FULL=$($LB create --repo "$REPO" --json | json_get id) || fail "full backup"
msg four; msg five
view >"$FX_DIR/v0"
V0=$(head -1 "$FX_DIR/v0")
[ "$(tail -n +2 "$FX_DIR/v0" | awk '{print $2}' | tr '\n' ' ')" = "one two three four five " ] \
    || fail "before the restores: $(cat "$FX_DIR/v0")"

# 1. Roll-forward restore (the live logs are there): same UIDVALIDITY, same UIDs.
offline_flagged
$LB restore --repo "$REPO" "$FULL" --component 'Mail Store/h1/SG1/DB1' >"$FX_DIR/r1.out" 2>&1 \
    || fail "roll-forward restore: $(cat "$FX_DIR/r1.out"); $(tail -5 "$FX_DIR/mstored.log")"
mount_all
view >"$FX_DIR/v1"
cmp -s "$FX_DIR/v0" "$FX_DIR/v1" || fail "a roll-forward restore changed the client's view: $(diff "$FX_DIR/v0" "$FX_DIR/v1")"
grep -q "UIDVALIDITY" "$FX_DIR/mstored.log" && fail "a roll-forward restore mentions UIDVALIDITY: $(grep UIDVALIDITY "$FX_DIR/mstored.log")"

# A session stays logged in and selected across the next restore.
cat >"$FX_DIR/held.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1]); f = s.makefile("rb")
def cmd(tag, line):
    s.sendall(("%s %s\r\n" % (tag, line)).encode())
    out = []
    while True:
        l = f.readline()
        if not l: return out, None
        out.append(l)
        if l.startswith(tag.encode() + b" "): return out, l
f.readline()
out, last = cmd("a", "LOGIN %s %s" % (sys.argv[2], sys.argv[3])); assert last.startswith(b"a OK"), out
out, last = cmd("b", "SELECT INBOX"); assert last.startswith(b"b OK"), out
open(sys.argv[4], "w").write("selected\n")
while not __import__("os").path.exists(sys.argv[5]): time.sleep(0.1)
out, last = cmd("c", "NOOP")
sys.stdout.write(b"".join(out).decode())
PY
python3 "$FX_DIR/held.py" "$ISOCK" "$U" "$PW" "$FX_DIR/held.ready" "$FX_DIR/held.go" >"$FX_DIR/held.out" 2>&1 &
HELD=$!
for i in $(seq 300); do [ -e "$FX_DIR/held.ready" ] && break; sleep 0.1; done
[ -e "$FX_DIR/held.ready" ] || fail "held session did not select: $(cat "$FX_DIR/held.out")"

# 2. The live logs are lost: the restore can replay only the backed-up
# logs, so the restored UIDNEXT is 4 while UIDs 4 and 5 were handed out.
offline_flagged
rm -f "$SG"/E00*.log "$SG"/E00.chk
$LB restore --repo "$REPO" "$FULL" --component 'Mail Store/h1/SG1' >"$FX_DIR/r2.out" 2>&1 \
    || fail "restore without the live logs: $(cat "$FX_DIR/r2.out"); $(tail -5 "$FX_DIR/mstored.log")"
mount_all
grep -q "'SG1/DB1' was restored without the later logs: new UIDVALIDITY for 2 mailbox" "$FX_DIR/mstored.log" || fail "no UIDVALIDITY change logged: $(tail -5 "$FX_DIR/mstored.log")"
msg six
view >"$FX_DIR/v2"
V2=$(head -1 "$FX_DIR/v2")
[ "$V2" != "$V0" ] || fail "UIDVALIDITY $V0 kept after a restore without the later logs: $(cat "$FX_DIR/v2")"
[ "$V2" -gt "$V0" ] || fail "UIDVALIDITY went down: $V0 -> $V2"
# The old UID 4 ("four") now names "six": only the new UIDVALIDITY tells a
# client that its cached UID 4 is gone.
grep -qx "4 six" "$FX_DIR/v2" || fail "the new message is not UID 4 (test premise): $(cat "$FX_DIR/v2")"
[ "$(tail -n +2 "$FX_DIR/v2" | awk '{print $2}' | tr '\n' ' ')" = "one two three six " ] \
    || fail "after the restore: $(cat "$FX_DIR/v2")"

touch "$FX_DIR/held.go"
wait $HELD
grep -q "^\* BYE .*UIDVALIDITY" "$FX_DIR/held.out" || fail "the held session was not told: $(cat "$FX_DIR/held.out")"

# 3. Bumped once: a restart keeps the new UIDVALIDITY and the UIDs.
kill -TERM "$FX_PID_mstored"; wait "$FX_PID_mstored"
start_mstored
for i in $(seq 100); do [ -S "$ISOCK" ] && break; sleep 0.1; done
view >"$FX_DIR/v3"
cmp -s "$FX_DIR/v2" "$FX_DIR/v3" || fail "a restart changed the view: $(diff "$FX_DIR/v2" "$FX_DIR/v3")"
no_snapshots
echo "mstored-imap-restore ok (UIDVALIDITY $V0 -> $V2)"
