#!/bin/bash
# A full disk under LMTP load: deliveries get temporary failures (451),
# never a 250 for a message that is not durable, never a crash or a damaged
# store; once space is back mstored reopens the storage group by itself
# (soft recovery) and deliveries succeed again; every acknowledged message
# is there byte for byte, also after a restart.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
[ -x "$MSTORED" ] || skip "mstored not built (needs libmstore)"
[ -x "$MSTORE" ] || skip "mstore CLI not built"
fixture_init
fixture_need_root
fixture_bus
fixture_xfs small 300
DATA=$FX_MNT/data
SOCK=$FX_DIR/lmtp.sock
start_mstored() {
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1 --no-writer
    fixture_wait_name org.lvss.MailStore1 20
    for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
}
start_mstored
$MSTORE sg create SG1 && $MSTORE db create SG1/DB1 && $MSTORE mailbox create a@h1 --db SG1/DB1 || fail "setup"

# Leave about 30 MiB free, then deliver until the store refuses.
avail=$(df -B1 --output=avail "$FX_MNT" | tail -1)
fallocate -l $((avail - 30 * 1024 * 1024)) "$FX_MNT/filler" || fail "fallocate"
python3 "$CLIENT" load --socket "$SOCK" --clients 4 --messages 2000 --size 10240 --rcpt 'a@h1' \
    --ack-log "$FX_DIR/ack" --tolerate-errors >"$FX_DIR/load1.out" 2>&1
cat "$FX_DIR/load1.out"
grep -q " 45[0-9] \| 55[0-9] " "$FX_DIR/load1.out" || fail "the full disk never refused a delivery"
grep -q "Temporary failure\| 452 \| 552 " "$FX_DIR/load1.out" || fail "no temporary failure reply on a full disk"
kill -0 "$FX_PID_mstored" || fail "mstored died on a full disk"

# Space comes back: deliveries recover without a restart.
rm -f "$FX_MNT/filler"
ok=0
for i in $(seq 20); do
    if python3 "$CLIENT" deliver --socket "$SOCK" --rcpt a@h1 --file <(python3 "$CLIENT" make --client 99 --seq "$i") \
        >"$FX_DIR/d.out" 2>&1; then
        ok=1; break
    fi
    sleep 0.5
done
[ "$ok" = 1 ] || fail "deliveries did not recover after space came back: $(cat "$FX_DIR/d.out"); $(tail -5 "$FX_DIR/mstored.log")"
grep -q "reopening it" "$FX_DIR/mstored.log" && echo "the storage group was reopened after the failure"

verify() {
    python3 - "$MSTORE" "$CLIENT" "$FX_DIR/ack" <<'PY'
import json, subprocess, sys, importlib.util
mstore, client, ackfn = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("lc", client)
lc = importlib.util.module_from_spec(spec); spec.loader.exec_module(lc)
acked = set()
for line in open(ackfn):
    r, c, s = line.split()
    acked.add((int(c), int(s)))
msgs = json.loads(subprocess.check_output([mstore, "msg", "list", "a@h1", "--json"]))["messages"]
seen = {}
for m in msgs:
    c, s = m["subject"].split()[1].split("-")
    seen[(int(c), int(s))] = m["uid"]
missing = acked - set(seen)
assert not missing, "acknowledged but missing: %s" % sorted(missing)[:5]
for (c, s), uid in seen.items():
    if c == 99:
        continue
    got = subprocess.check_output([mstore, "msg", "get", "a@h1", str(uid)])
    assert got == lc.make_message(c, s, 10240), "message %d-%d differs" % (c, s)
print("verified: %d acknowledged, %d present" % (len(acked), len(seen)))
PY
}
verify || fail "store damaged by the full disk"
kill -TERM "$FX_PID_mstored"; wait "$FX_PID_mstored"
start_mstored
verify || fail "store damaged after restart"
echo "mstored-diskfull ok"
