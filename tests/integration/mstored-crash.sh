#!/bin/bash
# mstored killed with SIGKILL under 16 concurrent LMTP clients: after a
# restart every acknowledged message is there byte for byte, and every
# message that is there (acknowledged or not) is complete.  Then folders,
# flags, appends and deletions that mstore reported done survive a SIGKILL.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
[ -x "$MSTORED" ] || skip "mstored not built (needs libmstore)"
[ -x "$MSTORE" ] || skip "mstore CLI not built"
fixture_init
fixture_bus
DATA=$FX_DIR/data
SOCK=$FX_DIR/lmtp.sock
N=16

start_mstored() {
    # The caller's own group administers mstored, so the test also runs without root.
    printf '{"admin_group": "%s"}\n' "$(id -gn)" >"$FX_DIR/mstored.json"
    fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1 --no-writer \
        --config "$FX_DIR/mstored.json"
    fixture_wait_name org.lvss.MailStore1 20
    for i in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
}

start_mstored
$MSTORE sg create SG1 && $MSTORE sg create SG2 || fail "sg create"
$MSTORE db create SG1/DB1 && $MSTORE db create SG1/DB2 && $MSTORE db create SG2/DB3 || fail "db create"
dbs=(SG1/DB1 SG1/DB2 SG2/DB3)
for ((i=0; i<N; i++)); do
    $MSTORE mailbox create "user$i@crash" --db "${dbs[$((i % 3))]}" || fail "mailbox create"
done

python3 "$CLIENT" load --socket "$SOCK" --clients $N --seconds 60 --size 10240 --rcpt 'user{}@crash' \
    --ack-log "$FX_DIR/ack" --tolerate-errors >"$FX_DIR/load.out" 2>&1 &
LOAD=$!
# Kill once deliveries are flowing (the clients may take seconds to start
# on a loaded machine), then a little later, in the middle of them.
for i in $(seq 600); do [ -s "$FX_DIR/ack" ] && break; sleep 0.1; done
sleep 1
kill -KILL "$FX_PID_mstored"
wait "$LOAD"
cat "$FX_DIR/load.out"
acked=$(wc -l <"$FX_DIR/ack")
[ "$acked" -gt 0 ] || fail "no delivery was acknowledged before the kill"
echo "acknowledged before SIGKILL: $acked"

start_mstored
python3 - "$MSTORE" "$CLIENT" "$FX_DIR/ack" $N <<'PY' || fail "verification after SIGKILL failed"
import json, subprocess, sys, importlib.util
mstore, client, ackfn, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
spec = importlib.util.spec_from_file_location("lc", client)
lc = importlib.util.module_from_spec(spec); spec.loader.exec_module(lc)
acked = {}
for line in open(ackfn):
    rcpt, c, s = line.split()
    acked.setdefault(rcpt, set()).add(int(s))
total = present = 0
for c in range(n):
    rcpt = "user%d@crash" % c
    msgs = json.loads(subprocess.check_output([mstore, "msg", "list", rcpt, "--json"]))["messages"]
    uids = [m["uid"] for m in msgs]
    assert len(uids) == len(set(uids)), "duplicate UIDs in %s" % rcpt
    by_seq = {}
    for m in msgs:
        sub = m["subject"]  # "load C-S"
        cc, ss = sub.split()[1].split("-")
        assert int(cc) == c, (rcpt, sub)
        assert int(ss) not in by_seq, "message %s twice in %s" % (sub, rcpt)
        by_seq[int(ss)] = m["uid"]
    for s in sorted(acked.get(rcpt, ())):
        assert s in by_seq, "acknowledged message %d of %s is missing" % (s, rcpt)
    for s, uid in by_seq.items():
        got = subprocess.check_output([mstore, "msg", "get", rcpt, str(uid)])
        want = lc.make_message(c, s, 10240)
        assert got == want, "message %d (uid %d) of %s differs" % (s, uid, rcpt)
        present += 1
    total += len(acked.get(rcpt, ()))
print("verified: %d acknowledged, %d present, all byte for byte" % (total, present))
PY

# Folders, flags and deletions are logged transactions too: every one that
# mstore reported done is back after a SIGKILL (soft recovery replays the
# log; nothing was checkpointed in between).
$MSTORE folder create user0@crash Keep/Sub && $MSTORE folder create user0@crash Gone || fail "folder create"
del=$($MSTORE msg list user0@crash --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["uid"])')
$MSTORE msg delete user0@crash "$del" || fail "msg delete"
new=$(printf 'Subject: appended\r\n\r\nkept\r\n' | $MSTORE msg append user0@crash Keep/Sub --flags 5 --time 1000) \
    || fail "msg append"
$MSTORE folder delete user0@crash Gone || fail "folder delete"
kill -KILL "$FX_PID_mstored"
wait "$FX_PID_mstored" 2>/dev/null
start_mstored
$MSTORE folder list user0@crash >"$FX_DIR/folders" || fail "folder list after SIGKILL"
grep -qx 'Keep/Sub' "$FX_DIR/folders" && ! grep -qx 'Gone' "$FX_DIR/folders" \
    || fail "folders after SIGKILL: $(cat "$FX_DIR/folders")"
$MSTORE msg get user0@crash "$del" >/dev/null 2>&1 && fail "deleted message $del is back after SIGKILL"
$MSTORE msg list user0@crash --json | python3 -c '
import json, sys
m = [x for x in json.load(sys.stdin)["messages"] if x["uid"] == int(sys.argv[1])]
assert m and m[0]["folder"] == "Keep/Sub" and m[0]["flags"] == 5 and m[0]["time"] == 1000, m' "$new" \
    || fail "appended message $new after SIGKILL"
echo "mstored-crash ok"
