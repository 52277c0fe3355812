#!/bin/bash
# mstored's bus thread never waits on a file-system walk (mailstore.md §10):
# CreateStorageGroup's check of a path the admin group names
# (path_root_controlled) runs on the job's worker.  A test hook makes that
# walk hang (a stalled file system) until a file appears; meanwhile other
# calls are answered, and once released the refusal is the one of §5
# (AccessDenied, mstore exit 5).  Uses the system user backup (setpriv),
# as bus-creds.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
MSTORED=$(fx_bin store/mstored/mstored)
MSTORE=$(fx_bin tools/mstore/mstore)
[ -x "$MSTORED" ] || skip "mstored not built"
[ -x "$MSTORE" ] || skip "mstore CLI not built"
fixture_init
fixture_need_root
fixture_need_test_hooks
command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
id backup >/dev/null 2>&1 || skip "system user backup needed"
getent group backup >/dev/null || skip "group backup needed"
fixture_bus
member() { setpriv --reuid=backup --regid=backup --init-groups "$@"; }

printf '{"admin_group": "backup"}\n' >"$FX_DIR/mstored.json"
fixture_spawn mstored env MSTORED_TEST_SG_CHECK_WAIT="$FX_DIR/go" "$MSTORED" --data-dir "$FX_DIR/data" \
    --lmtp "unix:$FX_DIR/lmtp.sock" --no-writer --config "$FX_DIR/mstored.json"
fixture_wait_name org.lvss.MailStore1
mkdir "$FX_DIR/bk-owned" && chown backup "$FX_DIR/bk-owned"

echo "== a CreateStorageGroup whose path walk hangs"
member "$MSTORE" sg create SGW --path "$FX_DIR/bk-owned/sg" >"$FX_DIR/o" 2>"$FX_DIR/e" &
create=$!
for _ in $(seq 600); do [ -e "$FX_DIR/go.held" ] && break; sleep 0.05; done
[ -e "$FX_DIR/go.held" ] || fail "the path walk never started: $(cat "$FX_DIR/e")"

echo "== meanwhile the bus answers"
timeout 30 setpriv --reuid=backup --regid=backup --init-groups "$MSTORE" sg list >"$FX_DIR/o2" 2>"$FX_DIR/e2" \
    || fail "sg list not answered while a path walk hangs (exit $?): $(cat "$FX_DIR/e2")"
grep -q '^' "$FX_DIR/o2" || fail "sg list printed nothing"
kill -0 "$create" 2>/dev/null || fail "the create finished before the walk was released: $(cat "$FX_DIR/e")"

echo "== released, the refusal is unchanged"
touch "$FX_DIR/go"
wait "$create"; rc=$?
[ "$rc" = 5 ] || fail "sg create with a path of user backup: exit $rc (want 5): $(cat "$FX_DIR/e")"
grep -qF "mstored: storage group 'SGW': uid $(id -u backup) may not use path '$FX_DIR/bk-owned/sg': " "$FX_DIR/e" \
    && grep -q "owned by uid $(id -u backup), not root" "$FX_DIR/e" \
    || fail "refusal text changed: $(cat "$FX_DIR/e")"
[ -e "$FX_DIR/bk-owned/sg" ] && fail "a refused storage group path was created"
echo "mstored-bus-walk ok"
