#!/bin/bash
# Reflink commit cost after many backup cycles (ARCHITECTURE §4): a 64 MiB
# database file, N cycles of snapshot -> 2000 scattered 4 KiB writes ->
# delete, on XFS (reflink=1) with the default copy-on-write extent size hint
# and with a 1 MiB hint, and on btrfs with the btrfs provider.  Prints the
# extent count and the commit time of the first and last cycles.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
skip() { echo "lvss-extents: skipped: $*"; exit 0; }
fixture_init
fixture_need_root
cycles=${LVSS_BENCH_CYCLES:-50}
tool=$(fx_bin tests/unit/providers/providers-cycle)
[ -x "$tool" ] || skip "providers-cycle not built"
report() { # label file
    awk -v l="$1" 'NR==1{f=$0} {last=$0; if ($3>max) max=$3} END{
        split(f,a," "); split(last,b," ");
        printf "%-34s cycle 1: %6d extents %8.2f ms   cycle %d: %6d extents %8.2f ms  (max %.2f ms)\n",
               l, a[2], a[3], b[1], b[2], b[3], max}' "$2"
}
fixture_xfs x 400
mkdir "$FX_MNT/d1" "$FX_MNT/d2"
"$tool" "$FX_MNT/d1" 64 "$cycles" 2000 reflink 0 >"$FX_DIR/x0" || fail "providers-cycle failed"
report "reflink XFS, default cowextsize" "$FX_DIR/x0"
"$tool" "$FX_MNT/d2" 64 "$cycles" 2000 reflink 1024 >"$FX_DIR/x1" || fail "providers-cycle failed"
report "reflink XFS, cowextsize 1 MiB" "$FX_DIR/x1"
fixture_btrfs b 2000
btrfs -q subvolume create "$FX_MNT/sv" >/dev/null
"$tool" "$FX_MNT/sv" 64 "$cycles" 2000 btrfs 0 >"$FX_DIR/b0" || fail "providers-cycle failed"
report "btrfs subvolume snapshot" "$FX_DIR/b0"
"$tool" "$FX_MNT/sv" 64 "$cycles" 2000 reflink 0 >"$FX_DIR/b1" || fail "providers-cycle failed"
report "reflink btrfs" "$FX_DIR/b1"
