#!/bin/bash
# The fixture itself: a private bus answers, XFS has reflink, btrfs makes
# subvolume snapshots, and everything is gone after cleanup.
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
fixture_bus
busctl --address="$LVSS_BUS" list >/dev/null || fail "private bus does not answer"
fixture_need_root
fixture_xfs x 300
echo hello >"$FX_MNT/a"
cp --reflink=always "$FX_MNT/a" "$FX_MNT/b" || fail "XFS reflink copy failed"
fixture_btrfs b 150
btrfs subvolume create "$FX_MNT/sv" >/dev/null || fail "btrfs subvolume create failed"
btrfs subvolume snapshot -r "$FX_MNT/sv" "$FX_MNT/snap" >/dev/null || fail "btrfs snapshot failed"
echo "fixture ok: bus $LVSS_BUS, xfs and btrfs mounted"
