#!/bin/bash
# Full backup on btrfs (subvolume snapshot provider) with the example writer
# under write load: no torn record; persistent set listed and deleted.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
scenario_full_backup btrfs
