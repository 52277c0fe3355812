#!/bin/bash
# mstored-writer.sh on btrfs (subvolume snapshots instead of XFS reflinks).
MSTORED_FS=btrfs exec bash "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/mstored-writer.sh"
