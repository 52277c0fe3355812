#!/bin/bash
# Storage-group backup benchmark (make bench): one mail storage group of
# LVSS_BENCH_BACKUP_MIB (default 1024) MiB of mail delivered over LMTP to a
# real mstored (Mail Store Writer registered with a real lvssd), backed up
#   - by lvss-backup create (its own snapshot set, through the writer),
#   - by restic backup and borg create run with lvssadm create --exec on the
#     storage group's directory (a snapshot set made the same way; the tool
#     reads the snapshot),
# in the same run: MiB/s and repository size; then ~5% more mail and a second
# backup (lvss-backup incremental, and full for the comparison with restic
# and borg, which deduplicate whole trees); then the restore of one database
# beside cp of the same bytes (and restic restore / borg extract of them).
#
# Fairness notes (printed with the table too):
#   - No mail arrives between the lvss-backup, restic and borg backups of a
#     round, so every snapshot of the round holds the same data.  Each tool
#     gets its own snapshot set: a reflink snapshot's files are new inodes
#     with an empty page cache, so every tool starts from the same cache
#     state (the loop device's backing file is cached: the data was just
#     written) and nobody reads what another tool just pulled into memory.
#   - restic/borg are timed inside the --exec command (the tool's run only);
#     lvss-backup's time is the whole command, snapshot creation included.
#     The snapshot overhead around restic/borg is printed separately.
#   - restic/borg snapshots are --type copy (the default of lvssadm): the
#     writer keeps its logs, so lvss-backup's incremental chain is not broken.
#   - All repositories are encrypted with a password and live in the scratch
#     directory (not on the XFS under test); borg uses zstd level 3 (lvss
#     uses zstd 3, restic its default "auto").
#   - Restores: every source (repositories, the copy for cp) is read once
#     first so all come from the page cache; every run ends with sync; all
#     write fresh files on the same XFS.
# restic and borg are Debian packages (restic, borgbackup), installed here
# when missing and we are root, otherwise their columns say n/a.
set -u
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/bench/lib/mail-bench.bash" || exit 1
MIB=${LVSS_BENCH_BACKUP_MIB:-1024}
SERVER=bench

die() { echo "backup-bench: $*" >&2; exit 1; }

mail_bench_need backup-bench "$MSTORED" "$MSTORE" "$LVSSD" "$LVSSADM" "$LB"
if ! command -v restic >/dev/null || ! command -v borg >/dev/null; then
    echo "backup-bench: installing restic and borgbackup (Debian packages)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic borgbackup >/dev/null 2>&1
fi
HAVE_RESTIC=0; HAVE_BORG=0
command -v restic >/dev/null && HAVE_RESTIC=1
command -v borg >/dev/null && HAVE_BORG=1

T0=$(date +%s)
fixture_init
fixture_bus
# Room for the group, its logs before the first truncation, the extra 5%,
# the restored files and the cp / restic / borg copies of one database.
fixture_xfs mail $((MIB * 4 + 2048))
DATA=$FX_MNT/data
SG=$DATA/SG1
SOCK=$FX_DIR/lmtp.sock
LREPO=$FX_DIR/repo-lvss RREPO=$FX_DIR/repo-restic GREPO=$FX_DIR/repo-borg
export LVSS_BACKUP_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR="$FX_DIR/borg-home" RESTIC_CACHE_DIR="$FX_DIR/restic-cache"

mail_bench_start mstored "$DATA" "$SOCK" "$SERVER"
# Four mailboxes homed in each database.
DB1_BOXES="u0@$SERVER u1@$SERVER u2@$SERVER u3@$SERVER"
DB2_BOXES="u4@$SERVER u5@$SERVER u6@$SERVER u7@$SERVER"
mail_bench_mailboxes SG1/DB1 $DB1_BOXES
mail_bench_mailboxes SG1/DB2 $DB2_BOXES

# fill BYTES SEED: deliver BYTES of mail over LMTP (bench/lib/mail-bench.bash).
fill() { mail_bench_fill "$SOCK" "$1" "$2" $DB1_BOXES $DB2_BOXES; }

mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
size_b() { du -sb "$1" | cut -f1; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# run_timed VAR CMD...: wall seconds in VAR, CPU seconds (user+sys, children
# included) in VAR_cpu; failure is fatal.
run_timed() {
    local var=$1 rc wall usr sys; shift
    local TIMEFORMAT='%R %U %S'
    { time "$@" >"$FX_DIR/last.out" 2>"$FX_DIR/last.err"; } 2>"$FX_DIR/last.time"
    rc=$?
    [ $rc = 0 ] || die "failed (exit $rc): $* -- $(tail -3 "$FX_DIR/last.err")"
    read -r wall usr sys <"$FX_DIR/last.time"
    printf -v "$var" '%s' "$wall"
    printf -v "${var}_cpu" '%s' "$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')"
}

# ---- the storage group
read -r n_msg n_bytes secs < <(fill $((MIB * 1048576)) 1) || die "filling the storage group over LMTP failed"
[ -n "${secs:-}" ] || die "filling the storage group over LMTP failed"
echo "backup-bench: delivered $n_msg messages, $(mib "$n_bytes") MiB of mail in $secs s over LMTP"
# The fill's log generations would be backed up by restic and borg but not
# by lvss-backup's full (which takes the logs from the checkpoint on), so
# the store starts as a store that has been backed up before: one full
# snapshot through the writer truncates them.
$LVSSADM create --type full --exec true "$SG" >/dev/null 2>"$FX_DIR/pre.err" \
    || die "the log-truncating full snapshot failed: $(cat "$FX_DIR/pre.err")"
dbs=$(( $(stat -c %s "$SG/DB1.edb" "$SG/DB1.stm" "$SG/DB2.edb" "$SG/DB2.stm" | paste -sd+) ))
SGB=$(size_b "$SG")
echo "backup-bench: storage group SG1 $(mib "$SGB") MiB on disk (databases $(mib $dbs) MiB, logs and checkpoint $(mib $((SGB - dbs))) MiB); XFS on a loop device; repositories in $FX_DIR ($(stat -f -c %T "$FX_DIR"))"
echo "backup-bench: lvss-backup beside restic $( ((HAVE_RESTIC)) && restic version | awk '{print $2}' || echo missing) and borg $( ((HAVE_BORG)) && borg --version | awk '{print $2}' || echo missing)"

# The command lvssadm runs inside the snapshot set: TOOL ROUND.  Times the
# tool only; the snapshot's size (what the tool reads) is measured before.
cat >"$FX_DIR/in-snapshot.sh" <<'EOS'
#!/bin/bash
tool=$1 round=$2 out=$FX_DIR/$1-$2
mapfile -t paths < <(printf '%s\n' "$LVSS_SHADOW_PATHS" | cut -d= -f2-)
du -scb "${paths[@]}" | tail -1 | cut -f1 >"$out.bytes"
TIMEFORMAT='%R %U %S'
case $tool in
restic) { time restic -r "$RREPO" backup -q --host bench "${paths[@]}" >"$out.out" 2>"$out.err"; } 2>"$out.time" ;;
borg) { time borg create --compression zstd,3 "$GREPO::$round" "${paths[@]}" >"$out.out" 2>"$out.err"; } 2>"$out.time" ;;
esac
EOS
export FX_DIR RREPO GREPO

# snap_tool TOOL ROUND: one snapshot set for TOOL; sets TOOL_ROUND (wall),
# its _cpu, _bytes and _overhead (lvssadm's time outside the tool).
snap_tool() {
    local tool=$1 round=$2 v="${1}_$2" w u s
    run_timed "${v}_all" "$LVSSADM" create --exec "bash $FX_DIR/in-snapshot.sh $tool $round" "$SG"
    read -r w u s <"$FX_DIR/$tool-$round.time" || die "$tool: no timing"
    printf -v "$v" '%s' "$w"
    printf -v "${v}_cpu" '%s' "$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.1f", u + s }')"
    printf -v "${v}_bytes" '%s' "$(cat "$FX_DIR/$tool-$round.bytes")"
    local all="${v}_all"
    printf -v "${v}_overhead" '%s' "$(awk -v a="${!all}" -v w="$w" 'BEGIN { printf "%.1f", a - w }')"
}

# lvss_create VAR TYPE: lvss-backup create timed; VAR_bytes from its JSON.
lvss_create() {
    local var=$1 type=$2
    run_timed "$var" "$LB" create --repo "$LREPO" --type "$type" --json
    cp "$FX_DIR/last.out" "$FX_DIR/lvss-$var.json"
    printf -v "${var}_bytes" '%s' "$(json_field "$FX_DIR/lvss-$var.json" bytes_read)"
    printf -v "${var}_id" '%s' "$(json_field "$FX_DIR/lvss-$var.json" id)"
}

# ---- first backup: full
"$LB" init --repo "$LREPO" --quiet || die "lvss-backup init failed"
((HAVE_RESTIC)) && { restic init -r "$RREPO" -q >/dev/null 2>&1 || die "restic init failed"; }
((HAVE_BORG)) && { borg init -e repokey "$GREPO" >/dev/null 2>&1 || die "borg init failed"; }
LS0=$(size_b "$LREPO"); RS0=$( ((HAVE_RESTIC)) && size_b "$RREPO" || echo 0); GS0=$( ((HAVE_BORG)) && size_b "$GREPO" || echo 0)
lvss_create L1 full
((HAVE_RESTIC)) && snap_tool restic first
((HAVE_BORG)) && snap_tool borg first
LS1=$(size_b "$LREPO"); RS1=$( ((HAVE_RESTIC)) && size_b "$RREPO" || echo 0); GS1=$( ((HAVE_BORG)) && size_b "$GREPO" || echo 0)

# ---- ~5% more mail, second backup
read -r n2_msg n2_bytes secs2 < <(fill $((SGB / 20)) 2) || die "delivering the 5% over LMTP failed"
[ -n "${secs2:-}" ] || die "delivering the 5% over LMTP failed"
echo "backup-bench: delivered $n2_msg more messages, $(mib "$n2_bytes") MiB ($(awk -v a="$n2_bytes" -v b="$SGB" 'BEGIN { printf "%.1f", 100 * a / b }')% of the group)"
lvss_create LI incremental
LSI=$(size_b "$LREPO")
lvss_create L2 full
((HAVE_RESTIC)) && snap_tool restic second
((HAVE_BORG)) && snap_tool borg second
LS2=$(size_b "$LREPO"); RS2=$( ((HAVE_RESTIC)) && size_b "$RREPO" || echo 0); GS2=$( ((HAVE_BORG)) && size_b "$GREPO" || echo 0)

# ---- restore of SG1/DB1 from the second full, beside cp of the same bytes
# What the check after the restore compares: each DB1 mailbox's message
# count, and its first and newest message byte for byte (the newest came
# with the 5%, so it proves the restore rolled forward to the second backup).
declare -A before_n
for a in $DB1_BOXES; do
    uids=$($MSTORE msg list "$a" --json | python3 -c \
        'import json,sys; print(" ".join(str(m["uid"]) for m in json.load(sys.stdin)["messages"]))') || die "msg list $a"
    before_n[$a]=$(wc -w <<<"$uids")
    for u in $(awk '{print $1, $NF}' <<<"$uids"); do
        $MSTORE msg get "$a" "$u" >"$FX_DIR/before-$a-$u" || die "msg get $a $u"
    done
done
$MSTORE db dismount SG1/DB1 && $MSTORE db dismount SG1/DB2 || die "dismount failed"
$MSTORE db set SG1/DB1 allow-restore-overwrite=yes || die "db set allow-restore-overwrite failed"
# The source for cp: the dismounted database's two files, copied outside the
# XFS (like the repositories) so that cp cannot reflink them.
mkdir -p "$FX_DIR/db1-copy"
cp "$SG/DB1.edb" "$SG/DB1.stm" "$FX_DIR/db1-copy/" || die "copy of DB1"
DBB=$(( $(stat -c %s "$FX_DIR/db1-copy/DB1.edb" "$FX_DIR/db1-copy/DB1.stm" | paste -sd+) ))
# lvss-backup writes fresh files like cp does.
rm -f "$SG/DB1.edb" "$SG/DB1.stm"
cat_all() { find "$@" -type f -exec cat {} + >/dev/null; }
cat_all "$LREPO" "$FX_DIR/db1-copy"
sync
lvss_restore() {
    "$LB" restore --repo "$LREPO" "$L2_id" --component "Mail Store/$SERVER/SG1/DB1" --quiet && sync
}
run_timed LR lvss_restore
cp_restore() { mkdir "$FX_MNT/cp-out" && cp "$FX_DIR/db1-copy/DB1.edb" "$FX_DIR/db1-copy/DB1.stm" "$FX_MNT/cp-out/" && sync; }
run_timed CR cp_restore
RR=n/a; GR=n/a; RR_cpu=n/a; GR_cpu=n/a
if ((HAVE_RESTIC)); then
    mapfile -t rfiles < <(restic -r "$RREPO" ls latest 2>/dev/null | grep -E '/SG1/DB1\.(edb|stm)$')
    [ ${#rfiles[@]} = 2 ] || die "restic ls: DB1 files not found in the latest snapshot"
    cat_all "$RREPO"
    restic_restore() {
        restic -r "$RREPO" restore latest -q --target "$FX_MNT/restic-out" --include "${rfiles[0]}" --include "${rfiles[1]}" && sync
    }
    run_timed RR restic_restore
    [ "$(find "$FX_MNT/restic-out" -name 'DB1.*' -type f | wc -l)" = 2 ] || die "restic restore did not write DB1's two files"
fi
if ((HAVE_BORG)); then
    mapfile -t gfiles < <(borg list "$GREPO::second" --format '{path}{NL}' 2>/dev/null | grep -E '/SG1/DB1\.(edb|stm)$')
    [ ${#gfiles[@]} = 2 ] || die "borg list: DB1 files not found in the second archive"
    cat_all "$GREPO"
    borg_restore() { mkdir "$FX_MNT/borg-out" && cd "$FX_MNT/borg-out" && borg extract "$GREPO::second" "${gfiles[@]}" && cd "$FX_DIR" && sync; }
    run_timed GR borg_restore
    [ "$(find "$FX_MNT/borg-out" -name 'DB1.*' -type f | wc -l)" = 2 ] || die "borg extract did not write DB1's two files"
fi
$MSTORE db mount SG1/DB1 && $MSTORE db mount SG1/DB2 || die "mount after the restore failed: $(tail -3 "$FX_DIR/mstored.log")"
for a in $DB1_BOXES; do
    n=$($MSTORE msg list "$a" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))')
    [ "$n" = "${before_n[$a]}" ] || die "after the restore $a has $n messages, had ${before_n[$a]}"
done
for f in "$FX_DIR"/before-*; do
    b=${f##*/before-}
    $MSTORE msg get "${b%-*}" "${b##*-}" | cmp -s - "$f" || die "after the restore message ${b##*-} of ${b%-*} differs"
done

# ---- the table
tp() { case $2 in n/a|failed) echo "$2" ;; *) echo "$(rate "$1" "$2") MiB/s" ;; esac; }
s() { case $1 in n/a|failed) echo "$1" ;; *) echo "$1 s" ;; esac; }
m() { echo "$(mib "$1") MiB"; }
na() { if (("$1")); then shift; "$@"; else echo n/a; fi; }
row() { printf "%-46s %14s %14s %14s\n" "$@"; }
echo
row "" "lvss-backup" "restic" "borg"
row "1st backup (full), time" "$(s "$L1")" "$(na $HAVE_RESTIC s "${restic_first:-}")" "$(na $HAVE_BORG s "${borg_first:-}")"
row "  read" "$(m "$L1_bytes")" "$(na $HAVE_RESTIC m "${restic_first_bytes:-0}")" "$(na $HAVE_BORG m "${borg_first_bytes:-0}")"
row "  throughput (read / time)" "$(tp "$L1_bytes" "$L1")" "$(na $HAVE_RESTIC tp "${restic_first_bytes:-0}" "${restic_first:-}")" "$(na $HAVE_BORG tp "${borg_first_bytes:-0}" "${borg_first:-}")"
row "  CPU time (user+sys)" "$(s "$L1_cpu")" "$(na $HAVE_RESTIC s "${restic_first_cpu:-}")" "$(na $HAVE_BORG s "${borg_first_cpu:-}")"
row "repository size after 1st" "$(m $((LS1 - LS0)))" "$(na $HAVE_RESTIC m $((RS1 - RS0)))" "$(na $HAVE_BORG m $((GS1 - GS0)))"
row "2nd backup (5% more mail), full: time" "$(s "$L2")" "$(na $HAVE_RESTIC s "${restic_second:-}")" "$(na $HAVE_BORG s "${borg_second:-}")"
row "  read" "$(m "$L2_bytes")" "$(na $HAVE_RESTIC m "${restic_second_bytes:-0}")" "$(na $HAVE_BORG m "${borg_second_bytes:-0}")"
row "  throughput (read / time)" "$(tp "$L2_bytes" "$L2")" "$(na $HAVE_RESTIC tp "${restic_second_bytes:-0}" "${restic_second:-}")" "$(na $HAVE_BORG tp "${borg_second_bytes:-0}" "${borg_second:-}")"
row "  CPU time (user+sys)" "$(s "$L2_cpu")" "$(na $HAVE_RESTIC s "${restic_second_cpu:-}")" "$(na $HAVE_BORG s "${borg_second_cpu:-}")"
row "  repository growth" "$(m $((LS2 - LSI)))" "$(na $HAVE_RESTIC m $((RS2 - RS1)))" "$(na $HAVE_BORG m $((GS2 - GS1)))"
row "2nd backup, lvss-backup incremental: time" "$(s "$LI")" "" ""
row "  read (logs only)" "$(m "$LI_bytes")" "" ""
row "  CPU time (user+sys)" "$(s "$LI_cpu")" "" ""
row "  repository growth" "$(m $((LSI - LS1)))" "" ""
row "snapshot set around the tool (not in its time)" "(included)" \
    "$(na $HAVE_RESTIC s "${restic_first_overhead:-}") $(na $HAVE_RESTIC s "${restic_second_overhead:-}")" \
    "$(na $HAVE_BORG s "${borg_first_overhead:-}") $(na $HAVE_BORG s "${borg_second_overhead:-}")"
row "restore SG1/DB1 ($(mib $DBB) MiB .edb+.stm), time" "$(s "$LR")" "$(s "$RR")" "$(s "$GR")"
row "  throughput" "$(tp "$DBB" "$LR")" "$(tp "$DBB" "$RR")" "$(tp "$DBB" "$GR")"
row "  CPU time (user+sys)" "$(s "$LR_cpu")" "$(s "$RR_cpu")" "$(s "$GR_cpu")"
row "cp of the same two files + sync" "$(s "$CR")  ($(tp "$DBB" "$CR"))" "" ""
echo "(lvss-backup times are whole commands, its snapshot included; restic/borg are timed inside lvssadm create --exec,"
echo " each tool on its own snapshot set of the same data (each freeze closes the current 5 MiB log generation, so a"
echo " later snapshot of a round holds one more log file; lvss-backup reads only the files the writer lists, restic and"
echo " borg the whole directory, reserve logs included); restores: sources in the page cache, each run ends with sync;"
echo " the lvss restore includes the writer's roll-forward and was checked: DB1's mailboxes read back after mounting)"
echo "(wall times on a shared machine: load average $(cut -d' ' -f1-3 /proc/loadavg); CPU times do not depend on load;"
echo " the whole benchmark took $(( $(date +%s) - T0 )) s)"
