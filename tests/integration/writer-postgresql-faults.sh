#!/bin/bash
# The PostgreSQL Writer when things go wrong, on a real PostgreSQL 15:
#  - kill -9 of the requestor while the writer holds pg_backup_start open
#    (the set is held in Freeze by the example writer hanging there): the
#    writer's session closes, PostgreSQL has no backup left in progress (a
#    new pg_backup_start/stop works), no set or shadow is left, the next
#    full backup succeeds;
#  - kill -9 of the writer at the same point: the same;
#  - archive_mode off: full and copy work, incremental and differential are
#    refused with the reason.
. "$LVSS_SOURCE_ROOT/tests/integration/pg-common.bash"
pg_setup on
EXD=$FX_MNT/example; mkdir -p "$EXD"
start_pgw --wal-archive "$ARCH"
sql "CREATE TABLE t (x int)" && sql "INSERT INTO t SELECT generate_series(1, 1000)" || fail "table"

# start_hang NAME: the example writer, hanging 8 s in its Freeze once.
start_hang() {
    local i
    fixture_spawn "$1" "$EW" --dir "$EXD" --rate 0 --hang-at freeze --hang-seconds 8 --events-log "$FX_DIR/$1.events"
    for ((i=0; i<100; i++)); do grep -q '^ready' "$FX_DIR/$1.log" 2>/dev/null && return 0; sleep 0.1; done
    fail "example writer $1 did not register: $(cat "$FX_DIR/$1.log")"
}
# mid_set NAME: wait until the writer's backup session is open and the set hangs in Freeze.
mid_set() {
    local i
    for ((i=0; i<200; i++)); do
        [ "$(backup_sessions)" = 1 ] && grep -q '^hang ' "$FX_DIR/$1.events" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "the set never reached Freeze with a backup session open (sessions: $(backup_sessions)): $(tail -3 "$FX_DIR/pgw.log")"
}
# sessions_gone WHAT: the writer's session ends within 10 s.
sessions_gone() {
    local i
    for ((i=0; i<100; i++)); do [ "$(backup_sessions)" = 0 ] && return 0; sleep 0.1; done
    fail "$1: the backup session is still open in PostgreSQL"
}
set_gone() {
    local i
    for ((i=0; i<100; i++)); do
        [ -z "$("$LVSSADM" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["set_in_progress"] or "")')" ] && break
        sleep 0.1
    done
    no_set_left "$1"
}
stop_named() { local v="FX_PID_$1"; kill -TERM "${!v}" 2>/dev/null; wait "${!v}" 2>/dev/null; return 0; }

# --------------------------------------------------- kill -9 of the requestor
start_hang hang1
"$LB" create --repo "$REPO" --type full --quiet >"$FX_DIR/k1.out" 2>"$FX_DIR/k1.err" &
LBPID=$!
mid_set hang1
grep -q 'backup started at' "$FX_DIR/pgw.log" || fail "requestor kill: no pg_backup_start"
kill -KILL $LBPID
wait $LBPID 2>/dev/null
sessions_gone "requestor killed"
backup_startable "requestor killed"
set_gone "requestor killed"
stop_named hang1
backup full
[ "$RC" = 0 ] || fail "full after the requestor kill exited $RC: $(cat "$FX_DIR/create.err")"

# ------------------------------------------------------ kill -9 of the writer
start_hang hang2
"$LB" create --repo "$REPO" --type full --quiet >"$FX_DIR/k2.out" 2>"$FX_DIR/k2.err" &
LBPID=$!
: >"$FX_DIR/pgw.log"
mid_set hang2
kill -KILL "$FX_PID_pgw"
wait "$FX_PID_pgw" 2>/dev/null
sessions_gone "writer killed"
backup_startable "writer killed"
wait $LBPID; rc=$?
[ "$rc" = 1 ] || fail "writer killed: lvss-backup exited $rc, want 1 (a backup without its writer): $(cat "$FX_DIR/k2.err")"
set_gone "writer killed"
stop_named hang2
start_pgw --wal-archive "$ARCH"
backup full
[ "$RC" = 0 ] || fail "full after the writer kill exited $RC: $(cat "$FX_DIR/create.err")"

# ------------------------------------------------------------ archive off
sql "ALTER SYSTEM SET archive_mode = off" || fail "alter system"
pg_stop
pg_start
[ "$(sql 'SHOW archive_mode')" = off ] || fail "archive_mode still on"
backup full
[ "$RC" = 0 ] || fail "archive off: full exited $RC: $(cat "$FX_DIR/create.err")"
backup copy
[ "$RC" = 0 ] || fail "archive off: copy exited $RC: $(cat "$FX_DIR/create.err")"
for t in incremental differential; do
    backup $t
    [ "$RC" = 1 ] || fail "archive off: $t exited $RC, want 1: $(cat "$FX_DIR/create.err")"
    grep -q "$COMP: $t backup refused: archive_mode is off" "$FX_DIR/create.err" ||
        fail "archive off: $t message: $(cat "$FX_DIR/create.err")"
    no_set_left "archive off $t"
done
[ "$(backup_sessions)" = 0 ] || fail "archive off: a session is left open"
echo ok
