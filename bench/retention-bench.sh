#!/bin/bash
# Retention benchmark (make bench): 30 "days" of the storage-group bench (as
# bench/backup-bench.sh: a mail storage group served by a real mstored whose
# Mail Store Writer is registered with a real lvssd, filled over LMTP), each
# day 5% more mail delivered, then backed up by lvss-backup create (a full
# every 7 days, incrementals between) and by restic (inside its own snapshot
# set, lvssadm create --exec, --type copy so the writer keeps its logs) at
# the same dates; then
#   lvss-backup forget --keep-daily 7 --keep-weekly 2 --prune
#   restic forget --group-by host --keep-daily 7 --keep-weekly 2 --prune
# timed (wall clock, and CPU user+sys), the repository sizes after, and every
# kept backup of both restored and compared byte for byte with the files of
# its day.  restic groups by host: each day's snapshot set is mounted at a
# new path, and restic's default grouping (host and paths) would make every
# snapshot a group of its own and forget nothing.  The two commands do not
# keep the same backups: lvss applies Proxmox Backup Server's rules (each
# option counts only backups no earlier option kept, so --keep-weekly 2
# reaches back two more weeks) and keeps the chains the kept incrementals
# need; restic's options overlap.  So a third column runs restic on a copy
# of its repository forgetting exactly the days lvss removed (`restic forget
# ID... --prune`): the same days kept by both, the like-for-like comparison
# of prune's time and of the size after.
# What "byte-identical" compares: while lvss-backup create waits before
# reading (test hook LVSS_BACKUP_TEST_PAUSE_BEFORE_READ) the bench records
# the sha256 of every file of that day's snapshot; a kept backup restored
# with `restore-files --chain` must give files each equal to the same file
# of the snapshot of one day of its chain (its full's day to its own: the
# restore takes each file from the newest record holding it, so the
# databases of an incremental's chain are its full's) and both databases;
# restic's kept snapshots are restored
# and compared with the sums of their own snapshot set (taken inside it).
# lvss-backup's time excludes that hashing.
# LVSS_BENCH_RETENTION_MIB (default 32) sets the first fill of the group;
# 5% of the group's databases is delivered each day after (so they grow
# to ~4.3x).
# restic is installed when missing and we are root (Debian package),
# otherwise its columns say n/a.  lvss-backup's dates come from the test
# hook LVSS_REPO_FAKE_TIME, so this needs a build with test hooks (debug,
# the default of `make bench`); restic's from `restic backup --time`.
# LVSS_BENCH_RETENTION_SCHEDULE: the days between the fulls are
# `incremental` (the default) or `differential` backups.  The Mail Store
# Writer truncates its logs after a full or an incremental, not after a
# differential, so the schedule changes the history itself: with
# differentials the group keeps a week of logs on disk, which restic's
# snapshots (taken after lvss's backup of the day) then hold too.
# LVSS_BENCH_RETENTION_KEEP=DIR (analysis): the lvss repository made
# unencrypted (plaintext index and records), and both repositories before
# forget and after prune, with the day maps and forget's JSON, copied to DIR.
set -u
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/mail-bench.bash" || exit 1
MIB=${LVSS_BENCH_RETENTION_MIB:-32}
DAYS=30
SERVER=bench
SCHEDULE=${LVSS_BENCH_RETENTION_SCHEDULE:-incremental}
case $SCHEDULE in incremental|differential) ;; *) echo "retention-bench: LVSS_BENCH_RETENTION_SCHEDULE must be incremental or differential" >&2; exit 2 ;; esac
KEEP=${LVSS_BENCH_RETENTION_KEEP:-}
mail_bench_need retention-bench "$MSTORED" "$MSTORE" "$LVSSD" "$LVSSADM" "$LB"
[ "${LVSS_TEST_HOOKS:-1}" != 0 ] || { echo "retention-bench: skipped: needs a build with test hooks"; exit 0; }
if ! command -v restic >/dev/null; then
    echo "retention-bench: installing restic (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic >/dev/null 2>&1
fi
HAVE_RESTIC=0
command -v restic >/dev/null && HAVE_RESTIC=1
T_START=$(date +%s)
fixture_init
fixture_bus
fixture_xfs mail $((MIB * 16 + 1024))
DATA=$FX_MNT/data
SG=$DATA/SG1
SOCK=$FX_DIR/lmtp.sock
export LVSS_BACKUP_PASSWORD=bench RESTIC_PASSWORD=bench TZ=UTC RESTIC_CACHE_DIR="$FX_DIR/restic-cache"
export FX_DIR
cd "$FX_DIR" || fail "cd $FX_DIR"
mail_bench_start mstored "$DATA" "$SOCK" "$SERVER"
BOXES="u0@$SERVER u1@$SERVER u2@$SERVER u3@$SERVER u4@$SERVER u5@$SERVER u6@$SERVER u7@$SERVER"
mail_bench_mailboxes SG1/DB1 u0@$SERVER u1@$SERVER u2@$SERVER u3@$SERVER
mail_bench_mailboxes SG1/DB2 u4@$SERVER u5@$SERVER u6@$SERVER u7@$SERVER
mkdir -p manifests

# ---- the group: MIB of mail, then one full snapshot through the writer so
# the fill's logs are truncated (a store that has been backed up before).
read -r n_msg n_bytes secs < <(mail_bench_fill "$SOCK" $((MIB * 1048576)) 1 $BOXES) ||
    fail "filling the storage group over LMTP failed"
[ -n "${secs:-}" ] || fail "filling the storage group over LMTP failed"
"$LVSSADM" create --type full --exec true "$SG" >/dev/null 2>pre.err || fail "the log-truncating full snapshot failed: $(cat pre.err)"
SG0=$(du -sb "$SG" | cut -f1)
"$LB" init --repo lvss -q ${KEEP:+--no-encryption} || fail "init"
((HAVE_RESTIC)) && { restic init -r restic -q >/dev/null || fail "restic init"; }

# sums ROOT: the sha256 of every file below ROOT, by path relative to it.
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }
# sg_root PATH: the directory holding DB1.edb at or above PATH (a file of
# a snapshot), or below PATH (a restore's copy of the storage group).
sg_root() {
    local r=$1
    if [ -d "$r" ]; then
        r=$(find "$r" -name DB1.edb -printf '%h\n' -quit)
    else
        while [ "$r" != / ] && [ ! -e "$r/DB1.edb" ]; do r=$(dirname "$r"); done
    fi
    [ -n "$r" ] && [ -e "$r/DB1.edb" ] && echo "$r"
}
# What restic runs inside its snapshot set: DAY TIME.  Sums the snapshot
# (not timed), then times the backup only.
cat >in-snapshot.sh <<'EOS'
#!/bin/bash
d=$1 t=$2
mapfile -t paths < <(printf '%s\n' "$LVSS_SHADOW_PATHS" | cut -d= -f2-)
r=""
for p in "${paths[@]}"; do r=$(find "$p" -name DB1.edb -printf '%h\n' -quit); [ -n "$r" ] && break; done
[ -n "$r" ] || { echo "no DB1.edb in the snapshot" >&2; exit 1; }
(cd "$r" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) >"$FX_DIR/rday.sum"
TIMEFORMAT='%R'
{ time restic backup -r "$FX_DIR/restic" --host bench --time "$t" --json "$r" >"$FX_DIR/rout.json"; } 2>"$FX_DIR/rday.time"
EOS

# mail_bytes: the bytes of the group's databases (not its log files, which
# a differential schedule leaves on disk for a week): 5% of this is a day's
# new mail, so both schedules receive the same mail.
mail_bytes() { find "$SG" -maxdepth 1 -type f \( -name '*.edb' -o -name '*.stm' \) -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
now() { date +%s.%N; }
add() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) + float(sys.argv[2]) - float(sys.argv[3])))" "$@"; }
lvss_t=0; restic_t=0
T0=1767578400   # Monday 2026-01-05 02:00 UTC
for ((d = 0; d < DAYS; d++)); do
    if [ $d -gt 0 ]; then
        g=$(mail_bytes)
        mail_bench_fill "$SOCK" $((g / 20)) $((d + 1)) $BOXES >/dev/null || fail "delivering day $d's mail failed"
    fi
    t=$((T0 + d * 86400))
    type=$SCHEDULE; [ $((d % 7)) = 0 ] && type=full
    rm -f pause
    s=$(now)
    LVSS_REPO_FAKE_TIME=$t LVSS_BACKUP_TEST_PAUSE_BEFORE_READ=$FX_DIR/pause \
        "$LB" create --repo lvss --type $type --json >out.json 2>create.err &
    pid=$!
    for ((i = 0; i < 1200; i++)); do [ -s pause ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
    [ -s pause ] || fail "lvss create day $d did not pause before reading: $(cat create.err)"
    h=$(now)
    root=$(sg_root "$(cat pause)") || fail "day $d: no DB1.edb above $(cat pause)"
    sums "$root" >"manifests/lvss-day$d"
    h=$(add 0 "$(now)" "$h")
    rm -f pause
    wait $pid || fail "lvss create day $d: $(cat create.err)"
    lvss_t=$(add "$lvss_t" "$(now)" "$s")
    lvss_t=$(add "$lvss_t" 0 "$h")
    lid=$(python3 -c 'import json; print(json.load(open("out.json"))["id"])')
    echo "$d $lid" >>lvss-days
    if ((HAVE_RESTIC)); then
        "$LVSSADM" create --exec "bash $FX_DIR/in-snapshot.sh $d '$(date -u -d "@$t" '+%Y-%m-%d %H:%M:%S')'" "$SG" \
            >/dev/null 2>rday.err || fail "restic backup day $d: $(cat rday.err)"
        restic_t=$(add "$restic_t" "$(cat rday.time)" 0)
        rid=$(python3 -c 'import json; print([json.loads(l) for l in open("rout.json") if "snapshot_id" in l][-1]["snapshot_id"][:8])')
        cp rday.sum "manifests/restic-$rid"
        echo "$d $rid" >>restic-days
    fi
done
SGN=$(du -sb "$SG" | cut -f1) DBN=$(mail_bytes)
T_HIST=$(date +%s)
size_mib() { du -sb "$1" | awk '{printf "%.1f", $1 / 1048576}'; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
LSB=$(size_mib lvss); RSB=n/a; ((HAVE_RESTIC)) && RSB=$(size_mib restic)

# ---- forget + prune, timed: "wall user sys" seconds
TIMEFORMAT='%R %U %S'
((HAVE_RESTIC)) && { cp -a restic restic-same || fail "cannot copy the restic repository"; }
if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP" && rm -rf "$KEEP/lvss-before" "$KEEP/restic-before" &&
        cp -a lvss "$KEEP/lvss-before" && { ((!HAVE_RESTIC)) || cp -a restic "$KEEP/restic-before"; } ||
        fail "cannot copy the repositories to $KEEP"
fi
sync
LF=$( { time "$LB" forget --repo lvss --keep-daily 7 --keep-weekly 2 --prune --json >lforget.json 2>lforget.err; } 2>&1 ) ||
    fail "lvss forget: $(cat lforget.err)"
RF=n/a
if ((HAVE_RESTIC)); then
    RF=$( { time restic forget -r restic --group-by host --keep-daily 7 --keep-weekly 2 --prune -q >rforget.out 2>&1; } 2>&1 ) ||
        fail "restic forget: $(cat rforget.out)"
fi
# restic forgetting exactly the days lvss removed
RS=n/a; RSA=n/a; RSK=n/a
if ((HAVE_RESTIC)); then
    gone=$(python3 -c 'import json; print(" ".join(r["id"] for r in json.load(open("lforget.json"))["removed"]))')
    rids=$(for g in $gone; do awk -v l="$g" '$2 == l { print $1 }' lvss-days; done | while read -r d; do
        awk -v d="$d" '$1 == d { print $2 }' restic-days; done)
    [ "$(echo $rids | wc -w)" = "$(echo $gone | wc -w)" ] || fail "cannot map lvss's removed days to restic snapshots"
    RS=$( { time restic forget -r restic-same $rids --prune -q >rsame.out 2>&1; } 2>&1 ) ||
        fail "restic forget (same days): $(cat rsame.out)"
    RSA=$(size_mib restic-same)
    RSK=$(restic snapshots -r restic-same --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
fi
LSA=$(size_mib lvss); RSAF=n/a; ((HAVE_RESTIC)) && RSAF=$(size_mib restic)
if [ -n "$KEEP" ]; then
    rm -rf "$KEEP/lvss-after" "$KEEP/restic-after" "$KEEP/restic-same-after" &&
        cp -a lvss "$KEEP/lvss-after" && cp lforget.json lvss-days "$KEEP/" &&
        { ((!HAVE_RESTIC)) || { cp -a restic "$KEEP/restic-after" && cp -a restic-same "$KEEP/restic-same-after" &&
            cp restic-days "$KEEP/"; }; } || fail "cannot copy the repositories to $KEEP"
fi

# ---- every kept backup restores byte for byte
# check_chain OUT DAY: every file restored below OUT's storage group equals
# the same file of the snapshot of one day of DAY's chain (its full's day to
# DAY: the restore takes each file from the newest record holding it), and
# both databases are there.
check_chain() {
    local r f=$(($2 - $2 % 7)) i m=()
    r=$(sg_root "$1") || return 1
    [ -s "$r/DB1.edb" ] && [ -s "$r/DB2.edb" ] || return 1
    for ((i = f; i <= $2; i++)); do m+=("manifests/lvss-day$i"); done
    sums "$r" | python3 -c '
import sys
days = [{l[66:].rstrip("\n"): l[:64] for l in open(p)} for p in sys.argv[1:]]
bad = [l[66:].rstrip("\n") for l in sys.stdin if not any(d.get(l[66:].rstrip("\n")) == l[:64] for d in days)]
if bad: print("differs: " + " ".join(bad[:5]), file=sys.stderr); sys.exit(1)
' "${m[@]}"
}
LK=0
for id in $("$LB" list --repo lvss --json | python3 -c 'import json,sys; print(" ".join(b["id"] for b in json.load(sys.stdin)["backups"]))'); do
    rm -rf out
    d=$(awk -v l="$id" '$2 == l { print $1 }' lvss-days)
    "$LB" restore-files --repo lvss "$id" --chain --to out -q || fail "lvss restore $id (day $d)"
    check_chain out "$d" || fail "lvss restore of $id differs from day $d"
    LK=$((LK + 1))
done
RK=n/a
if ((HAVE_RESTIC)); then
    RK=0
    for id in $(restic snapshots -r restic --json | python3 -c 'import json,sys; print(" ".join(s["short_id"] for s in json.load(sys.stdin)))'); do
        rm -rf out
        restic restore -r restic -q "$id" --target out || fail "restic restore $id"
        r=$(sg_root out) && sums "$r" | cmp -s - "manifests/restic-$id" || fail "restic restore of $id differs from its day"
        RK=$((RK + 1))
    done
fi
rm -rf out
T_VER=$(date +%s)
CHAIN=$(python3 -c 'import json; print(sum(1 for k in json.load(open("lforget.json"))["kept"] if k["reasons"] == ["chain"]))')

row() { printf "%-46s %16s %16s %18s\n" "$@"; }
wall() { [ "$1" = n/a ] && echo n/a || echo "${1%% *} s"; }
cpu() { [ "$1" = n/a ] && echo n/a || echo "$1" | awk '{printf "%.2f s", $2 + $3}'; }
ratio() { [ "$2" = n/a ] && echo n/a || python3 -c 'import sys; a, b = (float(x.split()[0]) for x in sys.argv[1:3]); print("%.2f" % (b / a))' "$1" "$2"; }
pct() { [ "$2" = n/a ] && echo n/a || python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print("%+.1f%%" % (100 * (a - b) / b))' "$1" "$2"; }
echo "retention-bench: $DAYS days of the storage-group bench: SG1 filled with $(mib "$n_bytes") MiB of mail over LMTP ($(mib "$SG0") MiB on disk), 5% of its databases more each day ($(mib "$SGN") MiB on disk, databases $(mib "$DBN") MiB, on day $((DAYS - 1))); lvss-backup create (full every 7 days, ${SCHEDULE}s between) beside restic $( ((HAVE_RESTIC)) && restic version | awk '{print $2}' || echo missing)"
row "" "lvss-backup" "restic" "restic, lvss's days"
row "30 backups, total time" "${lvss_t} s" "$( ((HAVE_RESTIC)) && echo "${restic_t} s" || echo n/a)" ""
row "repository size before forget" "$LSB MiB" "$RSB MiB" "$RSB MiB"
row "forget --keep-daily 7 --keep-weekly 2 --prune" "$(wall "$LF")" "$(wall "$RF")" "$(wall "$RS")"
row "  CPU (user + sys)" "$(cpu "$LF")" "$(cpu "$RF")" "$(cpu "$RS")"
row "  restic's wall time / lvss's" "" "$(ratio "$LF" "$RF")" "$(ratio "$LF" "$RS")"
row "repository size after prune" "$LSA MiB" "$RSAF MiB" "$RSA MiB"
row "  lvss's size vs restic's" "" "$(pct "$LSA" "$RSAF")" "$(pct "$LSA" "$RSA")"
row "backups kept" "$LK ($CHAIN chain)" "$RK" "$RSK"
row "  all restored, byte-identical" "yes" "$( ((HAVE_RESTIC)) && echo yes || echo n/a)" "(not restored)"
echo "(lvss keeps the fulls and incrementals the kept incrementals need, marked 'chain', and counts --keep-weekly as Proxmox Backup Server does; restic's snapshots are independent and its options overlap, so it keeps fewer days; the third column keeps lvss's days. restic backs up the whole snapshot directory, lvss-backup the files the writer lists. Load average $(cut -d' ' -f1-3 /proc/loadavg); the whole bench took $(( $(date +%s) - T_START )) s: history $((T_HIST - T_START)) s, restores and checks $((T_VER - T_HIST)) s)"
