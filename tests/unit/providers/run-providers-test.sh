#!/bin/bash
# Runs the provider unit tests (test-providers) on scratch filesystems:
# XFS with reflink, XFS without reflink and btrfs, all on loop devices.
# Without root or loop devices the whole test is skipped (exit 77); a case
# whose filesystem is missing makes test-providers exit 77 too.  The cases
# that need no root are the test providers-basic.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_need_root
bin=$1
if grep -qw xfs /proc/filesystems && command -v mkfs.xfs >/dev/null; then
    fixture_xfs x 300
    export LVSS_TEST_XFS=$FX_MNT
    dev=$(fx_loop xn 300); FX_LOOPS+=("$dev")
    mkfs.xfs -q -f -m reflink=0 "$dev" >/dev/null || fail "mkfs.xfs -m reflink=0 failed"
    fx_mount "$dev" "$FX_DIR/mnt-xn"
    export LVSS_TEST_XFS_NOREFLINK=$FX_DIR/mnt-xn
else
    echo "note: no XFS support: XFS cases skipped" >&2
fi
if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null; then
    fixture_btrfs b 200
    export LVSS_TEST_BTRFS=$FX_MNT
else
    echo "note: no btrfs support: btrfs cases skipped" >&2
fi
"$bin" fs
