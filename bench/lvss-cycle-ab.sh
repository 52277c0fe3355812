#!/bin/bash
# Empty-cycle A/B of two lvss builds (issue 14), interleaved per cycle: two private buses, each with its own lvssd + example
# writer (own empty dir on the same XFS); each iteration runs A, hand script, B, hand script (order
# alternating).  Usage: LVSS_SOURCE_ROOT=. [N=100] bench/lvss-cycle-ab.sh OLD_BUILD NEW_BUILD
# (build roots holding daemon/lvssd/lvssd, tools/lvssadm/lvssadm, tools/lvss-example-writer and
# lib/lvss/liblvss.so*).  Prints both medians, the hand script's, the ratios and uptime.  Not in
# make bench: it needs a second build (without two arguments it prints why and exits 0).
if [ $# -ne 2 ]; then
    echo "lvss-cycle-ab: skipped: needs OLD_BUILD NEW_BUILD (two builds to compare; make bench runs it without)"
    exit 0
fi
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
A=$1; B=$2; N=${N:-100}
ms() { echo $(( $(date +%s%N) / 1000 )); }
fixture_init; fixture_need_root
D0=$FX_DIR
for t in a b; do
    FX_DIR=$D0/bus-$t; mkdir -p "$FX_DIR"; fixture_bus; printf -v BUS_$t '%s' "$LVSS_BUS"
done
FX_DIR=$D0
fixture_xfs bench 600; mnt=$FX_MNT
for t in a b; do
    R=$A; [ $t = b ] && R=$B
    bus=BUS_$t; export LVSS_BUS=${!bus}
    mkdir -p "$FX_DIR/state-$t" "$mnt/empty-$t"
    fixture_spawn d$t "$R/daemon/lvssd/lvssd" --state-dir "$FX_DIR/state-$t"
    fixture_wait_name org.lvss.Coordinator1 20
    fixture_spawn w$t "$R/tools/lvss-example-writer/lvss-example-writer" --dir "$mnt/empty-$t" --rate 0 --events-log "$FX_DIR/w$t.events"
    for ((i=0; i<200; i++)); do grep -qs '^ready' "$FX_DIR/w$t.log" && break; sleep 0.05; done
    "$R/tools/lvssadm/lvssadm" create --exec true "$mnt/empty-$t" >/dev/null || fail warmup
done
: >"$FX_DIR/A"; : >"$FX_DIR/B"; : >"$FX_DIR/H"
one() { # t
    local t=$1 R=$A; [ $t = b ] && R=$B
    local bus=BUS_$t
    t0=$(ms); LVSS_BUS=${!bus} "$R/tools/lvssadm/lvssadm" create --exec true "$mnt/empty-$t" >/dev/null || fail create; t1=$(ms)
    echo $(( t1 - t0 )) >>"$FX_DIR/${t^^}"
    t0=$(ms); sync -f "$mnt/empty-a"; cp -a --reflink=always "$mnt/empty-a" "$mnt/ref-snap"; rm -rf "$mnt/ref-snap"; t1=$(ms)
    echo $(( t1 - t0 )) >>"$FX_DIR/H"
}
for ((i=0; i<N; i++)); do
    if ((i % 2)); then one b; one a; else one a; one b; fi
done
python3 - "$FX_DIR" <<'PY'
import sys,statistics as s
d=sys.argv[1]
def med(f): v=sorted(int(x)/1000 for x in open(d+"/"+f) if x.strip()); return s.median(v),len(v)
a,na=med("A"); b,nb=med("B"); h,nh=med("H")
print("old %.2f ms (n=%d)  new %.2f ms (n=%d)  hand %.2f ms (n=%d)  new/old %.3f  old/hand %.3f  new/hand %.3f"%(a,na,b,nb,h,nh,b/a,a/h,b/h))
PY
uptime
