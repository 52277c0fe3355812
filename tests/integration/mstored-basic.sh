#!/bin/bash
# mstored end to end without lvssd: storage groups, databases and mailboxes
# through the mstore CLI; LMTP deliveries over a unix socket with
# per-recipient replies, 550 for an unknown mailbox, 5xx for malformed
# input; `mstore msg get` returns each message byte for byte; definitions
# and mail survive a restart; CLI exit codes and --json documents.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
CLIENT="python3 $LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
[ -x "$MSTORED" ] || skip "mstored not built (needs libmstore)"
[ -x "$MSTORE" ] || skip "mstore CLI not built"
fixture_init
fixture_bus
DATA=$FX_DIR/data
SOCK=$FX_DIR/lmtp.sock

PORT=$((20000 + $$ % 20000))
# Group backup administers mstored (root checks the authorization below with
# it and the system user backup, whose primary group it is in the user
# database); without root the caller's own group does, so the rest still runs.
ADMIN_GROUP=backup
[ "$(id -u)" = 0 ] || ADMIN_GROUP=$(id -gn)
printf '{"admin_group": "%s", "max_storage_groups": 3}\n' "$ADMIN_GROUP" >"$FX_DIR/mstored.conf"
start_mstored() {
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --lmtp "127.0.0.1:$PORT" \
        --server-name h1 --no-writer --config "$FX_DIR/mstored.conf"
    fixture_wait_name org.lvss.MailStore1
    for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
}
stop_mstored() {
    kill -TERM "$FX_PID_mstored"
    wait "$FX_PID_mstored" 2>/dev/null
    local rc=$?
    [ "$rc" = 0 ] || fail "mstored exited $rc on SIGTERM: $(tail -20 "$FX_DIR/mstored.log")"
}
expect_rc() { # expect_rc RC CMD...
    local want=$1; shift
    "$@" >"$FX_DIR/out" 2>"$FX_DIR/err"; local rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$FX_DIR/err")"
}

start_mstored
$MSTORE --help | grep -q "msg get ADDRESS UID" || fail "mstore --help"
$MSTORED --help | grep -q -- "--data-dir" || fail "mstored --help"
$MSTORE sg create SG1 || fail "sg create"
$MSTORE sg create SG2 --path "$FX_DIR/sg2" --log-path "$FX_DIR/sg2-logs" || fail "sg create with paths"
$MSTORE db create SG1/DB1 || fail "db create"
$MSTORE db create SG2/PUB --public || fail "db create public"
$MSTORE mailbox create Alice@Example.org --db SG1/DB1 || fail "mailbox create"
$MSTORE mailbox create bob@example.org --db SG2/PUB || fail "mailbox create bob"

# usage errors and failures have their exit codes
expect_rc 2 $MSTORE db create nodb
expect_rc 2 $MSTORE frobnicate
expect_rc 2 $MSTORE msg get alice@example.org notanumber
expect_rc 1 $MSTORE db create NOSG/DB
grep -q "storage group 'NOSG'" "$FX_DIR/err" || fail "error message does not name the group: $(cat "$FX_DIR/err")"
expect_rc 1 $MSTORE sg create SG1
expect_rc 2 $MSTORE sg create "../evil"
expect_rc 1 $MSTORE mailbox create carol@example.org --db SG1/NODB

# JSON documents
$MSTORE sg list --json | python3 -c '
import json,sys; d=json.load(sys.stdin); g={x["name"]:x for x in d["storage_groups"]}
assert g["SG1"]["base"]=="E00" and g["SG2"]["base"]=="E01", g
assert g["SG2"]["log_path"].endswith("sg2-logs") and g["SG1"]["databases"]==["DB1"], g
assert set(g["SG1"]) >= {"name","base","path","log_path","circular_logging","databases"}' || fail "sg list --json"
$MSTORE db list --json | python3 -c '
import json,sys; d=json.load(sys.stdin)["databases"]
db={x["sg"]+"/"+x["name"]:x for x in d}
assert db["SG1/DB1"]["state"]=="mounted" and db["SG1/DB1"]["allow_restore_overwrite"] is False, db
assert db["SG1/DB1"]["edb"].endswith("/SG1/DB1.edb") and db["SG1/DB1"]["stm"].endswith("/SG1/DB1.stm"), db' || fail "db list --json"
$MSTORE mailbox list --json | grep -q '"alice@example.org"' || fail "mailbox list (addresses are lower-cased)"

# LMTP: two known recipients in two storage groups, one unknown.
printf 'From: x@test\r\nSubject: =?utf-8?q?hello?= world\r\n folded\r\n\r\nline 1\r\n.leading dot\r\n\r\nend\r\n' >"$FX_DIR/m1"
$CLIENT deliver --socket "$SOCK" --from x@test --rcpt alice@example.org --rcpt nobody@example.org \
    --rcpt BOB@example.org --file "$FX_DIR/m1" >"$FX_DIR/lmtp.out"
cat "$FX_DIR/lmtp.out"
grep -q "^nobody@example.org 550 5.1.1" "$FX_DIR/lmtp.out" || fail "no 550 for an unknown mailbox"
grep -q "^alice@example.org 250" "$FX_DIR/lmtp.out" || fail "alice not delivered"
grep -q "^BOB@example.org 250" "$FX_DIR/lmtp.out" || fail "bob not delivered"
$MSTORE msg list alice@example.org --json >"$FX_DIR/list.json" || fail "msg list"
python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))["messages"]
assert len(m)==1 and m[0]["uid"]==1 and m[0]["size"]==int(sys.argv[2]), m
assert m[0]["subject"]=="=?utf-8?q?hello?= world folded", m' "$FX_DIR/list.json" "$(stat -c %s "$FX_DIR/m1")" \
    || fail "msg list content: $(cat "$FX_DIR/list.json")"
$MSTORE msg get alice@example.org 1 >"$FX_DIR/got1" || fail "msg get"
cmp "$FX_DIR/m1" "$FX_DIR/got1" || fail "message not byte for byte"
$MSTORE msg get bob@example.org 1 | cmp - "$FX_DIR/m1" || fail "bob's copy not byte for byte"
expect_rc 1 $MSTORE msg get alice@example.org 99

# LMTP over TCP as well.
$CLIENT deliver --socket "tcp:127.0.0.1:$PORT" --rcpt alice@example.org --file "$FX_DIR/m1" >/dev/null \
    || fail "delivery over TCP"
$MSTORE msg get alice@example.org 2 | cmp - "$FX_DIR/m1" || fail "TCP delivery not byte for byte"

# Authorization from bus credentials: root and the admin group only.
if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=65534 --regid=65534 --clear-groups $MSTORE sg list >/dev/null 2>"$FX_DIR/err"; rc=$?
    [ "$rc" = 5 ] || fail "unprivileged user got exit $rc, want 5: $(cat "$FX_DIR/err")"
    grep -q "access denied" "$FX_DIR/err" || fail "no access denied message"
    setpriv --reuid=backup --regid=backup --init-groups $MSTORE sg list >/dev/null || fail "admin group member refused"
fi
# The configured limit of storage groups.
$MSTORE sg create SG3 || fail "third storage group"
expect_rc 1 $MSTORE sg create SG4
grep -q "limit of 3 storage groups" "$FX_DIR/err" || fail "no limit message: $(cat "$FX_DIR/err")"

# Binary-ish content (8-bit, NUL, long lines) through mstore deliver.
head -c 200000 /dev/urandom >"$FX_DIR/bin"
$MSTORE deliver alice@example.org <"$FX_DIR/bin" || fail "mstore deliver"
$MSTORE msg get alice@example.org 3 | cmp - "$FX_DIR/bin" || fail "binary message not byte for byte"
expect_rc 1 $MSTORE deliver nobody@example.org <"$FX_DIR/m1"

# Malformed input: 5xx replies, the session survives, nothing is stored.
printf 'HELO x\r\nLHLO x\r\nMAIL FROM:<bad address>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n%s\r\nMAIL FROM:<a@b> SIZE=999999999999\r\nNOOP\r\nQUIT\r\n' \
    "$(head -c 3000 /dev/zero | tr '\0' A)" | $CLIENT raw --socket "$SOCK" >"$FX_DIR/raw.out"
cat "$FX_DIR/raw.out"
grep -q "^500 5.5.1 This is an LMTP server" "$FX_DIR/raw.out" || fail "HELO not refused"
grep -q "^501 5.1.7" "$FX_DIR/raw.out" || fail "bad sender not refused"
grep -q "^503 5.5.1" "$FX_DIR/raw.out" || fail "RCPT without MAIL not refused"
grep -q "^500 5.5.2 Line too long" "$FX_DIR/raw.out" || fail "long line not refused"
grep -q "^552 5.3.4" "$FX_DIR/raw.out" || fail "SIZE over the limit not refused"
grep -q "^221 " "$FX_DIR/raw.out" || fail "session did not survive to QUIT"
head -c 100000 /dev/urandom | $CLIENT raw --socket "$SOCK" >/dev/null
[ "$($MSTORE msg list alice@example.org --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))')" = 3 ] \
    || fail "garbage input changed the store"

# Allow-restore-overwrite flag, dismount/mount, 451 while dismounted.
$MSTORE db set SG1/DB1 allow-restore-overwrite=yes || fail "db set"
expect_rc 2 $MSTORE db set SG1/DB1 colour=blue
$MSTORE db dismount SG1/DB1 || fail "dismount"
$MSTORE db list --json | grep -q '"dismounted"' || fail "db not dismounted"
$CLIENT deliver --socket "$SOCK" --rcpt alice@example.org --file "$FX_DIR/m1" | grep -q "alice@example.org 451" \
    || fail "no temporary failure while the database is dismounted"
expect_rc 1 $MSTORE msg list alice@example.org
$MSTORE db mount SG1/DB1 || fail "mount"

# Restart: definitions, mounted state, flag and mail survive.
$MSTORE stats --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["recipients_delivered"]>=3, d' \
    || fail "stats"
stop_mstored
start_mstored
$MSTORE db list --json | python3 -c '
import json,sys; db={x["sg"]+"/"+x["name"]:x for x in json.load(sys.stdin)["databases"]}
assert db["SG1/DB1"]["state"]=="mounted" and db["SG1/DB1"]["allow_restore_overwrite"] is True, db
assert db["SG2/PUB"]["state"]=="mounted", db' || fail "state after restart"
$MSTORE msg get alice@example.org 1 | cmp - "$FX_DIR/m1" || fail "message lost over restart"
$MSTORE msg get alice@example.org 3 | cmp - "$FX_DIR/bin" || fail "binary message lost over restart"
# UIDs keep growing after a restart.
$CLIENT deliver --socket "$SOCK" --rcpt alice@example.org --file "$FX_DIR/m1" >/dev/null || fail "delivery after restart"
$MSTORE msg list alice@example.org --json | grep -q '"uid": 4' || fail "UID not 4 after restart"

# Never mount from inside a snapshot.
mkdir -p "$FX_DIR/x/.lvss-snapshots/s1"
expect_rc 1 $MSTORE sg create SNAP --path "$FX_DIR/x/.lvss-snapshots/s1/SNAP"
grep -q "snapshot" "$FX_DIR/err" || fail "snapshot path refusal message: $(cat "$FX_DIR/err")"
stop_mstored
grep -q "stopped cleanly" "$FX_DIR/mstored.log" || fail "mstored did not stop cleanly"
echo "mstored-basic ok"
