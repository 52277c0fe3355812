# shellcheck shell=bash
# Shared by the lvss scenario tests (tests/integration/lvss-*.sh): the real
# lvssd on a private bus with a temporary --state-dir, the example writer,
# lvssadm, and small JSON/timing helpers.  Not a test itself (no .sh suffix).
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"

LVSSD=$(fx_bin daemon/lvssd/lvssd)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
EW=$(fx_bin tools/lvss-example-writer/lvss-example-writer)

# lvss_setup: scratch dir, root + loop devices, binaries, private bus.
lvss_setup() {
    fixture_init
    fixture_need_root
    local b
    for b in "$LVSSD" "$LVSSADM" "$EW"; do
        [ -x "$b" ] || skip "$(basename "$b") not built (liblvss/lvssd not complete yet)"
    done
    command -v python3 >/dev/null || skip "python3 needed to read JSON"
    fixture_bus
    LVSS_STATE="$FX_DIR/state"
    mkdir -p "$LVSS_STATE"
}

# start_lvssd [NAME]: lvssd with the test's state dir; waits for its bus name.
start_lvssd() {
    local name=${1:-lvssd}
    fixture_spawn "$name" "$LVSSD" --state-dir "$LVSS_STATE"
    fixture_wait_name org.lvss.Coordinator1 10
}

# start_writer NAME DIR [ARGS...]: example writer; waits for "ready".
# Events go to $FX_DIR/NAME.events, output to $FX_DIR/NAME.log.
start_writer() {
    local name=$1 dir=$2; shift 2
    fixture_spawn "$name" "$EW" --dir "$dir" --events-log "$FX_DIR/$name.events" "$@"
    local i
    for ((i=0; i<100; i++)); do
        grep -q '^ready' "$FX_DIR/$name.log" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "writer $name did not register: $(cat "$FX_DIR/$name.log")"
}

# stop_writer NAME: SIGTERM and wait.
stop_writer() {
    local pidvar="FX_PID_$1"
    kill -TERM "${!pidvar}" 2>/dev/null
    wait "${!pidvar}" 2>/dev/null
    return 0
}

# wait_event NAME EVENT [SECONDS]: wait until the writer logged EVENT.
wait_event() {
    local name=$1 ev=$2 t=${3:-10} i
    for ((i=0; i<t*20; i++)); do
        grep -q "^$ev " "$FX_DIR/$name.events" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "writer $name: no '$ev' event within ${t}s (events: $(tr '\n' ' ' <"$FX_DIR/$name.events" 2>/dev/null))"
}

# json FILE PYEXPR: evaluate a Python expression on the document d.
json() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print("" if r is None else r)' "$1" "$2"
}

# adm ARGS...: lvssadm, stdout to $FX_DIR/out.json, stderr to $FX_DIR/err;
# sets RC.
adm() {
    "$LVSSADM" "$@" >"$FX_DIR/out.json" 2>"$FX_DIR/err"
    RC=$?
    return 0
}

# shadow_count: number of shadows lvssd lists.
shadow_count() {
    "$LVSSADM" list shadows --json >"$FX_DIR/shadows.json" || fail "lvssadm list shadows failed"
    json "$FX_DIR/shadows.json" 'len(d["shadows"])'
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# scenario_full_backup xfs|btrfs: the example writer appends 4 KiB records
# at 1000/s; lvssadm create --exec reads the snapshot (no torn record, every
# record checksummed), then a persistent set is created, checked, deleted.
scenario_full_backup() {
    local fs=$1 data provider
    lvss_setup
    if [ "$fs" = xfs ]; then
        fixture_xfs data 300
        data="$FX_MNT/data"; provider=reflink
        mkdir -p "$data"
    else
        fixture_btrfs data 300
        btrfs -q subvolume create "$FX_MNT/vol" >/dev/null || fail "btrfs subvolume create failed"
        data="$FX_MNT/vol/data"; provider=btrfs
        mkdir -p "$data"
    fi
    start_lvssd
    start_writer w1 "$data" --rate 1000 --record-size 4096
    sleep 1   # let some records pile up

    cat >"$FX_DIR/exec.sh" <<EOS
#!/bin/bash
set -e
echo "\$LVSS_SNAPSHOT_SET_ID" >"$FX_DIR/exec.set"
printf '%s\n' "\$LVSS_SHADOW_PATHS" >"$FX_DIR/exec.paths"
p=\${LVSS_SHADOW_PATHS#*=}
"$EW" --verify "\$p/records.dat" --record-size 4096 >"$FX_DIR/exec.verify"
cp "\$p/records.dat" "$FX_DIR/copy.dat"
echo "noise on stdout"
EOS
    chmod +x "$FX_DIR/exec.sh"

    adm create --exec "$FX_DIR/exec.sh" --json "$data"
    [ "$RC" = 0 ] || fail "create --exec exited $RC: $(cat "$FX_DIR/err")"
    local set; set=$(json "$FX_DIR/out.json" 'd["set_id"]') || fail "create --json printed no JSON: $(cat "$FX_DIR/out.json")"
    [ -n "$set" ] || fail "no set_id in $(cat "$FX_DIR/out.json")"
    [ "$(cat "$FX_DIR/exec.set")" = "$set" ] || fail "LVSS_SNAPSHOT_SET_ID $(cat "$FX_DIR/exec.set") != set_id $set"
    grep -q "^$data=" "$FX_DIR/exec.paths" || fail "LVSS_SHADOW_PATHS lacks '$data=': $(cat "$FX_DIR/exec.paths")"
    [ "$(json "$FX_DIR/out.json" 'd["shadows"][0]["provider"]')" = "$provider" ] || fail "provider is not $provider: $(cat "$FX_DIR/out.json")"
    [ "$(json "$FX_DIR/out.json" 'd["writers"][0]["name"]')" = "Example Writer" ] || fail "writer missing from create JSON: $(cat "$FX_DIR/out.json")"
    [ "$(json "$FX_DIR/out.json" 'isinstance(d["writers"][0]["freeze_window_ms"], float) and d["writers"][0]["freeze_window_ms"] > 0')" = True ] || fail "no freeze_window_ms in create JSON: $(cat "$FX_DIR/out.json")"
    grep -q 'records ok' "$FX_DIR/exec.verify" || fail "snapshot records not verified: $(cat "$FX_DIR/exec.verify")"
    local n; n=$(awk '{print $1}' "$FX_DIR/exec.verify")
    [ "$n" -gt 100 ] || fail "only $n records in the snapshot"
    "$EW" --verify "$FX_DIR/copy.dat" --record-size 4096 >/dev/null || fail "copied records are torn"
    wait_event w1 thaw
    wait_event w1 backup_complete
    grep -q "^freeze " "$FX_DIR/w1.events" || fail "writer got no Freeze"
    echo "full backup on $fs: $n records in the snapshot, freeze window $(json "$FX_DIR/out.json" 'd["writers"][0]["freeze_window_ms"]') ms (lvssd), writer: $(grep "^thaw" "$FX_DIR/w1.events" | head -1)"
    # The writer resumed: the live file keeps growing.
    local s1 s2; s1=$(stat -c %s "$data/records.dat"); sleep 0.5; s2=$(stat -c %s "$data/records.dat")
    [ "$s2" -gt "$s1" ] || fail "writer did not resume writing after thaw"
    # Auto-release: the set is gone.
    [ "$(shadow_count)" = 0 ] || fail "auto-release set still listed: $(cat "$FX_DIR/shadows.json")"

    # Persistent set: listed, readable, consistent; then deleted.
    adm create --json "$data"
    [ "$RC" = 0 ] || fail "persistent create exited $RC: $(cat "$FX_DIR/err")"
    set=$(json "$FX_DIR/out.json" 'd["set_id"]')
    local path; path=$(json "$FX_DIR/out.json" 'd["shadows"][0]["path"]')
    [ "$(shadow_count)" = 1 ] || fail "persistent set not listed"
    [ "$(json "$FX_DIR/shadows.json" 'd["shadows"][0]["context"]')" = persistent ] || fail "context is not persistent: $(cat "$FX_DIR/shadows.json")"
    "$EW" --verify "$path/records.dat" --record-size 4096 >/dev/null || fail "persistent snapshot has a torn record"
    adm delete shadows --set "$set"
    [ "$RC" = 0 ] || fail "delete --set exited $RC: $(cat "$FX_DIR/err")"
    [ "$(shadow_count)" = 0 ] || fail "deleted set still listed"
    [ ! -e "$path" ] || fail "snapshot content $path still there after delete"
    echo "ok"
}
