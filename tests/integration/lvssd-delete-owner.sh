#!/bin/bash
# Who may delete which snapshot, and the WriterMetadata cap:
#  - a persistent snapshot records its creator (owner_uid in
#    `lvssadm list shadows --json`);
#  - a requestor (user backup, in group backup in the user database) may
#    delete its own snapshots but not root's (exit 5, nothing deleted); root
#    may delete anyone's; `delete shadows --all` by a requestor deletes only
#    its own;
#  - a snapshot in use by a live set (the auto-release snapshot of a running
#    backup) is refused for everyone, root included (exit 4), and goes when
#    that session ends;
#  - at most 4 concurrent WriterMetadata queries per uid: the fifth is
#    refused at once (exit 4, clear message), another uid is not affected.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
id backup >/dev/null 2>&1 && getent group backup >/dev/null || skip "system user and group backup needed"
T=$LVSS_BUILD_ROOT/tests/unit/lvss
fixture_xfs data 300
chmod 755 "$FX_MNT"
data="$FX_MNT/data"; mkdir -p "$data"; chmod 755 "$data"; echo x >"$data/f"
start_lvssd
as_backup() { setpriv --reuid=backup --regid=backup --init-groups "$@"; }
BUID=$(id -u backup)
badm() { as_backup "$LVSSADM" "$@" >"$FX_DIR/out.json" 2>"$FX_DIR/err"; RC=$?; }
owner_of() { json "$FX_DIR/shadows.json" "[s['owner_uid'] for s in d['shadows'] if s['id']=='$1'][0]"; }

echo "== owner_uid"
adm create --no-writers --json "$data"
[ "$RC" = 0 ] || fail "root create exited $RC: $(cat "$FX_DIR/err")"
root_id=$(json "$FX_DIR/out.json" 'd["shadows"][0]["id"]')
badm create --no-writers --json "$data"
[ "$RC" = 0 ] || fail "create as user backup exited $RC: $(cat "$FX_DIR/err")"
b_id=$(json "$FX_DIR/out.json" 'd["shadows"][0]["id"]')
[ "$(shadow_count)" = 2 ] || fail "two snapshots expected: $(cat "$FX_DIR/shadows.json")"
[ "$(owner_of "$root_id")" = 0 ] || fail "root's snapshot: owner_uid $(owner_of "$root_id")"
[ "$(owner_of "$b_id")" = "$BUID" ] || fail "backup's snapshot: owner_uid $(owner_of "$b_id"), want $BUID"
grep -q "\"owner_uid\": $BUID" "$LVSS_STATE/snapshots.json" || fail "owner_uid not in the registry"

echo "== a requestor may not delete root's snapshot"
badm delete shadows --shadow "$root_id"
[ "$RC" = 5 ] || fail "user backup deleting root's snapshot exited $RC, want 5: $(cat "$FX_DIR/err")"
grep -q "belongs to uid 0; only root may delete another user's snapshot" "$FX_DIR/err" || fail "refusal unclear: $(cat "$FX_DIR/err")"
[ "$(shadow_count)" = 2 ] || fail "a snapshot was deleted by the refused call"
echo "== --all by a requestor deletes its own only"
badm delete shadows --all --json
[ "$RC" = 0 ] || fail "user backup delete --all exited $RC: $(cat "$FX_DIR/err")"
[ "$(json "$FX_DIR/out.json" 'd["deleted"]')" = 1 ] || fail "delete --all by user backup: $(cat "$FX_DIR/out.json")"
[ "$(shadow_count)" = 1 ] && [ "$(json "$FX_DIR/shadows.json" 'd["shadows"][0]["id"]')" = "$root_id" ] ||
    fail "root's snapshot should remain alone: $(cat "$FX_DIR/shadows.json")"
echo "== root may delete another user's snapshot"
badm create --no-writers --json "$data"
[ "$RC" = 0 ] || fail "second create as user backup exited $RC: $(cat "$FX_DIR/err")"
b_id=$(json "$FX_DIR/out.json" 'd["shadows"][0]["id"]')
adm delete shadows --shadow "$b_id"
[ "$RC" = 0 ] || fail "root deleting backup's snapshot exited $RC: $(cat "$FX_DIR/err")"

echo "== a snapshot in use by a live set is refused for everyone"
fixture_spawn w "$T/test-writer" --dir "$data"
for i in $(seq 100); do grep -qs subscribed "$FX_DIR/w.log" && break; sleep 0.05; done
fixture_spawn holder "$T/test-requestor" backup "$data" --hold 60
for i in $(seq 200); do grep -qs holding "$FX_DIR/holder.log" && break; sleep 0.05; done
grep -qs holding "$FX_DIR/holder.log" || fail "the holding requestor did not get its snapshot: $(cat "$FX_DIR/holder.log")"
[ "$(shadow_count)" = 2 ] || fail "held snapshot not listed: $(cat "$FX_DIR/shadows.json")"
held=$(json "$FX_DIR/shadows.json" "[s['id'] for s in d['shadows'] if s['context']=='backup'][0]")
adm delete shadows --shadow "$held"
[ "$RC" = 4 ] || fail "root deleting a snapshot of a live set exited $RC, want 4: $(cat "$FX_DIR/err")"
grep -q "in use by a live snapshot set" "$FX_DIR/err" || fail "busy message unclear: $(cat "$FX_DIR/err")"
adm delete shadows --all
[ "$RC" = 4 ] || fail "root delete --all with a live set exited $RC, want 4: $(cat "$FX_DIR/err")"
[ "$(shadow_count)" = 2 ] || fail "something was deleted by a refused call: $(cat "$FX_DIR/shadows.json")"
kill -TERM "$FX_PID_holder"; wait "$FX_PID_holder" 2>/dev/null
for i in $(seq 100); do [ "$(shadow_count)" = 1 ] && break; sleep 0.05; done
[ "$(shadow_count)" = 1 ] || fail "the held snapshot did not go with its session: $(cat "$FX_DIR/shadows.json")"
adm delete shadows --all
[ "$RC" = 0 ] || fail "root delete --all exited $RC: $(cat "$FX_DIR/err")"
[ "$(shadow_count)" = 0 ] || fail "snapshots left after delete --all"
[ -z "$(ls -A "$FX_MNT/.lvss-snapshots")" ] || fail "snapshot area not empty: $(ls -A "$FX_MNT/.lvss-snapshots")"
kill -TERM "$FX_PID_w"; wait "$FX_PID_w" 2>/dev/null

echo "== at most 4 concurrent WriterMetadata queries per uid"
# A stopped writer (SIGSTOP) keeps every query waiting for its Identify.
fixture_spawn slow "$T/test-writer" --dir "$data" --name "Slow Writer"
for i in $(seq 100); do grep -qs subscribed "$FX_DIR/slow.log" && break; sleep 0.05; done
kill -STOP "$FX_PID_slow"
sessions() { "$LVSSADM" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"])'; }
wait_sessions() { for i in $(seq 200); do [ "$(sessions)" = "$1" ] && return 0; sleep 0.05; done; fail "$1 sessions expected, $(sessions) in lvssd"; }
for k in 1 2 3 4; do fixture_spawn "wm$k" "$LVSSADM" writer-metadata --json; done
wait_sessions 4
adm writer-metadata --json
[ "$RC" = 4 ] || fail "fifth WriterMetadata of uid 0 exited $RC, want 4: $(cat "$FX_DIR/err")"
grep -q "uid 0 already has 4 queries in progress (at most 4)" "$FX_DIR/err" || fail "cap message unclear: $(cat "$FX_DIR/err")"
fixture_spawn wmb setpriv --reuid=backup --regid=backup --init-groups "$LVSSADM" writer-metadata --json
wait_sessions 5   # another uid is not held by uid 0's cap
kill -CONT "$FX_PID_slow"
for k in 1 2 3 4; do
    eval p=\$FX_PID_wm$k
    wait "$p" || fail "WriterMetadata query $k failed: $(cat "$FX_DIR/wm$k.log")"
    grep -q "Slow Writer" "$FX_DIR/wm$k.log" || fail "query $k: $(cat "$FX_DIR/wm$k.log")"
done
wait "$FX_PID_wmb" || fail "another uid's WriterMetadata failed: $(cat "$FX_DIR/wmb.log")"
grep -q "Slow Writer" "$FX_DIR/wmb.log" || fail "user backup's query: $(cat "$FX_DIR/wmb.log")"
wait_sessions 0
adm writer-metadata --json
[ "$RC" = 0 ] || fail "WriterMetadata after the others ended exited $RC: $(cat "$FX_DIR/err")"
echo "ok: lvssd-delete-owner"
