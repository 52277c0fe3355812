#!/bin/bash
# A full backup of the PostgreSQL Writer is self-contained, tablespaces
# included (real PostgreSQL 15, WAL archiving on):
#  - a tablespace in a directory of the loop mount holds a table of known
#    rows; pgbench runs during the full backup;
#  - the full's record holds the WAL from its start to its stop LSN (the
#    writer lists it as "after_snapshot": archived after the snapshot by
#    pg_backup_stop(wait_for_archive => true), read live by lvss-backup);
#  - cluster stopped; the data directory removed (pg_wal and the pg_tblspc
#    link with it), every file of the WAL
#    archive deleted, the tablespace directory removed; the full alone
#    restored: the data directory, the tablespace directory and their
#    directories come back owned by postgres, 0700 (the writer makes them at
#    PreRestore; before, root:root 0750 and PostgreSQL refused); PostgreSQL reaches
#    consistency from the backup's own WAL, pgbench's balances agree
#    (accounts = branches = tellers = history), the tablespace table has
#    exactly its rows and lives in the tablespace again.
#  - before that, with the tablespace's parent directory root's, the restore
#    is refused at PreRestore naming the tablespace directory, nothing written.
#  - an unlogged table's forks but its init fork, temporary files and
#    temporary relations are not stored; the table comes back empty.
# Fails without the after_snapshot list ("WAL ends before end of online
# backup": the archive is empty), and without the writer's excludes.
. "$LVSS_SOURCE_ROOT/tests/integration/pg-common.bash"
pg_setup on
# the tablespace in a directory of the cluster's owner outside the data
# directory (as /srv/pg-tablespaces would be)
TSP=$FX_MNT/tablespaces
TS=$TSP/ts1
mkdir -p "$TS"; chown postgres: "$TSP" "$TS"; chmod 700 "$TS"
sql "CREATE TABLESPACE ts1 LOCATION '$TS'" || fail "create tablespace"
sql "CREATE TABLE tsrows (id int PRIMARY KEY, note text) TABLESPACE ts1" || fail "create table in ts1"
sql "INSERT INTO tsrows SELECT g, md5(g::text) FROM generate_series(1, 5000) g" || fail "insert into ts1"
TSWANT=$(sql "SELECT count(*) || '/' || md5(string_agg(note, ',' ORDER BY id)) FROM tsrows")
# What PostgreSQL's base backups leave out (basebackup.c) and the writer too:
# an unlogged table's forks but its init fork (recovery recreates it empty),
# temporary files (pgsql_tmp*) and temporary relations (t<backend>_<node>).
sql "CREATE UNLOGGED TABLE ulrows (id int PRIMARY KEY); INSERT INTO ulrows SELECT generate_series(1, 5000)" ||
    fail "unlogged table"
UL=$PGDATA/$(sql "SELECT pg_relation_filepath('ulrows')")
[ -f "${UL}_init" ] && [ -s "$UL" ] || fail "unlogged table files: $(ls -l "$UL"*)"
DBDIR=${UL%/*}
as_pg mkdir -p "$PGDATA/base/pgsql_tmp"
as_pg dd if=/dev/urandom of="$PGDATA/base/pgsql_tmp/pgsql_tmp4242.0" bs=64k count=4 status=none
as_pg dd if=/dev/urandom of="$DBDIR/t4_99999" bs=64k count=4 status=none
# ... but a user's file of that shape outside the relation directories is
# the user's (a log named by log_filename = 't%d_%H.log'): stored
as_pg sh -c "echo user > '$PGDATA/t07_13.log'"
# the writer is started after CREATE TABLESPACE: Identify walks pg_tblspc
start_pgw --wal-archive "$ARCH"
as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -i -s 2 -q postgres >"$FX_DIR/pgbench-init.log" 2>&1 || fail "pgbench -i"
as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -c 2 -T 600 postgres >"$FX_DIR/pgbench.log" 2>&1 &
BENCH=$!
for ((i=0; i<200; i++)); do
    [ "$(sql 'SELECT count(*) FROM pgbench_history')" -gt 100 ] && break
    sleep 0.1
done

backup full
[ "$RC" = 0 ] || fail "full backup exited $RC: $(cat "$FX_DIR/create.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"
kill -0 $BENCH 2>/dev/null || fail "pgbench was not running during the full backup: $(cat "$FX_DIR/pgbench.log")"
kill $BENCH; wait $BENCH 2>/dev/null
"$LB" show --repo "$REPO" "$BID" --json >"$FX_DIR/full.json" || fail "show full"
python3 - "$FX_DIR/full.json" "${ARCH#/}" "${TS#/}" <<'EOP' || fail "full backup's files: $(head -c 1500 "$FX_DIR/full.json")"
import json, re, sys
d = json.load(open(sys.argv[1]))
files = {f["path"] for f in d["files"]}
label = re.search(r"START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)", open(sys.argv[1]).read())
assert label, "no backup_label"
start = label.group(1)
wal = sorted(f for f in files if re.search(r"^%s/[0-9A-F]{24}$" % re.escape(sys.argv[2]), f))
assert any(f.endswith("/" + start) for f in wal), ("start segment not stored", start, wal)
assert any(f.startswith(sys.argv[2] + "/") and f.endswith(".backup") for f in files), "no .backup history file"
assert any(f.startswith(sys.argv[3] + "/PG_15_") for f in files), ("tablespace not stored", sorted(files)[:20])
EOP
python3 - "$FX_DIR/full.json" "${UL#/}" "${DBDIR#/}" "${PGDATA#/}" <<'EOP' || fail "full backup: PostgreSQL's left-out files"
import json, sys
files = {f["path"] for f in json.load(open(sys.argv[1]))["files"]}
ul, db, data = sys.argv[2:5]
assert ul + "_init" in files, "unlogged table's init fork not stored"
assert not [f for f in files if f == ul or f.startswith(ul + ".") or f.startswith(ul + "_") and f != ul + "_init"], \
    ("unlogged table's forks stored", sorted(f for f in files if f.startswith(ul)))
assert db + "/t4_99999" not in files, "temporary relation stored"
assert data + "/t07_13.log" in files, "a user's file named like a temporary relation left out"
assert not [f for f in files if "/pgsql_tmp" in f], "temporary files stored"
assert any(f.startswith(db + "/") for f in files) and data + "/global/pg_control" in files, "data files missing"
EOP

pg_stop
# Every file the restore must bring back, and every other source of WAL, gone;
# the data directory itself too (lvss-backup would recreate its directories as
# root: the writer makes them at PreRestore, as postgres, from the full's list).
rm -rf "$PGDATA" "$TS"
find "$ARCH" \( -type f -o -type l \) -delete
[ -z "$(find "$ARCH" ! -type d)" ] || fail "wipe of $ARCH failed"
[ ! -e "$PGDATA" ] && [ ! -e "$TS" ] || fail "wipe of $PGDATA or $TS failed"

# A tablespace directory the cluster's owner cannot make (its parent is
# root's): PreRestore refuses, naming it, before anything is written.
chown root: "$TSP"; chmod 755 "$TSP"
"$LB" restore --repo "$REPO" "$BID" --quiet >"$FX_DIR/r0.out" 2>"$FX_DIR/r0.err" &&
    fail "restore with an unmakeable tablespace directory succeeded"
grep -q "cannot make tablespace directory $TS as the cluster's owner" "$FX_DIR/r0.err" ||
    fail "refusal does not name the tablespace directory: $(cat "$FX_DIR/r0.err")"
[ ! -e "$PGDATA" ] && [ ! -e "$TS" ] || fail "refused restore wrote something: $(ls -d "$PGDATA" "$TS" 2>&1)"
chown postgres: "$TSP"

"$LB" restore --repo "$REPO" "$BID" --quiet >"$FX_DIR/r1.out" 2>"$FX_DIR/r1.err" ||
    fail "restore failed: $(cat "$FX_DIR/r1.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"
[ -e "$PGDATA/tablespace_map" ] || fail "restore: no tablespace_map written"
[ -z "$(find "$PGDATA" -type d ! -user postgres)" ] || fail "directories not owned by postgres: $(find "$PGDATA" -type d ! -user postgres | head -5)"
[ "$(stat -c %a "$PGDATA")" = 700 ] || fail "data directory mode $(stat -c %a "$PGDATA")"
# the tablespace directory and its PG_15_* tree too: made by the writer at
# PreRestore (not root:root 0750 by lvss-backup, which PostgreSQL cannot use)
[ -z "$(find "$TS" -type d ! -user postgres)" ] || fail "tablespace directories not owned by postgres: $(find "$TS" -type d ! -user postgres -printf '%p %u:%g %m\n' | head -5)"
[ -z "$(find "$TS" -type d ! -perm 700)" ] || fail "tablespace directories not 0700: $(find "$TS" -type d ! -perm 700 -printf '%p %m\n' | head -5)"
[ "$(find "$TS" -type d | wc -l)" -ge 3 ] || fail "tablespace tree not restored: $(find "$TS")"
grep -q 'missing directories made for the restore' "$FX_DIR/pgw.log" || fail "no directories made: $(tail -3 "$FX_DIR/pgw.log")"
grep -q "$TS" "$PGDATA/tablespace_map" || fail "tablespace_map: $(cat "$PGDATA/tablespace_map")"
ls "$ARCH" | grep -q '^[0-9A-F]\{24\}$' || fail "no WAL segment restored into the archive"
pg_start
wait_promoted
grep -q 'consistent recovery state reached' "$PGLOG" || fail "no consistent state: $(tail -5 "$PGLOG")"
GOT=$(sql "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || '/' || (SELECT sum(bbalance) FROM pgbench_branches) || '/' || (SELECT sum(tbalance) FROM pgbench_tellers) || '/' || (SELECT coalesce(sum(delta), 0) FROM pgbench_history)")
IFS=/ read -r a b t h <<<"$GOT"
[ "$a" = "$b" ] && [ "$b" = "$t" ] && [ "$t" = "$h" ] || fail "pgbench balances disagree after restore: $GOT"
[ "$(sql 'SELECT count(*) FROM pgbench_history')" -gt 100 ] || fail "history lost: $(sql 'SELECT count(*) FROM pgbench_history')"
[ "$(sql "SELECT count(*) || '/' || md5(string_agg(note, ',' ORDER BY id)) FROM tsrows")" = "$TSWANT" ] ||
    fail "tablespace table after restore: $(sql 'SELECT count(*) FROM tsrows')"
[ "$(sql "SELECT spcname FROM pg_class c JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE relname = 'tsrows'")" = ts1 ] ||
    fail "tsrows is not in ts1 after restore"
[ "$(readlink -f "$PGDATA/pg_tblspc/$(sql "SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'")")" = "$TS" ] ||
    fail "pg_tblspc link not recreated"
# the unlogged table is back, empty (recovery made its main fork from the init fork)
[ "$(sql 'SELECT count(*) FROM ulrows')" = 0 ] || fail "unlogged table after restore: $(sql 'SELECT count(*) FROM ulrows')"
sql "INSERT INTO ulrows VALUES (1)" || fail "unlogged table not writable after restore"
echo ok
