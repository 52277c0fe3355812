# shellcheck shell=bash
# Shared by the lvss-backupd tests (tests/integration/backupd-*.sh): the
# backup fixture of backup-common.bash (private bus, lvssd, mstored on XFS,
# repository) plus lvss-backupd with a job directory and a state directory.
# Not a test itself (no .sh suffix).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1

BACKUPD=$(fx_bin tools/lvss-backupd/lvss-backupd)
CTL=$(fx_bin tools/lvss-backupctl/lvss-backupctl)

# bd_setup [MIB]: bk_setup, then JOBS and BSTATE directories (no daemon yet).
bd_setup() {
    [ -x "$BACKUPD" ] && [ -x "$CTL" ] || skip "lvss-backupd/lvss-backupctl not built"
    bk_setup "${1:-600}"
    JOBS=$FX_DIR/backup.d
    BSTATE=$FX_DIR/backupd-state
    mkdir -p "$JOBS"
}

# start_backupd [ARGS...]: start (or restart) lvss-backupd, wait for its name.
start_backupd() {
    LVSS_BACKUP="$LB" LVSS_MSTORE="$MSTORE" fixture_spawn backupd "$BACKUPD" --config-dir "$JOBS" --state-dir "$BSTATE" "$@"
    fixture_wait_name org.lvss.Backup1 10
}

# task_field ID FIELD: one field of a task (lvss-backupctl show, without python: fast under load).
task_field() {
    $CTL show "$1" | sed -n -e "s/^  \"$2\": \"\(.*\)\",\{0,1\}\$/\1/p" -e "s/^  \"$2\": \([^\",]*\),\{0,1\}\$/\1/p"
}

# wait_state ID STATE SECONDS (STATE running: running, or already past it is a failure).
wait_state() {
    local i s
    for ((i = 0; i < $3 * 20; i++)); do
        s=$(task_field "$1" state)
        [ "$s" = "$2" ] && return 0
        sleep 0.05
    done
    fail "task $1 is $s after $3 s, want $2: $($CTL log "$1" | tail -5)"
}

# writers_stable: every writer lvssd knows is stable with no failure.
writers_stable() {
    $LVSSADM list writers --json | python3 -c '
import json, sys
w = json.load(sys.stdin)["writers"]
bad = [x for x in w if x.get("state") not in ("stable", "STABLE")]
assert w and not bad, w' || fail "writers not stable: $($LVSSADM list writers)"
}
