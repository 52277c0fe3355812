#!/bin/bash
# PostgreSQL Writer benchmark (make bench): one PostgreSQL 15 cluster on an
# XFS loop mount (tests/integration/pg-common.bash), pgbench -i -s
# LVSS_BENCH_PG_SCALE (default 20, about 300 MiB), then in the same run:
#   - pgbench's undisturbed TPS (2 clients, LVSS_BENCH_PG_SECONDS, default 20);
#   - a full backup by lvss-backup (through the PostgreSQL Writer), by
#     pg_basebackup (-Fp -X stream -c fast, plain, uncompressed) and by
#     pgBackRest (full, zstd 3, process-max 2), each while pgbench runs:
#     backup time, pgbench's TPS during the backup window (its -P 1 progress
#     lines inside that window; also printed second by second), repository
#     size;
#   - each restored into the emptied data directory and recovered until the
#     cluster accepts writes: restore + recovery time.
# Fairness: every tool backs up the same cluster under the same load; lvss
# and pgBackRest repositories are unencrypted; pg_basebackup's copy is
# plain files (no compression: its fastest mode).  lvss's time includes the
# snapshot set; the lvss restore empties the WAL archive first (the full is
# self-contained).  pgbackrest and pg_basebackup are Debian packages
# (pgbackrest, postgresql-15); pgBackRest's column says n/a when missing.
set -u
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/db-bench.bash" || exit 1
SCALE=${LVSS_BENCH_PG_SCALE:-20}
SECS=${LVSS_BENCH_PG_SECONDS:-20}
PGBR=$(command -v pgbackrest || true)
db_bench_pg pg-writer-bench "$SCALE"
bench() { as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" "$@" postgres; }

# tps_between LOG T0 FROM TO: mean tps of the progress lines whose second
# (relative to T0, pgbench's start) ends inside [FROM, TO + 1].
tps_between() {
    python3 - "$@" <<'PY'
import re, sys
log, t0, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
v = []
for l in open(log):
    m = re.match(r"progress: ([\d.]+) s, ([\d.]+) tps", l)
    if m and a - t0 < float(m.group(1)) <= b - t0 + 1:
        v.append(float(m.group(2)))
print("%.0f" % (sum(v) / len(v)) if v else "n/a")
PY
}

# tps_series LOG T0 FROM TO: the per-second tps of those lines (where in
# the backup the load suffers: the checkpoint at its start, the snapshot,
# the reading).
tps_series() {
    python3 - "$@" <<'PY'
import re, sys
log, t0, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(" ".join("%.0f" % float(m.group(2)) for m in (re.match(r"progress: ([\d.]+) s, ([\d.]+) tps", l) for l in open(log))
               if m and a - t0 < float(m.group(1)) <= b - t0 + 1))
PY
}

# under_load NAME CMD...: run CMD while pgbench runs; sets SECS_TAKEN, TPS
# and OK (0 when CMD failed: lvss and pg_basebackup failing ends the bench,
# a failing reference tool (pgBackRest) only its column).
under_load() {
    local name=$1; shift
    local t0 start end pid
    t0=$(now)
    # its own session, so the whole of it (runuser, pgbench) gets the SIGTERM (a background job ignores SIGINT)
    setsid runuser -u postgres -- "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -c 2 -j 2 -T 3600 -P 1 postgres \
        >"$FX_DIR/load-$name.log" 2>&1 &
    pid=$!
    sleep 3
    start=$(now)
    START=$start
    OK=1
    "$@" >"$FX_DIR/$name.out" 2>"$FX_DIR/$name.err" || OK=0
    end=$(now)
    sleep 1.2
    kill -TERM -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    SECS_TAKEN=$(python3 -c "print('%.1f' % ($end - $start))")
    TPS=$(tps_between "$FX_DIR/load-$name.log" "$t0" "$start" "$end")
    SERIES="$SERIES$(printf '  %-14s %s' "$name" "$(tps_series "$FX_DIR/load-$name.log" "$t0" "$start" "$end")")
"
    [ "$OK" = 1 ] || [ "$name" = pgbackrest ] || fail "$name failed: $(tail -3 "$FX_DIR/$name.err")"
}

# restore_timed NAME CMD...: cluster stopped, CMD restores, start, wait for
# promotion; sets RESTORE_SECS.
restore_timed() {
    local name=$1; shift
    local start
    start=$(now)
    START=$start
    "$@" >"$FX_DIR/restore-$name.out" 2>"$FX_DIR/restore-$name.err" ||
        fail "restore $name: $(tail -3 "$FX_DIR/restore-$name.err")"
    RESTORE_CMD_SECS=$(since "$start")
    pg_start
    wait_promoted
    RESTORE_SECS=$(since "$start")
    [ "$(sql 'SELECT count(*) FROM pgbench_branches')" = "$SCALE" ] || fail "restore $name: pgbench_branches wrong"
}

# ---------------------------------------------------------------- backups
t0=$(now)
bench -c 2 -j 2 -T "$SECS" -P 1 >"$FX_DIR/undisturbed.log" 2>&1 || fail "pgbench"
BASE_TPS=$(tps_between "$FX_DIR/undisturbed.log" "$t0" "$t0" "$(python3 -c "print($t0 + $SECS)")")
SERIES="$(printf '  %-14s %s' undisturbed "$(tps_series "$FX_DIR/undisturbed.log" "$t0" "$t0" "$(python3 -c "print($t0 + $SECS)")")")
"

# no --json: lvss-backup narrates its steps on stderr (stamped, printed below)
under_load lvss stamped "$LB" create --repo "$REPO" --type full
L_SECS=$SECS_TAKEN L_TPS=$TPS L_MIB=$(mib "$REPO") L_START=$START
L_ID=$(awk '$1 == "backup" { print $2; exit }' "$FX_DIR/lvss.out")
[ -n "$L_ID" ] || fail "no backup id in: $(cat "$FX_DIR/lvss.out")"

BB=$FX_DIR/basebackup
mkdir -p "$BB"; chown postgres: "$BB"; chmod 700 "$BB"
under_load basebackup as_pg "$PGBIN/pg_basebackup" -h "$PGSOCK" -p "$PGPORT" -D "$BB" -Fp -X stream -c fast
B_SECS=$SECS_TAKEN B_TPS=$TPS B_MIB=$(mib "$BB")

R_SECS=n/a R_TPS=n/a R_MIB=n/a R_RESTORE=n/a
if [ -n "$PGBR" ]; then
    BR=$FX_DIR/pgbr
    mkdir -p "$BR/repo" "$BR/log" "$BR/lock" "$BR/spool"; chown -R postgres: "$BR"
    cat >"$BR/pgbackrest.conf" <<EOC
[global]
repo1-path=$BR/repo
log-path=$BR/log
lock-path=$BR/lock
spool-path=$BR/spool
compress-type=zst
compress-level=3
process-max=2
start-fast=y
log-level-console=warn

[bench]
pg1-path=$PGDATA
pg1-socket-path=$PGSOCK
pg1-port=$PGPORT
EOC
    chmod 644 "$BR/pgbackrest.conf"
    # WAL goes to both archives: lvss's directory and pgBackRest's repository
    echo "archive_command = 'test ! -f $ARCH/%f && cp %p $ARCH/%f && $PGBR --config=$BR/pgbackrest.conf --stanza=bench archive-push %p'" \
        >>"$PGDATA/postgresql.conf"
    sql "SELECT pg_reload_conf()" >/dev/null
    as_pg "$PGBR" --config="$BR/pgbackrest.conf" --stanza=bench stanza-create >"$FX_DIR/pgbr-stanza.log" 2>&1 ||
        fail "pgbackrest stanza-create: $(tail -3 "$FX_DIR/pgbr-stanza.log")"
    under_load pgbackrest as_pg "$PGBR" --config="$BR/pgbackrest.conf" --stanza=bench --type=full backup
    if [ "$OK" = 1 ]; then
        R_SECS=$SECS_TAKEN R_TPS=$TPS R_MIB=$(mib "$BR/repo")
    else
        echo "pg-writer-bench: pgBackRest failed: $(grep -m1 ERROR "$FX_DIR/pgbackrest.err")" >&2
        PGBR=
    fi
fi

# --------------------------------------------------------------- restores
empty_all() { pg_stop; find "$PGDATA" -mindepth 1 -delete; }
# lvss: every file gone, the WAL archive too (lvss-backup recreates a
# missing directory as root, so the directories stay)
pg_stop
find "$PGDATA" "$ARCH" -type f -delete
PGLOG_AT=$(wc -l <"$PGLOG")
restore_timed lvss stamped "$LB" restore --repo "$REPO" "$L_ID"
L_RESTORE=$RESTORE_SECS L_RESTORE_CMD=$RESTORE_CMD_SECS L_RSTART=$START
tail -n +"$((PGLOG_AT + 1))" "$PGLOG" >"$FX_DIR/pglog-lvss.log"
L_RESTORED=$(grep -c 'restored log file' "$FX_DIR/pglog-lvss.log")
empty_all
restore_timed basebackup cp -a "$BB/." "$PGDATA/"
B_RESTORE=$RESTORE_SECS B_RESTORE_CMD=$RESTORE_CMD_SECS
if [ -n "$PGBR" ]; then
    empty_all
    restore_timed pgbackrest as_pg "$PGBR" --config="$BR/pgbackrest.conf" --stanza=bench --type=immediate \
        --target-action=promote restore
    R_RESTORE=$RESTORE_SECS R_RESTORE_CMD=$RESTORE_CMD_SECS
fi

echo "pg-writer-bench: PostgreSQL 15, pgbench scale $SCALE, 2 clients; undisturbed $BASE_TPS tps"
printf '%-16s %10s %12s %18s %10s\n' tool "backup s" "tps during" "restore+recovery s" "repo MiB"
printf '%-16s %10s %12s %18s %10s\n' lvss-backup "$L_SECS" "$L_TPS" "$L_RESTORE" "$L_MIB"
printf '%-16s %10s %12s %18s %10s\n' pg_basebackup "$B_SECS" "$B_TPS" "$B_RESTORE" "$B_MIB"
printf '%-16s %10s %12s %18s %10s\n' pgBackRest "$R_SECS" "$R_TPS" "$R_RESTORE" "$R_MIB"
echo "pgbench tps, second by second, during each backup (the fast checkpoint falls in its first second or two):"
printf '%s' "$SERIES"
# Where lvss's time goes: lvss-backup's own steps (its notes, stamped) and
# the writer's (pg_backup_start with its checkpoint, pg_backup_stop waiting
# for the archive), then the restore: files written vs PostgreSQL's start +
# recovery.
echo "lvss-backup create, steps from its start (writer: $(grep -Eo '(connect: [0-9.]* s, )?pg_backup_start: [0-9.]* s' "$FX_DIR/pgw.log" | tail -1), $(grep -Eo 'pg_backup_stop: [0-9.]* s(, archive wait: [0-9.]* s)?' "$FX_DIR/pgw.log" | tail -1)):"
timeline "$FX_DIR/lvss.err" "$L_START"
echo "restore split: files written by the tool / then start + recovery until promoted (s):"
printf '  %-14s %6s / %s\n' lvss-backup "$L_RESTORE_CMD" "$(python3 -c "print('%.1f' % ($L_RESTORE - $L_RESTORE_CMD))")"
printf '  %-14s %6s / %s\n' pg_basebackup "$B_RESTORE_CMD" "$(python3 -c "print('%.1f' % ($B_RESTORE - $B_RESTORE_CMD))")"
[ -n "$PGBR" ] && printf '  %-14s %6s / %s\n' pgBackRest "$R_RESTORE_CMD" "$(python3 -c "print('%.1f' % ($R_RESTORE - $R_RESTORE_CMD))")"
echo "lvss-backup restore, steps from its start:"
timeline "$FX_DIR/restore-lvss.err" "$L_RSTART"
# PostgreSQL's side of lvss's restore: its log lines (log_line_prefix %m)
# from the start after the restore until it accepts writes.
echo "PostgreSQL after lvss's restore (its log, from the restore's start; $L_RESTORED restore_command run(s)):"
python3 - "$FX_DIR/pglog-lvss.log" "$L_RSTART" <<'PY'
import datetime, re, sys
t0 = float(sys.argv[2])
keys = ("starting PostgreSQL", "starting archive recovery", "starting backup recovery", "redo starts", "restored log file",
        "consistent recovery state", "redo done", "archive recovery complete", "checkpoint starting", "checkpoint complete",
        "ready to accept")
for l in open(sys.argv[1]):
    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (\S+) \[\d+\] (.*)", l)
    if not m or not any(k in m.group(3) for k in keys):
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc).timestamp()
    print("    +%6.2f s  %s" % (t - t0, m.group(3)[:110]))
PY
echo "load: $(uptime)"
