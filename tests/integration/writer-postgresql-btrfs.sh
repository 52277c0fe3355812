#!/bin/bash
# writer-postgresql.sh on btrfs (a subvolume snapshot instead of XFS reflinks).
PGW_FS=btrfs exec bash "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/writer-postgresql.sh"
