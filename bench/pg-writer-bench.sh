#!/bin/bash
# PostgreSQL Writer benchmark (make bench): one PostgreSQL 15 cluster on an
# XFS loop mount (tests/integration/pg-common.bash), pgbench -i -s
# LVSS_BENCH_PG_SCALE (default 20, about 300 MiB), then in the same run
# LVSS_BENCH_PG_ROUNDS rounds (default 3), the tools interleaved in each
# (lvss, pg_basebackup, pgBackRest, lvss, ...), because on a shared machine
# the same tool's time varies more between minutes than between tools:
#   - a full backup by lvss-backup (through the PostgreSQL Writer, into a
#     new repository each round: always a first full), by pg_basebackup
#     (-Fp -X stream -c fast, plain, uncompressed) and by pgBackRest (full,
#     zstd 3, process-max 2), each while pgbench runs (2 clients, one pgbench
#     for the whole round, not rate-limited): backup time; pgbench's TPS in
#     the backup window against undisturbed windows of the same length right
#     before it and right after it (transactions counted exactly, from
#     pgbench_history's mtime); per round and the median over rounds;
#   - then, per round again, each backup restored into the emptied data
#     directory and recovered until the cluster accepts writes: restore +
#     recovery time;
#   - repository size (first round).
# LVSS_BENCH_PG_SECONDS (default 20): an undisturbed pgbench run first (its
# TPS printed for reference).  LVSS_BENCH_PG_LVSS_NICE: below.
# Fairness: every tool backs up the same cluster under the same load; lvss
# and pgBackRest repositories are unencrypted; pg_basebackup's copy is
# plain files (no compression: its fastest mode).  lvss's time includes the
# snapshot set; the lvss restore empties the WAL archive first (the full is
# self-contained).  archive_command copies to lvss's archive directory, and
# only while pgBackRest's backup runs also pushes to pgBackRest (its
# archive-push would otherwise lengthen lvss's archive wait).  pgbackrest and
# pg_basebackup are Debian packages (pgbackrest, postgresql-15); pgBackRest's
# column says n/a when missing.
set -u
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/db-bench.bash" || exit 1
SCALE=${LVSS_BENCH_PG_SCALE:-20}
SECS=${LVSS_BENCH_PG_SECONDS:-20}
ROUNDS=${LVSS_BENCH_PG_ROUNDS:-3}
# LVSS_BENCH_PG_LVSS_NICE=N: lvss-backup create under nice -n N (default 0):
# what its CPU share costs the database's TPS, and its backup time
LVSS_NICE=${LVSS_BENCH_PG_LVSS_NICE:-0}
case $ROUNDS in ''|*[!0-9]*|0) echo "pg-writer-bench: LVSS_BENCH_PG_ROUNDS must be a positive number" >&2; exit 2 ;; esac
case $LVSS_NICE in ''|*[!0-9]*) echo "pg-writer-bench: LVSS_BENCH_PG_LVSS_NICE must be 0-19" >&2; exit 2 ;; esac
PGBR=$(command -v pgbackrest || true)
db_bench_pg pg-writer-bench "$SCALE"
bench() { as_pg "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" "$@" postgres; }
calc() { python3 -c "print($1)"; }
REC=$FX_DIR/records.tsv
: >"$REC"

# tps_window FROM TO: pgbench's transactions per second that started in
# [FROM, TO) (epoch seconds): counted exactly in pgbench_history, whose
# mtime is each transaction's start (both sessions in the server's
# TimeZone); only until the next pgbench starts, which empties the table.
tps_window() {
    sql "SELECT round(count(*) / ($2 - $1)::numeric, 1) FROM pgbench_history
         WHERE mtime >= to_timestamp($1)::timestamp AND mtime < to_timestamp($2)::timestamp"
}

# tps_series LOG FROM TO: pgbench's per-second tps (-P 1 --progress-timestamp
# lines) ending inside [FROM, TO + 1]: where in the backup the load suffers
# (the checkpoint at its start, the snapshot, the reading).
tps_series() {
    python3 - "$@" <<'PY'
import re, sys
log, a, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
print(" ".join("%.0f" % float(m.group(2)) for m in (re.match(r"progress: ([\d.]+) s, ([\d.]+) tps", l) for l in open(log))
               if m and a < float(m.group(1)) <= b + 1))
PY
}

# archive_to TOOL: archive_command for TOOL's backup (pgBackRest's also
# pushes to its repository; the others only copy to lvss's archive).
archive_to() {
    local cmd="test ! -f $ARCH/%f && cp %p $ARCH/%f"
    [ "$1" = pgbackrest ] && cmd="$cmd && $PGBR --config=$BR/pgbackrest.conf --stanza=bench archive-push %p"
    sql "ALTER SYSTEM SET archive_command = '$cmd'" >/dev/null
    sql "SELECT pg_reload_conf()" >/dev/null
}

# backup_round R TOOL: TOOL's full backup while the round's pgbench runs:
# an undisturbed stretch first (PRE seconds, at least the backup's length
# last round), the backup, then as long again undisturbed.  Appends
# "backup R TOOL SECONDS FROM TO" to REC (the TPS windows are counted after
# the round); fails the bench when lvss or pg_basebackup fail (pgBackRest
# failing only drops its column).
declare -A EST=([lvss]=6 [basebackup]=6 [pgbackrest]=8)
backup_round() {
    local r=$1 tool=$2 start end len pre ok=1
    case $tool in
    lvss)
        REPO_R=$FX_DIR/repo$r
        "$LB" init --repo "$REPO_R" --no-encryption --quiet || fail "lvss-backup init"
        set -- stamped nice -n "$LVSS_NICE" "$LB" create --repo "$REPO_R" --type full ;;
    basebackup)
        rm -rf "$BB"; mkdir -p "$BB"; chown postgres: "$BB"; chmod 700 "$BB"
        set -- as_pg "$PGBIN/pg_basebackup" -h "$PGSOCK" -p "$PGPORT" -D "$BB" -Fp -X stream -c fast ;;
    pgbackrest)
        set -- as_pg "$PGBR" --config="$BR/pgbackrest.conf" --stanza=bench --type=full backup ;;
    esac
    [ -n "$PGBR" ] && archive_to "$tool"
    pre=$(calc "max(4, 1.3 * ${EST[$tool]} + 0.5)")
    sleep "$pre"
    start=$(now)
    "$@" >"$FX_DIR/$tool.out" 2>"$FX_DIR/$tool.err" || ok=0
    end=$(now)
    len=$(calc "$end - $start")
    EST[$tool]=$len
    sleep "$(calc "$len + 0.3")"
    if [ "$ok" = 0 ]; then
        [ "$tool" = pgbackrest ] || fail "$tool failed: $(tail -3 "$FX_DIR/$tool.err")"
        echo "pg-writer-bench: pgBackRest failed: $(grep -m1 ERROR "$FX_DIR/pgbackrest.err")" >&2
        PGBR=
        return
    fi
    # the undisturbed window before: as long as the backup, at most the wait
    echo "backup $r $tool $len $(calc "$start - min($len, $pre - 0.2)") $start $end $(calc "$end + $len")" >>"$REC"
    SERIES="$SERIES$(printf '  round %s %-11s %s' "$r" "$tool" "$(tps_series "$FX_DIR/load-$r.log" "$start" "$end")")
"
    case $tool in
    lvss)
        L_ID[$r]=$(awk '$1 == "backup" { print $2; exit }' "$FX_DIR/lvss.out")
        [ -n "${L_ID[$r]}" ] || fail "no backup id in: $(cat "$FX_DIR/lvss.out")"
        cp "$FX_DIR/lvss.err" "$FX_DIR/lvss-last.err"; L_START=$start
        [ "$r" = 1 ] && L_MIB=$(mib "$REPO_R") ;;
    basebackup) [ "$r" = 1 ] && B_MIB=$(mib "$BB") ;;
    pgbackrest) [ "$r" = 1 ] && R_MIB=$(mib "$BR/repo") ;;
    esac
}

# restore_timed R NAME CMD...: cluster stopped, CMD restores, start, wait
# for promotion; appends "restore R NAME SECONDS FILES_SECONDS" to REC.
restore_timed() {
    local r=$1 name=$2 start files
    shift 2
    start=$(now)
    START=$start
    "$@" >"$FX_DIR/restore-$name.out" 2>"$FX_DIR/restore-$name.err" ||
        fail "restore $name: $(tail -3 "$FX_DIR/restore-$name.err")"
    files=$(calc "$(now) - $start")
    pg_start
    wait_promoted
    echo "restore $r $name $(calc "$(now) - $start") $files" >>"$REC"
    [ "$(sql 'SELECT count(*) FROM pgbench_branches')" = "$SCALE" ] || fail "restore $name: pgbench_branches wrong"
}

# ---------------------------------------------------------------- backups
t0=$(now)
bench -c 2 -j 2 -T "$SECS" -P 1 --progress-timestamp >"$FX_DIR/undisturbed.log" 2>&1 || fail "pgbench"
BASE_TPS=$(tps_window "$t0" "$(now)")
SERIES="$(printf '  %-19s %s' undisturbed "$(tps_series "$FX_DIR/undisturbed.log" "$t0" "$(now)")")
"
BB=$FX_DIR/basebackup
L_MIB=n/a B_MIB=n/a R_MIB=n/a
declare -A L_ID
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
    archive_to pgbackrest
    as_pg "$PGBR" --config="$BR/pgbackrest.conf" --stanza=bench stanza-create >"$FX_DIR/pgbr-stanza.log" 2>&1 ||
        fail "pgbackrest stanza-create: $(tail -3 "$FX_DIR/pgbr-stanza.log")"
fi
for ((r = 1; r <= ROUNDS; r++)); do
    # one pgbench for the round (its own session, so that the whole of it,
    # runuser and pgbench, gets the SIGTERM); 2 s to settle
    setsid runuser -u postgres -- "$PGBIN/pgbench" -h "$PGSOCK" -p "$PGPORT" -c 2 -j 2 -T 3600 -P 1 \
        --progress-timestamp postgres >"$FX_DIR/load-$r.log" 2>&1 &
    pid=$!
    sleep 2
    backup_round "$r" lvss
    backup_round "$r" basebackup
    [ -n "$PGBR" ] && backup_round "$r" pgbackrest
    kill -TERM -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    # the round's TPS windows, counted now: the next pgbench empties
    # pgbench_history when it starts
    while read -r kind rr tool len b0 s e a1; do
        if [ "$kind" != backup ] || [ "$rr" != "$r" ]; then continue; fi
        echo "tps $r $tool $(tps_window "$b0" "$s") $(tps_window "$s" "$e") $(tps_window "$e" "$a1")"
    done <"$REC" >"$REC.tps"
    cat "$REC.tps" >>"$REC"
done
[ -n "$PGBR" ] && archive_to lvss

# --------------------------------------------------------------- restores
empty_all() { pg_stop; find "$PGDATA" -mindepth 1 -delete; }
for ((r = 1; r <= ROUNDS; r++)); do
    # lvss: every file gone, the WAL archive too (lvss-backup recreates a
    # missing directory as root, so the directories stay)
    pg_stop
    find "$PGDATA" "$ARCH" -type f -delete
    PGLOG_AT=$(wc -l <"$PGLOG")
    restore_timed "$r" lvss stamped "$LB" restore --repo "$FX_DIR/repo$r" "${L_ID[$r]}"
    L_RSTART=$START
    tail -n +"$((PGLOG_AT + 1))" "$PGLOG" >"$FX_DIR/pglog-lvss.log"
    cp "$FX_DIR/restore-lvss.err" "$FX_DIR/restore-lvss-last.err"
    L_RESTORED=$(grep -c 'restored log file' "$FX_DIR/pglog-lvss.log")
    empty_all
    restore_timed "$r" basebackup cp -a "$BB/." "$PGDATA/"
    if [ -n "$PGBR" ]; then
        empty_all
        restore_timed "$r" pgbackrest as_pg "$PGBR" --config="$BR/pgbackrest.conf" --stanza=bench --type=immediate \
            --target-action=promote restore
    fi
done

echo "pg-writer-bench: PostgreSQL 15, pgbench scale $SCALE, 2 clients, $ROUNDS round(s), lvss-backup at nice $LVSS_NICE; undisturbed $BASE_TPS tps" \
    "(pgbench alone for $SECS s); repository MiB: lvss $L_MIB, pg_basebackup $B_MIB, pgBackRest $R_MIB"
python3 - "$REC" <<'PY'
import statistics, sys
b, t, rs = {}, {}, {}
for l in open(sys.argv[1]):
    f = l.split()
    if f[0] == "backup": b[(int(f[1]), f[2])] = float(f[3])
    elif f[0] == "tps": t[(int(f[1]), f[2])] = tuple(float(x) for x in f[3:6])
    elif f[0] == "restore": rs[(int(f[1]), f[2])] = (float(f[3]), float(f[4]))
rounds = sorted({k[0] for k in b} | {k[0] for k in rs})
tools = [x for x in ("lvss", "basebackup", "pgbackrest") if any(k[1] == x for k in list(b) + list(rs))]
name = {"lvss": "lvss-backup", "basebackup": "pg_basebackup", "pgbackrest": "pgBackRest"}
def med(v): return "%.2f" % statistics.median(v) if v else "n/a"
print("backup seconds per round (lvss / pg_basebackup, lvss / pgBackRest):")
ratios = {x: [] for x in tools[1:]}
for r in rounds:
    row = "  round %d: " % r + "  ".join("%s %.2f" % (name[x], b[(r, x)]) for x in tools if (r, x) in b)
    for x in tools[1:]:
        if (r, "lvss") in b and (r, x) in b:
            ratios[x].append(b[(r, "lvss")] / b[(r, x)])
            row += "  lvss/%s %.2f" % (name[x], ratios[x][-1])
    print(row)
print("  median: " + "  ".join("%s %s s" % (name[x], med([b[k] for k in b if k[1] == x])) for x in tools) +
      "".join("  lvss/%s %s" % (name[x], med(ratios[x])) for x in tools[1:]))
print("pgbench tps: before / during / after each backup (windows as long as the backup, same round),"
      " during / mean(before, after):")
tr = {x: [] for x in tools}
for r in rounds:
    row = "  round %d:" % r
    for x in tools:
        if (r, x) in t:
            bf, du, af = t[(r, x)]
            ref = (bf + af) / 2
            if ref > 0:
                tr[x].append(du / ref)
            row += "  %s %.0f / %.0f / %.0f (%s)" % (name[x], bf, du, af, "%.2f" % (du / ref) if ref > 0 else "n/a")
    print(row)
print("  median during/undisturbed: " + "  ".join("%s %s" % (name[x], med(tr[x])) for x in tools) +
      "  (goal for lvss: 0.90 or more)")
print("restore + recovery seconds per round (files written by the tool + start and recovery until promoted):")
rr = {x: [] for x in tools[1:]}
for r in rounds:
    row = "  round %d: " % r + "  ".join("%s %.2f (%.2f + %.2f)" % (name[x], rs[(r, x)][0], rs[(r, x)][1],
                                         rs[(r, x)][0] - rs[(r, x)][1]) for x in tools if (r, x) in rs)
    for x in tools[1:]:
        if (r, "lvss") in rs and (r, x) in rs:
            rr[x].append(rs[(r, "lvss")][0] / rs[(r, x)][0])
            row += "  lvss/%s %.2f" % (name[x], rr[x][-1])
    print(row)
print("  median: " + "  ".join("%s %s s" % (name[x], med([rs[k][0] for k in rs if k[1] == x])) for x in tools) +
      "".join("  lvss/%s %s" % (name[x], med(rr[x])) for x in tools[1:]))
PY
echo "pgbench tps, second by second, during each backup (the fast checkpoint falls in its first second or two):"
printf '%s' "$SERIES"
# Where lvss's time goes (last round): lvss-backup's own steps (its notes,
# stamped) and the writer's (pg_backup_start with its checkpoint,
# pg_backup_stop waiting for the archive), then the restore: files written
# vs PostgreSQL's start + recovery.
echo "lvss-backup create (last round), steps from its start (writer: $(grep -Eo '(connect: [0-9.]* s, )?pg_backup_start: [0-9.]* s' "$FX_DIR/pgw.log" | tail -1), $(grep -Eo 'pg_backup_stop: [0-9.]* s(, archive wait: [0-9.]* s)?' "$FX_DIR/pgw.log" | tail -1)):"
timeline "$FX_DIR/lvss-last.err" "$L_START"
echo "lvss-backup restore (last round), steps from its start:"
timeline "$FX_DIR/restore-lvss-last.err" "$L_RSTART"
# PostgreSQL's side of lvss's restore: its log lines (log_line_prefix %m)
# from the start after the restore until it accepts writes.
echo "PostgreSQL after lvss's restore (last round; its log, from the restore's start; $L_RESTORED restore_command run(s)):"
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
