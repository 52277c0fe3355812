#!/bin/bash
# lvss-backup on object storage (make bench): backup and restore of a
# storage-group-shaped tree to a Ceph RADOS Gateway (single node, memstore,
# loopback; tests/integration/ceph-common.bash), beside restic's S3 backend
# against the same gateway in the same run.  Goal (issue 15): at least 2x
# restic's throughput both ways.
#
# The tree (LVSS_BENCH_S3_MIB, default 1024 MiB) has the shape of a mail
# storage group: a few large database files (one third random bytes as
# compressed attachments, one third base64 text, one third log-like text)
# and many 1 MiB transaction logs.  Both tools read it from the page cache
# and write encrypted repositories.  Needs the Debian packages ceph-mon,
# ceph-osd, radosgw, s3cmd and restic; without them it says so and exits 0.
set -u
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
. "$LVSS_SOURCE_ROOT/tests/integration/ceph-common.bash"
skip() { echo "s3-bench: skipped: $*"; exit 0; }
fixture_init
B=$(fx_bin tools/lvss-backup/lvss-backup)
MIB=${LVSS_BENCH_S3_MIB:-1024}
[ -x "$B" ] || skip "lvss-backup not built"
ceph_need
command -v restic >/dev/null || skip "restic not installed (Debian restic)"
export LVSS_BACKUP_PASSWORD=bench RESTIC_PASSWORD=bench RESTIC_CACHE_DIR="$FX_DIR/restic-cache"
export LVSS_CACHE_DIR="$FX_DIR/lvss-cache"
cd "$FX_DIR"

# ---- the storage group: 3 databases, 1 MiB logs, a checkpoint
sg=tree/srv/mail/SG1
mkdir -p "$sg"
db=$((MIB * 3 / 4 / 3))     # MiB per database
for i in 1 2 3; do
    { head -c $((db * 1048576 / 3)) /dev/urandom
      head -c $((db * 786432 / 3)) /dev/urandom | base64 -w 76
      awk -v n=$((db * 1048576 / 3)) -v s=$i 'BEGIN { srand(s); while (t < n) {
          l = sprintf("%06d Received: from mx%d.example.org by store%d id %08x; size %d\n",
                      NR++, int(rand()*50), s, int(rand()*2^31), int(rand()*1e5)); printf "%s", l; t += length(l) } }'
    } >"$sg/DB$i.edb"
done
for ((i=1; i<=MIB / 4; i++)); do head -c 1048576 /dev/urandom >"$sg/E00$(printf %05X "$i").log"; done
head -c 8192 /dev/urandom >"$sg/E00.chk"
TOTAL=$(du -sb tree | cut -f1)
cat "$sg"/* >/dev/null

ceph_start
ceph_bucket bench
S3=s3:$CEPH_S3/bench

# CPU seconds (user + system) a process has used so far.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
gw_cpu() { python3 -c "print('%.2f' % ($(cpu_of "$FX_PID_ceph_rgw") + $(cpu_of "$FX_PID_ceph_osd")))"; }
# secs VAR CMD...: wall seconds into VAR; the profile line (the client's CPU
# seconds, the gateway's: radosgw + ceph-osd) into VAR_cpu.
secs() {
    local var=$1 t0 t1 g0 g1; shift
    g0=$(gw_cpu)
    t0=$(date +%s.%N)
    if ! /usr/bin/time -f '%U %S' -o "$FX_DIR/last.time" "$@" >/dev/null 2>"$FX_DIR/last.err"; then
        echo "s3-bench: failed: $* ($(tail -2 "$FX_DIR/last.err"))" >&2
        printf -v "$var" failed; printf -v "${var}_cpu" -- -; return 1
    fi
    t1=$(date +%s.%N)
    g1=$(gw_cpu)
    printf -v "$var" '%s' "$(python3 -c "print('%.1f' % ($t1 - $t0))")"
    printf -v "${var}_cpu" '%s' "$(read -r u s <"$FX_DIR/last.time"; python3 -c "print('%.1f / %.1f' % ($u + $s, $g1 - $g0))")"
}
mbps() { [ "$1" = failed ] && echo failed || python3 -c "print('%.1f MB/s' % ($TOTAL / 1048576 / $1))"; }
ratio() { { [ "$1" = failed ] || [ "$2" = failed ]; } && echo "n/a" || python3 -c "print('%.2fx' % ($2 / $1))"; }

echo "s3-bench: storage group $(( TOTAL / 1048576 )) MiB ($(ls "$sg" | wc -l) files) to RGW (ceph $(ceph --version | awk '{print $3}'), up in ${CEPH_START_S}s), lvss-backup beside restic $(restic version | awk '{print $2}')"
"$B" init --repo "$S3/lvss" -q || { echo "s3-bench: init failed" >&2; exit 1; }
secs LB "$B" backup-dir --repo "$S3/lvss" -q tree
restic -r "$S3/restic" init >/dev/null 2>&1 || echo "s3-bench: restic init failed" >&2
secs RB restic -r "$S3/restic" backup -q tree
sync
rm -rf "$LVSS_CACHE_DIR" "$RESTIC_CACHE_DIR"   # restores start cold, as on a new machine
LID=$("$B" list --repo "$S3/lvss" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][-1]["id"])')
secs LR "$B" restore-files --repo "$S3/lvss" -q "$LID" --to out-lvss
secs RR restic -r "$S3/restic" restore -q latest --target out-restic
diff -rq "out-lvss/${FX_DIR#/}/tree" tree >/dev/null || echo "s3-bench: WARNING: lvss restore differs from the tree" >&2

printf "\n%-28s %14s %14s %10s\n" "" "lvss-backup" "restic" "lvss/restic"
printf "%-28s %14s %14s %10s\n" "backup to RGW" "$(mbps "$LB")" "$(mbps "$RB")" "$(ratio "$LB" "$RB")"
printf "%-28s %14s %14s %10s\n" "restore from RGW" "$(mbps "$LR")" "$(mbps "$RR")" "$(ratio "$LR" "$RR")"
printf "%-28s %14s %14s\n" "backup, seconds" "$LB" "$RB"
printf "%-28s %14s %14s\n" "restore, seconds" "$LR" "$RR"
printf "%-28s %14s %14s\n" "backup, CPU s client/gw" "$LB_cpu" "$RB_cpu"
printf "%-28s %14s %14s\n" "restore, CPU s client/gw" "$LR_cpu" "$RR_cpu"
echo "(same gateway, same run; wall times on a shared machine: load average $(cut -d' ' -f1-3 /proc/loadavg))"
