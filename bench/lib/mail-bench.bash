# shellcheck shell=bash
# Shared by the Mail Store benches (bench/backup-bench.sh, bench/mstored-bench.sh,
# bench/mstored-cycles.sh, bench/retention-bench.sh): the programs under test,
# the checks that turn a bench into a skip (make bench goes on), the set-up of
# lvssd with a real mstored whose Mail Store Writer has subscribed, on the
# fixture of tests/lib/fixture.sh, and the seeded LMTP delivery of mail.  Not a bench itself (no .sh suffix: scripts/bench.sh
# runs bench/*.sh).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"

# mail_bench_need NAME PROGRAM...: each PROGRAM built, root, a free loop
# device and XFS (reflink snapshots), or NAME is skipped (exit 0).
mail_bench_need() {
    local name=$1 b
    shift
    for b in "$@"; do
        [ -x "$b" ] || { echo "$name: skipped: $(basename "$b") not built"; exit 0; }
    done
    if [ "$(id -u)" != 0 ] || ! losetup -f >/dev/null 2>&1 || ! grep -qw xfs /proc/filesystems ||
        ! command -v mkfs.xfs >/dev/null; then
        echo "$name: skipped: needs root, a free loop device and XFS (reflink snapshots)"
        exit 0
    fi
}

# mail_bench_start NAME DATA SOCK SERVER: lvssd, then mstored (fixture name
# NAME) on DATA with LMTP on SOCK, its Mail Store Writer subscribed to lvssd.
mail_bench_start() {
    local i
    mkdir -p "$FX_DIR/state"
    fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
    fixture_wait_name org.lvss.Coordinator1 10
    fixture_spawn "$1" "$MSTORED" --data-dir "$2" --lmtp "unix:$3" --server-name "$4"
    fixture_wait_name org.lvss.MailStore1 20
    for ((i = 0; i < 100; i++)); do
        grep -q "Mail Store Writer subscribed" "$FX_DIR/$1.log" && break
        sleep 0.1
    done
    grep -q "Mail Store Writer subscribed" "$FX_DIR/$1.log" ||
        fail "the Mail Store Writer did not subscribe to lvssd: $(tail -3 "$FX_DIR/$1.log")"
    for ((i = 0; i < 50; i++)); do [ -S "$3" ] && return 0; sleep 0.1; done
    fail "mstored did not open its LMTP socket $3"
}

# mail_bench_mailboxes SG/DB ADDR...: the database (and its storage group,
# the first time) and the mailboxes ADDR homed in it.
MAIL_BENCH_SGS=
mail_bench_mailboxes() {
    local db=$1 a
    shift
    case " $MAIL_BENCH_SGS " in
    *" ${db%%/*} "*) ;;
    *) $MSTORE sg create "${db%%/*}" >/dev/null || fail "mstore sg create ${db%%/*}"
       MAIL_BENCH_SGS="$MAIL_BENCH_SGS ${db%%/*}" ;;
    esac
    $MSTORE db create "$db" >/dev/null || fail "mstore db create $db"
    for a in "$@"; do $MSTORE mailbox create "$a" --db "$db" || fail "mailbox create $a"; done
}

# mail_bench_fill SOCK BYTES SEED ADDR...: deliver BYTES of mail over LMTP on
# SOCK to the mailboxes ADDR from 4 concurrent sessions; prints "MESSAGES
# BYTES SECONDS".
# The load command of the LMTP client sends lines of 'x' (compresses ~100:1),
# which would flatter every compressing tool, so the messages are built here
# (with its Lmtp class): real-looking headers, a text body of 10..256 KiB
# (random words from a 9000-word vocabulary: compresses ~3:1 like prose)
# and, in 3 of 10 messages, a base64 attachment of 64 KiB..2 MiB of random
# bytes (an already compressed file: incompressible once decoded).  About
# two thirds of the bytes are attachments, one third text.  Seeded, so
# every run delivers the same mail.
mail_bench_fill() {
    python3 - "$CLIENT" "$@" <<'PY'
import base64, importlib.util, math, multiprocessing as mp, random, sys, time
client, sock, target, seed, rcpts = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
spec = importlib.util.spec_from_file_location("lmtpclient", client)
lmtp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lmtp)
NPROC = 4
syl = ["ka", "to", "ri", "an", "el", "mo", "su", "ve", "ni", "ar", "on", "is", "ta", "le", "po", "mi", "er", "ul", "da", "se"]
r0 = random.Random(0)
WORDS = sorted({"".join(r0.choices(syl, k=r0.randint(1, 4))) for _ in range(20000)})

def text(rng, n):
    out, t = [], 0
    while t < n:
        l = " ".join(rng.choices(WORDS, k=rng.randint(6, 14))) + "\r\n"
        out.append(l)
        t += len(l)
    return "".join(out)

def loguniform(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))

def message(rng, wid, seq, rcpt):
    b = "=_%d_%d_%d" % (seed, wid, seq)
    h = "".join("Received: from mx%d.example.org (10.%d.%d.%d) by mail.example.com id %08x\r\n"
                % (rng.randrange(50), rng.randrange(256), rng.randrange(256), rng.randrange(256), rng.getrandbits(32))
                for _ in range(3))
    h += ("From: %s <s%d@example.org>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Mon, 7 Dec 2026 10:%02d:%02d +0000\r\n"
          "Message-ID: <%d.%d.%d@example.org>\r\nMIME-Version: 1.0\r\n"
          "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
          % (" ".join(rng.choices(WORDS, k=2)), rng.randrange(1000), rcpt, " ".join(rng.choices(WORDS, k=6)),
             rng.randrange(60), rng.randrange(60), seed, wid, seq, b))
    body = "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s" % (b, text(rng, loguniform(rng, 10240, 262144)))
    if rng.random() < 0.3:
        att = base64.encodebytes(rng.randbytes(loguniform(rng, 65536, 2097152) * 3 // 4)).replace(b"\n", b"\r\n")
        return (h + body + "--%s\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" % b
                ).encode() + att + ("--%s--\r\n" % b).encode()
    return (h + body + "--%s--\r\n" % b).encode()

def worker(wid, share, q):
    rng = random.Random(seed * 1000 + wid)
    n = sent = 0
    try:
        c = lmtp.Lmtp(sock)
        c.lhlo()
        while sent < share:
            rcpt = rcpts[rng.randrange(len(rcpts))]
            m = message(rng, wid, n, rcpt)
            if sent + len(m) // 2 > share:  # the nearest to the share, over or under
                break
            res = c.transaction("s%d@example.org" % wid, [rcpt], m)
            if res[0][1] != 250:
                raise IOError("%s: %d %s" % (rcpt, res[0][1], res[0][2]))
            n += 1
            sent += len(m)
        c.close()
        q.put((n, sent, None))
    except Exception as e:
        q.put((n, sent, "session %d: %s" % (wid, e)))

t0 = time.time()
q = mp.Queue()
ps = [mp.Process(target=worker, args=(i, target // NPROC + 1, q)) for i in range(NPROC)]
[p.start() for p in ps]
res = [q.get() for _ in ps]
[p.join() for p in ps]
errs = [e for _, _, e in res if e]
if errs:
    print("LMTP delivery failed: " + "; ".join(errs), file=sys.stderr)
    sys.exit(1)
print("%d %d %.1f" % (sum(r[0] for r in res), sum(r[1] for r in res), time.time() - t0))
PY
}
