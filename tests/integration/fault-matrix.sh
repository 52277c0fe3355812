#!/bin/bash
# The fault matrix: a process is killed (SIGKILL) or hung (SIGSTOP for 2 s,
# then SIGKILL, as a watchdog would) at each step of a backup and of a
# restore, in turn the requestor, mstored (the Mail Store Writer's process)
# and lvssd.  After each cell, with the dead daemon restarted:
#   - nothing frozen: the example writer writes, mstored takes a delivery,
#     every writer is listed stable;
#   - no snapshot left (the matrix makes only auto-release sets);
#   - the storage group is usable: mount, dismount, mount;
#   - the next backup (lvssadm create, both writers) and a backup + restore
#     through the Mail Store Writer succeed.
# Prints the matrix (step x victim/signal -> outcome).  Steps are held open
# by the example writer's --hang-at (backup events), --exec (after the
# snapshot) and the test requestor's --hold-after (restore).
# By default a reduced set of cells runs; FAULT_MATRIX_FULL=1 runs them all.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
REQ=$(fx_bin tests/unit/mstored/mstored-test-requestor)
CLIENT="$LVSS_SOURCE_ROOT/bench/mstored-lmtp-client.py"
for b in "$MSTORED" "$MSTORE" "$REQ"; do [ -x "$b" ] || skip "$(basename "$b") not built"; done
lvss_setup
chmod 0755 "$FX_DIR"
fixture_xfs data 800
EWDIR="$FX_MNT/ew"; mkdir -p "$EWDIR"
DATA="$FX_MNT/mail"; SG="$DATA/SG1"; SOCK="$FX_DIR/lmtp.sock"

N_LVSSD=0; N_MSTORED=0; N_EW=0; CELL=0
lvssd_up() { N_LVSSD=$((N_LVSSD + 1)); start_lvssd "lvssd$N_LVSSD"; }
mstored_up() {
    N_MSTORED=$((N_MSTORED + 1))
    fixture_spawn "mstored$N_MSTORED" "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1
    fixture_wait_name org.lvss.MailStore1 20
}
pid_of() { local v="FX_PID_$1"; echo "${!v}"; }
# writers_ready N [any]: lvssd lists N writers, all stable (or in any state) (10 s).
writers_ready() {
    local i cond='len(d["writers"]) == '"$1"' and all(w["state"] == "stable" for w in d["writers"])'
    [ "${2:-}" = any ] && cond='len(d["writers"]) == '"$1"
    for ((i=0; i<100; i++)); do
        "$LVSSADM" list writers --json >"$FX_DIR/writers.json" 2>/dev/null &&
            [ "$(json "$FX_DIR/writers.json" "$cond")" = True ] && return 0
        sleep 0.1
    done
    return 1
}

lvssd_up
mstored_up
"$MSTORE" sg create SG1 >/dev/null && "$MSTORE" db create SG1/DB1 >/dev/null &&
    "$MSTORE" mailbox create a@h1 --db SG1/DB1 >/dev/null || fail "mstore setup"
"$MSTORE" db set SG1/DB1 allow-restore-overwrite=yes >/dev/null || fail "db set"
python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 20 --rcpt a@h1 >/dev/null || fail "deliveries"
"$REQ" backup --type full --sg-dir "$SG" --out "$FX_DIR/full" >/dev/null || fail "setup backup"

# check: the invariants after a cell; echoes "ok" or what broke.
check() {
    writers_ready 2 || { echo "writers not registered/stable: $(cat "$FX_DIR/writers.json")"; return; }
    local s0 s1 i n=""
    s0=$(stat -c %s "$EWDIR/records.dat"); sleep 0.4; s1=$(stat -c %s "$EWDIR/records.dat")
    [ "$s1" -gt "$s0" ] || { echo "example writer frozen"; return; }
    for ((i=0; i<20; i++)); do n=$(shadow_count 2>/dev/null); [ "$n" = 0 ] && break; sleep 0.1; done
    [ "$n" = 0 ] || { echo "$n snapshot(s) left"; return; }
    "$MSTORE" db mount SG1/DB1 >/dev/null 2>&1   # dismounted by a restore cell: not the assertion
    "$MSTORE" db dismount SG1/DB1 >/dev/null 2>"$FX_DIR/m.err" || { echo "dismount: $(cat "$FX_DIR/m.err")"; return; }
    "$MSTORE" db mount SG1/DB1 >/dev/null 2>"$FX_DIR/m.err" || { echo "mount: $(cat "$FX_DIR/m.err")"; return; }
    timeout 15 python3 "$CLIENT" load --socket "$SOCK" --clients 1 --messages 1 --rcpt a@h1 >/dev/null 2>&1 ||
        { echo "mstored takes no delivery (frozen?)"; return; }
    "$LVSSADM" create --exec true "$EWDIR" "$DATA" >/dev/null 2>"$FX_DIR/b.err" ||
        { echo "next backup: $(tail -1 "$FX_DIR/b.err")"; return; }
    "$REQ" backup --type full --sg-dir "$SG" --out "$FX_DIR/rb$CELL" >/dev/null 2>"$FX_DIR/r.err" ||
        { echo "backup for restore: $(tail -1 "$FX_DIR/r.err")"; return; }
    "$REQ" restore --from "$FX_DIR/rb$CELL" --component "Mail Store/h1/SG1" --sg-dir "$SG" --to "$FX_DIR/alt$CELL" \
        >/dev/null 2>"$FX_DIR/r.err" || { echo "next restore: $(tail -1 "$FX_DIR/r.err")"; return; }
    writers_ready 2 || { echo "writers not stable after the checks: $(cat "$FX_DIR/writers.json")"; return; }
    echo ok
}

# strike PID SIG: SIGKILL, or SIGSTOP for 2 s (hung) then SIGKILL.
strike() {
    if [ "$2" = STOP ]; then kill -STOP "$1"; sleep 2; fi
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# cell STEP VICTIM SIG -> a row of the matrix.
cell() {
    local step=$1 victim=$2 sig=$3 ew req vpid out restore=false
    CELL=$((CELL + 1))
    case $step in pre-restore|post-restore) restore=true ;; esac
    N_EW=$((N_EW + 1)); ew="ew$N_EW"
    rm -f "$FX_DIR/exec-started"
    if $restore; then
        start_writer "$ew" "$EWDIR" --rate 100
        writers_ready 2 any || { row "$step" "$victim/$sig" "setup: writers not ready"; return; }
        "$MSTORE" db dismount SG1/DB1 >/dev/null 2>&1
        "$REQ" restore --from "$FX_DIR/full" --component "Mail Store/h1/SG1/DB1" --sg-dir "$SG" --stage-logs \
            --hold-after "${step%-restore}" >"$FX_DIR/req$CELL.out" 2>&1 &
        req=$!
        for ((i=0; i<300; i++)); do grep -q "held after" "$FX_DIR/req$CELL.out" && break; sleep 0.05; done
        grep -q "held after" "$FX_DIR/req$CELL.out" || { kill -KILL $req; row "$step" "$victim/$sig" "setup: restore did not reach $step: $(tail -1 "$FX_DIR/req$CELL.out")"; return; }
    else
        if [ "$step" = exec ]; then
            start_writer "$ew" "$EWDIR" --rate 100 --freeze-timeout 6000
        else
            start_writer "$ew" "$EWDIR" --rate 100 --freeze-timeout 6000 --hang-at "$step" --hang-seconds 2
        fi
        writers_ready 2 any || { row "$step" "$victim/$sig" "setup: writers not ready"; return; }
        "$LVSSADM" create --exec "echo \$\$ >$FX_DIR/exec-started; exec sleep 30" "$EWDIR" "$DATA" \
            >"$FX_DIR/req$CELL.out" 2>&1 &
        req=$!
        if [ "$step" = exec ]; then
            for ((i=0; i<300; i++)); do [ -s "$FX_DIR/exec-started" ] && break; sleep 0.05; done
            [ -s "$FX_DIR/exec-started" ] || { row "$step" "$victim/$sig" "setup: --exec not reached"; return; }
        else
            for ((i=0; i<300; i++)); do grep -q "^hang " "$FX_DIR/$ew.events" 2>/dev/null && break; sleep 0.05; done
            grep -q "^hang " "$FX_DIR/$ew.events" || { row "$step" "$victim/$sig" "setup: $step not reached"; return; }
        fi
    fi
    case $victim in
        requestor) vpid=$req ;;
        mstored) vpid=$(pid_of "mstored$N_MSTORED") ;;
        lvssd) vpid=$(pid_of "lvssd$N_LVSSD") ;;
    esac
    strike "$vpid" "$sig"
    case $victim in
        mstored) mstored_up ;;
        lvssd) lvssd_up ;;
    esac
    # The requestor, if it survived, finishes or is ended (a held restore
    # or an --exec that would sleep on).
    [ -s "$FX_DIR/exec-started" ] && kill -TERM "$(cat "$FX_DIR/exec-started")" 2>/dev/null
    $restore && [ "$victim" != requestor ] && kill -KILL "$req" 2>/dev/null
    for ((i=0; i<300; i++)); do kill -0 "$req" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$req" 2>/dev/null; wait "$req" 2>/dev/null
    out=$(check)
    stop_writer "$ew"
    row "$step" "$victim/$sig" "$out"
}

ROWS=(); FAILED=0
row() {
    ROWS+=("$(printf '%-16s %-18s %s' "$1" "$2" "$3")")
    [ "$3" = ok ] || FAILED=$((FAILED + 1))
    echo "cell $CELL: $1 x $2 -> $3"
}

if [ "${FAULT_MATRIX_FULL:-0}" = 1 ]; then
    for step in prepare prepare-snapshot freeze thaw post-snapshot exec pre-restore post-restore; do
        for victim in requestor mstored lvssd; do
            for sig in KILL STOP; do cell "$step" "$victim" "$sig"; done
        done
    done
else
    cell freeze lvssd KILL
    cell exec requestor KILL
    cell prepare mstored KILL
    cell pre-restore requestor KILL
    cell thaw lvssd STOP
    cell post-restore mstored STOP
fi

echo
printf '%-16s %-18s %s\n' step victim/signal outcome
for r in "${ROWS[@]}"; do echo "$r"; done
echo "$CELL cells, $FAILED failed"
[ "$FAILED" = 0 ] || fail "$FAILED cell(s) of the fault matrix failed"
echo ok
