#!/bin/bash
# lvss-backup repository benchmark (make bench): the same 1 GiB tree backed
# up with `lvss-backup backup-dir`, `restic backup` and `borg create` in the
# same run -- MB/s and repository size; the second backup after 5% of the
# data changed; restore beside cp.
#
# The tree (LVSS_BENCH_REPO_MIB, default 1024 MiB): one third random bytes
# (incompressible: attachments already compressed), one third base64 text
# (mail-encoded attachments), one third log-like text (message bodies,
# headers).  All tools read it from the page cache (it is read once first),
# all repositories are encrypted with a password; borg uses zstd level 3
# (lvss uses zstd 3, restic its default "auto").
# restic and borg are Debian packages (restic, borgbackup); they are
# installed here when missing and we are root, otherwise their columns say so.
set -u
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
B=$(fx_bin tools/lvss-backup/lvss-backup)
MIB=${LVSS_BENCH_REPO_MIB:-1024}
[ -x "$B" ] || { echo "repo-bench: skipped: lvss-backup not built"; exit 0; }
if ! command -v restic >/dev/null || ! command -v borg >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        echo "repo-bench: installing restic and borgbackup (Debian packages)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends restic borgbackup >/dev/null 2>&1
    fi
fi
HAVE_RESTIC=0; HAVE_BORG=0
command -v restic >/dev/null && HAVE_RESTIC=1
command -v borg >/dev/null && HAVE_BORG=1
export LVSS_BACKUP_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BORG_BASE_DIR="$FX_DIR/borg-home" RESTIC_CACHE_DIR="$FX_DIR/restic-cache"
cd "$FX_DIR"

# ---- the tree
part=$((MIB / 3 / 8))   # MiB per file, 8 files per kind
mkdir -p tree/bin tree/b64 tree/text
for i in 1 2 3 4 5 6 7 8; do
    head -c $((part * 1048576)) /dev/urandom >tree/bin/att$i.bin
    head -c $((part * 786432)) /dev/urandom | base64 -w 76 | head -c $((part * 1048576)) >tree/b64/att$i.eml
    awk -v n=$((part * 1048576)) -v s=$i 'BEGIN { srand(s); while (t < n) {
        l = sprintf("%06d Received: from mx%d.example.org (10.%d.%d.%d) by store%d id %08x; msg %d size %d\n",
                    NR++, int(rand()*50), int(rand()*255), int(rand()*255), int(rand()*255), s, int(rand()*2^31),
                    int(rand()*1e6), int(rand()*1e5));
        printf "%s", l; t += length(l) } }' >tree/text/body$i.txt
done
TOTAL=$(du -sb tree | cut -f1)
cat tree/*/* >/dev/null

mbps() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / 1048576 / float(sys.argv[2])))" "$1" "$2"; }
size_mib() { du -sb "$1" | awk '{printf "%.0f", $1 / 1048576}'; }
row() { printf "%-34s %12s %12s %12s\n" "$@"; }

run_timed() { # run_timed VAR CMD...: wall seconds in VAR, CPU seconds (user+sys) in VAR_cpu
    local var=$1 rc; shift
    local TIMEFORMAT='%R %U %S'
    { time "$@" >/dev/null 2>"$FX_DIR/last.err"; } 2>"$FX_DIR/last.time"
    rc=$?
    if [ $rc != 0 ]; then
        echo "repo-bench: failed: $* ($(tail -2 "$FX_DIR/last.err"))" >&2
        printf -v "$var" 'failed'; printf -v "${var}_cpu" 'failed'; return 1
    fi
    read -r wall usr sys <"$FX_DIR/last.time"
    printf -v "$var" '%s' "$wall"
    printf -v "${var}_cpu" '%s' "$(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) + float(sys.argv[2])))" "$usr" "$sys")"
}

echo "repo-bench: tree $(( TOTAL / 1048576 )) MiB ($(ls tree/*/* | wc -l) files); lvss-backup beside restic $( ((HAVE_RESTIC)) && restic version | awk '{print $2}' || echo missing) and borg $( ((HAVE_BORG)) && borg --version | awk '{print $2}' || echo missing)"

# ---- first backup
"$B" init --repo lvss -q
run_timed L1 "$B" backup-dir --repo lvss -q tree
R1=n/a; G1=n/a; R1_cpu=n/a; G1_cpu=n/a
if ((HAVE_RESTIC)); then restic init -r restic -q >/dev/null; run_timed R1 restic backup -r restic -q tree; fi
if ((HAVE_BORG)); then borg init -e repokey borg >/dev/null 2>&1; run_timed G1 borg create --compression zstd,3 borg::first tree; fi
LS1=$(size_mib lvss); RS1=$( ((HAVE_RESTIC)) && size_mib restic || echo n/a); GS1=$( ((HAVE_BORG)) && size_mib borg || echo n/a)

# ---- 5% of the data changes (scattered 1 MiB regions), second backup
python3 - "$TOTAL" <<'PY'
import os, random, sys
random.seed(5)
files = sorted(os.path.join(d, f) for d, _, fs in os.walk("tree") for f in fs)
budget = int(sys.argv[1]) * 5 // 100
while budget > 0:
    f = random.choice(files)
    size = os.path.getsize(f)
    with open(f, "r+b") as fh:
        fh.seek(random.randrange(0, max(1, size - 1048576)))
        fh.write(os.urandom(1048576))
    budget -= 1048576
PY
cat tree/*/* >/dev/null
run_timed L2 "$B" backup-dir --repo lvss -q tree
R2=n/a; G2=n/a; R2_cpu=n/a; G2_cpu=n/a
((HAVE_RESTIC)) && run_timed R2 restic backup -r restic -q tree
((HAVE_BORG)) && run_timed G2 borg create --compression zstd,3 borg::second tree
LS2=$(size_mib lvss); RS2=$( ((HAVE_RESTIC)) && size_mib restic || echo n/a); GS2=$( ((HAVE_BORG)) && size_mib borg || echo n/a)

# ---- restore of the second backup, beside cp of the same bytes
LID=$("$B" list --repo lvss --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][-1]["id"])')
sync
run_timed LR "$B" restore-files --repo lvss -q "$LID" --to out-lvss
run_timed CR cp -r tree out-cp
RR=n/a; GR=n/a; RR_cpu=n/a; GR_cpu=n/a
((HAVE_RESTIC)) && run_timed RR restic restore -r restic -q latest --target out-restic
if ((HAVE_BORG)); then mkdir -p out-borg; cd out-borg; run_timed GR borg extract "$FX_DIR/borg::second"; cd "$FX_DIR"; fi
diff -rq "out-lvss/${FX_DIR#/}/tree" tree >/dev/null || echo "repo-bench: WARNING: lvss restore differs from the tree" >&2

tp() { [ "$2" = n/a ] || [ "$2" = failed ] && echo "$2" || echo "$(mbps "$1" "$2") MB/s"; }
mb() { [ "$1" = n/a ] && echo n/a || echo "$1 MiB"; }
s() { [ "$1" = n/a ] || [ "$1" = failed ] && echo "$1" || echo "$1 s"; }
echo
row "" "lvss-backup" "restic" "borg"
row "1st backup, throughput" "$(tp "$TOTAL" "$L1")" "$(tp "$TOTAL" "$R1")" "$(tp "$TOTAL" "$G1")"
row "1st backup, time" "$(s "$L1")" "$(s "$R1")" "$(s "$G1")"
row "1st backup, CPU time (user+sys)" "$(s "$L1_cpu")" "$(s "$R1_cpu")" "$(s "$G1_cpu")"
row "repository size after 1st" "$(mb "$LS1")" "$(mb "$RS1")" "$(mb "$GS1")"
row "2nd backup (5% changed), time" "$(s "$L2")" "$(s "$R2")" "$(s "$G2")"
row "2nd backup, throughput" "$(tp "$TOTAL" "$L2")" "$(tp "$TOTAL" "$R2")" "$(tp "$TOTAL" "$G2")"
row "2nd backup, CPU time" "$(s "$L2_cpu")" "$(s "$R2_cpu")" "$(s "$G2_cpu")"
row "repository growth by 2nd" "$(mb $((LS2 - LS1)))" "$(mb $( ((HAVE_RESTIC)) && echo $((RS2 - RS1)) || echo n/a))" "$(mb $( ((HAVE_BORG)) && echo $((GS2 - GS1)) || echo n/a))"
row "restore, time" "$(s "$LR")" "$(s "$RR")" "$(s "$GR")"
row "restore, throughput" "$(tp "$TOTAL" "$LR")" "$(tp "$TOTAL" "$RR")" "$(tp "$TOTAL" "$GR")"
row "restore, CPU time" "$(s "$LR_cpu")" "$(s "$RR_cpu")" "$(s "$GR_cpu")"
row "cp -r of the same tree" "$(s "$CR")  ($(tp "$TOTAL" "$CR"))" "" ""
echo "(wall times on a shared machine: load average $(cut -d' ' -f1-3 /proc/loadavg); CPU times do not depend on load)"
