#!/bin/bash
# mstored benchmark: LMTP deliveries per second of 10 KiB messages, 1 client
# into one mailbox and 16 clients into 16 mailboxes, beside SQLite doing the
# same inserts durably (WAL, synchronous=FULL, one transaction per message)
# and, when installed, Dovecot's LMTP with mdbox and mail_fsync=always —
# all on the same filesystem in the same run (XFS on a loop device when
# root, else $TMPDIR).
#   MSTORED_BENCH_SECONDS (default 10) per measurement.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/mail-bench.bash" || exit 1
SECS=${MSTORED_BENCH_SECONDS:-10}
SIZE=10240
if [ ! -x "$MSTORED" ] || [ ! -x "$MSTORE" ]; then
    echo "mstored-bench: mstored not built, nothing measured"
    exit 0
fi
fixture_init
fixture_bus
where="$FX_DIR (tmpfs or local disk)"
BASE=$FX_DIR
if [ "$(id -u)" = 0 ] && losetup -f >/dev/null 2>&1 && grep -qw xfs /proc/filesystems; then
    fixture_xfs bench $(( ${MSTORED_BENCH_GROUP_MIB:-1024} * 4 + 2048 ))
    BASE=$FX_MNT
    where="XFS on a loop device ($FX_MNT)"
fi
echo "filesystem: $where; $SECS s per run; ${SIZE}-byte messages"

SOCK=$FX_DIR/lmtp.sock
fixture_spawn mstored "$MSTORED" --data-dir "$BASE/mstored" --lmtp "unix:$SOCK" --server-name bench --no-writer --quiet
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
mail_bench_mailboxes SG1/DB1 user{0..15}@bench one@bench

rate() { sed -n 's/.*rate \([0-9.]*\).*/\1/p'; }
m1=$(python3 "$CLIENT" load --socket "$SOCK" --clients 1 --seconds "$SECS" --size $SIZE --rcpt 'one@bench' | rate)
m16=$(python3 "$CLIENT" load --socket "$SOCK" --clients 16 --seconds "$SECS" --size $SIZE --rcpt 'user{}@bench' | rate)

sqlite_rate() { # clients
    python3 - "$BASE/sqlite.db" "$1" "$SECS" "$SIZE" <<'PY'
import sqlite3, sys, threading, time, os
fn, n, secs, size = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
c = sqlite3.connect(fn)
c.execute("PRAGMA journal_mode=WAL")
c.execute("CREATE TABLE IF NOT EXISTS msg (mailbox TEXT, uid INTEGER, subject TEXT, body BLOB, PRIMARY KEY (mailbox, uid))")
c.commit(); c.close()
counts = [0] * n
deadline = time.time() + secs
def worker(i):
    db = sqlite3.connect(fn, timeout=60, isolation_level=None)
    db.execute("PRAGMA synchronous=FULL")
    body = os.urandom(size)
    uid = 0
    while time.time() < deadline:
        uid += 1
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO msg VALUES (?,?,?,?)", ("user%d-%d" % (i, n), uid, "load", body))
        db.execute("COMMIT")
        counts[i] += 1
t0 = time.time()
ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
print("%.1f" % (sum(counts) / (time.time() - t0)))
PY
}
s1=$(sqlite_rate 1)
s16=$(sqlite_rate 16)

d1="n/a"; d16="n/a"; dnote="dovecot-lmtpd not installed"
if [ -x /usr/lib/dovecot/lmtp ] || [ -x /usr/libexec/dovecot/lmtp ]; then
    DOV=$BASE/dovecot; mkdir -p "$DOV/run" "$DOV/mail"; chmod 755 "$DOV" "$DOV/run"
    chown nobody:nogroup "$DOV/mail"
    cat >"$DOV/dovecot.conf" <<EOC
protocols = lmtp
base_dir = $DOV/run
state_dir = $DOV/state
log_path = $FX_DIR/dovecot.log
ssl = no
mail_location = mdbox:$DOV/mail/%u
mail_fsync = always
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
passdb {
  driver = static
  args = nopassword=y
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
EOC
    if dovecot -c "$DOV/dovecot.conf" 2>"$DOV/start.err"; then
        for i in $(seq 50); do [ -S "$DOV/run/lmtp" ] && break; sleep 0.1; done
        d1=$(python3 "$CLIENT" load --socket "$DOV/run/lmtp" --clients 1 --seconds "$SECS" --size $SIZE --rcpt 'one@bench' | rate)
        d16=$(python3 "$CLIENT" load --socket "$DOV/run/lmtp" --clients 16 --seconds "$SECS" --size $SIZE --rcpt 'user{}@bench' | rate)
        dnote="dovecot lmtp, mdbox, mail_fsync=always"
        dovecot -c "$DOV/dovecot.conf" stop 2>/dev/null
    else
        dnote="dovecot failed to start: $(head -c 200 "$DOV/start.err")"
    fi
fi

# Freeze window of the Mail Store Writer during full snapshots of a 1 GiB
# storage group under LMTP load (needs root, lvssd and lvssadm).
GIB=${MSTORED_BENCH_GROUP_MIB:-1024}
CYCLES=${MSTORED_BENCH_CYCLES:-20}
fw="n/a"
if [ "$BASE" != "$FX_DIR" ] && [ -x "$LVSSD" ] && [ -x "$LVSSADM" ]; then
    kill -TERM "$FX_PID_mstored"; wait "$FX_PID_mstored" 2>/dev/null
    SOCK=$FX_DIR/lmtp-w.sock
    mail_bench_start mstoredw "$BASE/mstored-w" "$SOCK" benchw
    mail_bench_mailboxes BIG/DB1 big@bench w{0..15}@bench
    python3 "$CLIENT" load --socket "$SOCK" --clients 8 --messages $((GIB / 8)) --size 1048576 --rcpt 'big@bench' >/dev/null \
        || fail "filling the 1 GiB group failed"
    $LVSSADM create --type full --exec true "$BASE/mstored-w" >/dev/null 2>&1 || fail "first full backup failed"
    echo "storage group BIG: $(du -sm "$BASE/mstored-w/BIG" | cut -f1) MiB on disk; $CYCLES full snapshots under 16-client LMTP load"
    python3 "$CLIENT" load --socket "$SOCK" --clients 16 --seconds 3600 --pause 0.005 --size $SIZE --rcpt 'w{}@bench' \
        >"$FX_DIR/wload.out" 2>&1 &
    WLOAD=$!
    : >"$FX_DIR/windows"
    for i in $(seq "$CYCLES"); do
        $LVSSADM create --type full --exec true --json "$BASE/mstored-w" >"$FX_DIR/c.json" 2>"$FX_DIR/c.err" \
            || { echo "cycle $i failed: $(cat "$FX_DIR/c.err")"; continue; }
        python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
w=[x.get("freeze_window_ms") for x in d.get("writers",[]) if x.get("name")=="Mail Store Writer"]
print(w[0] if w and w[0] is not None else d.get("freeze_window_ms",""))' "$FX_DIR/c.json" >>"$FX_DIR/windows" \
            || echo "cycle $i: unreadable lvssadm output: $(head -c 300 "$FX_DIR/c.json")"
        [ -n "${MSTORED_BENCH_DEBUG:-}" ] && { cat "$FX_DIR/c.json" "$FX_DIR/c.err"; $LVSSADM list writers; $LVSSADM writer-metadata --json | head -c 1500; tail -5 "$FX_DIR/mstoredw.log"; }
    done
    kill "$WLOAD" 2>/dev/null; wait "$WLOAD" 2>/dev/null
    fw=$(python3 -c '
import sys
v=sorted(float(x) for x in open(sys.argv[1]).read().split() if x)
if not v: print("n/a"); sys.exit()
med=v[len(v)//2] if len(v)%2 else (v[len(v)//2-1]+v[len(v)//2])/2
p99=v[min(len(v)-1,int(round(0.99*(len(v)-1))))]
print("median %.1f ms, p99 %.1f ms, max %.1f ms (%d cycles)" % (med,p99,v[-1],len(v)))' "$FX_DIR/windows")
fi

printf '%-44s %12s %12s\n' "deliveries/s (10 KiB, durable)" "1 client" "16 clients"
printf '%-44s %12s %12s\n' "mstored (LMTP, libmstore group commit)" "$m1" "$m16"
printf '%-44s %12s %12s\n' "SQLite (WAL, synchronous=FULL, txn/msg)" "$s1" "$s16"
printf '%-44s %12s %12s\n' "Dovecot ($dnote)" "$d1" "$d16"
echo "Mail Store Writer freeze window, full snapshot of a ${GIB} MiB storage group under load: $fw"
