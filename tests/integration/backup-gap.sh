#!/bin/bash
# Two repositories backing up the same storage group: a full into the other
# repository truncates log generations that this repository's chain never
# got.  The next incremental into this repository would leave a hole in its
# chain: create notices it from the writer's stamps (new gen_low after the
# base's gen_high + 1), reports the component failed (no truncation), stores
# nothing and exits 1 asking for a full; a full then restarts the chain.
# A differential taken after an incremental (which truncated the logs the
# differential needs) is refused the same way.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
BK_MSTORED_CONFIG='{"log_file_size": 65536}'
bk_setup
OTHER=$FX_DIR/other-repo
$LB init --repo "$OTHER" --no-encryption --quiet || fail "init other"
deliver a@h1 20 20000
$LB create --repo "$REPO" --quiet || fail "full into REPO"
deliver a@h1 20 20000
$LB create --repo "$OTHER" --quiet || fail "full into OTHER (truncates)"
deliver a@h1 20 20000
$LB create --repo "$REPO" --type incremental 2>"$FX_DIR/inc.err"
rc=$?
cat "$FX_DIR/inc.err" | grep lvss-backup
[ $rc = 1 ] || fail "incremental over a hole: exit $rc, want 1"
grep -q "were truncated by another backup (one in another repository" "$FX_DIR/inc.err" || fail "hole not explained"
[ "$($LB list --repo "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))')" = 1 ] \
    || fail "an incremental with a hole was stored"
$LB create --repo "$REPO" --quiet || fail "full after the hole"
deliver a@h1 5
$LB create --repo "$REPO" --type incremental --quiet || fail "incremental after a new full"
# A differential after that incremental: the generations after the full were
# truncated by the incremental, so the differential would miss them.
deliver a@h1 20 20000
$LB create --repo "$REPO" --type differential 2>"$FX_DIR/diff.err"
rc=$?
grep lvss-backup "$FX_DIR/diff.err"
[ $rc = 1 ] || fail "differential over truncated generations: exit $rc, want 1"
grep -q "missing from the snapshot\|were truncated" "$FX_DIR/diff.err" || fail "missing generations not explained"
no_snapshots
echo "backup-gap ok"
