# shellcheck shell=bash
# Shared by the PostgreSQL Writer tests (tests/integration/writer-postgresql*.sh):
# a real PostgreSQL 15 cluster run by the unprivileged user "postgres" in a
# scratch data directory on an XFS loop mount (socket in the scratch
# directory, no TCP), lvssd on the private bus mapping "postgres" to the
# writer role, the writer started as "postgres", an lvss-backup repository.
# Not a test itself (no .sh suffix).
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"

PGBIN=/usr/lib/postgresql/15/bin
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
PGW=$(fx_bin tools/lvss-writer-postgresql/lvss-writer-postgresql)
EW=$(fx_bin tools/lvss-example-writer/lvss-example-writer)
PGPORT=5439
HOST=$(hostname | cut -d. -f1)
COMP="PostgreSQL/$HOST/15-main"

as_pg() { runuser -u postgres -- "$@"; }
sql() { as_pg "$PGBIN/psql" -h "$PGSOCK" -p "$PGPORT" -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

# pg_setup ARCHIVE_MODE: cluster + lvssd + repository.
pg_setup() {
    local archive=${1:-on} b
    for b in "$LVSSD" "$LB" "$LVSSADM" "$EW"; do [ -x "$b" ] || skip "$(basename "$b") not built"; done
    [ -x "$PGW" ] || skip "lvss-writer-postgresql not built (libpq-dev missing at configure time)"
    [ -x "$PGBIN/initdb" ] || skip "PostgreSQL 15 not installed (Debian postgresql-15)"
    command -v python3 >/dev/null || skip "python3 needed to read JSON"
    fixture_init
    fixture_plain_build_only "the PostgreSQL suite"
    fixture_need_root
    id postgres >/dev/null 2>&1 || skip "no user postgres (installed by postgresql-15)"
    trap 'rc=$?; pg_kill; (exit $rc); fixture_cleanup' EXIT
    fixture_bus
    local base
    if [ "${PGW_FS:-xfs}" = btrfs ]; then   # writer-postgresql-btrfs.sh
        fixture_btrfs pg 2048
        btrfs -q subvolume create "$FX_MNT/vol" >/dev/null || fail "btrfs subvolume create failed"
        base=$FX_MNT/vol
    else
        fixture_xfs pg 2048
        base=$FX_MNT
    fi
    PGDATA=$base/15/main
    ARCH=$base/wal-archive
    PGSOCK=$FX_DIR/pgsock
    PGLOG=$FX_DIR/pglog/pg.log
    mkdir -p "$FX_DIR/pglog"; chown postgres: "$FX_DIR/pglog"
    REPO=$FX_DIR/repo
    mkdir -p "$PGDATA" "$ARCH" "$PGSOCK"
    chown postgres: "$base/15" "$PGDATA" "$ARCH" "$PGSOCK"
    chmod 700 "$PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -A trust --no-sync >"$FX_DIR/initdb.log" 2>&1 || fail "initdb: $(tail -3 "$FX_DIR/initdb.log")"
    cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$PGSOCK'
port = $PGPORT
wal_level = replica
archive_mode = $archive
archive_command = 'test ! -f $ARCH/%f && cp %p $ARCH/%f'
shared_buffers = 32MB
max_wal_size = 256MB
logging_collector = off
EOF
    pg_start
    printf '[access]\nuser:postgres = writer\n' >"$FX_DIR/lvssd.conf"
    mkdir -p "$FX_DIR/state"
    fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state" --config "$FX_DIR/lvssd.conf"
    fixture_wait_name org.lvss.Coordinator1 10
    "$LB" init --repo "$REPO" --no-encryption --quiet || fail "lvss-backup init"
}

pg_start() {
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t 120 start >/dev/null ||
        fail "pg_ctl start: $(tail -5 "$PGLOG")"
}
pg_stop() {
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 60 -m fast stop >/dev/null || fail "pg_ctl stop: $(tail -5 "$PGLOG")"
}
# On exit: stop the cluster so the loop mount can go.
pg_kill() {
    [ -n "${PGDATA:-}" ] && [ -f "$PGDATA/postmaster.pid" ] &&
        as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -t 20 -m immediate stop >/dev/null 2>&1
    return 0
}

# start_pgw [ARGS...]: the writer as postgres (setpriv: same pid, for kill -9).
start_pgw() {
    local i
    fixture_spawn pgw setpriv --reuid=postgres --regid=postgres --init-groups -- \
        "$PGW" --pgdata "$PGDATA" --host "$PGSOCK" --port "$PGPORT" "$@"
    for ((i=0; i<100; i++)); do
        grep -q "^ready $COMP " "$FX_DIR/pgw.log" 2>/dev/null && return 0
        kill -0 "$FX_PID_pgw" 2>/dev/null || break
        sleep 0.1
    done
    fail "PostgreSQL Writer did not register: $(cat "$FX_DIR/pgw.log")"
}
stop_pgw() {
    kill -TERM "$FX_PID_pgw" 2>/dev/null
    wait "$FX_PID_pgw" 2>/dev/null
    return 0
}

# backup TYPE [ARGS]: lvss-backup create; sets RC, BID (on success); output in $FX_DIR/create.json/.err
backup() {
    local t=$1; shift
    "$LB" create --repo "$REPO" --type "$t" --json "$@" >"$FX_DIR/create.json" 2>"$FX_DIR/create.err"
    RC=$?
    BID=
    [ "$RC" = 0 ] && BID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$FX_DIR/create.json")
    return 0
}

# backup_sessions: the writer's open sessions in pg_stat_activity.
backup_sessions() { sql "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lvss-writer-postgresql'"; }

# A new non-exclusive backup can start and stop (nothing left half-done).
backup_startable() {
    as_pg "$PGBIN/psql" -h "$PGSOCK" -p "$PGPORT" -d postgres -XAtq -v ON_ERROR_STOP=1 \
        -c "SELECT pg_backup_start('probe', true)" -c "SELECT lsn FROM pg_backup_stop(false)" >/dev/null ||
        fail "$1: pg_backup_start/pg_backup_stop failed"
}

no_set_left() {
    local n
    n=$("$LVSSADM" list shadows --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shadows"]))')
    [ "$n" = 0 ] || fail "$1: $n shadow(s) left"
    "$LVSSADM" status --json >"$FX_DIR/status.json" || fail "lvssadm status"
    [ -z "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["set_in_progress"] or "")' "$FX_DIR/status.json")" ] ||
        fail "$1: a set is still in progress"
}

# wait_promoted: recovery finished and the cluster is open for writes.
wait_promoted() {
    local i
    for ((i=0; i<300; i++)); do
        [ "$(sql 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && return 0
        sleep 0.2
    done
    fail "recovery did not finish within 60 s: $(tail -5 "$PGLOG")"
}
