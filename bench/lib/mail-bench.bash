# shellcheck shell=bash
# Shared by the Mail Store benches (bench/backup-bench.sh, bench/mstored-bench.sh,
# bench/mstored-cycles.sh): the programs under test, the checks that turn a
# bench into a skip (make bench goes on), and the set-up of lvssd with a
# real mstored whose Mail Store Writer has subscribed, on the fixture of
# tests/lib/fixture.sh.  Not a bench itself (no .sh suffix: scripts/bench.sh
# runs bench/*.sh).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"

# mail_bench_need NAME PROGRAM...: each PROGRAM built, root, a free loop
# device and XFS (reflink snapshots), or NAME is skipped (exit 0).
mail_bench_need() {
    local name=$1 b
    shift
    for b in "$@"; do
        [ -x "$b" ] || { echo "$name: skipped: $(basename "$b") not built"; exit 0; }
    done
    if [ "$(id -u)" != 0 ] || ! losetup -f >/dev/null 2>&1 || ! grep -qw xfs /proc/filesystems ||
        ! command -v mkfs.xfs >/dev/null; then
        echo "$name: skipped: needs root, a free loop device and XFS (reflink snapshots)"
        exit 0
    fi
}

# mail_bench_start NAME DATA SOCK SERVER: lvssd, then mstored (fixture name
# NAME) on DATA with LMTP on SOCK, its Mail Store Writer subscribed to lvssd.
mail_bench_start() {
    local i
    mkdir -p "$FX_DIR/state"
    fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
    fixture_wait_name org.lvss.Coordinator1 10
    fixture_spawn "$1" "$MSTORED" --data-dir "$2" --lmtp "unix:$3" --server-name "$4"
    fixture_wait_name org.lvss.MailStore1 20
    for ((i = 0; i < 100; i++)); do
        grep -q "Mail Store Writer subscribed" "$FX_DIR/$1.log" && break
        sleep 0.1
    done
    grep -q "Mail Store Writer subscribed" "$FX_DIR/$1.log" ||
        fail "the Mail Store Writer did not subscribe to lvssd: $(tail -3 "$FX_DIR/$1.log")"
    for ((i = 0; i < 50; i++)); do [ -S "$3" ] && return 0; sleep 0.1; done
    fail "mstored did not open its LMTP socket $3"
}

# mail_bench_mailboxes SG/DB ADDR...: the database (and its storage group,
# the first time) and the mailboxes ADDR homed in it.
MAIL_BENCH_SGS=
mail_bench_mailboxes() {
    local db=$1 a
    shift
    case " $MAIL_BENCH_SGS " in
    *" ${db%%/*} "*) ;;
    *) $MSTORE sg create "${db%%/*}" >/dev/null || fail "mstore sg create ${db%%/*}"
       MAIL_BENCH_SGS="$MAIL_BENCH_SGS ${db%%/*}" ;;
    esac
    $MSTORE db create "$db" >/dev/null || fail "mstore db create $db"
    for a in "$@"; do $MSTORE mailbox create "$a" --db "$db" || fail "mailbox create $a"; done
}
