#!/bin/bash
# Reflink commit cost after many backup cycles (docs/architecture.md §4): a 64 MiB
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
report() { # label file: first cycle, last cycle, median commit of the last 10 cycles, max
    python3 - "$1" "$2" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
last10 = sorted(float(r[2]) for r in rows[-10:])
med = (last10[(len(last10) - 1) // 2] + last10[len(last10) // 2]) / 2
print("%-34s cycle 1: %6s extents %7.2f ms   cycle %s: %6s extents, last 10 cycles median %7.2f ms  (max %.2f ms)"
      % (sys.argv[1], rows[0][1], float(rows[0][2]), rows[-1][0], rows[-1][1], med, max(float(r[2]) for r in rows)))
PY
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
