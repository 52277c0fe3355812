#!/bin/bash
# The Cockpit page end to end in headless Chromium against the real daemons
# (cockpit-ws --local-session, the bridge on the test's private bus): a job
# created in the browser (next five runs shown as typed, a bad calendar and a
# refused save shown in the service's words) and found as a file; a full and
# an incremental run from the browser with live progress and found in the
# repository; a run cancelled; the retention preview (keep_last 1 keeps the
# incremental and, for its chain, the full); history filters and a task's
# log; the chain drawn on Backups, a check run; a one-database restore
# through the wizard (dismount and allow-overwrite as steps with buttons, the
# database's files deleted first) with the mail read back; one message
# restored into the live mailbox (Recovered/<time>, checked with mstore); the
# storage group restored to another directory, its mailboxes browsed and a
# message read there (ReadRestored); the audit; the
# overview at 1280x800 and at phone width; keyboard navigation; no browser
# console errors.  Screenshots in BUILD/meson-logs/console/main/.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/console-common.bash" || exit 1
console_need
# Every backup holds its freeze 5 s (test hook), so that the run the page
# cancels is still running when the cancel arrives.
fixture_need_test_hooks
export MSTORED_TEST_FREEZE_HOLD_MS=5000
bd_setup 600
deliver a@h1 12
deliver b@h1 4
snapshot_mail a@h1 "$FX_DIR/mail-a"
start_backupd
console_stage "$FX_DIR/share"
PORT=$(free_port)
DBUS_SYSTEM_BUS_ADDRESS=$LVSS_BUS XDG_DATA_DIRS="$FX_DIR/share:/usr/share" \
    fixture_spawn cockpit "$COCKPIT_WS" --no-tls --address 127.0.0.1 --port "$PORT" --local-session=cockpit-bridge
wait_http "$PORT"
JOBS=$JOBS REPO=$REPO SG=$SG LB=$LB MSTORE=$MSTORE MAILDIR=$FX_DIR/mail-a browser main main
# What the browser did, checked from outside it.
same_mail a@h1 "$FX_DIR/mail-a"
[ "$(count b@h1)" = 4 ] || fail "b@h1 has $(count b@h1) messages after the restore of DB1, want 4"
$CTL history nightly --json | python3 -c '
import json, sys
ts = json.load(sys.stdin)["tasks"]
kinds = sorted((t["kind"], t["state"]) for t in ts)
assert ("restore", "succeeded") in kinds and ("check", "succeeded") in kinds and ("backup", "cancelled") in kinds, kinds
assert all(t["requested_by"] == "0" for t in ts), ts
' || fail "history after the browser session: $($CTL history nightly)"
writers_stable
no_snapshots
for p in overview jobs-new jobs-run jobs-retention history backups restore-steps restore-result restore-live restore-alternate audit overview-phone; do
    [ -s "$ARTIFACTS/main/$p.png" ] || fail "screenshot $p missing"
done
echo "console: OK"
