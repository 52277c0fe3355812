#!/bin/bash
# mariadb-writer.sh on btrfs (a subvolume snapshot instead of XFS reflinks).
MDBW_FS=btrfs exec bash "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/mariadb-writer.sh"
