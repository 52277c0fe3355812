#!/bin/bash
# MariaDB Writer incremental and differential backups (the binary logs) and
# their replay at restore, against a real MariaDB 10.11 with write load:
#  - full under load; row A; time T; row B; incremental 1 under load (only
#    binary logs, from the full's stamp file, stamp = the new file); row C,
#    load stopped, incremental 2; a differential holds incremental 1's and
#    incremental 2's logs;
#  - server stopped, data directory emptied: restore of the chain full +
#    inc1 + inc2 (the writer replays with mariadb-binlog on a temporary
#    server): the state is exactly the live one (transfers, total, A,B,C);
#  - again with --target-time T: row A only, the total intact, fewer
#    transfers;
#  - the data directory removed (owned by mysql): a full restored brings it
#    and its directories back owned by mysql (751 as it was, 700 below);
#  - log_bin off: incremental and differential refused with the reason,
#    a full still works.
# Fails on the old writer (incremental refused; no replay after restore).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/mariadb-common.bash" || exit 1
command -v mariadb-binlog >/dev/null || skip "mariadb-binlog not installed (Debian mariadb-client)"
sql -e "CREATE TABLE bank.marks(id INT PRIMARY KEY, note VARCHAR(8)) ENGINE=InnoDB" || fail "marks"
marks() { sql -e "SELECT IFNULL(GROUP_CONCAT(note ORDER BY id), '') FROM bank.marks"; }
# record ID FILE: lvss-backup show --json
record() { $LB show --repo "$REPO" "$1" --json >"$2" || fail "show $1"; }
# create TYPE: a backup, its id in $BID
create() {
    $LB create --repo "$REPO" --type "$1" --json >"$FX_DIR/c.json" 2>"$FX_DIR/c.err" ||
        fail "$1 backup: $(cat "$FX_DIR/c.err") $(tail -3 "$FX_DIR/mw.log")"
    BID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$FX_DIR/c.json")
}

fixture_spawn load1 "$FX_DIR/load.sh"
fixture_spawn load2 "$FX_DIR/load.sh"
for i in $(seq 300); do [ "$(sql -e 'SELECT n FROM bank.meta')" -ge 50 ] && break; sleep 0.1; done
create full; FULL=$BID
sql -e "INSERT INTO bank.marks VALUES (1, 'A')" || fail "insert A"
sleep 1.2
T=$(sql -e "SELECT DATE_FORMAT(NOW(), '%Y-%m-%d %H:%i:%s')")
sleep 1.2
sql -e "INSERT INTO bank.marks VALUES (2, 'B')" || fail "insert B"
create incremental; INC1=$BID
kill -0 "$FX_PID_load1" || fail "the load was not running during the incremental"
record "$FULL" "$FX_DIR/full.json"
record "$INC1" "$FX_DIR/inc1.json"
python3 - "$FX_DIR/full.json" "$FX_DIR/inc1.json" "$COMP" "${DATADIR#/}" <<'PY' || fail "incremental 1: $(head -c 1500 "$FX_DIR/inc1.json")"
import json, re, sys
f, i, comp, dd = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3], sys.argv[4]
def stamp(d):
    w = [w for w in d["writers"] if w["name"] == "MariaDB Writer"][0]
    return json.loads(json.loads(w["stamp"])[comp])
fs, st = stamp(f), stamp(i)
files = sorted(x["path"] for x in i["files"])
assert i["type"] == "incremental" and i["based_on"] == f["id"], (i["type"], i["based_on"])
assert files and all(re.fullmatch(re.escape(dd) + r"/binlog\.\d{6}", p) for p in files), files
assert files[0] == dd + "/" + fs["binlog_file"], (files[0], fs)          # from the full's file on
assert st["binlog_file"] > files[-1].rsplit("/", 1)[1], (st, files)        # stamp: the file after them
PY
sql -e "INSERT INTO bank.marks VALUES (3, 'C')" || fail "insert C"
sleep 1
touch "$STOP"
wait "$FX_PID_load1" || fail "load client 1 failed: $(cat "$FX_DIR/load1.log")"
wait "$FX_PID_load2" || fail "load client 2 failed: $(cat "$FX_DIR/load2.log")"
read -r N_LIVE SUM <<<"$(state)"
[ "$SUM" = "$TOTAL" ] || fail "live total $SUM != $TOTAL"
[ "$(marks)" = "A,B,C" ] || fail "live marks: $(marks)"
create incremental; INC2=$BID
create differential; DIFF=$BID
record "$INC2" "$FX_DIR/inc2.json"
record "$DIFF" "$FX_DIR/diff.json"
python3 - "$FX_DIR/inc1.json" "$FX_DIR/inc2.json" "$FX_DIR/diff.json" "$FULL" <<'PY' || fail "differential: $(head -c 1000 "$FX_DIR/diff.json")"
import json, sys
i1, i2, d = (json.load(open(p)) for p in sys.argv[1:4])
p = lambda r: {x["path"] for x in r["files"]}
assert d["type"] == "differential" and d["based_on"] == sys.argv[4], (d["type"], d["based_on"])
assert p(i1) | p(i2) <= p(d), (p(i1) | p(i2)) - p(d)
PY
echo "full $FULL, incrementals $INC1 $INC2, differential $DIFF; live: $N_LIVE transfers"

# --- restore to the end ------------------------------------------------------------
wipe() {
    stop_server
    find "$DATADIR" -mindepth 1 -delete
    [ -z "$(ls -A "$DATADIR")" ] || fail "wipe failed"
}
wipe
$LB restore --repo "$REPO" "$INC2" >/dev/null 2>"$FX_DIR/r1.err" || fail "restore: $(cat "$FX_DIR/r1.err") $(tail -5 "$FX_DIR/mw.log")"
grep -q 'replaying [0-9]* binary log' "$FX_DIR/mw.log" || fail "no replay: $(tail -5 "$FX_DIR/mw.log")"
start_server
read -r N SUM <<<"$(state)"
[ "$SUM" = "$TOTAL" ] && [ "$N" = "$N_LIVE" ] && [ "$(marks)" = "A,B,C" ] ||
    fail "restore to the end: $N transfers, total $SUM, marks '$(marks)'; want $N_LIVE, $TOTAL, A,B,C"
echo "restored to the end: $N transfers, A,B,C"

# --- point in time -----------------------------------------------------------------
wipe
$LB restore --repo "$REPO" "$INC2" --target-time "$T" >/dev/null 2>"$FX_DIR/r2.err" ||
    fail "PITR restore: $(cat "$FX_DIR/r2.err") $(tail -5 "$FX_DIR/mw.log")"
start_server
read -r N SUM <<<"$(state)"
[ "$SUM" = "$TOTAL" ] || fail "PITR total $SUM != $TOTAL"
[ "$(marks)" = "A" ] || fail "PITR to $T: marks '$(marks)', want A"
[ "$N" -lt "$N_LIVE" ] || fail "PITR: $N transfers, not fewer than live $N_LIVE"
echo "restored to $T: A only, $N transfers"

# --- a data directory that is gone comes back with its owner ------------------------
# lvss-backup restore creates missing directories as root:root 0750; the writer
# gives them to the data directory's owner at backup time (mode: the data
# directory's recorded one, 0700 below).  Fails on the old writer (root:root 750).
chown -R mysql:mysql "$DATADIR"; chmod 751 "$DATADIR"
create full; OWNFULL=$BID
stop_server
rm -rf "$DATADIR"
$LB restore --repo "$REPO" "$OWNFULL" >/dev/null 2>"$FX_DIR/r3.err" ||
    fail "restore into a missing data directory: $(cat "$FX_DIR/r3.err") $(tail -5 "$FX_DIR/mw.log")"
[ "$(stat -c %U:%G:%a "$DATADIR")" = mysql:mysql:751 ] || fail "data directory restored as $(stat -c %U:%G:%a "$DATADIR")"
for d in bank mysql performance_schema; do
    [ "$(stat -c %U:%G:%a "$DATADIR/$d")" = mysql:mysql:700 ] || fail "$d restored as $(stat -c %U:%G:%a "$DATADIR/$d")"
done
start_server
read -r N SUM <<<"$(state)"
[ "$SUM" = "$TOTAL" ] && [ "$(marks)" = "A" ] || fail "restored into a missing directory: total $SUM, marks '$(marks)'"
echo "data directory recreated as mysql:mysql 751, its directories 700"

# --- the binary log off --------------------------------------------------------------
stop_server
start_server --skip-log-bin
[ "$(sql -e 'SELECT @@log_bin')" = 0 ] || fail "log_bin still on"
for t in incremental differential; do
    $LB create --repo "$REPO" --type $t --quiet 2>"$FX_DIR/off-$t.err" && fail "$t accepted with log_bin off"
    grep -q "$t backups refused: the binary log is off (log_bin)" "$FX_DIR/off-$t.err" ||
        fail "$t refusal: $(cat "$FX_DIR/off-$t.err")"
done
create full
kill -TERM "$FX_PID_mw"; wait "$FX_PID_mw"; rc=$?
[ "$rc" = 0 ] || fail "lvss-writer-mariadb exited $rc on SIGTERM"
echo ok
