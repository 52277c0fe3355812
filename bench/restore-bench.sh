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
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/db-bench.bash" || exit 1
SCALE=${LVSS_BENCH_RESTORE_SCALE:-1}
RUNS=${LVSS_BENCH_RESTORE_RUNS:-3}
db_bench_pg restore-bench "$SCALE"
backup full
[ "$RC" = 0 ] || fail "full backup: $(cat "$FX_DIR/create.err")"
ID=$BID
pg_stop
COPY=$FX_DIR/copy
cp -a "$PGDATA" "$COPY"
NFILES=$(find "$PGDATA" -type f | wc -l)
uptime
for i in $(seq "$RUNS"); do
    find "$PGDATA" "$ARCH" -type f -delete
    t=$(now)
    "$LB" restore --repo "$REPO" "$ID" --quiet >"$FX_DIR/r.out" 2>"$FX_DIR/r.err" || fail "restore: $(cat "$FX_DIR/r.err")"
    L=$(since "$t" 2)
    find "$PGDATA" -mindepth 1 -delete
    t=$(now)
    cp -a "$COPY/." "$PGDATA/" && sync -f "$PGDATA"
    C=$(since "$t" 2)
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
