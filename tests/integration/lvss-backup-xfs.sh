#!/bin/bash
# Full backup on XFS (reflink provider) with the example writer under write
# load: no torn record in the snapshot; persistent set listed and deleted.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
scenario_full_backup xfs
