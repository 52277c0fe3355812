#!/bin/bash
# Restore write-path benchmark (docs/design/backup.md §2 "Writing"): one
# small PostgreSQL 15 cluster (pgbench -i -s LVSS_BENCH_RESTORE_SCALE,
# default 1: about 1000 files) on an XFS loop mount, one full backup through
# the PostgreSQL Writer, then LVSS_BENCH_RESTORE_RUNS (default 3) times: the
# cluster stopped, every file deleted, `lvss-backup restore` timed (files
# written and made durable, PostRestore), beside `cp -a` + `sync -f` of the
# same data directory (the reference: plain copy made durable by one syncfs).
# Prints fsync/fdatasync/syncfs counts of one restore when strace is present.
set -u
[ "$(id -u)" = 0 ] || { echo "restore-bench: skipped: needs root (loop mounts)"; exit 0; }
[ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "restore-bench: skipped: postgresql-15 not installed"; exit 0; }
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/pg-common.bash" || exit 1
[ -x "$PGW" ] || { echo "restore-bench: skipped: lvss-writer-postgresql not built"; exit 0; }
SCALE=${LVSS_BENCH_RESTORE_SCALE:-1}
RUNS=${LVSS_BENCH_RESTORE_RUNS:-3}
pg_setup on
start_pgw --wal-archive "$ARCH"
as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -i -s "$SCALE" -q postgres >"$FX_DIR/init.log" 2>&1 ||
    fail "pgbench -i: $(tail -3 "$FX_DIR/init.log")"
sql "CHECKPOINT" >/dev/null
backup full
[ "$RC" = 0 ] || fail "full backup: $(cat "$FX_DIR/create.err")"
ID=$BID
pg_stop
COPY=$FX_DIR/copy
cp -a "$PGDATA" "$COPY"
NFILES=$(find "$PGDATA" -type f | wc -l)
now() { date +%s.%N; }
elapsed() { python3 -c "print('%.2f' % ($(now) - $1))"; }
uptime
for i in $(seq "$RUNS"); do
    find "$PGDATA" "$ARCH" -type f -delete
    t=$(now)
    "$LB" restore --repo "$REPO" "$ID" --quiet >"$FX_DIR/r.out" 2>"$FX_DIR/r.err" || fail "restore: $(cat "$FX_DIR/r.err")"
    L=$(elapsed "$t")
    find "$PGDATA" -mindepth 1 -delete
    t=$(now)
    cp -a "$COPY/." "$PGDATA/" && sync -f "$PGDATA"
    C=$(elapsed "$t")
    echo "run $i: $NFILES files: lvss-backup restore $L s, cp -a + syncfs $C s, ratio $(python3 -c "print('%.1f' % ($L / $C))")"
done
if command -v strace >/dev/null; then
    find "$PGDATA" "$ARCH" -type f -delete
    strace -f -c -w -e trace=fsync,fdatasync,syncfs -o "$FX_DIR/strace.txt" \
        "$LB" restore --repo "$REPO" "$ID" --quiet >"$FX_DIR/r.out" 2>"$FX_DIR/r.err" || fail "restore under strace"
    echo "syscalls of one restore (strace -f -c):"; cat "$FX_DIR/strace.txt"
fi
uptime
echo "restore-bench ok"
