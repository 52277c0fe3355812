#!/bin/bash
# A FIFO cannot stall lvss-backup, and a user cannot change their files in a
# snapshot (XFS, reflink provider; the example writer's component):
#  1. a FIFO planted in the writer's directory before the set is made is
#     not stored and create finishes;
#  2. while create is paused before reading the snapshot (test hook), the
#     owner of the snapshotted file (nobody) can neither write it nor replace
#     it with a FIFO; root then swaps in a FIFO (as an owner could with older
#     lvss): create refuses it with a one-line message naming the file and
#     fails (exit 1) instead of blocking;
#  3. backup-dir given a FIFO, or walking a tree holding one, finishes.
# Every lvss-backup run is under `timeout -k`: a stall (exit 124 or 137)
# is a failure.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
LB=$(fx_bin tools/lvss-backup/lvss-backup)
lvss_setup
fixture_need_test_hooks
[ -x "$LB" ] || skip "lvss-backup not built"
id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
command -v setpriv >/dev/null || skip "setpriv not installed (util-linux)"
as_nobody() { setpriv --reuid nobody --regid "$(id -g nobody)" --clear-groups -- "$@"; }

fixture_xfs data 300
data=$FX_MNT/data
mkdir -p "$data"
start_lvssd
start_writer w1 "$data" --rate 0
chown -R nobody "$data"              # the user owns the directory and records.dat
echo "user data" | as_nobody tee "$data/records.dat" >/dev/null || fail "nobody cannot write its own file"
mkfifo "$data/pipe"
chown nobody "$data/pipe"
REPO=$FX_DIR/repo
$LB init --repo "$REPO" --no-encryption --quiet || fail "lvss-backup init"

# 1. A FIFO in the component's directory is not opened.
timeout -k 5 60 "$LB" create --repo "$REPO" --quiet >"$FX_DIR/c1.out" 2>"$FX_DIR/c1.err"; rc=$?
stalled() { [ "$1" = 124 ] || [ "$1" = 137 ]; }
stalled $rc && fail "create stalled on the FIFO in the writer's directory"
[ "$rc" = 0 ] || fail "create with a FIFO in the tree exited $rc: $(cat "$FX_DIR/c1.err")"

# 2. Changing the snapshot while create runs.
pause=$FX_DIR/pause
LVSS_BACKUP_TEST_PAUSE_BEFORE_READ=$pause timeout -k 5 60 "$LB" create --repo "$REPO" --quiet \
    >"$FX_DIR/c2.out" 2>"$FX_DIR/c2.err" &
lb=$!
FX_PIDS+=("$lb")
for _ in $(seq 300); do [ -s "$pause" ] && break; sleep 0.1; done
[ -s "$pause" ] || fail "create did not reach the read of the snapshot: $(cat "$FX_DIR/c2.err")"
snap=$(cat "$pause")
case $snap in */.lvss-snapshots/*/records.dat) ;; *) fail "unexpected snapshot file '$snap'" ;; esac
[ "$(stat -c %U "$snap")" = nobody ] || fail "the snapshot does not keep the owner: $(stat -c %U "$snap")"
if as_nobody sh -c "echo tampered >'$snap'" 2>/dev/null; then
    fail "nobody wrote its file in the snapshot"
fi
if as_nobody sh -c "rm -f '$snap' && mkfifo '$snap'" 2>/dev/null; then
    fail "nobody replaced its file in the snapshot with a FIFO"
fi
[ -f "$snap" ] && [ "$(cat "$snap")" = "user data" ] || fail "the snapshot file changed"
area=${snap%%/.lvss-snapshots/*}/.lvss-snapshots
[ "$(stat -c '%U %a' "$area")" = "root 700" ] || fail "snapshot area is $(stat -c '%U %a' "$area"), want root 700"
rm -f "$snap" && mkfifo "$snap" || fail "root could not plant the FIFO"
rm -f "$pause"
wait $lb; rc=$?
stalled $rc && fail "create stalled on a FIFO in the snapshot"
[ "$rc" = 1 ] || fail "create with a FIFO in the snapshot exited $rc, want 1: $(cat "$FX_DIR/c2.err")"
grep -qF "'$snap': a FIFO in the snapshot, not a regular file" "$FX_DIR/c2.err" ||
    fail "no clear message naming the FIFO: $(cat "$FX_DIR/c2.err")"

# 3. backup-dir: a FIFO as the source is refused, one in a tree is skipped.
mkdir -p "$FX_DIR/tree"
echo content >"$FX_DIR/tree/file"
mkfifo "$FX_DIR/tree/pipe"
timeout -k 5 30 "$LB" backup-dir --repo "$REPO" "$FX_DIR/tree/pipe" >"$FX_DIR/d1.out" 2>"$FX_DIR/d1.err"; rc=$?
stalled $rc && fail "backup-dir stalled on a FIFO given as source"
[ "$rc" = 0 ] && fail "backup-dir stored a FIFO"
grep -qF "tree/pipe: a FIFO, not a regular file or directory" "$FX_DIR/d1.err" ||
    fail "backup-dir gave no clear message for the FIFO: $(cat "$FX_DIR/d1.err")"
timeout -k 5 30 "$LB" backup-dir --repo "$REPO" "$FX_DIR/tree" >"$FX_DIR/d2.out" 2>"$FX_DIR/d2.err"; rc=$?
[ "$rc" = 0 ] || fail "backup-dir of a tree with a FIFO exited $rc: $(cat "$FX_DIR/d2.err")"
echo "ok: FIFOs refused or skipped, snapshot out of the owner's reach"
