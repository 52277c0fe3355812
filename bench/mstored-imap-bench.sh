#!/bin/bash
# mstored IMAP benchmark beside Dovecot's IMAP (mdbox), same run, same
# filesystem, the same 10,000 messages delivered to both over LMTP, the same
# client (Python imaplib over a unix socket for mstored, loopback TCP for
# Dovecot): seconds for SELECT INBOX, FETCH 1:* BODY.PEEK[HEADER] (all
# headers) and FETCH 1:* BODY.PEEK[] (whole bodies); best of 3.
#   MSTORED_IMAP_BENCH_MESSAGES (default 10000), message size 4 KiB.
# Needs root (a system user for the PAM login of mstored); Dovecot is
# measured when dovecot-imapd is installed (its system service is not used).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
N=${MSTORED_IMAP_BENCH_MESSAGES:-10000}
SIZE=4096
if [ ! -x "$MSTORED" ] || [ ! -x "$MSTORE" ]; then
    echo "mstored-imap-bench: mstored not built, nothing measured"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null; then
    echo "mstored-imap-bench: needs root (a system user for the PAM login), nothing measured"
    exit 0
fi
fixture_init
fixture_bus
BASE=$FX_DIR
where="$FX_DIR"
if losetup -f >/dev/null 2>&1 && grep -qw xfs /proc/filesystems; then
    fixture_xfs imapbench 2048
    BASE=$FX_MNT
    where="XFS on a loop device ($FX_MNT)"
fi
U=lvssbench$$
PW="bench-$$-pw"
PAMFILE=
cleanup() {
    local rc=$?
    [ -n "${DOV:-}" ] && dovecot -c "$DOV/dovecot.conf" stop 2>/dev/null
    userdel "$U" >/dev/null 2>&1
    [ -n "$PAMFILE" ] && rm -f "$PAMFILE"
    (exit $rc)
    fixture_cleanup
}
trap cleanup EXIT
useradd -M -s /usr/sbin/nologin "$U" && echo "$U:$PW" | chpasswd || fail "cannot create the bench user"
if [ ! -e /etc/pam.d/mstored ]; then
    PAMFILE=/etc/pam.d/mstored
    cp "$LVSS_SOURCE_ROOT/packaging/pam.d/mstored" "$PAMFILE"
fi
echo "filesystem: $where; $N messages of $SIZE bytes; best of 3"

SOCK=$FX_DIR/lmtp.sock
ISOCK=$FX_DIR/imap.sock
fixture_spawn mstored "$MSTORED" --data-dir "$BASE/mstored" --lmtp "unix:$SOCK" --imap "unix:$ISOCK" \
    --server-name bench --no-writer --quiet
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 100); do [ -S "$SOCK" ] && [ -S "$ISOCK" ] && break; sleep 0.1; done
$MSTORE sg create SG1 >/dev/null && $MSTORE db create SG1/DB1 >/dev/null &&
    $MSTORE mailbox create "$U@bench" --db SG1/DB1 || fail "mstore setup failed"
per=$((N / 8))
python3 "$CLIENT" load --socket "$SOCK" --clients 8 --messages "$per" --size $SIZE --rcpt "$U@bench" >/dev/null \
    || fail "delivery to mstored failed"

cat >"$FX_DIR/measure.py" <<'PY'
import imaplib, socket, sys, time
kind, where, user, pw = sys.argv[1:5]
class UnixIMAP(imaplib.IMAP4):
    def open(self, host="", port=0, timeout=None):
        self.host = host
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(where)
        self.file = self.sock.makefile("rb")
def conn():
    if kind == "unix":
        return UnixIMAP()
    host, port = where.rsplit(":", 1)
    return imaplib.IMAP4(host, int(port))
best = {}
for rep in range(3):
    M = conn(); M.login(user, pw)
    t = time.monotonic(); typ, d = M.select("INBOX"); sel = time.monotonic() - t
    n = int(d[0])
    t = time.monotonic(); typ, d = M.fetch("1:*", "(BODY.PEEK[HEADER])"); hdr = time.monotonic() - t
    nh = sum(1 for x in d if isinstance(x, tuple))
    t = time.monotonic(); typ, d = M.fetch("1:*", "(BODY.PEEK[])"); body = time.monotonic() - t
    nb = sum(len(x[1]) for x in d if isinstance(x, tuple))
    M.logout()
    for k, v in (("select", sel), ("headers", hdr), ("bodies", body)):
        best[k] = min(best.get(k, 1e9), v)
print("%d %d %d %.3f %.3f %.3f" % (n, nh, nb, best["select"], best["headers"], best["bodies"]))
PY
m=$(python3 "$FX_DIR/measure.py" unix "$ISOCK" "$U" "$PW") || fail "measuring mstored failed: $m"
read -r mn mnh mnb msel mhdr mbody <<<"$m"
[ "$mn" = "$N" ] && [ "$mnh" = "$N" ] || fail "mstored: SELECT saw $mn, FETCH $mnh messages, want $N"

dsel="n/a"; dhdr="n/a"; dbody="n/a"; dnote="dovecot-imapd not installed"
if [ -x /usr/lib/dovecot/imap ] && { [ -x /usr/lib/dovecot/lmtp ] || [ -x /usr/libexec/dovecot/lmtp ]; }; then
    DOV=$BASE/dovecot; mkdir -p "$DOV/run" "$DOV/mail"; chmod 755 "$DOV" "$DOV/run"
    chown nobody:nogroup "$DOV/mail"
    IPORT=$((20000 + $$ % 20000))
    cat >"$DOV/dovecot.conf" <<EOC
protocols = lmtp imap
base_dir = $DOV/run
state_dir = $DOV/state
log_path = $FX_DIR/dovecot.log
ssl = no
disable_plaintext_auth = no
mail_location = mdbox:$DOV/mail/%u
mail_fsync = always
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
passdb {
  driver = static
  args = password=$PW
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DOV/mail/%u
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
  process_limit = 32
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IPORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOC
    if dovecot -c "$DOV/dovecot.conf" 2>"$DOV/start.err"; then
        for i in $(seq 50); do [ -S "$DOV/run/lmtp" ] && break; sleep 0.1; done
        python3 "$CLIENT" load --socket "$DOV/run/lmtp" --clients 8 --messages "$per" --size $SIZE \
            --rcpt "$U@bench" >/dev/null || fail "delivery to Dovecot failed"
        d=$(python3 "$FX_DIR/measure.py" tcp "127.0.0.1:$IPORT" "$U@bench" "$PW") || fail "measuring Dovecot: $d"
        read -r dn dnh dnb dsel dhdr dbody <<<"$d"
        [ "$dn" = "$N" ] || fail "Dovecot: SELECT saw $dn messages, want $N"
        # Dovecot's LMTP adds Return-Path, Delivered-To and Received headers;
        # mstored stores the message byte for byte as delivered.
        [ "$dnb" = "$mnb" ] || echo "note: bytes fetched: mstored $mnb, Dovecot $dnb (Dovecot adds trace headers)"
        dnote="Dovecot imap, mdbox"
    else
        dnote="dovecot failed to start: $(head -c 200 "$DOV/start.err")"
    fi
fi
printf '%-36s %10s %14s %14s\n' "seconds ($N messages, best of 3)" "SELECT" "FETCH headers" "FETCH bodies"
printf '%-36s %10s %14s %14s\n' "mstored (IMAP, unix socket)" "$msel" "$mhdr" "$mbody"
printf '%-36s %10s %14s %14s\n' "$dnote" "$dsel" "$dhdr" "$dbody"
