#!/bin/bash
# backup-chain.sh again, with lvss-backup ignoring the writer's list of the
# backup's files (test hook LVSS_BACKUP_TEST_NO_FILE_LIST): the list is
# dropped when it does not fit the document's string limit (many log
# generations), and create must then choose the files from the writer's
# stamp (log generation range) and restore must still never write over the
# live logs or checkpoint.
[ "${LVSS_TEST_HOOKS:-0}" = 1 ] || { echo "SKIP: this build has no test hooks" >&2; exit 77; }
export LVSS_BACKUP_TEST_NO_FILE_LIST=1
exec bash "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-chain.sh"
