#!/bin/bash
# lvssd killed (SIGKILL) at each event of a backup -- PrepareForBackup,
# PrepareForSnapshot, Freeze, Thaw, PostSnapshot and while the requestor
# waits to call BackupComplete -- with the example writer in that event
# (held there by --hang-at) and the Mail Store Writer in the same set:
#  - the example writer gets Abort and BackupShutdown from the library
#    (coordinator loss = abort), is not left frozen (it writes again);
#  - after lvssd restarts, both writers register again and the next backup
#    of both succeeds (the Mail Store Writer does not veto it as "already in
#    progress": its session was ended), with every writer listed as stable.
# Then a writer frozen while lvssd is stopped (SIGSTOP, a hung coordinator)
# thaws by itself at its freeze deadline.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
[ -x "$MSTORED" ] && [ -x "$MSTORE" ] || skip "mstored not built"
lvss_setup
fixture_xfs data 600
ewdata="$FX_MNT/ew"; mkdir -p "$ewdata"
mdata="$FX_MNT/mail"
start_lvssd lvssd0
fixture_spawn mstored "$MSTORED" --data-dir "$mdata" --lmtp "unix:$FX_DIR/lmtp.sock" --server-name h1
fixture_wait_name org.lvss.MailStore1 20
"$MSTORE" sg create SG1 >/dev/null && "$MSTORE" db create SG1/DB1 >/dev/null || fail "mstore setup"

n_lvssd=0
# wait_writers N: until lvssd lists N writers; leaves the list in writers.json.
wait_writers() {
    local i
    for ((i=0; i<100; i++)); do
        "$LVSSADM" list writers --json >"$FX_DIR/writers.json" 2>/dev/null &&
            [ "$(json "$FX_DIR/writers.json" 'len(d["writers"])')" = "$1" ] && return 0
        sleep 0.1
    done
    fail "lvssd lists $(json "$FX_DIR/writers.json" 'len(d["writers"])' 2>/dev/null) writer(s), want $1"
}
size_of() { stat -c %s "$1"; }

for step in prepare prepare-snapshot freeze thaw post-snapshot backup-complete-wait; do
    w="w_${step//-/_}"
    # Both writers are registered before the set starts, so that between
    # the writer's "hang" and the kill there is nothing slow: the writer
    # holds its event for 6 s, and lvssd must die inside that window.
    if [ "$step" = backup-complete-wait ]; then
        start_writer "$w" "$ewdata" --rate 200 --freeze-timeout 60000
        wait_writers 2
        "$LVSSADM" create --exec "sleep 30" "$ewdata" "$mdata" >"$FX_DIR/$w.create" 2>&1 &
        req=$!
        wait_event "$w" post_snapshot 20
        sleep 0.2
    else
        start_writer "$w" "$ewdata" --rate 200 --freeze-timeout 60000 --hang-at "$step" --hang-seconds 6
        wait_writers 2
        "$LVSSADM" create --exec true "$ewdata" "$mdata" >"$FX_DIR/$w.create" 2>&1 &
        req=$!
        wait_event "$w" hang 20
    fi
    lv="FX_PID_lvssd$n_lvssd"
    kill -KILL "${!lv}"; wait "${!lv}" 2>/dev/null
    wait "$req" 2>/dev/null && fail "$step: the set ended before lvssd was killed: $(cat "$FX_DIR/$w.create")"
    # The library ends the sequence for the writer: Abort, then BackupShutdown.
    wait_event "$w" abort 20
    wait_event "$w" backup_shutdown 20
    # Not frozen: the example writer writes again while lvssd is down.
    s0=$(size_of "$ewdata/records.dat"); sleep 0.5; s1=$(size_of "$ewdata/records.dat")
    [ "$s1" -gt "$s0" ] || fail "$step: the example writer does not write after lvssd died (frozen?)"
    n_lvssd=$((n_lvssd + 1))
    start_lvssd "lvssd$n_lvssd"
    wait_writers 2
    adm create --exec true "$ewdata" "$mdata"
    [ "$RC" = 0 ] || fail "$step: the backup after lvssd's restart exited $RC: $(cat "$FX_DIR/err")"
    "$LVSSADM" list writers --json >"$FX_DIR/writers.json" || fail "list writers"
    [ "$(json "$FX_DIR/writers.json" 'sorted(set(x["state"] for x in d["writers"]))')" = "['stable']" ] ||
        fail "$step: writers not stable after the next backup: $(cat "$FX_DIR/writers.json")"
    stop_writer "$w"
    echo "lvssd killed at $step: writer aborted, next backup ok"
done
grep -q "already in progress" "$FX_DIR"/*.create "$FX_DIR/err" && fail "a backup was vetoed as already in progress"

# A coordinator that hangs (SIGSTOP) while the writer is frozen: the writer
# thaws by itself at its deadline (freeze timeout 1000 ms + grace).  The
# writer holds Freeze for 2 s; lvssd is stopped meanwhile, so neither its
# freeze timer nor Thaw can come.
w=w_stop
start_writer "$w" "$ewdata" --rate 200 --freeze-timeout 1000 --hang-at freeze --hang-seconds 2
"$LVSSADM" create --exec true "$ewdata" >"$FX_DIR/$w.create" 2>&1 &
req=$!
lv="FX_PID_lvssd$n_lvssd"
wait_event "$w" hang 20
kill -STOP "${!lv}"
for ((i=0; i<100; i++)); do
    grep -q '^abort \|^freeze_deadline ' "$FX_DIR/$w.events" && break
    sleep 0.1
done
kill -CONT "${!lv}"
grep -q '^abort \|^freeze_deadline ' "$FX_DIR/$w.events" ||
    fail "writer still frozen 10 s after a 1000 ms freeze timeout with lvssd stopped: $(cat "$FX_DIR/$w.events")"
first=$(grep -m1 '^thaw \|^abort \|^freeze_deadline ' "$FX_DIR/$w.events" | cut -d' ' -f1)
[ "$first" != thaw ] || fail "a Thaw came from the stopped lvssd?: $(cat "$FX_DIR/$w.events")"
s0=$(size_of "$ewdata/records.dat"); sleep 0.5; s1=$(size_of "$ewdata/records.dat")
[ "$s1" -gt "$s0" ] || fail "the example writer does not write after its freeze deadline"
echo "writer frozen under a stopped lvssd resumed by itself: $(grep '^abort \|^freeze_deadline ' "$FX_DIR/$w.events" | head -1)"
wait "$req" 2>/dev/null
stop_writer "$w"
echo ok
