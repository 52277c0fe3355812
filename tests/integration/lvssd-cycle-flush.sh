#!/bin/bash
# What an empty VSS cycle waits for (issue 14):
#   1. the registry's durable "prepared" save runs while the writers work
#      on PrepareForSnapshot, not after their answers: a writer that hangs
#      20 s in PrepareForSnapshot finds the entry on disk meanwhile, and no
#      provider has prepared yet (no pre-clone: invariant 6 still holds);
#   2. a reflink cycle makes no syncfs (the clones write back the pages
#      they share), yet the snapshot holds data written just before it and
#      never synced;
#   3. `lvssadm create --exec` leaves the deletion of its auto-release set
#      to the session's Close, which lvssd answers only once the set is
#      gone: no DeleteShadows call, nothing left when lvssadm exits.
# Fails on the old code: (1) the entry appeared only after the writer
# answered; (2) lvssd made two syncfs per reflink cycle; (3) lvssadm sent
# DeleteShadows.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
command -v strace >/dev/null || skip "strace needed"
fixture_xfs x 300
data="$FX_MNT/data"; mkdir -p "$data"
REG=$LVSS_STATE/snapshots.json
start_lvssd

# 1
start_writer w1 "$data" --rate 0 --hang-at prepare-snapshot --hang-seconds 20
"$LVSSADM" create --exec true "$data" >"$FX_DIR/c1.out" 2>"$FX_DIR/c1.err" &
CPID=$!
wait_event w1 hang 15
seen=0 start=$SECONDS
while ((SECONDS - start < 12)); do   # the hang lasts 20 s
    grep -qs '"prepared"' "$REG" && { seen=1; break; }
    sleep 0.1
done
grep -q '^freeze' "$FX_DIR/w1.events" && fail "the writer got Freeze before the check: the hang did not hold"
[ "$seen" = 1 ] || fail "no durable 'prepared' entry while the writer works on PrepareForSnapshot: $(cat "$REG" 2>&1)"
left=$(ls -A "$FX_MNT/.lvss-snapshots" 2>/dev/null)
[ -z "$left" ] || fail "a provider prepared before the writers answered PrepareForSnapshot: $left"
wait "$CPID" || fail "create with a slow PrepareForSnapshot failed: $(cat "$FX_DIR/c1.err")"
stop_writer w1

# 2
start_writer w2 "$data" --rate 0
adm create --exec true "$data"   # warm-up: the reflink probe, the area
[ "$RC" = 0 ] || fail "create failed: $(cat "$FX_DIR/err")"
strace -f -e trace=syncfs -o "$FX_DIR/strace.txt" -p "$FX_PID_lvssd" 2>"$FX_DIR/strace.err" &
SPID=$!
for ((i = 0; i < 300; i++)); do grep -qs attached "$FX_DIR/strace.err" && break; sleep 0.1; done
# Without the attach the count below would be 0 whatever lvssd does.
grep -qs attached "$FX_DIR/strace.err" || fail "strace did not attach to lvssd within 30 s: $(cat "$FX_DIR/strace.err")"
head -c 4M /dev/urandom >"$data/fresh"   # dirty in the page cache, never synced
adm create --exec "cmp \"\${LVSS_SHADOW_PATHS#*=}/fresh\" \"$data/fresh\"" "$data"
[ "$RC" = 0 ] || fail "the snapshot does not hold the unsynced data: $(cat "$FX_DIR/err")"
kill "$SPID"; wait "$SPID" 2>/dev/null
n=$(grep -c 'syncfs(' "$FX_DIR/strace.txt")
[ "$n" = 0 ] || fail "lvssd made $n syncfs in a reflink cycle: $(cat "$FX_DIR/strace.txt")"

# 3
# LeakSanitizer cannot run under ptrace (ASan build): no leak check for this one run.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -e trace=sendmsg,writev -s 400 -o "$FX_DIR/adm.strace" "$LVSSADM" create --exec true "$data" >/dev/null 2>"$FX_DIR/err" ||
    fail "create failed: $(cat "$FX_DIR/err")"
left=$(ls -A "$FX_MNT/.lvss-snapshots")
[ -z "$left" ] || fail "the --exec set is still there when lvssadm has exited: $left"
grep -q 'Close' "$FX_DIR/adm.strace" || fail "no Close seen in lvssadm's messages (strace cannot read them?)"
! grep -q 'DeleteShadows' "$FX_DIR/adm.strace" || fail "lvssadm still sends DeleteShadows for its --exec set"
echo "lvssd-cycle-flush: ok"
