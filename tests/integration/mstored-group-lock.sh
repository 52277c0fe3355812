#!/bin/bash
# One opener per storage group: `mstoreutil recover` (soft and hard) against
# a group mstored has open is refused (exit 4, "storage group DIR is in use
# by pid N" naming mstored), the group's files are 0600, and once mstored
# has stopped the same recovery runs (exit 0).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
UTIL=$(fx_bin tools/mstoreutil/mstoreutil)
CLIENT="python3 $LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
[ -x "$MSTORED" ] || skip "mstored not built (needs libmstore)"
[ -x "$UTIL" ] || skip "mstoreutil not built"
fixture_init
fixture_bus
DATA=$FX_DIR/data
SOCK=$FX_DIR/lmtp.sock
fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1 --no-writer
fixture_wait_name org.lvss.MailStore1
$MSTORE sg create SG1 >/dev/null || fail "sg create"
$MSTORE db create SG1/DB1 >/dev/null || fail "db create"
$MSTORE mailbox create a@h1 --db SG1/DB1 >/dev/null || fail "mailbox create"
printf 'Subject: one\r\n\r\nbody\r\n' >"$FX_DIR/m"
$CLIENT deliver --socket "$SOCK" --from x@test --rcpt a@h1 --file "$FX_DIR/m" | grep -q "^a@h1 250" ||
    fail "delivery"
SG=$($MSTORE sg list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["storage_groups"][0]["path"])')
[ -f "$SG/E00.log" ] || fail "no E00.log in $SG"

# soft recovery of the live group: refused, names mstored's pid
"$UTIL" recover "$SG" >"$FX_DIR/out" 2>"$FX_DIR/err"
rc=$?
[ $rc = 4 ] || fail "recover of a live group exited $rc, expected 4: $(cat "$FX_DIR/err")"
grep -qx "mstoreutil: storage group $SG is in use by pid $FX_PID_mstored" "$FX_DIR/err" ||
    fail "unclear refusal: $(cat "$FX_DIR/err")"
# hard recovery rolling forward through its live logs: refused too
mkdir "$FX_DIR/restored"
"$UTIL" recover "$FX_DIR/restored" --restore-logs "$FX_DIR/restored" --live-logs "$SG" >"$FX_DIR/out" 2>"$FX_DIR/err"
rc=$?
[ $rc = 4 ] || fail "hard recovery through live logs exited $rc, expected 4: $(cat "$FX_DIR/err")"
grep -q "is in use by pid $FX_PID_mstored" "$FX_DIR/err" || fail "unclear refusal: $(cat "$FX_DIR/err")"
# the live group was not touched: mail still delivered
$CLIENT deliver --socket "$SOCK" --from x@test --rcpt a@h1 --file "$FX_DIR/m" | grep -q "^a@h1 250" ||
    fail "delivery after the refused recoveries"

# every file of the group is 0600
for f in "$SG"/*; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f"), expected 600"
done
[ "$(cat "$SG/E00.lock")" = "$FX_PID_mstored" ] || fail "E00.lock does not hold mstored's pid"

kill -TERM "$FX_PID_mstored"
wait "$FX_PID_mstored"
rc=$?
[ $rc = 0 ] || fail "mstored exited $rc"
"$UTIL" recover "$SG" >"$FX_DIR/out" 2>"$FX_DIR/err" || fail "recover after mstored stopped: $(cat "$FX_DIR/err")"
grep -q "soft recovery of $SG" "$FX_DIR/out" || fail "recover output: $(cat "$FX_DIR/out")"
echo PASS
