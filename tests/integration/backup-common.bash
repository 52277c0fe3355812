# shellcheck shell=bash
# Shared by the lvss-backup create/restore tests (tests/integration/backup-*.sh):
# private bus, lvssd, mstored with the Mail Store Writer on an XFS (reflink)
# loop device, a storage group SG1 with databases DB1 (mailbox a@h1) and DB2
# (mailbox b@h1), an unencrypted repository, and helpers to deliver mail and
# compare every message byte for byte.  Not a test itself (no .sh suffix).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1

MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"

# bk_setup [MIB]: everything above, running; exports DATA SG SOCK REPO.
# BK_FS=btrfs puts the store on btrfs (subvolume snapshots) instead of XFS.
bk_setup() {
    local b
    for b in "$MSTORED" "$MSTORE" "$LVSSD" "$LB"; do
        [ -x "$b" ] || skip "$(basename "$b") not built"
    done
    command -v python3 >/dev/null || skip "python3 needed (LMTP client, JSON)"
    fixture_init
    fixture_need_root
    fixture_bus
    if [ "${BK_FS:-xfs}" = btrfs ]; then
        fixture_btrfs mail "${1:-600}"
    else
        fixture_xfs mail "${1:-600}"
    fi
    DATA=$FX_MNT/data
    SG=$DATA/SG1
    SOCK=$FX_DIR/lmtp.sock
    REPO=$FX_DIR/repo
    mkdir -p "$FX_DIR/state"
    fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
    fixture_wait_name org.lvss.Coordinator1 10
    start_mstored
    $MSTORE sg create SG1 && $MSTORE db create SG1/DB1 && $MSTORE db create SG1/DB2 || fail "storage group setup"
    $MSTORE mailbox create a@h1 --db SG1/DB1 && $MSTORE mailbox create b@h1 --db SG1/DB2 || fail "mailboxes"
    $LB init --repo "$REPO" --no-encryption --quiet || fail "lvss-backup init"
}

# BK_MSTORED_CONFIG='{"log_file_size": 65536}' passes mstored a --config;
# BK_MSTORED_ARGS (words) more options, e.g. "--imap unix:PATH".
start_mstored() {
    local cfg=()
    if [ -n "${BK_MSTORED_CONFIG:-}" ]; then
        echo "$BK_MSTORED_CONFIG" >"$FX_DIR/mstored.json"
        cfg=(--config "$FX_DIR/mstored.json")
    fi
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1 ${cfg[@]+"${cfg[@]}"} \
        ${BK_MSTORED_ARGS:-}
    fixture_wait_name org.lvss.MailStore1 20
    local i
    for i in $(seq 100); do
        grep -q "Mail Store Writer subscribed" "$FX_DIR/mstored.log" && return 0
        sleep 0.1
    done
    fail "the Mail Store Writer did not subscribe to lvssd: $(tail -3 "$FX_DIR/mstored.log")"
}

# deliver RCPT N [SIZE]: N messages over LMTP, acknowledged (durable).
deliver() {
    python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages "$2" --size "${3:-2000}" --rcpt "$1" >/dev/null \
        || fail "LMTP delivery of $2 messages to $1"
}

count() {
    $MSTORE msg list "$1" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))'
}

# snapshot_mail ADDR DIR: every message of ADDR as DIR/UID.
snapshot_mail() {
    local addr=$1 dir=$2 uid
    mkdir -p "$dir"
    for uid in $($MSTORE msg list "$addr" --json | python3 -c \
        'import json,sys; print(" ".join(str(m["uid"]) for m in json.load(sys.stdin)["messages"]))'); do
        $MSTORE msg get "$addr" "$uid" >"$dir/$uid" || fail "msg get $addr $uid"
    done
}

# same_mail ADDR DIR: ADDR holds exactly the messages in DIR, byte for byte.
same_mail() {
    local addr=$1 dir=$2 f n
    n=$(ls "$dir" | wc -l)
    [ "$(count "$addr")" = "$n" ] || fail "$addr has $(count "$addr") messages, want $n"
    for f in "$dir"/*; do
        $MSTORE msg get "$addr" "$(basename "$f")" | cmp -s - "$f" || fail "$addr message $(basename "$f") differs"
    done
}

# json_get FIELD < JSON
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

offline_flagged() {
    $MSTORE db dismount SG1/DB1 && $MSTORE db dismount SG1/DB2 || fail "dismount"
    $MSTORE db set SG1/DB1 allow-restore-overwrite=yes && $MSTORE db set SG1/DB2 allow-restore-overwrite=yes \
        || fail "db set allow-restore-overwrite"
}

mount_all() {
    $MSTORE db mount SG1/DB1 && $MSTORE db mount SG1/DB2 || fail "mount after restore: $(tail -3 "$FX_DIR/mstored.log")"
}

# snapshot_both: a@h1's and b@h1's messages now, in $FX_DIR/before-a and
# $FX_DIR/before-b (replacing an earlier snapshot), for restore_and_compare.
snapshot_both() {
    rm -rf "$FX_DIR/before-a" "$FX_DIR/before-b"
    snapshot_mail a@h1 "$FX_DIR/before-a"
    snapshot_mail b@h1 "$FX_DIR/before-b"
}

# restore_and_compare ID WHAT: both databases of SG1 offline and deleted,
# backup ID restored over them and mounted; a@h1 and b@h1 must then hold
# the messages of snapshot_both byte for byte.  WHAT names the restore in
# the failure message.
restore_and_compare() {
    local id=$1 what=$2 err="$FX_DIR/restore-$1.err"
    offline_flagged
    rm -f "$SG"/DB1.edb "$SG"/DB1.stm "$SG"/DB2.edb "$SG"/DB2.stm
    $LB restore --repo "$REPO" "$id" --quiet 2>"$err" || fail "$what: $(cat "$err")"
    mount_all
    same_mail a@h1 "$FX_DIR/before-a"
    same_mail b@h1 "$FX_DIR/before-b"
}

# no_snapshots: lvssd holds no snapshot and no set in progress.
no_snapshots() {
    [ -x "$LVSSADM" ] || return 0
    local n
    n=$($LVSSADM list shadows --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["shadows"]))')
    [ "$n" = 0 ] || fail "$n snapshot(s) left behind: $($LVSSADM list shadows)"
    ls "$FX_MNT/.lvss-snapshots" 2>/dev/null | grep -v '^\.' | grep -q . && fail "snapshot directories left in $FX_MNT/.lvss-snapshots"
    return 0
}

# bk_rsg_chain SIZE N_FULL N_INC: bk_setup, skipped without mstore's rsg
# commands (reading an alternate location); then N_FULL messages of SIZE
# bytes to a@h1, a full (FULL), N_INC more, an incremental (INC), and a@h1's
# messages at that point in $FX_DIR/at-inc (for same_rsg_mail).
bk_rsg_chain() {
    bk_setup
    $MSTORE --help 2>&1 | grep -q "rsg msg list" || skip "mstore has no 'rsg' commands to read an alternate location"
    deliver a@h1 "$2" "$1"
    FULL=$($LB create --repo "$REPO" --json | json_get id) || fail "full"
    deliver a@h1 "$3" "$1"
    INC=$($LB create --repo "$REPO" --type incremental --json | json_get id) || fail "incremental"
    snapshot_mail a@h1 "$FX_DIR/at-inc"
}

# same_rsg_mail DIR: the alternate location DIR holds a@h1's messages of
# $FX_DIR/at-inc byte for byte.
same_rsg_mail() {
    local f
    for f in "$FX_DIR"/at-inc/*; do
        $MSTORE rsg msg get "$1" a@h1 "$(basename "$f")" | cmp -s - "$f" ||
            fail "alternate copy of message $(basename "$f") differs"
    done
}
