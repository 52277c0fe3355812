#!/bin/bash
# The SQLite Writer (lvss-writer-sqlite) with lvssd and lvss-backup on XFS:
# three processes move money between a.db (WAL) and b.db (rollback journal)
# in cross-database transactions (ATTACH) while two full backups are taken;
# a restore is refused while a process holds a.db (SQLite's locks) or b.db
# (idle, no lock: seen in /proc) open, nothing touched; then the first backup
# is restored: PRAGMA integrity_check ok on both, the total is intact and the
# state is the backup's (fewer transfers than live).  A process holding a
# long write transaction on b.db makes the freeze time out cleanly (exit 1,
# the database named, no snapshot left, the holder's transaction intact, the
# databases writable at once); once it ends a backup succeeds.  SIGTERM: exit 0.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1

LVSSD=$(fx_bin daemon/lvssd/lvssd)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
SW=$(fx_bin tools/lvss-writer-sqlite/lvss-writer-sqlite)
for b in "$LVSSD" "$LB" "$LVSSADM" "$SW"; do
    [ -x "$b" ] || skip "$(basename "$b") not built"
done
command -v python3 >/dev/null || skip "python3 needed (sqlite3 module)"
python3 -c 'import sqlite3' 2>/dev/null || skip "python3 has no sqlite3 module"
fixture_init
fixture_need_root
fixture_bus
if [ "${SQLW_FS:-xfs}" = btrfs ]; then
    fixture_btrfs data 300
    btrfs -q subvolume create "$FX_MNT/vol" >/dev/null || fail "btrfs subvolume create failed"
    APP=$FX_MNT/vol/app
else
    fixture_xfs data 300
    APP=$FX_MNT/app
fi
REPO=$FX_DIR/repo
mkdir -p "$APP" "$FX_DIR/state"
TOTAL=200000

python3 - "$APP" <<'PY' || fail "creating the databases"
import sqlite3, sys
app = sys.argv[1]
for name, mode in (("a", "wal"), ("b", "delete")):
    c = sqlite3.connect(f"{app}/{name}.db", isolation_level=None)
    c.execute(f"PRAGMA journal_mode={mode}")
    c.execute("CREATE TABLE accounts(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL)")
    c.executemany("INSERT INTO accounts VALUES(?, 1000)", [(i,) for i in range(100)])
    if name == "a":
        c.execute("CREATE TABLE meta(n INTEGER NOT NULL)")
        c.execute("INSERT INTO meta VALUES(0)")
    c.close()
PY

cat >"$FX_DIR/sqlite-writer.json" <<EOF
{ "host": "t1", "busy_timeout_ms": 1500, "freeze_timeout_ms": 20000,
  "components": [ { "name": "bank", "databases": ["$APP/a.db", "$APP/b.db"] } ] }
EOF

# The load client: transfers between a.db and b.db in one transaction each.
cat >"$FX_DIR/load.py" <<'PY'
import os, random, sqlite3, sys, time
app, stop, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rnd = random.Random(seed)
c = sqlite3.connect(f"{app}/a.db", timeout=30, isolation_level=None)
c.execute(f"ATTACH '{app}/b.db' AS b")
done = 0
while not os.path.exists(stop):
    x, i, j = rnd.randint(1, 50), rnd.randrange(100), rnd.randrange(100)
    if rnd.random() < 0.5:
        x = -x
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("UPDATE main.accounts SET bal = bal - ? WHERE id = ?", (x, i))
        c.execute("UPDATE b.accounts SET bal = bal + ? WHERE id = ?", (x, j))
        c.execute("UPDATE main.meta SET n = n + 1")
        c.execute("COMMIT")
        done += 1
    except sqlite3.OperationalError as e:
        if "locked" not in str(e) and "busy" not in str(e):
            raise
        if c.in_transaction:
            c.execute("ROLLBACK")
print(done)
PY

# check DIR: integrity_check on both, total intact; prints the transfer count.
check_dbs() {
    python3 - "$1" "$TOTAL" <<'PY'
import sqlite3, sys
app, total = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(f"{app}/a.db", isolation_level=None)
c.execute(f"ATTACH '{app}/b.db' AS b")
for s in ("main", "b"):
    r = c.execute(f"PRAGMA {s}.integrity_check").fetchall()
    assert r == [("ok",)], (s, r)
sa = c.execute("SELECT sum(bal) FROM main.accounts").fetchone()[0]
sb = c.execute("SELECT sum(bal) FROM b.accounts").fetchone()[0]
assert sa + sb == total, f"invariant broken: a={sa} b={sb} sum={sa + sb} want {total}"
print(c.execute("SELECT n FROM meta").fetchone()[0])
PY
}

no_snapshots() {
    local n
    n=$($LVSSADM list shadows --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shadows"]))')
    [ "$n" = 0 ] || fail "$n snapshot(s) left behind: $($LVSSADM list shadows)"
}

fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
fixture_spawn sw "$SW" --config "$FX_DIR/sqlite-writer.json"
for i in $(seq 100); do grep -q '^ready' "$FX_DIR/sw.log" && break; sleep 0.1; done
grep -q '^ready' "$FX_DIR/sw.log" || fail "the SQLite Writer did not register: $(cat "$FX_DIR/sw.log")"
$LB init --repo "$REPO" --no-encryption --quiet || fail "lvss-backup init"

# --- backups under load -----------------------------------------------------
STOP=$FX_DIR/stop-load
for k in 1 2 3; do fixture_spawn "load$k" python3 "$FX_DIR/load.py" "$APP" "$STOP" "$k"; done
# The first backup must hold transfers: wait until the load has committed some.
live_n() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1], timeout=10).execute("SELECT n FROM meta").fetchone()[0])' "$APP/a.db"
}
for i in $(seq 300); do [ "$(live_n)" -ge 30 ] && break; sleep 0.1; done
[ "$(live_n)" -ge 30 ] || fail "the load clients committed nothing: $(cat "$FX_DIR"/load?.log)"
for k in 1 2; do
    $LB create --repo "$REPO" --json >"$FX_DIR/full$k.json" 2>"$FX_DIR/full$k.err" \
        || fail "full backup $k: $(cat "$FX_DIR/full$k.err") $(tail -3 "$FX_DIR/sw.log")"
    python3 - "$FX_DIR/full$k.json" <<'PY' || fail "create --json: $(cat "$FX_DIR/full$k.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["type"] == "full", d
assert d["components"] == ["SQLite/t1/bank"], d["components"]
PY
    no_snapshots
    sleep 0.5
done
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$FX_DIR/full1.json")
$LB show --repo "$REPO" "$ID" --json >"$FX_DIR/show.json" || fail "show"
python3 - "$FX_DIR/show.json" "$APP" <<'PY' || fail "record contents: $(cat "$FX_DIR/show.json")"
import json, sys
d, app = json.load(open(sys.argv[1])), sys.argv[2].lstrip("/")
paths = sorted(f["path"].lstrip("/") for f in d["files"])
assert f"{app}/a.db" in paths and f"{app}/b.db" in paths, paths
assert not any(p.endswith("-shm") for p in paths), paths
assert [w for w in d["writers"] if w["name"] == "SQLite Writer"], d["writers"]
PY
# The copy type is taken too; incremental is refused by the writer.
$LB create --repo "$REPO" --type copy --quiet 2>"$FX_DIR/copy.err" || fail "copy backup: $(cat "$FX_DIR/copy.err")"
$LB create --repo "$REPO" --type incremental --quiet 2>"$FX_DIR/incr.err" && fail "incremental backup accepted"
grep -q "full and copy backups only" "$FX_DIR/incr.err" || fail "incremental refusal not explained: $(cat "$FX_DIR/incr.err")"
no_snapshots

sleep 1
touch "$STOP"
for k in 1 2 3; do
    pv="FX_PID_load$k"
    wait "${!pv}" || fail "load client $k failed: $(cat "$FX_DIR/load$k.log")"
done
N_LIVE=$(check_dbs "$APP") || fail "live databases broken"
echo "live: $N_LIVE transfers by 3 clients ($(cat "$FX_DIR"/load?.log | tr '\n' ' '))"
[ "$N_LIVE" -gt 100 ] || fail "too little load: $N_LIVE transfers"

# --- restore refused while the databases are open -----------------------------
cat >"$FX_DIR/hold.py" <<'PY'
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("SELECT count(*) FROM accounts").fetchone()
if len(sys.argv) > 3:
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE accounts SET bal = bal WHERE id = 0")
open(sys.argv[2], "w").write("held\n")
time.sleep(120)
PY
ino_a=$(stat -c %i "$APP/a.db"); ino_b=$(stat -c %i "$APP/b.db")
for db in a b; do
    rm -f "$FX_DIR/held"
    fixture_spawn "hold$db" python3 "$FX_DIR/hold.py" "$APP/$db.db" "$FX_DIR/held"
    for i in $(seq 100); do [ -e "$FX_DIR/held" ] && break; sleep 0.05; done
    pv="FX_PID_hold$db"
    $LB restore --repo "$REPO" "$ID" >"$FX_DIR/r.out" 2>"$FX_DIR/r.err" && fail "restore accepted while $db.db is open"
    grep -q "database $APP/$db.db is in use: process ${!pv}" "$FX_DIR/r.err" \
        || fail "restore refusal does not name $db.db and process ${!pv}: $(cat "$FX_DIR/r.err")"
    [ "$(stat -c %i "$APP/a.db")" = "$ino_a" ] && [ "$(stat -c %i "$APP/b.db")" = "$ino_b" ] \
        || fail "a refused restore replaced a database"
    [ "$(check_dbs "$APP")" = "$N_LIVE" ] || fail "a refused restore changed the databases"
    kill "${!pv}"; wait "${!pv}" 2>/dev/null
    echo "restore refused while $db.db is open: $(grep -o "database .*" "$FX_DIR/r.err" | head -1)"
done
# A process writes more transfers and dies without closing: its committed
# frames stay in a.db-wal.  The restore must not let that live WAL be
# replayed onto the restored a.db (the writer removes it at PreRestore).
python3 - "$APP" <<'PY' || true
import os, signal, sqlite3, sys
app = sys.argv[1]
c = sqlite3.connect(f"{app}/a.db", isolation_level=None)
c.execute("PRAGMA wal_autocheckpoint=0")
c.execute(f"ATTACH '{app}/b.db' AS b")
for k in range(50):
    c.execute("BEGIN IMMEDIATE")
    c.execute("UPDATE main.accounts SET bal = bal - 7 WHERE id = ?", (k,))
    c.execute("UPDATE b.accounts SET bal = bal + 7 WHERE id = ?", (k,))
    c.execute("UPDATE main.meta SET n = n + 1")
    c.execute("COMMIT")
os.kill(os.getpid(), signal.SIGKILL)
PY
[ -s "$APP/a.db-wal" ] || fail "a.db-wal should hold the killed process's frames before the restore"
N_LIVE=$((N_LIVE + 50))
# And a process dies inside a big transaction on b.db (rollback journal):
# a hot b.db-journal holding live page images is left.  Replayed onto the
# restored b.db it would bring live balances back (invariant broken).
python3 - "$APP" <<'PY' || true
import os, signal, sqlite3, sys
c = sqlite3.connect(f"{sys.argv[1]}/b.db", isolation_level=None)
c.execute("PRAGMA cache_size=10")
c.execute("BEGIN IMMEDIATE")
c.execute("UPDATE accounts SET bal = bal + 1000")
c.execute("CREATE TABLE IF NOT EXISTS junk(x BLOB)")
c.executemany("INSERT INTO junk VALUES(randomblob(2000))", [()] * 2000)
os.kill(os.getpid(), signal.SIGKILL)
PY
[ -s "$APP/b.db-journal" ] || fail "b.db-journal should be hot before the restore"

# --- restore --------------------------------------------------------------------
$LB restore --repo "$REPO" "$ID" --json >"$FX_DIR/restore.json" 2>"$FX_DIR/restore.err" \
    || fail "restore: $(cat "$FX_DIR/restore.err") $(tail -3 "$FX_DIR/sw.log")"
[ "$(stat -c %i "$APP/a.db")" != "$ino_a" ] || fail "a.db was not replaced"
N_REST=$(check_dbs "$APP") || fail "restored databases broken"
[ "$N_REST" -gt 0 ] && [ "$N_REST" -lt "$N_LIVE" ] \
    || fail "restored state is not the backup's: $N_REST transfers (live had $N_LIVE)"
echo "restored: integrity ok, total $TOTAL, $N_REST transfers (live had $N_LIVE)"

# --- a long write transaction makes the freeze time out cleanly ---------------
rm -f "$FX_DIR/held"
fixture_spawn holdw python3 "$FX_DIR/hold.py" "$APP/b.db" "$FX_DIR/held" write
for i in $(seq 100); do [ -e "$FX_DIR/held" ] && break; sleep 0.05; done
t0=$(date +%s%N)
$LB create --repo "$REPO" --quiet 2>"$FX_DIR/busy.err" && fail "backup succeeded while b.db was write-locked"
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
grep -q "database $APP/b.db stayed locked by another transaction" "$FX_DIR/busy.err" \
    || fail "freeze timeout not explained: $(cat "$FX_DIR/busy.err")"
[ "$ms" -lt 15000 ] || fail "the freeze took $ms ms to give up (busy_timeout_ms 1500)"
no_snapshots
kill -0 "$FX_PID_holdw" || fail "the lock holder died"
# The writer released a.db at once: a transfer-free write goes through now.
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=2, isolation_level=None); c.execute("UPDATE meta SET n = n")' \
    "$APP/a.db" || fail "a.db still locked after the failed freeze"
kill "$FX_PID_holdw"; wait "$FX_PID_holdw" 2>/dev/null
echo "freeze gave up after $ms ms: $(grep -o "database .*" "$FX_DIR/busy.err" | head -1)"
$LB create --repo "$REPO" --quiet 2>"$FX_DIR/after.err" || fail "backup after the lock ended: $(cat "$FX_DIR/after.err")"
no_snapshots
[ "$(check_dbs "$APP")" = "$N_REST" ] || fail "databases changed by backups"

# --- SIGTERM ----------------------------------------------------------------------
kill -TERM "$FX_PID_sw"
wait "$FX_PID_sw"; rc=$?
[ "$rc" = 0 ] || fail "lvss-writer-sqlite exited $rc on SIGTERM: $(cat "$FX_DIR/sw.log")"
echo "sqlite-writer ok"
