#!/bin/bash
# The MariaDB Writer's redo log copy (docs/design/writers.md §7.3 invariant 9)
# against the reflink provider's file-by-file commit.  lvssd runs with the
# reflink test hooks: ib_logfile0 is cloned last (then first) in the data
# directory, and between it and the other files commit holds while InnoDB,
# under BLOCK_COMMIT, runs an uncommitted UPDATE of 20000 rows, flushes every
# dirty page (innodb_max_dirty_pages_pct = 0; before the backup flushing was
# lazy, so committed transfers were dirty at Freeze) and moves its checkpoint
# past everything logged so far.  Each full is restored with --to and a second
# server started on it: no "in the future" or corruption message in its
# error log, CHECK TABLE ok, the total intact and exactly the transfers
# committed at the backup's stamp (counted in the live binary logs up to the
# stamp position).  With the old writer (LVSS_MARIADB_TEST_NO_REDO_COPY=1:
# the snapshot's ib_logfile0 is stored) the log-last backup restores with
# committed transfers lost (recovery starts at a checkpoint the early data
# files do not hold) and the log-first one with pages from the future.
MDBW_MYCNF_EXTRA='innodb-max-dirty-pages-pct = 90
innodb-max-dirty-pages-pct-lwm = 0
innodb-adaptive-flushing = OFF'
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/mariadb-common.bash" || exit 1
fixture_need_test_hooks

sql -e "CREATE TABLE bank.c(id INT PRIMARY KEY, v INT NOT NULL, pad CHAR(200) NOT NULL DEFAULT '') ENGINE=InnoDB;
  INSERT INTO bank.c(id, v) SELECT seq, 0 FROM bank.seq_1_to_20000" || fail "bank.c"
HOLD=$FX_DIR/hold
mkdir -p "$HOLD"
status() { sql -e "SHOW GLOBAL STATUS LIKE '$1'" | cut -f2; }

# lvssd again with the hooks (the writer registers with the new one).
restart_lvssd() {
    kill "$FX_PID_lvssd"; wait "$FX_PID_lvssd" 2>/dev/null
    fixture_spawn lvssd env LVSS_TEST_REFLINK_ORDER="$1" LVSS_TEST_REFLINK_HOLD="$HOLD" \
        "$LVSSD" --state-dir "$FX_DIR/state"
    fixture_wait_name org.lvss.Coordinator1 10
    local i
    for i in $(seq 200); do
        $LVSSADM list writers 2>/dev/null | grep -q 'MariaDB Writer' && return 0
        sleep 0.1
    done
    fail "the MariaDB Writer did not register with the new lvssd: $(tail -3 "$FX_DIR/mw.log")"
}

# one ORDER: a full under load with the hold; sets ID, STAMP_FILE, STAMP_POS.
backup_held() {
    rm -f "$HOLD/held" "$HOLD/go" "$HOLD/expired"
    sql -e 'SET GLOBAL innodb_max_dirty_pages_pct = 90'
    rm -f "$STOP"
    fixture_spawn load1 "$FX_DIR/load.sh"
    fixture_spawn load2 "$FX_DIR/load.sh"
    local i base
    base=$(sql -e 'SELECT n FROM bank.meta')
    for i in $(seq 300); do [ "$(sql -e 'SELECT n FROM bank.meta')" -ge $((base + 100)) ] && break; sleep 0.1; done
    $LB create --repo "$REPO" --json >"$FX_DIR/full-$1.json" 2>"$FX_DIR/full-$1.err" &
    local bpid=$!
    for i in $(seq 600); do [ -e "$HOLD/held" ] && break; sleep 0.05; done
    [ -e "$HOLD/held" ] || fail "$1: the provider never held at ib_logfile0: $(cat "$FX_DIR/full-$1.err")"
    # Inside the window: uncommitted work, then every page flushed and a
    # checkpoint past all of it.
    sql -e 'START TRANSACTION; UPDATE bank.c SET v = v + 1, pad = REPEAT(CHAR(65 + v % 26), 200); DO SLEEP(120); ROLLBACK' &
    local upid=$!
    for i in $(seq 300); do
        [ "$(sql -e "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_rows_modified >= 20000")" = 1 ] && break
        sleep 0.1
    done
    local lsn cp
    lsn=$(status Innodb_lsn_current)
    sql -e 'SET GLOBAL innodb_max_dirty_pages_pct = 0'
    for i in $(seq 250); do
        cp=$(status Innodb_lsn_last_checkpoint)
        [ "$cp" -ge "$lsn" ] && break
        sleep 0.1
    done
    [ "$cp" -ge "$lsn" ] || fail "$1: InnoDB's checkpoint ($cp) did not pass LSN $lsn while the provider held"
    echo "$1: checkpoint $cp past LSN $lsn during the hold"
    [ -e "$HOLD/expired" ] && fail "$1: the provider's hold expired before the test's window closed (go came too late)"
    touch "$HOLD/go"
    wait "$bpid" || fail "$1: full backup: $(cat "$FX_DIR/full-$1.err") $(tail -3 "$FX_DIR/mw.log")"
    sql -e "SELECT CONCAT('KILL ', ID, ';') FROM information_schema.PROCESSLIST WHERE INFO LIKE '%DO SLEEP(120)%'" | sql
    wait "$upid"
    touch "$STOP"
    wait "$FX_PID_load1" || fail "load client 1 failed: $(cat "$FX_DIR/load1.log")"
    wait "$FX_PID_load2" || fail "load client 2 failed: $(cat "$FX_DIR/load2.log")"
    ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$FX_DIR/full-$1.json")
    $LB show --repo "$REPO" "$ID" --json >"$FX_DIR/show-$1.json" || fail "show"
    read -r STAMP_FILE STAMP_POS <<<"$(python3 - "$FX_DIR/show-$1.json" "$COMP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
w = [w for w in d["writers"] if w["name"] == "MariaDB Writer"][0]
st = json.loads(json.loads(w["stamp"])[sys.argv[2]])
print(st["binlog_file"], st["binlog_pos"])
PY
)"
}

# The transfers committed up to the stamp, from the live binary logs.
committed_at_stamp() {
    local files=() f
    for f in "$DATADIR"/binlog.[0-9]*; do
        [[ "$(basename "$f")" > "$STAMP_FILE" ]] && continue
        files+=("$f")
    done
    mariadb-binlog --no-defaults --stop-position="$STAMP_POS" "${files[@]}" 2>/dev/null | grep -c 'UPDATE bank.meta SET n = n + 1'
}

# Restore with --to and start a second server on it.
check_restore() {
    local to=$FX_DIR/restored-$1 rsock=$FX_DIR/restored-$1.sock err=$FX_DIR/restored-$1.err want got sum chk i
    $LB restore --repo "$REPO" "$ID" --to "$to" >/dev/null 2>"$FX_DIR/restore-$1.err" ||
        fail "$1: restore: $(cat "$FX_DIR/restore-$1.err")"
    compgen -G "$to/.lvss-ib_logfile0*" >/dev/null && fail "$1: the redo log copy was not put in place: $(ls -a "$to")"
    [ "$(stat -c %U:%a "$to/ib_logfile0")" = "$(stat -c %U:%a "$DATADIR/ib_logfile0")" ] ||
        fail "$1: the restored ib_logfile0 is $(stat -c %U:%a "$to/ib_logfile0"), the live one $(stat -c %U:%a "$DATADIR/ib_logfile0")"
    fixture_spawn "rsrv$1" "$MARIADBD" --defaults-file="$FX_DIR/my.cnf" --datadir="$to" --socket="$rsock" \
        --pid-file="$FX_DIR/restored-$1.pid" --skip-networking --user=root --log-error="$err"
    for i in $(seq 900); do
        mariadb --no-defaults -S "$rsock" -u root -e 'SELECT 1' >/dev/null 2>&1 && break
        kill -0 "$(eval echo "\$FX_PID_rsrv$1")" 2>/dev/null || fail "$1: the restored server exited: $(grep -E 'ERROR|orrupt' "$err" | head -5)"
        sleep 0.1
    done
    rq() { mariadb --no-defaults -S "$rsock" -u root -N -B "$@"; }
    rq -e 'SELECT 1' >/dev/null || fail "$1: the restored server did not start: $(tail -5 "$err")"
    want=$(committed_at_stamp)
    chk=$(rq -e 'CHECK TABLE bank.a, bank.b, bank.c, bank.meta' | awk '$3 == "status" {print $4}' | sort -u)
    read -r got sum <<<"$(rq -e 'SELECT (SELECT n FROM bank.meta), (SELECT SUM(bal) FROM bank.a) + (SELECT SUM(bal) FROM bank.b)')"
    mariadb-admin --no-defaults -S "$rsock" -u root shutdown
    wait "$(eval echo "\$FX_PID_rsrv$1")" 2>/dev/null
    ! grep -E 'in the future|orrupt|Missing FILE|not found in the redo|Assertion' "$err" ||
        fail "$1: the restored server's error log reports the above"
    [ "$chk" = OK ] || fail "$1: CHECK TABLE on the restored server: $chk"
    [ "$sum" = "$TOTAL" ] || fail "$1: restored total $sum != $TOTAL ($got transfers, $want committed at the stamp)"
    [ "$got" = "$want" ] || fail "$1: restored $got transfers, $want were committed at the stamp $STAMP_FILE:$STAMP_POS"
    echo "$1: restored exactly the $got transfers committed at $STAMP_FILE:$STAMP_POS, total $sum, CHECK TABLE ok, no redo errors"
    rm -rf "$to"
}

for order in ${MDBW_REDO_ORDERS:-last first}; do   # one of them: MDBW_REDO_ORDERS=first
    restart_lvssd "$order:ib_logfile0"
    backup_held "$order"
    check_restore "$order"
done
grep -q 'redo log copied from checkpoint' "$FX_DIR/mw.log" || fail "the writer did not copy the redo log: $(tail -3 "$FX_DIR/mw.log")"
echo "mariadb-writer-redo ok"
