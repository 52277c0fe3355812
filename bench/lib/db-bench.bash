# shellcheck shell=bash
# Shared by the database writer benches (bench/pg-writer-bench.sh,
# bench/restore-bench.sh, bench/mariadb-writer-bench.sh): the checks that
# turn a bench into a skip (make bench goes on), the set-up of the test
# fixture (scratch file system, private bus, lvssd, the writer, a
# repository: tests/integration/pg-common.bash, mariadb-common.bash) and the
# timing helpers.  Not a bench itself (no .sh suffix: scripts/bench.sh runs
# bench/*.sh).

# db_bench_skip NAME WHY: NAME does not run here; exit 0.
db_bench_skip() { echo "$1: skipped: $2"; exit 0; }

# db_bench_pg NAME SCALE: root, PostgreSQL 15 and the writer, or a skip; then
# the cluster with its WAL archive (pg_setup on), the writer started, pgbench
# -i -s SCALE loaded and checkpointed.
db_bench_pg() {
    [ "$(id -u)" = 0 ] || db_bench_skip "$1" "needs root (loop mounts)"
    [ -x /usr/lib/postgresql/15/bin/initdb ] || db_bench_skip "$1" "postgresql-15 not installed"
    . "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/pg-common.bash" || exit 1
    [ -x "$PGW" ] || db_bench_skip "$1" "lvss-writer-postgresql not built"
    pg_setup on
    start_pgw --wal-archive "$ARCH"
    as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -i -s "$2" -q postgres >"$FX_DIR/pgbench-init.log" 2>&1 ||
        fail "pgbench -i: $(tail -3 "$FX_DIR/pgbench-init.log")"
    sql "CHECKPOINT" >/dev/null
}

# db_bench_mariadb NAME: root, MariaDB and the writer, or a skip; then the
# server with the bank schema and the writer (mariadb-common.bash).
db_bench_mariadb() {
    [ "$(id -u)" = 0 ] || db_bench_skip "$1" "needs root (loop mounts)"
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || db_bench_skip "$1" "mariadb-server not installed"
    [ -x "${LVSS_BUILD_ROOT:-build}/tools/lvss-writer-mariadb/lvss-writer-mariadb" ] ||
        db_bench_skip "$1" "lvss-writer-mariadb not built"
    . "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/mariadb-common.bash" || exit 1
}

now() { date +%s.%N; }
# since T0 [DIGITS]: seconds from T0 (a now) to now, DIGITS (1) decimals.
since() { python3 -c "print('%.${2:-1}f' % ($(now) - $1))"; }
# mib PATH: its size in MiB.
mib() { du -sb "$1" | awk '{printf "%.0f", $1 / 1048576}'; }

# stamped CMD...: CMD with every stderr line prefixed by the wall-clock time
# (the split between lvss-backup's steps and the writer's, printed by timeline).
stamped() {
    { "$@" 2>&1 1>&3 3>&- | python3 -u -c 'import sys, time
for l in sys.stdin: sys.stderr.write("%.3f %s" % (time.time(), l))' >&2; return "${PIPESTATUS[0]}"; } 3>&1
}
# timeline FILE T0: the stamped lines of FILE as "+SECONDS message" from T0.
timeline() {
    python3 - "$1" "$2" <<'PY'
import sys
t0 = float(sys.argv[2])
for l in open(sys.argv[1]):
    t, _, m = l.partition(" ")
    try: print("    +%6.2f s  %s" % (float(t) - t0, m.rstrip()[:110]))
    except ValueError: pass
PY
}
