#!/bin/bash
# MariaDB Writer benchmark (make bench): MariaDB 10.11 on an XFS loop mount
# (tests/integration/mariadb-common.bash) with a table of
# LVSS_BENCH_MARIADB_ROWS (default 1000000, about 250 MiB) rows beside the
# transfer tables, then in the same run, with two clients committing
# transfers all the time:
#   - their undisturbed rate (transfers/s over LVSS_BENCH_MARIADB_SECONDS,
#     default 15);
#   - a full backup by lvss-backup (through the MariaDB Writer: BACKUP STAGE
#     around a snapshot) and by mariadb-backup --backup: time, the clients'
#     rate during the backup, repository size;
#   - each restored into the emptied data directory until the server answers
#     (lvss-backup restore + server start with InnoDB recovery;
#     mariadb-backup --prepare + --copy-back + server start): time, and the
#     money total checked.
# Fairness: same server, same data, same load; lvss's repository is
# unencrypted and zstd-compressed, mariadb-backup's copy plain files.
# mariadb-backup is the Debian package mariadb-backup (n/a when missing).
set -u
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/db-bench.bash" || exit 1
ROWS=${LVSS_BENCH_MARIADB_ROWS:-1000000}
SECS=${LVSS_BENCH_MARIADB_SECONDS:-15}
MB=$(command -v mariadb-backup || true)
db_bench_mariadb mariadb-writer-bench
sql -e "CREATE TABLE bank.big(id INT PRIMARY KEY, v VARCHAR(255)) ENGINE=InnoDB;
        INSERT INTO bank.big SELECT seq, REPEAT(MD5(seq), 7) FROM bank.seq_1_to_$ROWS" || fail "bank.big"
fixture_spawn load1 "$FX_DIR/load.sh"
fixture_spawn load2 "$FX_DIR/load.sh"
sleep 3
n() { sql -e 'SELECT n FROM bank.meta'; }
rate() { python3 -c "print('%.0f' % (($2 - $1) / ($4 - $3)))" "$@"; }
# timed NAME CMD...: sets T (seconds) and RATE (transfers/s meanwhile)
timed() {
    local name=$1; shift
    local n0 t0 n1 t1
    n0=$(n); t0=$(now); START=$t0
    "$@" >"$FX_DIR/$name.out" 2>"$FX_DIR/$name.err" || fail "$name: $(tail -3 "$FX_DIR/$name.err")"
    n1=$(n); t1=$(now)
    T=$(python3 -c "print('%.1f' % ($t1 - $t0))")
    RATE=$(rate "$n0" "$n1" "$t0" "$t1")
}

timed undisturbed sleep "$SECS"; BASE=$RATE
# no --json: lvss-backup narrates its steps on stderr (stamped, printed below)
timed lvss stamped "$LB" create --repo "$REPO"
L_T=$T L_RATE=$RATE L_MIB=$(mib "$REPO") L_START=$START
L_ID=$(awk '$1 == "backup" { print $2; exit }' "$FX_DIR/lvss.out")
[ -n "$L_ID" ] || fail "no backup id in: $(cat "$FX_DIR/lvss.out")"
M_T=n/a M_RATE=n/a M_MIB=n/a M_RESTORE=n/a
if [ -n "$MB" ]; then
    timed mariadb-backup "$MB" --backup --target-dir="$FX_DIR/mb" --socket="$SOCK" --user=root
    M_T=$T M_RATE=$RATE M_MIB=$(mib "$FX_DIR/mb")
fi
touch "$STOP"
wait "$FX_PID_load1" "$FX_PID_load2"

restored() {
    start_server
    read -r _ SUM <<<"$(state)"
    [ "$SUM" = "$TOTAL" ] || fail "$1: total $SUM != $TOTAL"
}
stop_server
find "$DATADIR" -mindepth 1 -delete
t0=$(now); L_RSTART=$t0
stamped "$LB" restore --repo "$REPO" "$L_ID" 2>"$FX_DIR/r-lvss.err" >/dev/null ||
    fail "lvss restore: $(cat "$FX_DIR/r-lvss.err")"
L_RESTORE_CMD=$(since "$t0")
restored lvss
L_RESTORE=$(since "$t0")
if [ -n "$MB" ]; then
    stop_server
    find "$DATADIR" -mindepth 1 -delete
    t0=$(now)
    "$MB" --prepare --target-dir="$FX_DIR/mb" >"$FX_DIR/mb-prepare.log" 2>&1 || fail "mariadb-backup --prepare"
    "$MB" --copy-back --target-dir="$FX_DIR/mb" --datadir="$DATADIR" >"$FX_DIR/mb-copy.log" 2>&1 ||
        fail "mariadb-backup --copy-back: $(tail -3 "$FX_DIR/mb-copy.log")"
    M_RESTORE_CMD=$(since "$t0")
    restored mariadb-backup
    M_RESTORE=$(since "$t0")
fi
echo "mariadb-writer-bench: MariaDB 10.11, $ROWS-row table + 2 transfer clients; undisturbed $BASE transfers/s"
printf '%-16s %10s %16s %12s %10s\n' tool "backup s" "transfers/s during" "restore s" "repo MiB"
printf '%-16s %10s %16s %12s %10s\n' lvss-backup "$L_T" "$L_RATE" "$L_RESTORE" "$L_MIB"
printf '%-16s %10s %16s %12s %10s\n' mariadb-backup "$M_T" "$M_RATE" "$M_RESTORE" "$M_MIB"
# Where lvss's time goes: lvss-backup's own steps (its notes, stamped) and
# the writer's (BACKUP STAGE START, the freeze's stages), then the restore:
# files written (and replay, if any) vs the server's start with InnoDB
# recovery.
echo "lvss-backup create, steps from its start (writer: $(grep -o 'BACKUP STAGE START ([0-9.]* s)' "$FX_DIR/mw.log" | tail -1); $(grep -o 'engine logs: [0-9.]* s' "$FX_DIR/mw.log" | tail -1); $(grep -o 'redo log copied[^)]*)' "$FX_DIR/mw.log" | tail -1)):"
timeline "$FX_DIR/lvss.err" "$L_START"
echo "restore split: files written by the tool (mariadb-backup: prepare + copy-back) / then server start (s):"
printf '  %-14s %6s / %s\n' lvss-backup "$L_RESTORE_CMD" "$(python3 -c "print('%.1f' % ($L_RESTORE - $L_RESTORE_CMD))")"
[ -n "$MB" ] && printf '  %-14s %6s / %s\n' mariadb-backup "$M_RESTORE_CMD" "$(python3 -c "print('%.1f' % ($M_RESTORE - $M_RESTORE_CMD))")"
echo "lvss-backup restore, steps from its start:"
timeline "$FX_DIR/r-lvss.err" "$L_RSTART"
echo "load: $(uptime)"
