#!/bin/bash
# Roll-forward through WAL that exists only in pg_wal (docs/design/writers.md
# §5 "Restore"): a restore without a target replays the restored and
# archived WAL and then what is still in the live pg_wal, so the rows
# committed after the last backup, whose WAL was never archived, are back.
#  - a full backup with archiving working;
#  - archive_command then made to fail (ALTER SYSTEM; pg_stat_archiver counts
#    the failures); rows committed and their segment completed by
#    pg_switch_wal(): it is in pg_wal, marked .ready (not archived), and not
#    in the archive;
#  - cluster stopped; every file of the data directory but pg_wal deleted;
#    the full restored without a target; the cluster recovers and promotes:
#    the rows are there (they can only come from pg_wal), the row made
#    before the backup too, and the WAL segment of the rows was never in the
#    archive.
. "$LVSS_SOURCE_ROOT/tests/integration/pg-common.bash"
pg_setup on
start_pgw --wal-archive "$ARCH"
sql "CREATE TABLE late (id int PRIMARY KEY, note text)" || fail "create table"
sql "INSERT INTO late VALUES (0, 'before the backup')" || fail "insert before"
backup full
[ "$RC" = 0 ] || fail "full backup exited $RC: $(cat "$FX_DIR/create.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"

# From here on nothing reaches the archive.
sql "ALTER SYSTEM SET archive_command = 'false'" || fail "alter system"
sql "SELECT pg_reload_conf()" >/dev/null || fail "reload"
for ((i = 0; i < 300; i++)); do
    [ "$(sql 'SHOW archive_command')" = false ] && break
    sleep 0.1
done
[ "$(sql 'SHOW archive_command')" = false ] || fail "archive_command not reloaded: $(sql 'SHOW archive_command')"
FAILED0=$(sql "SELECT failed_count FROM pg_stat_archiver")
sql "INSERT INTO late SELECT g, 'after the backup ' || g FROM generate_series(1, 2000) g" || fail "insert after"
SEG=$(sql "SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
WANT=$(sql "SELECT count(*) || '/' || md5(string_agg(note, ',' ORDER BY id)) FROM late")
sql "SELECT pg_switch_wal()" >/dev/null || fail "pg_switch_wal"
for ((i = 0; i < 600; i++)); do
    [ "$(sql "SELECT failed_count > $FAILED0 AND last_failed_wal >= '$SEG' FROM pg_stat_archiver")" = t ] && break
    sleep 0.1
done
[ "$(sql "SELECT failed_count > $FAILED0 AND last_failed_wal >= '$SEG' FROM pg_stat_archiver")" = t ] ||
    fail "the archiver did not try and fail on $SEG: $(sql 'SELECT * FROM pg_stat_archiver')"
[ -f "$PGDATA/pg_wal/$SEG" ] || fail "$SEG not in pg_wal"
[ -f "$PGDATA/pg_wal/archive_status/$SEG.ready" ] || fail "$SEG not waiting for the archive: $(ls "$PGDATA/pg_wal/archive_status")"
[ ! -e "$ARCH/$SEG" ] || fail "$SEG was archived"

pg_stop
[ ! -e "$ARCH/$SEG" ] || fail "$SEG archived at shutdown"
find "$PGDATA" -path "$PGDATA/pg_wal" -prune -o -type f -print0 | xargs -0 rm -f
[ -e "$PGDATA/global/pg_control" ] && fail "wipe failed"
[ -f "$PGDATA/pg_wal/$SEG" ] || fail "wipe removed pg_wal/$SEG"

"$LB" restore --repo "$REPO" "$BID" --quiet >"$FX_DIR/r.out" 2>"$FX_DIR/r.err" ||
    fail "restore failed: $(cat "$FX_DIR/r.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"
grep -q "recovery prepared (to the end of the WAL)" "$FX_DIR/pgw.log" || fail "writer: $(tail -3 "$FX_DIR/pgw.log")"
[ -f "$PGDATA/pg_wal/$SEG" ] || fail "the restore removed pg_wal/$SEG"
[ ! -e "$ARCH/$SEG" ] || fail "$SEG is in the archive after the restore"
pg_start
wait_promoted
GOT=$(sql "SELECT count(*) || '/' || md5(string_agg(note, ',' ORDER BY id)) FROM late")
[ "$GOT" = "$WANT" ] ||
    fail "rows after restore: $GOT, want $WANT (pg_wal-only WAL not replayed; log: $(grep -i 'redo\|recover\|consistent' "$PGLOG" | tail -5))"
echo "rows committed after the backup, WAL only in pg_wal ($SEG): restored ($GOT)"
echo ok
