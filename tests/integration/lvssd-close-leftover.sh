#!/bin/bash
# SPDX-License-Identifier: MIT
# An auto-release snapshot that lvssd cannot delete at the session's Close
# (coordinator.md invariant 5): Close answers with an error naming it,
# `lvssadm create --exec` prints it on one line and exits 1, and the
# snapshot stays listed until deleted.  The reflink provider's test hook
# LVSS_TEST_REFLINK_DELETE=fail-once fails lvssd's first deletion.
# Fails on the old code: Close succeeded, lvssadm exited 0.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
fixture_need_test_hooks
fixture_xfs x 300
data="$FX_MNT/data"; mkdir -p "$data"
echo hello >"$data/f"
export LVSS_TEST_REFLINK_DELETE=fail-once
start_lvssd
unset LVSS_TEST_REFLINK_DELETE

rc=0
"$LVSSADM" create --exec true "$data" >/dev/null 2>"$FX_DIR/err" || rc=$?
[ "$rc" = 1 ] || fail "create --exec with a failed deletion exited $rc, not 1: $(cat "$FX_DIR/err")"
[ "$(wc -l <"$FX_DIR/err")" = 1 ] || fail "not one line of error: $(cat "$FX_DIR/err")"
list=$("$LVSSADM" list shadows --json)
id=$(jq -r '.[0].id // empty' <<<"$list" 2>/dev/null || true)
[ -n "$id" ] || id=$(jq -r '.shadows[0].id // empty' <<<"$list")
[ -n "$id" ] || fail "the snapshot left is not listed: $list"
grep -q "$id" "$FX_DIR/err" || fail "the error does not name snapshot $id: $(cat "$FX_DIR/err")"
grep -q "deletion failed (test hook)" "$FX_DIR/err" || fail "the error does not say why: $(cat "$FX_DIR/err")"
[ -n "$(ls -A "$FX_MNT/.lvss-snapshots")" ] || fail "listed but not on disk"
# It stays until removed; the next deletion works.
"$LVSSADM" delete shadows --shadow "$id" >/dev/null || fail "cannot delete the leftover $id"
[ -z "$("$LVSSADM" list shadows --json | jq -r '.. | .id? // empty')" ] || fail "still listed after delete"
# And a clean --exec run still exits 0.
"$LVSSADM" create --exec true "$data" >/dev/null 2>"$FX_DIR/err2" || fail "clean create --exec failed: $(cat "$FX_DIR/err2")"
echo "lvssd-close-leftover: ok"
