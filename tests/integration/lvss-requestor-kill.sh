#!/bin/bash
# A requestor killed with SIGKILL:
#  1. while --exec runs (snapshot exists, auto-release): the snapshot is gone
#     from the list and from disk within a second;
#  2. while the writer is in Freeze: the coordinator aborts at once (no set
#     in progress within a second) and the writer is thawed (Abort/Thaw).
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
fixture_xfs data 300
data="$FX_MNT/data"; mkdir -p "$data"
start_lvssd
start_writer w1 "$data" --rate 500

# 1. killed after the snapshot was made.
"$LVSSADM" create --exec "echo \$\$ >$FX_DIR/exec-started; exec sleep 30" "$data" >"$FX_DIR/k1.out" 2>&1 &
req=$!
for ((i=0; i<200; i++)); do [ -s "$FX_DIR/exec-started" ] && break; sleep 0.05; done
[ -s "$FX_DIR/exec-started" ] || fail "--exec command never started: $(cat "$FX_DIR/k1.out")"
[ "$(shadow_count)" = 1 ] || fail "no shadow while --exec runs"
snap=$(json "$FX_DIR/shadows.json" 'd["shadows"][0]["path"]')
[ -e "$snap" ] || fail "snapshot path $snap missing while --exec runs"
t0=$(now_ms)
kill -KILL "$req"
wait "$req" 2>/dev/null
kill -KILL "$(cat "$FX_DIR/exec-started")" 2>/dev/null
# Poll cheaply (no process per check) so that a loaded machine does not
# make the measurement itself slow.
gone=""
while [ $(( $(now_ms) - t0 )) -lt 1000 ]; do
    if [ ! -e "$snap" ]; then gone=$(( $(now_ms) - t0 )); break; fi
    sleep 0.02
done
[ -n "$gone" ] || fail "auto-release snapshot $snap still on disk 1 s after the requestor died"
[ "$(shadow_count)" = 0 ] || fail "auto-release snapshot still listed after the requestor died: $(cat "$FX_DIR/shadows.json")"
echo "auto-release snapshot gone ${gone} ms after SIGKILL"

# 2. killed while the writer is frozen.
stop_writer w1
start_writer w2 "$data" --rate 500 --hang-at freeze --hang-seconds 3
"$LVSSADM" create --exec true "$data" >"$FX_DIR/k2.out" 2>&1 &
req=$!
wait_event w2 hang 10
t0=$(now_ms)
kill -KILL "$req"
wait "$req" 2>/dev/null
idle=""
while [ $(( $(now_ms) - t0 )) -lt 1000 ]; do
    adm status --json
    if [ "$RC" = 0 ] && grep -q '"set_in_progress": *null' "$FX_DIR/out.json"; then idle=$(( $(now_ms) - t0 )); break; fi
    sleep 0.02
done
[ -n "$idle" ] || fail "set still in progress 1 s after the requestor died in Freeze: $(cat "$FX_DIR/out.json")"
echo "set aborted ${idle} ms after SIGKILL during Freeze"
# The writer wakes from its hang and must end up thawed.
for ((i=0; i<100; i++)); do
    grep -qE '^(abort|thaw|backup_shutdown) ' "$FX_DIR/w2.events" && break
    sleep 0.1
done
grep -qE '^(abort|thaw|backup_shutdown) ' "$FX_DIR/w2.events" || fail "writer never thawed: $(tr '\n' ' ' <"$FX_DIR/w2.events")"
[ "$(shadow_count)" = 0 ] || fail "shadow left after the requestor died in Freeze"
s1=$(stat -c %s "$data/records.dat"); sleep 0.5; s2=$(stat -c %s "$data/records.dat")
[ "$s2" -gt "$s1" ] || fail "writer still not writing after the abort"
echo ok
