#!/bin/bash
# SPDX-License-Identifier: MIT
# scripts/demo.sh BUILD_DIR — the end-to-end demonstration (`make demo`).
#
# A private D-Bus, lvssd and mstored (with the Mail Store Writer) in a scratch
# directory — on a loop-mounted XFS image (reflink) when run as root, else in
# $TMPDIR if that filesystem can clone files — sample mail over LMTP, a full
# backup while mail keeps arriving, an incremental, more mail, a lost
# database restored through the chain and rolled forward, the mail shown
# back; then the backup service lvss-backupd taking scheduled backups (a job
# every 10 s, two runs, shown with lvss-backupctl history).  Every step is narrated; everything is cleaned up on exit, even on
# failure or Ctrl-C.
set -u
BUILD=${1:-build}
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "demo: build directory '${1:-build}' not found (run 'make build')" >&2; exit 2; }
export LVSS_BUILD_ROOT=$BUILD
export LVSS_SOURCE_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
# The fixture's skip() exits 77 for the test harness; here it is a failure.
skip() { echo "demo: cannot run: $*" >&2; exit 1; }

LVSSD=$(fx_bin daemon/lvssd/lvssd)
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
BACKUPD=$(fx_bin tools/lvss-backupd/lvss-backupd)
CTL=$(fx_bin tools/lvss-backupctl/lvss-backupctl)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
for b in "$LVSSD" "$MSTORED" "$MSTORE" "$LB" "$BACKUPD" "$CTL"; do
    [ -x "$b" ] || skip "$b is not built (run 'make build')"
done
command -v python3 >/dev/null || skip "python3 is needed to deliver mail over LMTP"
command -v dbus-daemon >/dev/null || skip "dbus-daemon is needed for the private bus"

T0=$(date +%s%N)
STEP=0
elapsed() { local ms=$((($(date +%s%N) - T0) / 1000000)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
say() { STEP=$((STEP + 1)); printf '\n\033[1m[%6ss] %d. %s\033[0m\n' "$(elapsed)" "$STEP" "$*"; }
run() {
    local a out=""
    for a in "$@"; do case $a in *' '*) out+=" '$a'" ;; *) out+=" $a" ;; esac; done
    printf '   $%s\n' "$out" | sed "s|$LVSS_BUILD_ROOT/[a-z/-]*/||g" >&2
    "$@"
}
indent() { sed 's/^/     /'; }

LVSSD_ARGS=()
MSTORED_ARGS=()
fixture_init
say "Scratch space"
if [ "$(id -u)" = 0 ] && [ -e /dev/loop-control ] && losetup -f >/dev/null 2>&1 && grep -qw xfs /proc/filesystems \
    && command -v mkfs.xfs >/dev/null; then
    fixture_xfs demo 700
    DATA=$FX_MNT/mail
    echo "   a 700 MiB XFS image with reflink, loop-mounted at $FX_MNT: snapshots are reflink clones"
else
    DATA=$FX_DIR/mail
    mkdir -p "$DATA"
    if ! (echo probe >"$FX_DIR/p" && cp --reflink=always "$FX_DIR/p" "$FX_DIR/p2") 2>/dev/null; then
        skip "not root (no loop-mounted XFS) and $FX_DIR cannot clone files; run as root, or set TMPDIR to a directory on XFS (reflink=1) or btrfs"
    fi
    echo "   not root: using $DATA (its filesystem can clone files)"
    # Not root: let this user drive lvssd (writer and requestor) and administer mstored.
    printf '[access]\nuser:%s = both\n' "$(id -un)" >"$FX_DIR/lvssd.conf"
    printf '{"admin_group": "%s"}\n' "$(id -gn)" >"$FX_DIR/mstored.json"
    LVSSD_ARGS=(--config "$FX_DIR/lvssd.conf")
    MSTORED_ARGS=(--config "$FX_DIR/mstored.json")
fi
REPO=$FX_DIR/repo
SOCK=$FX_DIR/lmtp.sock

say "A private D-Bus, the coordinator lvssd, and mstored with the Mail Store Writer"
fixture_bus
echo "   LVSS_BUS=$LVSS_BUS"
mkdir -p "$FX_DIR/lvssd-state"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/lvssd-state" ${LVSSD_ARGS[@]+"${LVSSD_ARGS[@]}"}
fixture_wait_name org.lvss.Coordinator1 10
fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1 ${MSTORED_ARGS[@]+"${MSTORED_ARGS[@]}"}
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 100); do grep -q "Mail Store Writer subscribed" "$FX_DIR/mstored.log" && break; sleep 0.1; done
grep -q "Mail Store Writer subscribed" "$FX_DIR/mstored.log" || fail "the Mail Store Writer did not subscribe: $(tail -3 "$FX_DIR/mstored.log")"
echo "   lvssd and mstored are running; the Mail Store Writer registered with lvssd"

say "A storage group with two databases and three mailboxes"
run "$MSTORE" sg create SG1 || fail "sg create"
run "$MSTORE" db create SG1/DB1 || fail "db create"
run "$MSTORE" db create SG1/DB2 || fail "db create"
run "$MSTORE" mailbox create alice@h1 --db SG1/DB1 || fail "mailbox"
run "$MSTORE" mailbox create bob@h1 --db SG1/DB1 || fail "mailbox"
run "$MSTORE" mailbox create carol@h1 --db SG1/DB2 || fail "mailbox"

# deliver FROM_N TO_N: sample mail over LMTP (python's smtplib.LMTP), one
# message per mailbox per number.
deliver() {
    python3 - "$SOCK" "$1" "$2" <<'PY' || fail "LMTP delivery failed"
import smtplib, sys
sock, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
topics = ["Quarterly report", "Lunch on Friday?", "Build is green", "Invoice", "Meeting notes", "Re: backups"]
lmtp = smtplib.LMTP(sock)
for i in range(a, b + 1):
    for rcpt in ("alice@h1", "bob@h1", "carol@h1"):
        msg = ("From: demo@example.org\r\nTo: %s\r\nSubject: %s #%d\r\n\r\nMessage %d for %s.\r\n"
               % (rcpt, topics[i % len(topics)], i, i, rcpt) + "lorem ipsum dolor sit amet\r\n" * 40)
        lmtp.sendmail("demo@example.org", [rcpt], msg)
lmtp.quit()
PY
}
say "Delivering sample mail over LMTP"
deliver 1 20
echo "   20 messages each for alice, bob and carol"
run "$MSTORE" msg list alice@h1 | head -6 | indent

say "A new encrypted backup repository"
export LVSS_BACKUP_PASSWORD=demo-password
run "$LB" init --repo "$REPO" || fail "init"

say "Full backup of 'Mail Store/h1/SG1' while mail keeps arriving"
python3 "$CLIENT" load --socket "$SOCK" --clients 2 --seconds 3 --size 4000 --rcpt 'bob@h1' >"$FX_DIR/load.out" 2>&1 &
LOAD=$!
sleep 0.3
run "$LB" create --repo "$REPO" --type full --json >"$FX_DIR/full.json" || fail "full backup: $(tail -3 "$FX_DIR/mstored.log")"
indent <"$FX_DIR/full.json"
wait $LOAD
echo "   meanwhile LMTP kept delivering: $(cat "$FX_DIR/load.out")"
echo "   (the writer froze the storage group only for the freeze window above; deliveries queued and went on)"

say "More mail, then an incremental backup (only the new log generations)"
deliver 21 30
run "$LB" create --repo "$REPO" --type incremental --json >"$FX_DIR/inc.json" || fail "incremental backup"
indent <"$FX_DIR/inc.json"
INC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$FX_DIR/inc.json")

say "Mail that arrives after the last backup (only the live logs have it)"
deliver 31 35
run "$LB" list --repo "$REPO" | indent
ALICE_BEFORE=$("$MSTORE" msg list alice@h1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))')
mkdir -p "$FX_DIR/alice-before"
for uid in $("$MSTORE" msg list alice@h1 --json | python3 -c 'import json,sys; print(" ".join(str(m["uid"]) for m in json.load(sys.stdin)["messages"]))'); do
    "$MSTORE" msg get alice@h1 "$uid" >"$FX_DIR/alice-before/$uid"
done
echo "   alice has $ALICE_BEFORE messages"

say "Restoring a database while its storage group is online is refused by the writer"
run "$LB" restore --repo "$REPO" "$INC" --component 'Mail Store/h1/SG1/DB1' --quiet 2>&1 | indent
echo "   (exit status ${PIPESTATUS[0]}: nothing was written)"

say "Disaster: dismount the storage group and delete database DB1's files"
run "$MSTORE" db dismount SG1/DB1 || fail "dismount"
run "$MSTORE" db dismount SG1/DB2 || fail "dismount"
run "$MSTORE" db set SG1/DB1 allow-restore-overwrite=yes || fail "db set"
DB1=$("$MSTORE" db list --json | python3 -c 'import json,sys; d=[x for x in json.load(sys.stdin)["databases"] if x["name"]=="DB1"][0]; print(d["edb"], d["stm"])')
run rm -f $DB1
ls -l "$(dirname ${DB1%% *})" | indent

say "Restore DB1 through the chain: the full backup, then the incremental"
run "$LB" restore --repo "$REPO" "$INC" --component 'Mail Store/h1/SG1/DB1' || fail "restore: $(tail -5 "$FX_DIR/mstored.log")"
grep "restore of SG1" "$FX_DIR/mstored.log" | tail -3 | sed 's/^mstored: //' | indent

say "Mount, and the mail is back"
run "$MSTORE" db mount SG1/DB1 || fail "mount: $(tail -3 "$FX_DIR/mstored.log")"
run "$MSTORE" db mount SG1/DB2 || fail "mount"
run "$MSTORE" msg list alice@h1 | tail -6 | indent
ALICE_AFTER=$("$MSTORE" msg list alice@h1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))')
same=0
for f in "$FX_DIR"/alice-before/*; do
    "$MSTORE" msg get alice@h1 "$(basename "$f")" | cmp -s - "$f" && same=$((same + 1))
done
echo "   alice: $ALICE_AFTER messages after the restore (had $ALICE_BEFORE); $same identical byte for byte,"
echo "   including the 5 delivered after the last backup (rolled forward from the live logs)"
[ "$ALICE_AFTER" = "$ALICE_BEFORE" ] && [ "$same" = "$ALICE_BEFORE" ] || fail "the restored mail differs"

say "The backup service lvss-backupd: a job scheduled every 10 seconds"
if [ "$(id -u)" = 0 ] || id -Gn | grep -qw backup; then
    mkdir -p "$FX_DIR/backup.d"
    printf '%s' "$LVSS_BACKUP_PASSWORD" >"$FX_DIR/repo.pass"
    chmod 600 "$FX_DIR/repo.pass"
    cat >"$FX_DIR/backup.d/mail.json" <<EOJ
{"repository": "$REPO", "password_file": "$FX_DIR/repo.pass", "components": ["Mail Store/h1/SG1"],
 "schedule": {"incremental": "*:*:0/10"}, "retention": {"keep_last": 6}}
EOJ
    indent <"$FX_DIR/backup.d/mail.json"
    echo "   (the job's first scheduled incremental runs as a full: the job has no full of its own yet)"
    LVSS_BACKUP="$LB" fixture_spawn backupd "$BACKUPD" --config-dir "$FX_DIR/backup.d" --state-dir "$FX_DIR/backupd-state"
    fixture_wait_name org.lvss.Backup1 10
    run "$CTL" list | indent
    # scheduled_ok: how many scheduled backups succeeded so far.
    scheduled_ok() {
        "$CTL" history --json | python3 -c 'import json,sys; print(sum(1 for t in json.load(sys.stdin)["tasks"] if t["requested_by"] == "schedule" and t["state"] == "succeeded"))'
    }
    n=0
    for ((i = 0; i < 600 && n < 1; i++)); do sleep 0.1; n=$(scheduled_ok); done
    [ "$n" -ge 1 ] || fail "no scheduled backup within 60 s: $(tail -5 "$FX_DIR/backupd.log")"
    echo "   first scheduled backup done; more mail arrives before the next one"
    deliver 36 40
    for ((i = 0; i < 600 && n < 2; i++)); do sleep 0.1; n=$(scheduled_ok); done
    [ "$n" -ge 2 ] || fail "no second scheduled backup within 60 s: $(tail -5 "$FX_DIR/backupd.log")"
    # Stop the schedule through the API (the job file is rewritten atomically), let a run in progress end.
    run "$CTL" job set mail - <<EOJ || fail "job set"
{"repository": "$REPO", "password_file": "$FX_DIR/repo.pass", "components": ["Mail Store/h1/SG1"]}
EOJ
    for ((i = 0; i < 600; i++)); do
        "$CTL" history --json | python3 -c 'import json,sys; sys.exit(any(t["state"] in ("queued","running") for t in json.load(sys.stdin)["tasks"]))' && break
        sleep 0.1
    done
    run "$CTL" history | indent
    echo "   two scheduled runs (requested by 'schedule'), each an application-consistent VSS backup"
else
    echo "   skipped: lvss-backupd serves root and group 'backup' only (run the demo as root)"
fi

say "The repository checks clean"
run "$LB" verify --repo "$REPO" | indent

printf '\n\033[1mdemo finished in %s s; cleaning up\033[0m\n' "$(elapsed)"
exit 0
