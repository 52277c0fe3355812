#!/bin/bash
# While a storage group is frozen for a snapshot, mstored stays responsive:
# D-Bus calls are answered, LMTP sessions keep talking (LHLO, RCPT, NOOP),
# a delivery into the frozen group gets its 250 only after the thaw, and a
# delivery into another storage group is not held up.  The freeze is held
# 14 s through the test hook MSTORED_TEST_FREEZE_HOLD_MS (long enough for
# the checks below on a loaded machine, where each python3 start takes ~2 s).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
for b in "$MSTORED" "$MSTORE" "$LVSSD" "$LVSSADM"; do
    [ -x "$b" ] || skip "$(basename "$b") not built"
done
fixture_init
fixture_need_test_hooks
fixture_need_root
fixture_bus
fixture_xfs mail 400
DATA=$FX_MNT/data
SOCK=$FX_DIR/lmtp.sock
mkdir -p "$FX_DIR/state"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
MSTORED_TEST_FREEZE_HOLD_MS=14000 fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 100); do grep -q "Writer subscribed" "$FX_DIR/mstored.log" && break; sleep 0.1; done
$MSTORE sg create SG1 && $MSTORE db create SG1/DB1 && $MSTORE mailbox create a@h1 --db SG1/DB1 || fail "setup SG1"
# SG2 lives outside the snapshot's path: not frozen.
$MSTORE sg create SG2 --path "$FX_DIR/sg2" && $MSTORE db create SG2/DB1 && $MSTORE mailbox create b@h1 --db SG2/DB1 \
    || fail "setup SG2"
python3 "$CLIENT" make --client 1 --seq 1 >"$FX_DIR/m"

$LVSSADM create --type copy --exec true "$DATA/SG1" >"$FX_DIR/create.out" 2>&1 &
CREATE=$!
for i in $(seq 100); do grep -q "holding the freeze" "$FX_DIR/mstored.log" && break; sleep 0.05; done
grep -q "holding the freeze" "$FX_DIR/mstored.log" || fail "the freeze did not start: $(cat "$FX_DIR/create.out")"
t0=$(date +%s.%N)

# A delivery into the frozen group: must not be acknowledged before the thaw.
python3 "$CLIENT" deliver --socket "$SOCK" --rcpt a@h1 --file "$FX_DIR/m" >"$FX_DIR/frozen.out" 2>&1 &
FROZEN=$!
# D-Bus answers, LMTP talks, the other group delivers — all during the freeze.
timeout 10 $MSTORE stats --json >/dev/null || fail "D-Bus not answered while frozen"
timeout 10 $MSTORE sg list >/dev/null || fail "sg list not answered while frozen"
timeout 10 $MSTORE msg list a@h1 >/dev/null || fail "reads of the frozen group not answered"
printf 'LHLO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@h1>\r\nNOOP\r\nRSET\r\nQUIT\r\n' | timeout 10 python3 "$CLIENT" raw --socket "$SOCK" \
    >"$FX_DIR/raw.out" || fail "LMTP session not answered while frozen"
grep -q "^221" "$FX_DIR/raw.out" || fail "LMTP session did not complete while frozen: $(cat "$FX_DIR/raw.out")"
timeout 10 python3 "$CLIENT" deliver --socket "$SOCK" --rcpt b@h1 --file "$FX_DIR/m" >/dev/null \
    || fail "delivery into the other storage group held up by the freeze"
# Administration of the frozen group is refused (busy), not blocked.
timeout 10 $MSTORE db dismount SG1/DB1 2>"$FX_DIR/err"; rc=$?
[ "$rc" = 4 ] || fail "dismount of a frozen group: exit $rc, want 4 (busy): $(cat "$FX_DIR/err")"
t1=$(date +%s.%N)
kill -0 "$FROZEN" 2>/dev/null || fail "the delivery into the frozen group was acknowledged during the freeze: $(cat "$FX_DIR/frozen.out")"
echo "answered during the freeze in $(python3 -c "print('%.2f' % ($t1 - $t0))") s; the frozen delivery waits"

wait "$FROZEN" || fail "the delivery into the frozen group failed after the thaw: $(cat "$FX_DIR/frozen.out")"
grep -q "a@h1 250" "$FX_DIR/frozen.out" || fail "no 250 after the thaw"
wait "$CREATE" || fail "the snapshot failed: $(cat "$FX_DIR/create.out")"
$MSTORE msg get a@h1 1 | cmp - "$FX_DIR/m" || fail "message delivered during the freeze differs"
echo "mstored-frozen ok"
