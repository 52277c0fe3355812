#!/bin/bash
# The PostgreSQL Writer against a real PostgreSQL 15 cluster (WAL archiving
# on), driven by lvss-backup:
#  - a full backup while pgbench runs: the writer's backup_label travels as
#    backup metadata and is NOT in the live data directory; the stamp is an
#    LSN; no backup session is left open; the segment of its stop LSN
#    (whole) and its .backup file are stored (the writer's archive wait:
#    fails when PostSnapshot does not wait for the archiver);
#  - rows A, B (a known time T between them), then an incremental while
#    pgbench still runs: only archived WAL segments are stored;
#  - a restore while the cluster runs is refused naming the cluster, nothing
#    written;
#  - cluster stopped, every file of the data directory deleted (pg_wal
#    kept): restore of full + incremental, recovery to the end gives exactly
#    what was committed (pgbench totals, rows A, B, C); the restore_command
#    and recovery_init_sync_method = syncfs are in postgresql.auto.conf;
#  - again, restored to --target-time T: row A only; and to --target-lsn
#    (the WAL position right after A's commit): row A only.
. "$LVSS_SOURCE_ROOT/tests/integration/pg-common.bash"
pg_setup on
start_pgw --wal-archive "$ARCH"

sql "CREATE TABLE marks (id int PRIMARY KEY, note text)" || fail "create table"
as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -i -s 4 -q postgres >"$FX_DIR/pgbench-init.log" 2>&1 || fail "pgbench -i"
as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -c 2 -T 25 postgres >"$FX_DIR/pgbench.log" 2>&1 &
BENCH=$!
sleep 2

# ------------------------------------------------------------------ full
backup full
[ "$RC" = 0 ] || fail "full backup exited $RC: $(cat "$FX_DIR/create.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"
FULL=$BID
grep -q "\"$COMP\"" "$FX_DIR/create.json" || fail "full: component not stored: $(cat "$FX_DIR/create.json")"
[ -e "$PGDATA/backup_label" ] && fail "full: backup_label was written into the live data directory"
"$LB" show --repo "$REPO" "$FULL" --json >"$FX_DIR/full.json" || fail "show full"
grep -q 'START WAL LOCATION' "$FX_DIR/full.json" || fail "full: backup_label is not in the backup metadata"
grep -q "${PGDATA#/}/global/pg_control" "$FX_DIR/full.json" || fail "full: pg_control not stored"
grep -q "${PGDATA#/}/postmaster.pid" "$FX_DIR/full.json" && fail "full: postmaster.pid stored"
grep -q "${PGDATA#/}/pg_wal/" "$FX_DIR/full.json" && fail "full: live pg_wal stored"
[ "$(backup_sessions)" = 0 ] || fail "full: the writer's backup session is still open"
grep -q 'backup stopped at [0-9A-F]*/[0-9A-F]*' "$FX_DIR/pgw.log" || fail "full: no pg_backup_stop: $(cat "$FX_DIR/pgw.log")"
kill -0 $BENCH 2>/dev/null || fail "pgbench was not running during the full backup: $(cat "$FX_DIR/pgbench.log")"
# The WAL the full needs was archived before PostSnapshot returned (the
# writer's archive wait, as pg_backup_stop(wait_for_archive => true)): the
# segment of the recorded stop LSN and the .backup history file are among the
# stored files, whole (fails without the wait: the archiver is still copying).
STOP=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); w=[w for w in d["writers"] if w["name"]=="PostgreSQL Writer"][0]; print(json.loads(json.loads(w["stamp"])[sys.argv[2]])["stop_lsn"])' "$FX_DIR/full.json" "$COMP")
STOPSEG=$(sql "SELECT pg_walfile_name('$STOP')")
python3 - "$FX_DIR/full.json" "${ARCH#/}" "$STOPSEG" <<'EOP' || fail "full: its WAL was not archived by the time it completed (stop $STOP): $(grep -o 'backup stopped.*' "$FX_DIR/pgw.log" | tail -1)"
import json, sys
d = json.load(open(sys.argv[1]))
files = {f["path"]: f for f in d["files"]}
seg = files.get(sys.argv[2] + "/" + sys.argv[3])
assert seg, ("stop segment not stored", sys.argv[3], sorted(f for f in files if f.startswith(sys.argv[2])))
assert seg.get("size") == 16 << 20, ("stop segment stored partly", seg)
assert any(f.startswith(sys.argv[2] + "/") and f.endswith(".backup") for f in files), "no .backup history file"
EOP
[ -f "$ARCH/$STOPSEG" ] || fail "full: stop segment $STOPSEG not in the archive"
# ... and the WAL from its start segment to its stop segment is the only
# archived WAL it stores ("only" in after_snapshot): the older segments in
# the archive (pgbench -i wrote several) are not read (fails when the full
# reads the archive's snapshot).
START0=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); w=[w for w in d["writers"] if w["name"]=="PostgreSQL Writer"][0]; print(json.loads(json.loads(w["stamp"])[sys.argv[2]])["next_lsn"])' "$FX_DIR/full.json" "$COMP")
STARTSEG=$(sql "SELECT pg_walfile_name('$START0'::pg_lsn + 1)")
OLDER=$(find "$ARCH" -maxdepth 1 -regextype egrep -regex '.*/[0-9A-F]{24}' -printf '%f\n' | sort | awk -v s="$STARTSEG" '$1 < s' | wc -l)
[ "$OLDER" -ge 1 ] || fail "full: no archived segment older than its start $STARTSEG (the check below would prove nothing)"
python3 - "$FX_DIR/full.json" "${ARCH#/}" "$STARTSEG" "$STOPSEG" <<'EOP' || fail "full: archived WAL outside its start..stop stored"
import json, re, sys
d = json.load(open(sys.argv[1]))
arch = [f["path"].rsplit("/", 1)[1] for f in d["files"] if f["path"].startswith(sys.argv[2] + "/")]
segs = [n for n in arch if re.fullmatch(r"[0-9A-F]{24}", n)]
bad = [n for n in segs if not sys.argv[3] <= n <= sys.argv[4]]
assert segs and not bad, ("outside", sys.argv[3], sys.argv[4], sorted(bad))
assert all(re.fullmatch(r"[0-9A-F]{24}(\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history", n) for n in arch), arch
EOP

# ------------------------------------------------- rows around a known time
sql "INSERT INTO marks VALUES (1, 'A')" || fail "insert A"
L=$(sql "SELECT pg_current_wal_insert_lsn()")
sleep 1.2
T=$(sql "SELECT to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS')")
sleep 1.2
sql "INSERT INTO marks VALUES (2, 'B')" || fail "insert B"

# ----------------------------------------------------------- incremental
backup incremental
[ "$RC" = 0 ] || fail "incremental exited $RC: $(cat "$FX_DIR/create.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"
INC=$BID
"$LB" show --repo "$REPO" "$INC" --json >"$FX_DIR/inc.json" 2>"$FX_DIR/show.err" || fail "show: $(cat "$FX_DIR/show.err")"
python3 - "$FX_DIR/inc.json" "${ARCH#/}" <<'EOP' || fail "incremental: not (only) archived WAL: $(head -c 800 "$FX_DIR/inc.json")"
import json, re, sys
d = json.load(open(sys.argv[1]))
files = [f["path"] for f in d["files"]]
assert d["type"] == "incremental" and files, files
assert all(f.startswith(sys.argv[2] + "/") for f in files), files
assert any(re.search(r"/[0-9A-F]{24}$", f) for f in files), files
st = json.loads(json.loads(d["stamps"]["PostgreSQL Writer"])[d["components"][0]])
assert re.match(r"^[0-9A-F]+/[0-9A-F]+$", st["stop_lsn"]), st
EOP
# a differential: based on the full, so it holds the full's WAL again
backup differential
[ "$RC" = 0 ] || fail "differential exited $RC: $(cat "$FX_DIR/create.err")"
"$LB" show --repo "$REPO" "$BID" --json >"$FX_DIR/diff.json" || fail "show differential"
python3 - "$FX_DIR/diff.json" "$FX_DIR/inc.json" "$FULL" "${ARCH#/}" <<'EOP' || fail "differential: $(head -c 600 "$FX_DIR/diff.json")"
import json, sys
d, i = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["type"] == "differential" and d["based_on"] == sys.argv[3], (d["type"], d["based_on"])
df, inc = {f["path"] for f in d["files"]}, {f["path"] for f in i["files"]}
assert all(f.startswith(sys.argv[4] + "/") for f in df), df
assert inc <= df, (inc - df)
EOP
sql "INSERT INTO marks VALUES (3, 'C')" || fail "insert C"
wait $BENCH || fail "pgbench failed: $(tail -5 "$FX_DIR/pgbench.log")"
grep -q 'number of transactions actually processed' "$FX_DIR/pgbench.log" || fail "pgbench did not run: $(cat "$FX_DIR/pgbench.log")"
sum_all() { sql "SELECT (SELECT sum(abalance) FROM pgbench_accounts) || '/' || (SELECT sum(bbalance) FROM pgbench_branches) || '/' || (SELECT count(*) FROM pgbench_history) || '/' || (SELECT string_agg(note, ',' ORDER BY id) FROM marks)"; }
WANT=$(sum_all)
[ "${WANT##*/}" = "A,B,C" ] || fail "marks before restore: $WANT"

# ------------------------------------------- restore refused while running
"$LB" restore --repo "$REPO" "$INC" --quiet >"$FX_DIR/r0.out" 2>"$FX_DIR/r0.err"; rc=$?
[ "$rc" = 1 ] || fail "restore while running exited $rc, want 1: $(cat "$FX_DIR/r0.err")"
grep -q "PostgreSQL cluster 15-main is running (postmaster pid [0-9]*" "$FX_DIR/r0.err" ||
    fail "restore while running: message: $(cat "$FX_DIR/r0.err")"
grep -q 'nothing was written' "$FX_DIR/r0.err" || fail "restore while running: $(cat "$FX_DIR/r0.err")"
[ "$(sum_all)" = "$WANT" ] || fail "the refused restore changed the cluster"

# -------------------------------------------------- restore to the end
wipe() {
    pg_stop
    find "$PGDATA" -path "$PGDATA/pg_wal" -prune -o -type f -print0 | xargs -0 rm -f
    [ -e "$PGDATA/global/pg_control" ] && fail "wipe failed"
    return 0
}
wipe
"$LB" restore --repo "$REPO" "$INC" --quiet >"$FX_DIR/r1.out" 2>"$FX_DIR/r1.err" ||
    fail "restore to the end failed: $(cat "$FX_DIR/r1.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"
[ -e "$PGDATA/backup_label" ] || fail "restore: no backup_label written"
[ -e "$PGDATA/recovery.signal" ] || fail "restore: no recovery.signal"
grep -q "restore_command = 'test -f \"$ARCH/%f\" && exec cp \"$ARCH/%f\" \"%p\"'" "$PGDATA/postgresql.auto.conf" || fail "restore_command: $(cat "$PGDATA/postgresql.auto.conf")"
# the start-up sync of the restored (already fsynced) files: once per file system
grep -q "^recovery_init_sync_method = syncfs$" "$PGDATA/postgresql.auto.conf" || fail "no syncfs: $(cat "$PGDATA/postgresql.auto.conf")"
pg_start
wait_promoted
GOT=$(sum_all)
[ "$GOT" = "$WANT" ] || fail "restore to the end: got $GOT, want $WANT (log: $(grep -i 'recover\|redo\|consistent' "$PGLOG" | tail -5))"
[ -e "$PGDATA/backup_label" ] && fail "backup_label left after recovery"
[ -e "$PGDATA/recovery.signal" ] && fail "recovery.signal left after recovery"

# ------------------------------------------------------- point in time
wipe
"$LB" restore --repo "$REPO" "$INC" --target-time "$T" --quiet >"$FX_DIR/r2.out" 2>"$FX_DIR/r2.err" ||
    fail "PITR restore failed: $(cat "$FX_DIR/r2.err"); writer: $(tail -5 "$FX_DIR/pgw.log")"
grep -q "recovery_target_time = '$T'" "$PGDATA/postgresql.auto.conf" || fail "no target in postgresql.auto.conf"
pg_start
wait_promoted
GOT=$(sql "SELECT string_agg(note, ',' ORDER BY id) FROM marks")
[ "$GOT" = "A" ] || fail "PITR to $T: marks '$GOT', want 'A' (log: $(grep -i 'recovery stopping\|target' "$PGLOG" | tail -3))"
grep -q 'recovery stopping before commit' "$PGLOG" || fail "PITR: PostgreSQL did not stop at the target"

# ------------------------------------------------------------ to an LSN
wipe
"$LB" restore --repo "$REPO" "$INC" --target-lsn "$L" --quiet >"$FX_DIR/r3.out" 2>"$FX_DIR/r3.err" ||
    fail "restore to LSN $L failed: $(cat "$FX_DIR/r3.err")"
grep -q "recovery_target_lsn = '$L'" "$PGDATA/postgresql.auto.conf" || fail "no LSN target in postgresql.auto.conf"
pg_start
wait_promoted
GOT=$(sql "SELECT string_agg(note, ',' ORDER BY id) FROM marks")
[ "$GOT" = "A" ] || fail "restore to LSN $L: marks '$GOT', want 'A'"
"$LB" restore --repo "$REPO" "$INC" --target-lsn "$L" --target-time "$T" 2>"$FX_DIR/r4.err"; rc=$?
[ "$rc" = 2 ] || fail "both targets: exit $rc, want 2"

# the PITR cluster is open: the writer takes a new full backup of it
backup full
[ "$RC" = 0 ] || fail "full after PITR exited $RC: $(cat "$FX_DIR/create.err")"

# ------------------------------------------- --prune-archive (opt-in)
# Without it nothing is removed; with it a copy removes nothing either, and a
# successful full removes the segments (and .backup files) before its start
# segment; .history files and everything from the start segment on stay.
segs() { find "$ARCH" -maxdepth 1 -regextype egrep -regex '.*/[0-9A-F]{24}' -printf '%f\n' | sort; }
switch_wal() { local i; for i in 1 2 3; do sql "INSERT INTO prune_t VALUES ($i); SELECT pg_switch_wal()" >/dev/null; done; }
sql "CREATE TABLE prune_t(x int)" >/dev/null
switch_wal
for i in $(seq 300); do [ "$(segs | wc -l)" -ge 4 ] && break; sleep 0.1; done
N0=$(segs | wc -l); H0=$(find "$ARCH" -name '*.history' | wc -l)
[ "$H0" -ge 1 ] || fail "expected a .history file in the archive after PITR"
kill -TERM "$FX_PID_pgw"; wait "$FX_PID_pgw"
start_pgw --wal-archive "$ARCH" --prune-archive
backup copy
[ "$RC" = 0 ] || fail "copy with --prune-archive exited $RC: $(cat "$FX_DIR/create.err")"
[ "$(segs | wc -l)" -ge "$N0" ] || fail "a copy backup pruned the archive"
switch_wal
backup full
[ "$RC" = 0 ] || fail "full with --prune-archive exited $RC: $(cat "$FX_DIR/create.err")"
START=$("$LB" show --repo "$REPO" "$BID" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); w=[w for w in d["writers"] if w["name"]=="PostgreSQL Writer"][0]; print(json.loads(json.loads(w["stamp"])[sys.argv[1]])["next_lsn"])' "$COMP")
for i in $(seq 50); do grep -q 'WAL archive pruned before' "$FX_DIR/pgw.log" && break; sleep 0.1; done
grep -q "WAL archive pruned before $START: [1-9][0-9]* file(s) removed" "$FX_DIR/pgw.log" || fail "no pruning: $(tail -3 "$FX_DIR/pgw.log")"
python3 - "$ARCH" "$START" <<'PY' || fail "archive after pruning: $(find "$ARCH" -maxdepth 1 -type f -printf '%f ')"
import os, re, sys
hi, lo = (int(x, 16) for x in sys.argv[2].split("/"))
first = ((hi << 32) | lo) // (16 << 20)
names = os.listdir(sys.argv[1])
segs = [n for n in names if re.fullmatch(r"[0-9A-F]{24}", n)]
num = lambda n: int(n[8:16], 16) * 0x100 + int(n[16:24], 16)
assert segs and all(num(n) >= first for n in segs), (first, sorted(segs))
assert any(num(n) == first for n in segs), ("start segment gone", first, sorted(segs))
assert any(n.endswith(".history") for n in names), "history removed"
PY
[ "$(find "$ARCH" -name '*.history' | wc -l)" = "$H0" ] || fail ".history files removed"
echo "--prune-archive: $N0 segments before, $(segs | wc -l) after the full (start $START)"
echo ok
