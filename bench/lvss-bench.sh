#!/bin/bash
# lvss benchmark (make bench): 50 runs each, median and p99, lvss beside a
# hand-written script doing the same work.
#
#  1. empty cycle: one writer with no data, `lvssadm create --exec true DIR`
#     end to end (session, Identify, PrepareForBackup, Freeze, snapshot,
#     Thaw, BackupComplete, delete)  vs  `sync -f DIR; cp -a --reflink DIR
#     SNAP; rm -rf SNAP`.
#  2. freeze window on a 1 GiB directory, reflink provider: lvssd's
#     per-writer window (Freeze sent -> Thaw answered, `create --json`) and
#     the example writer's own stopped time (its events log)  vs  the time a hook script
#     keeps an application stopped: `sync -f DIR; cp -a --reflink=always DIR
#     SNAP` (the rm happens after thaw, outside the window).
# Needs root and loop devices; prints a reason and exits 0 otherwise.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
RUNS=${LVSS_BENCH_RUNS:-50}
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
EW=$(fx_bin tools/lvss-example-writer/lvss-example-writer)
skip() { echo "lvss-bench: skipped: $*"; exit 0; }
fixture_init
fixture_need_root
for b in "$LVSSD" "$LVSSADM" "$EW"; do [ -x "$b" ] || skip "$(basename "$b") not built"; done
command -v python3 >/dev/null || skip "python3 needed"

ms() { echo $(( $(date +%s%N) / 1000 )); }   # microseconds
stats() { # file of numbers (ms) -> "median X ms, p99 Y ms"
    python3 -c 'import sys,math
v=sorted(float(x) for x in open(sys.argv[1]) if x.strip())
if not v: print("no data"); sys.exit()
med=(v[(len(v)-1)//2]+v[len(v)//2])/2
p99=v[min(len(v)-1, math.ceil(0.99*len(v))-1)]
print("median %8.2f ms   p99 %8.2f ms   (n=%d)" % (med, p99, len(v)))' "$1"
}

fixture_bus
mkdir -p "$FX_DIR/state"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
fixture_xfs bench 3000
mnt=$FX_MNT

# ---- 1. empty cycle
mkdir -p "$mnt/empty"
fixture_spawn w0 "$EW" --dir "$mnt/empty" --rate 0 --events-log "$FX_DIR/w0.events"
for ((i=0; i<100; i++)); do grep -q '^ready' "$FX_DIR/w0.log" && break; sleep 0.1; done
"$LVSSADM" create --exec true "$mnt/empty" >/dev/null 2>"$FX_DIR/err" || fail "warm-up create failed: $(cat "$FX_DIR/err")"
: >"$FX_DIR/lvss-cycle"; : >"$FX_DIR/ref-cycle"
for ((i=0; i<RUNS; i++)); do
    t0=$(ms)
    "$LVSSADM" create --exec true "$mnt/empty" >/dev/null 2>"$FX_DIR/err" || fail "create failed: $(cat "$FX_DIR/err")"
    t1=$(ms)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1000 }' >>"$FX_DIR/lvss-cycle"
    t0=$(ms)
    sync -f "$mnt/empty"; cp -a --reflink=always "$mnt/empty" "$mnt/ref-snap"; rm -rf "$mnt/ref-snap"
    t1=$(ms)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1000 }' >>"$FX_DIR/ref-cycle"
done
kill -TERM "$FX_PID_w0"; wait "$FX_PID_w0" 2>/dev/null
echo "empty cycle (one writer, no data), $RUNS runs:"
echo "  lvssadm create --exec true          $(stats "$FX_DIR/lvss-cycle")"
echo "  sync -f + cp --reflink + rm script  $(stats "$FX_DIR/ref-cycle")"

# ---- 2. freeze window, 1 GiB directory, reflink
mkdir -p "$mnt/big"
for ((f=0; f<16; f++)); do
    xfs_io -f -c "pwrite -q -b 4m 0 64m" "$mnt/big/file$f" >/dev/null || fail "cannot write test data"
done
sync -f "$mnt/big"
fixture_spawn w1 "$EW" --dir "$mnt/big" --rate 200 --events-log "$FX_DIR/w1.events"
for ((i=0; i<100; i++)); do grep -q '^ready' "$FX_DIR/w1.log" && break; sleep 0.1; done
: >"$FX_DIR/ref-window"; : >"$FX_DIR/lvssd-window"
for ((i=0; i<RUNS; i++)); do
    "$LVSSADM" create --exec true --json "$mnt/big" >"$FX_DIR/create.json" 2>"$FX_DIR/err" || fail "create failed: $(cat "$FX_DIR/err")"
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["writers"][0]["freeze_window_ms"])' "$FX_DIR/create.json" >>"$FX_DIR/lvssd-window"
    t0=$(ms)
    sync -f "$mnt/big"; cp -a --reflink=always "$mnt/big" "$mnt/ref-snap"
    t1=$(ms)
    rm -rf "$mnt/ref-snap"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1000 }' >>"$FX_DIR/ref-window"
done
kill -TERM "$FX_PID_w1"; wait "$FX_PID_w1" 2>/dev/null
sed -n 's/^thaw .*window_ms=\([0-9.]*\).*/\1/p' "$FX_DIR/w1.events" >"$FX_DIR/lvss-window"
echo "freeze window, 1 GiB in 17 files, reflink provider, $RUNS runs:"
echo "  lvss, lvssd: Freeze sent->Thaw done $(stats "$FX_DIR/lvssd-window")"
echo "  lvss, writer: stopped->resumed      $(stats "$FX_DIR/lvss-window")"
echo "  sync -f + cp --reflink script       $(stats "$FX_DIR/ref-window")"
