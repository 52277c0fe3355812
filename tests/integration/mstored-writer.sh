#!/bin/bash
# The Mail Store Writer with the real lvssd: identity and components;
# full, copy, incremental and differential snapshot sets (lvssadm create
# --type) while LMTP deliveries continue; logs truncated after full and
# incremental only, never after copy, differential or a failed backup; the
# snapshot's files pass mstoreutil verify/verify-logs when mstoreutil is
# built; restore rules: PreRestore refused with the group online, accepted
# offline (through the restore test requestor when it exists).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
MSTOREUTIL=$(fx_bin tools/mstoreutil/mstoreutil)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
for b in "$MSTORED" "$MSTORE" "$LVSSD" "$LVSSADM"; do
    [ -x "$b" ] || skip "$(basename "$b") not built"
done
fixture_init
fixture_need_root
fixture_bus
if [ "${MSTORED_FS:-xfs}" = btrfs ]; then
    fixture_btrfs mail 1200
    # Data in a subvolume of its own: the btrfs provider snapshots it.
    btrfs subvolume create "$FX_MNT/vol" >/dev/null || fail "btrfs subvolume create"
    FX_MNT=$FX_MNT/vol
else
    fixture_xfs mail 1200
fi
DATA=$FX_MNT/data
SOCK=$FX_DIR/lmtp.sock
mkdir -p "$FX_DIR/state"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
fixture_spawn mstored "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 100); do
    $LVSSADM list writers --json 2>/dev/null | grep -q '"Mail Store Writer"' && break
    sleep 0.1
done
$LVSSADM list writers --json | grep -q '"Mail Store Writer"' || fail "Mail Store Writer not registered: $(cat "$FX_DIR/mstored.log")"

$MSTORE sg create SG1 && $MSTORE db create SG1/DB1 && $MSTORE db create SG1/DB2 || fail "setup"
$MSTORE mailbox create a@h1 --db SG1/DB1 && $MSTORE mailbox create b@h1 --db SG1/DB2 || fail "mailboxes"
python3 "$CLIENT" load --socket "$SOCK" --clients 2 --messages 200 --size 10240 --rcpt 'a@h1' >/dev/null \
    || fail "initial deliveries"

$LVSSADM writer-metadata --json >"$FX_DIR/wmd.json" || fail "writer-metadata"
python3 - "$FX_DIR/wmd.json" <<'PY' || fail "writer metadata: $(head -c 3000 "$FX_DIR/wmd.json")"
import json, sys
doc = json.load(open(sys.argv[1]))
text = json.dumps(doc)
assert "Mail Store Writer" in text, "writer name"
assert "Mail Store/h1" in text and "Mail Store/h1/SG1" in text, "component paths"
assert "DB1.edb" in text and "E00*.log" in text and "E00.chk" in text, "files"
PY

logs() { ls "$DATA/SG1" | grep -c '^E00[0-9A-F]\{8\}\.log$'; }
check_cmd() { # the --exec command: verify the snapshot's files
    cat >"$FX_DIR/check.sh" <<EOC
#!/bin/bash
echo "\$LVSS_SHADOW_PATHS" >"$FX_DIR/shadow-paths"
snap=\$(echo "\$LVSS_SHADOW_PATHS" | head -1 | cut -d= -f2-)
[ -d "\$snap" ] || { echo "no snapshot dir \$snap" >&2; exit 1; }
if [ -x "$MSTOREUTIL" ]; then
    f=\$(find "\$snap" -name DB1.edb | head -1)
    [ -n "\$f" ] && { "$MSTOREUTIL" verify "\$f" "\${f%.edb}.stm" >&2 || exit 6; }
    d=\$(dirname "\$(find "\$snap" -name 'E00*.log' | head -1)")
    [ -n "\$d" ] && { "$MSTOREUTIL" verify-logs "\$d" --base E00 >&2 || exit 6; }
    echo verified >>"$FX_DIR/verified"
fi
exit \${CHECK_EXIT:-0}
EOC
    chmod +x "$FX_DIR/check.sh"
}
check_cmd

backup() { # backup TYPE [EXPECTED_RC]
    local want=${2:-0}
    $LVSSADM create --type "$1" --exec "$FX_DIR/check.sh" --json "$DATA" >"$FX_DIR/create.json" 2>"$FX_DIR/create.err"
    local rc=$?
    [ "$rc" = "$want" ] || fail "backup $1 exited $rc (want $want): $(cat "$FX_DIR/create.err") mstored: $(tail -5 "$FX_DIR/mstored.log")"
}

# Deliveries keep flowing during every backup below.
python3 "$CLIENT" load --socket "$SOCK" --clients 4 --seconds 30 --pause 0.02 --size 10240 --rcpt 'a@h1' \
    --ack-log "$FX_DIR/ack" >"$FX_DIR/load.out" 2>&1 &
LOAD=$!

# Full: logs truncated.
before=$(logs)
backup full
grep -q "logs truncated after a full backup" "$FX_DIR/mstored.log" || fail "no truncation after a full backup: $(tail -5 "$FX_DIR/mstored.log")"
grep -q '"freeze_window_ms"' "$FX_DIR/create.json" || fail "no freeze window in lvssadm output"
echo "full backup: $before closed logs before, $(logs) after; $(grep -o '"freeze_window_ms": *[0-9.]*' "$FX_DIR/create.json")"

# Copy and differential: no truncation.
n=$(grep -c "logs truncated" "$FX_DIR/mstored.log")
backup copy
backup differential
[ "$(grep -c "logs truncated" "$FX_DIR/mstored.log")" = "$n" ] || fail "logs truncated after copy or differential"
grep -q "backup of storage group 'SG1' complete (copy)" "$FX_DIR/mstored.log" || fail "copy backup did not complete"

# Failed backup (the requestor reports failure): no truncation.
CHECK_EXIT=1 backup full 1
[ "$(grep -c "logs truncated" "$FX_DIR/mstored.log")" = "$n" ] || fail "logs truncated after a failed backup"
grep -q "reported failed by the requestor: no truncation" "$FX_DIR/mstored.log" || fail "failed backup not seen by the writer"

# Incremental: truncation again; and the next backup is not refused.
backup incremental
[ "$(grep -c "logs truncated" "$FX_DIR/mstored.log")" -gt "$n" ] || fail "no truncation after an incremental backup"
backup full

if [ -x "$MSTOREUTIL" ]; then
    [ "$(wc -l <"$FX_DIR/verified")" -ge 5 ] || fail "the snapshots' files were not verified with mstoreutil"
    echo "snapshot files verified with mstoreutil verify/verify-logs: $(wc -l <"$FX_DIR/verified") times"
fi
wait "$LOAD" || fail "deliveries failed during the backups: $(cat "$FX_DIR/load.out")"
cat "$FX_DIR/load.out"
acked=$(wc -l <"$FX_DIR/ack")
[ "$acked" -gt 0 ] || fail "no delivery acknowledged during the backups"
got=$($MSTORE msg list a@h1 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["messages"]))')
[ "$got" -ge $((acked + 200)) ] || fail "only $got messages for $acked acknowledged + 200"

# One backup at a time: a second requestor is vetoed at PrepareForBackup
# while the first one has not sent BackupComplete yet.
started() { grep -c "backup of storage group 'SG1' started" "$FX_DIR/mstored.log"; }
wait_started() { # wait_started N: until N backups have started, then until the set is done
    local i
    for i in $(seq 200); do [ "$(started)" -ge "$1" ] && break; sleep 0.05; done
    sleep 1
}
n0=$(started)
$LVSSADM create --type full --exec "sleep 4" "$DATA" >"$FX_DIR/first.out" 2>&1 &
FIRST=$!
wait_started $((n0 + 1))
$LVSSADM create --type full --exec true "$DATA" >"$FX_DIR/second.out" 2>&1 && fail "a second concurrent backup was not vetoed"
cat "$FX_DIR/second.out"
grep -q "only one backup at a time" "$FX_DIR/mstored.log" || fail "no 'one backup at a time' veto: $(cat "$FX_DIR/second.out")"
wait "$FIRST" || fail "the first backup failed: $(cat "$FX_DIR/first.out")"

# A requestor killed mid-sequence leaves no session behind.
n0=$(started)
$LVSSADM create --type full --exec "sleep 30" "$DATA" >/dev/null 2>&1 &
KILLED=$!
wait_started $((n0 + 1))
kill -KILL "$KILLED"; wait "$KILLED" 2>/dev/null
for i in $(seq 100); do grep -q "session ended" "$FX_DIR/mstored.log" && break; sleep 0.1; done
grep -q "session ended" "$FX_DIR/mstored.log" || fail "the writer did not see the requestor's session end"
backup full
echo "killed requestor: next backup accepted"

kill -TERM "$FX_PID_mstored"; wait "$FX_PID_mstored"; rc=$?
[ "$rc" = 0 ] || fail "mstored exited $rc on SIGTERM: $(tail -20 "$FX_DIR/mstored.log")"
echo "mstored-writer ok: $acked deliveries during the backups"
