#!/bin/bash
# Retention benchmark (make bench): 30 "days" of a directory's history
# (each day 5% of the tree is new data, one of 20 files rewritten), backed up
# by lvss-backup (a full every 7 days, incrementals between) and by restic
# (its backups are always deduplicated snapshots) at the same dates; then
#   lvss-backup forget --keep-daily 7 --keep-weekly 2 --prune
#   restic forget --keep-daily 7 --keep-weekly 2 --prune
# timed (wall clock, and CPU user+sys), the repository sizes after, and every
# kept backup of both restored and compared byte for byte with the tree as it
# was that day.  The two commands do not keep the same backups: lvss applies
# Proxmox Backup Server's rules (each option counts only backups no earlier
# option kept, so --keep-weekly 2 reaches back two more weeks) and keeps the
# chains the kept incrementals need; restic's options overlap.  So a third
# column runs restic on a copy of its repository forgetting exactly the days
# lvss removed (`restic forget ID... --prune`): the same history kept by both,
# the like-for-like comparison of prune's time and of the size after.
# LVSS_BENCH_RETENTION_MIB (default 40) sets the tree size.  restic is
# installed when missing and we are root (Debian package), otherwise its
# column says so.  lvss-backup's dates come from the test hook
# LVSS_REPO_FAKE_TIME, so this needs a build with test hooks (debug, the
# default of `make bench`).
set -u
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
B=$(fx_bin tools/lvss-backup/lvss-backup)
MIB=${LVSS_BENCH_RETENTION_MIB:-40}
DAYS=30
[ -x "$B" ] || { echo "retention-bench: skipped: lvss-backup not built"; exit 0; }
[ "${LVSS_TEST_HOOKS:-1}" != 0 ] || { echo "retention-bench: skipped: needs a build with test hooks"; exit 0; }
if ! command -v restic >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "retention-bench: installing restic (Debian package)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic >/dev/null 2>&1
fi
HAVE_RESTIC=0
command -v restic >/dev/null && HAVE_RESTIC=1
export LVSS_BACKUP_PASSWORD=bench RESTIC_PASSWORD=bench TZ=UTC RESTIC_CACHE_DIR="$FX_DIR/restic-cache"
cd "$FX_DIR"

# ---- the history: 20 files of 5% each; day d rewrites file d % 20
mkdir -p tree manifests
part=$((MIB * 1048576 / 20))
for i in $(seq 0 19); do head -c $part /dev/urandom >tree/f$i; done
"$B" init --repo lvss -q || fail "init"
((HAVE_RESTIC)) && { restic init -r restic -q >/dev/null || fail "restic init"; }
T0=1767578400   # Monday 2026-01-05 02:00 UTC
# The expected content of each day: sha256sum of every file (only the file
# rewritten that day is hashed again).
(cd tree && sha256sum f*) >cur.sum
lvss_t=0; restic_t=0
now() { date +%s.%N; }
add() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) + float(sys.argv[2]) - float(sys.argv[3])))" "$@"; }
for ((d = 0; d < DAYS; d++)); do
    if [ $d -gt 0 ]; then
        f=f$((d % 20))
        head -c $part /dev/urandom >tree/$f
        line=$(cd tree && sha256sum $f)
        awk -v f="$f" -v l="$line" '$2 == f { print l; next } { print }' cur.sum >cur.new && mv cur.new cur.sum
    fi
    t=$((T0 + d * 86400))
    type=incremental; [ $((d % 7)) = 0 ] && type=full
    s=$(now)
    LVSS_REPO_FAKE_TIME=$t "$B" backup-dir --repo lvss --type $type --json tree >out.json || fail "lvss backup day $d"
    lvss_t=$(add "$lvss_t" "$(now)" "$s")
    lid=$(python3 -c 'import json; print(json.load(open("out.json"))["id"])')
    cp cur.sum "manifests/$lid"
    echo "$d $lid" >>lvss-days
    if ((HAVE_RESTIC)); then
        s=$(now)
        restic backup -r restic --host bench --time "$(date -u -d "@$t" '+%Y-%m-%d %H:%M:%S')" --json tree >rout.json ||
            fail "restic backup day $d"
        restic_t=$(add "$restic_t" "$(now)" "$s")
        rid=$(python3 -c 'import json,sys; print([json.loads(l) for l in open("rout.json") if "snapshot_id" in l][-1]["snapshot_id"])')
        cp cur.sum "manifests/$rid"
        echo "$d $rid" >>restic-days
    fi
done
size_mib() { du -sb "$1" | awk '{printf "%.1f", $1 / 1048576}'; }
LB=$(size_mib lvss); RB=n/a; ((HAVE_RESTIC)) && RB=$(size_mib restic)

# ---- forget + prune, timed: "wall user sys" seconds
TIMEFORMAT='%R %U %S'
((HAVE_RESTIC)) && { cp -a restic restic-same || fail "cannot copy the restic repository"; }
LF=$( { time "$B" forget --repo lvss --keep-daily 7 --keep-weekly 2 --prune --json >lforget.json 2>lforget.err; } 2>&1 ) ||
    fail "lvss forget: $(cat lforget.err)"
RF=n/a
if ((HAVE_RESTIC)); then
    RF=$( { time restic forget -r restic --keep-daily 7 --keep-weekly 2 --prune -q >rforget.out 2>&1; } 2>&1 ) ||
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
LA=$(size_mib lvss); RA=n/a; ((HAVE_RESTIC)) && RA=$(size_mib restic)

# ---- every kept backup restores byte for byte
compare() { # compare DIR MANIFEST: the same files with the same content
    [ -d "$1" ] && [ "$(cd "$1" && ls | wc -l)" = 20 ] && (cd "$1" && sha256sum f*) | cmp -s - "$2"
}
LK=0
for id in $("$B" list --repo lvss --json | python3 -c 'import json,sys; print(" ".join(b["id"] for b in json.load(sys.stdin)["backups"]))'); do
    rm -rf out
    "$B" restore-files --repo lvss "$id" --chain --to out -q || fail "lvss restore $id"
    compare "out/${FX_DIR#/}/tree" "manifests/$id" || fail "lvss restore of $id differs from its day"
    LK=$((LK + 1))
done
RK=n/a
if ((HAVE_RESTIC)); then
    RK=0
    for id in $(restic snapshots -r restic --json | python3 -c 'import json,sys; print(" ".join(s["short_id"] for s in json.load(sys.stdin)))'); do
        rm -rf out
        restic restore -r restic -q "$id" --target out || fail "restic restore $id"
        compare "out/tree" "manifests/$id" || compare "out/${FX_DIR#/}/tree" "manifests/$id" || fail "restic restore of $id differs"
        RK=$((RK + 1))
    done
fi
CHAIN=$(python3 -c 'import json; print(sum(1 for k in json.load(open("lforget.json"))["kept"] if k["reasons"] == ["chain"]))')

row() { printf "%-46s %16s %16s %18s\n" "$@"; }
wall() { [ "$1" = n/a ] && echo n/a || echo "${1%% *} s"; }
cpu() { [ "$1" = n/a ] && echo n/a || echo "$1" | awk '{printf "%.2f s", $2 + $3}'; }
ratio() { [ "$2" = n/a ] && echo n/a || python3 -c 'import sys; a, b = (float(x.split()[0]) for x in sys.argv[1:3]); print("%.2f" % (b / a))' "$1" "$2"; }
echo "retention-bench: $DAYS days of a $MIB MiB tree, 5% new each day; lvss-backup (full every 7 days) beside restic $( ((HAVE_RESTIC)) && restic version | awk '{print $2}' || echo missing)"
row "" "lvss-backup" "restic" "restic, lvss's days"
row "30 backups, total time" "${lvss_t} s" "$( ((HAVE_RESTIC)) && echo "${restic_t} s" || echo n/a)" ""
row "repository size before forget" "$LB MiB" "$RB MiB" "$RB MiB"
row "forget --keep-daily 7 --keep-weekly 2 --prune" "$(wall "$LF")" "$(wall "$RF")" "$(wall "$RS")"
row "  CPU (user + sys)" "$(cpu "$LF")" "$(cpu "$RF")" "$(cpu "$RS")"
row "  restic's wall time / lvss's" "" "$(ratio "$LF" "$RF")" "$(ratio "$LF" "$RS")"
row "repository size after prune" "$LA MiB" "$RA MiB" "$RSA MiB"
row "backups kept" "$LK ($CHAIN chain)" "$RK" "$RSK"
row "  all restored, byte-identical" "yes" "$( ((HAVE_RESTIC)) && echo yes || echo n/a)" "(not restored)"
echo "(lvss keeps the fulls and incrementals the kept incrementals need, marked 'chain', and counts --keep-weekly as Proxmox Backup Server does; restic's snapshots are independent and its options overlap, so it keeps fewer days; the third column keeps lvss's days. Load average $(cut -d' ' -f1-3 /proc/loadavg))"
