#!/bin/bash
# The MariaDB Writer (lvss-writer-mariadb) against a real MariaDB 10.11
# (mariadbd on a scratch data directory on an XFS loop mount, its own socket,
# --skip-networking, binary log on): two clients move money between two
# InnoDB tables during a full backup and a copy (the stamp holds the binary
# log position; an incremental under load too); kill -9 of lvss-backup and of the
# writer mid-set leave no backup stage held (a new BACKUP STAGE START ..
# BLOCK_COMMIT succeeds, commits go through); a restore while the server runs
# is refused naming the instance; with the server stopped the full is
# restored over the live data directory and rolled forward through the live
# binary logs (the stamp file's live copy, longer than the backup's, is kept
# aside and put back; the newer ones are left in place): CHECK TABLE ok, the
# total intact and exactly the live number of transfers (the old writer
# stopped at the backup's state: fewer).  SIGTERM: exit 0.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/mariadb-common.bash" || exit 1

# --- backups under load ---------------------------------------------------------
fixture_spawn load1 "$FX_DIR/load.sh"
fixture_spawn load2 "$FX_DIR/load.sh"
for i in $(seq 300); do [ "$(sql -e 'SELECT n FROM bank.meta')" -ge 50 ] && break; sleep 0.1; done

$LB create --repo "$REPO" --json >"$FX_DIR/full.json" 2>"$FX_DIR/full.err" \
    || fail "full backup: $(cat "$FX_DIR/full.err") $(tail -3 "$FX_DIR/mw.log")"
python3 - "$FX_DIR/full.json" "$COMP" <<'PY' || fail "create --json: $(cat "$FX_DIR/full.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["type"] == "full" and d["components"] == [sys.argv[2]], d
PY
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$FX_DIR/full.json")
$LB show --repo "$REPO" "$ID" --json >"$FX_DIR/show.json" || fail "show"
python3 - "$FX_DIR/show.json" "$COMP" <<'PY' || fail "record: stamp or files missing"
import json, sys
d = json.load(open(sys.argv[1]))
w = [w for w in d["writers"] if w["name"] == "MariaDB Writer"][0]
st = json.loads(json.loads(w["stamp"])[sys.argv[2]])
assert st["binlog_file"].startswith("binlog.") and st["binlog_pos"] > 0, st
paths = [f["path"] for f in d["files"]]
assert any(p.endswith("/ibdata1") for p in paths) and any(p.endswith("/bank/a.ibd") for p in paths), paths
print("stamp", st)
PY
$LB create --repo "$REPO" --type copy --quiet 2>"$FX_DIR/copy.err" || fail "copy backup: $(cat "$FX_DIR/copy.err")"
$LB create --repo "$REPO" --type incremental --quiet 2>"$FX_DIR/incr.err" ||
    fail "incremental: $(cat "$FX_DIR/incr.err")" # its content and replay: mariadb-writer-pitr.sh
no_stage_held "after the backups"

# --- kill -9 of the requestor and of the writer mid-set -------------------------
# A statement writing a MyISAM table holds the writer inside Freeze (BACKUP
# STAGE BLOCK_DDL waits for it; the writer's lock wait is 40000/4 = 10 s):
# the kill lands mid-set for sure.  Then the statement is killed, so the
# writer's freeze goes on and only Abort/BackupShutdown can end the stage.
in_stage_wait() {
    local i
    for i in $(seq 600); do
        [ "$(sql -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'BACKUP STAGE%'")" -ge 1 ] && return 0
        sleep 0.05
    done
    fail "the writer never waited in a BACKUP STAGE statement"
}
for victim in requestor writer; do
    sql -e 'UPDATE bank.m SET v = SLEEP(60)' >/dev/null 2>&1 &
    hpid=$!
    for i in $(seq 100); do
        [ "$(sql -e "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE bank.m SET v = SLEEP%'")" = 1 ] && break
        sleep 0.05
    done
    $LB create --repo "$REPO" --quiet >/dev/null 2>"$FX_DIR/kill-$victim.err" &
    bpid=$!
    in_stage_wait
    if [ "$victim" = requestor ]; then
        kill -9 "$bpid"; wait "$bpid" 2>/dev/null
    else
        kill -9 "$FX_PID_mw"; wait "$FX_PID_mw" 2>/dev/null
    fi
    sql -e "SELECT CONCAT('KILL QUERY ', ID, ';') FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE bank.m SET v = SLEEP%'" | sql
    wait "$hpid"
    [ "$victim" = writer ] && { wait "$bpid" && fail "backup succeeded although its writer was killed"; }
    sleep 1   # lvssd notices the vanished peer, the set is aborted
    no_stage_held "$victim killed inside BACKUP STAGE"
    [ "$victim" = writer ] && start_writer
    $LVSSADM list shadows --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(len(d["shadows"]) != 0)' \
        || fail "snapshot left after the $victim was killed: $($LVSSADM list shadows)"
done
echo "kill -9 of lvss-backup and of the writer: no stage left, commits go through"

sleep 1
touch "$STOP"
wait "$FX_PID_load1" || fail "load client 1 failed: $(cat "$FX_DIR/load1.log")"
wait "$FX_PID_load2" || fail "load client 2 failed: $(cat "$FX_DIR/load2.log")"
read -r N_LIVE SUM <<<"$(state)"
[ "$SUM" = "$TOTAL" ] || fail "live total $SUM != $TOTAL"
echo "live: $N_LIVE transfers"

# --- restore -------------------------------------------------------------------------
$LB restore --repo "$REPO" "$ID" >/dev/null 2>"$FX_DIR/r1.err" && fail "restore accepted while the server runs"
grep -q "MariaDB instance m1 is running" "$FX_DIR/r1.err" || fail "refusal does not name the instance: $(cat "$FX_DIR/r1.err")"
stop_server
# An incremental needs the server (PrepareForBackup asks for the binary
# log): vetoed with the connection's reason from the writer's ErrorSlot.
$LB create --repo "$REPO" --type incremental --quiet 2>"$FX_DIR/down.err" && fail "incremental accepted with the server stopped"
grep -q "instance m1: cannot connect to $SOCK: " "$FX_DIR/down.err" ||
    fail "the veto does not carry the connection's reason: $(cat "$FX_DIR/down.err")"
LOGMODE=$(stat -c %U:%G:%a "$DATADIR/ib_logfile0")
$LB restore --repo "$REPO" "$ID" 2>"$FX_DIR/r2.err" >/dev/null || fail "restore: $(cat "$FX_DIR/r2.err")"
# The copy was root's 0600 until the restore gave it ib_logfile0's.
[ "$(stat -c %U:%G:%a "$DATADIR/ib_logfile0")" = "$LOGMODE" ] ||
    fail "the restored ib_logfile0 is $(stat -c %U:%G:%a "$DATADIR/ib_logfile0"), it was $LOGMODE"
start_server
read -r N_REST SUM <<<"$(state)"
[ "$SUM" = "$TOTAL" ] || fail "restored total $SUM != $TOTAL"
[ "$N_REST" = "$N_LIVE" ] || fail "not rolled forward to the live state: $N_REST transfers (live $N_LIVE) $(tail -5 "$FX_DIR/mw.log")"
grep -q 'live binary log(s) from binlog\.[0-9]* kept in' "$FX_DIR/mw.log" || fail "live binary logs not held: $(tail -5 "$FX_DIR/mw.log")"
grep -q ': [1-9][0-9]* live binary log(s) longer than the backup.s put back' "$FX_DIR/mw.log" ||
    fail "the live stamp file was not put back: $(tail -5 "$FX_DIR/mw.log")"
grep -q 'replaying [0-9]* binary log(s) .* to the end' "$FX_DIR/mw.log" || fail "no roll-forward: $(tail -5 "$FX_DIR/mw.log")"
[ ! -e "$DATADIR/.lvss-live-binlogs" ] || fail "the hold directory was left: $(ls -la "$DATADIR/.lvss-live-binlogs")"
grep -q "the backup's redo log copy is $DATADIR/ib_logfile0" "$FX_DIR/mw.log" ||
    fail "the full's redo log copy was not put in place: $(tail -5 "$FX_DIR/mw.log")"
! compgen -G "$DATADIR/.lvss-ib_logfile0*" >/dev/null || fail "the redo log copy was left in the data directory: $(ls -a "$DATADIR")"
echo "restored and rolled forward: CHECK TABLE ok, total $TOTAL, $N_REST transfers (live had $N_LIVE)"

kill -TERM "$FX_PID_mw"; wait "$FX_PID_mw"; rc=$?
[ "$rc" = 0 ] || fail "lvss-writer-mariadb exited $rc on SIGTERM"

# --- --purge-binlogs: a copy never purges, a successful full purges the
# binary logs before its stamp's file --------------------------------------------
# Redo log copies are per snapshot set: a stale one (a writer that exited
# before its session ended) is removed at start-up, a symlink as a link
# (its target kept); another set's copy survives this set's BackupComplete.
STALE=$DATADIR/.lvss-ib_logfile0.00000000-0000-4000-8000-00000000dead
OTHER=$DATADIR/.lvss-ib_logfile0.00000000-0000-4000-8000-0000000000a2
echo stale >"$STALE"
echo target >"$FX_DIR/symlink-target"
ln -s "$FX_DIR/symlink-target" "$DATADIR/.lvss-ib_logfile0.00000000-0000-4000-8000-00000000beef"
start_writer --purge-binlogs
! compgen -G "$DATADIR/.lvss-ib_logfile0*" >/dev/null || fail "stale redo log copies not removed at start-up: $(ls -a "$DATADIR")"
[ "$(cat "$FX_DIR/symlink-target")" = target ] || fail "start-up followed a symlinked redo log copy"
echo "another set's copy" >"$OTHER"
sql -e 'FLUSH BINARY LOGS; UPDATE bank.meta SET n = n; FLUSH BINARY LOGS; UPDATE bank.meta SET n = n'
nlogs=$(sql -e 'SHOW BINARY LOGS' | wc -l)
[ "$nlogs" -ge 3 ] || fail "expected at least 3 binary logs, have $nlogs"
$LB create --repo "$REPO" --type copy --quiet 2>"$FX_DIR/copy2.err" || fail "copy: $(cat "$FX_DIR/copy2.err")"
[ "$(sql -e 'SHOW BINARY LOGS' | wc -l)" = "$nlogs" ] || fail "a copy backup purged binary logs"
$LB create --repo "$REPO" --json >"$FX_DIR/full2.json" 2>"$FX_DIR/full2.err" || fail "full: $(cat "$FX_DIR/full2.err")"
ID2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$FX_DIR/full2.json")
$LB show --repo "$REPO" "$ID2" --json >"$FX_DIR/show2.json" || fail "show"
[ "$(cat "$OTHER" 2>/dev/null)" = "another set's copy" ] || fail "a BackupComplete removed another set's redo log copy"
for i in $(seq 200); do [ "$(ls -a "$DATADIR" | grep -c '^\.lvss-ib_logfile0')" = 1 ] && break; sleep 0.1; done
[ "$(ls -a "$DATADIR" | grep -c '^\.lvss-ib_logfile0')" = 1 ] || fail "this set's redo log copy was left: $(ls -a "$DATADIR")"
python3 - "$FX_DIR/show2.json" <<'PY' || fail "the full did not store its redo log copy under a per-set name"
import json, re, sys
d = json.load(open(sys.argv[1]))
names = [f["path"].rsplit("/", 1)[1] for f in d["files"] if "/.lvss-ib_logfile0" in f["path"]]
assert len(names) == 1 and re.fullmatch(r"\.lvss-ib_logfile0\.[0-9a-f-]{36}", names[0]), names
print("stored redo log copy", names[0])
PY
rm -f "$OTHER"
sfile=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); w=[w for w in d["writers"] if w["name"]=="MariaDB Writer"][0]; print(json.loads(json.loads(w["stamp"])[sys.argv[2]])["binlog_file"])' "$FX_DIR/show2.json" "$COMP")
for i in $(seq 50); do [ "$(sql -e 'SHOW BINARY LOGS' | head -1 | cut -f1)" = "$sfile" ] && break; sleep 0.1; done
[ "$(sql -e 'SHOW BINARY LOGS' | head -1 | cut -f1)" = "$sfile" ] \
    || fail "binary logs before $sfile not purged: $(sql -e 'SHOW BINARY LOGS' | tr '\n' ' ')"
echo "--purge-binlogs: $nlogs binary logs, copy purged none, full purged up to $sfile ($(sql -e 'SHOW BINARY LOGS' | wc -l) left)"
kill -TERM "$FX_PID_mw"; wait "$FX_PID_mw"; rc=$?
[ "$rc" = 0 ] || fail "lvss-writer-mariadb exited $rc on SIGTERM"
echo "mariadb-writer ok"
