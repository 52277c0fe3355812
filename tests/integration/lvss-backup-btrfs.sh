#!/bin/bash
# Full backup on btrfs (subvolume snapshot provider) with the example writer
# under write load: no torn record; persistent set listed and deleted.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
scenario_full_backup btrfs
# The btrfs unit is the whole subvolume: a writer whose files live elsewhere
# in it takes part too (and one on another filesystem does not).
mkdir -p "$FX_MNT/vol/other"
stop_writer w1
start_writer w2 "$FX_MNT/vol/other" --rate 100 --name "Other Writer"
adm create --exec true --json "$FX_MNT/vol/data"
[ "$RC" = 0 ] || fail "create exited $RC: $(cat "$FX_DIR/err")"
[ "$(json "$FX_DIR/out.json" '[w["name"] for w in d["writers"]]')" = "['Other Writer']" ] ||
    fail "writer elsewhere in the subvolume did not take part: $(cat "$FX_DIR/out.json")"
wait_event w2 thaw
echo ok
