#!/bin/bash
# Freeze-window series (make bench): LVSS_BENCH_FREEZE_CYCLES (default 1000)
# back-to-back full snapshot cycles (`lvssadm create --type full --exec true`)
# of one Mail Store storage group of LVSS_BENCH_FREEZE_MIB (default 1024) MiB
# on XFS (reflink provider) while 8 LMTP sessions keep delivering mail.
# Prints the Mail Store Writer's freeze window (lvssd: Freeze sent -> Thaw
# answered, the snapshot included) as the median of the first 20 and of the
# last 20 cycles, their ratio and the p99, beside the time a hand script
# keeps the same directory stopped (`sync -f DIR; cp -a --reflink=always
# DIR SNAP`) measured in the same run on the same fragmented files after
# the series.  Goals (issue 14): p99 <= 50 ms, last-20 median <= 1.5x the
# first-20 median.
set -u
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/mail-bench.bash" || exit 1
CYCLES=${LVSS_BENCH_FREEZE_CYCLES:-1000}
MIB=${LVSS_BENCH_FREEZE_MIB:-1024}
mail_bench_need mstored-cycles "$MSTORED" "$MSTORE" "$LVSSD" "$LVSSADM"
fixture_init
fixture_bus
fixture_xfs cyc $((MIB * 3 + 2048))
DATA=$FX_MNT/data SOCK=$FX_DIR/lmtp.sock
mail_bench_start mstored "$DATA" "$SOCK" bench
mail_bench_mailboxes SG1/DB1 big@bench w{0..7}@bench
python3 "$CLIENT" load --socket "$SOCK" --clients 8 --messages $((MIB / 8)) --size 1048576 --rcpt 'big@bench' >/dev/null \
    || fail "filling the storage group failed"
"$LVSSADM" create --type full --exec true "$DATA" >/dev/null 2>"$FX_DIR/c.err" || fail "first full snapshot failed: $(cat "$FX_DIR/c.err")"
echo "storage group SG1: $(du -sm "$DATA/SG1" | cut -f1) MiB on XFS; $CYCLES full snapshot cycles under 8-session LMTP delivery"
python3 "$CLIENT" load --socket "$SOCK" --clients 8 --seconds 36000 --pause 0.01 --size 10240 --rcpt 'w{}@bench' \
    --ack-log "$FX_DIR/acks" >"$FX_DIR/load.out" 2>&1 &
LOAD=$!
: >"$FX_DIR/windows"
failed=0
for ((i = 1; i <= CYCLES; i++)); do
    if ! "$LVSSADM" create --type full --exec true --json "$DATA" >"$FX_DIR/c.json" 2>"$FX_DIR/c.err"; then
        failed=$((failed + 1)); echo "cycle $i failed: $(head -c 300 "$FX_DIR/c.err")" >&2; continue
    fi
    python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
print([x["freeze_window_ms"] for x in d["writers"] if x.get("name")=="Mail Store Writer"][0])' "$FX_DIR/c.json" >>"$FX_DIR/windows" \
        || fail "cycle $i: unreadable lvssadm output: $(head -c 300 "$FX_DIR/c.json")"
done
kill "$LOAD" 2>/dev/null; wait "$LOAD" 2>/dev/null
[ -n "${LVSS_BENCH_KEEP:-}" ] && cp "$FX_DIR/windows" "$LVSS_BENCH_KEEP"
xfs_bmap "$DATA/SG1/DB1.edb" 2>/dev/null | tail -n +2 | wc -l | sed 's/^/DB1.edb extents after the series: /'
# The hand script on the same (by now fragmented) files, 20 times.
: >"$FX_DIR/ref"
for ((i = 0; i < 20; i++)); do
    t0=$(date +%s%N)
    sync -f "$DATA"; cp -a --reflink=always "$DATA" "$FX_MNT/ref-snap"
    t1=$(date +%s%N)
    rm -rf "$FX_MNT/ref-snap"
    echo $(((t1 - t0) / 1000)) | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$FX_DIR/ref"
done
python3 - "$FX_DIR/windows" "$FX_DIR/ref" "$failed" "$(wc -l <"$FX_DIR/acks")" <<'PY'
import math, sys
v = [float(x) for x in open(sys.argv[1]).read().split()]
ref = sorted(float(x) for x in open(sys.argv[2]).read().split())
def med(a):
    a = sorted(a)
    return (a[(len(a) - 1) // 2] + a[len(a) // 2]) / 2 if a else float("nan")
if len(v) < 40:
    print("freeze window: too few cycles (%d)" % len(v)); sys.exit()
s = sorted(v)
p99 = s[min(len(s) - 1, math.ceil(0.99 * len(s)) - 1)]
f, l = med(v[:20]), med(v[-20:])
print("Mail Store Writer freeze window over %d cycles (%s failed, %s messages delivered meanwhile):" % (len(v), sys.argv[3], sys.argv[4] or "?"))
print("  first 20 median %7.2f ms   last 20 median %7.2f ms   ratio %.2f (goal <= 1.5)" % (f, l, l / f))
print("  p99 %7.2f ms (goal <= 50)   max %7.2f ms" % (p99, s[-1]))
step = len(v) / 10
print("  median per tenth of the series: " + " ".join("%.1f" % med(v[int(k * step):int((k + 1) * step)]) for k in range(10)))
print("  hand script sync -f + cp -a --reflink, after the series: median %7.2f ms (lvss last-20 / script %.2f)" % (med(ref), l / med(ref)))
PY
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
