#!/bin/bash
# A full backup reuses the previous full's chunks for the ranges of the
# databases whose pages are unchanged (docs/design/backup.md §8): a full
# with --no-reuse reads everything (bytes_reused 0); the next full after a
# little new mail reads a fraction of what it covers; a restore of that
# reuse-based full gives every message byte for byte.  Then the newest
# record is removed (as forget does) and prune deletes the packs only it
# needed: the next full reuses the older full's chunks (those still in the
# index) and restores byte for byte too.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup
deliver a@h1 120 100000
deliver b@h1 90 100000

# reused READ_MIN: the bytes_reused and bytes_read of a --json document on stdin
reused() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["bytes_reused"], d["bytes_read"])'; }
db_bytes() { stat -c %s "$SG"/DB1.edb "$SG"/DB1.stm "$SG"/DB2.edb "$SG"/DB2.stm | awk '{s+=$1} END {print s}'; }

$LB create --repo "$REPO" --json >"$FX_DIR/f1.json" 2>"$FX_DIR/f1.err" || fail "first full: $(cat "$FX_DIR/f1.err")"
read -r r1 _ < <(reused <"$FX_DIR/f1.json")
[ "$r1" = 0 ] || fail "the first full reused $r1 bytes with nothing to reuse"
deliver a@h1 6 100000
$LB create --repo "$REPO" --no-reuse --json >"$FX_DIR/f2.json" 2>"$FX_DIR/f2.err" \
    || fail "full --no-reuse: $(cat "$FX_DIR/f2.err")"
read -r r2 _ < <(reused <"$FX_DIR/f2.json")
[ "$r2" = 0 ] || fail "a --no-reuse full reused $r2 bytes"

deliver a@h1 3 100000
snapshot_both
total=$(db_bytes)
$LB create --repo "$REPO" --json >"$FX_DIR/f3.json" 2>"$FX_DIR/f3.err" || fail "reuse full: $(cat "$FX_DIR/f3.err")"
cat "$FX_DIR/f3.json"
read -r r3 read3 < <(reused <"$FX_DIR/f3.json")
echo "databases $total bytes: reused $r3, read $read3"
[ "$r3" -ge $((total / 2)) ] || fail "the second full reused only $r3 of $total database bytes"
ID3=$(json_get id <"$FX_DIR/f3.json")
$LB verify --repo "$REPO" --quiet || fail "verify after a reuse-based full"

restore_and_compare "$ID3" "restore of the reuse-based full"

# The newest record gone (forget) and its packs pruned.
rm -f "$REPO/backups/$ID3"
[ -e "$REPO/backups/$ID3" ] && fail "record $ID3 not removed"
$LB prune --repo "$REPO" --quiet 2>"$FX_DIR/prune.err" || fail "prune: $(cat "$FX_DIR/prune.err")"
deliver a@h1 2 100000
deliver b@h1 2 100000
snapshot_both
$LB create --repo "$REPO" --json >"$FX_DIR/f4.json" 2>"$FX_DIR/f4.err" || fail "full after prune: $(cat "$FX_DIR/f4.err")"
read -r r4 _ < <(reused <"$FX_DIR/f4.json")
echo "after prune: reused $r4"
[ "$r4" -gt 0 ] || fail "the full after prune reused nothing of the older full"
ID4=$(json_get id <"$FX_DIR/f4.json")
$LB verify --repo "$REPO" --quiet || fail "verify after the full that followed prune"
restore_and_compare "$ID4" "restore after prune"
no_snapshots
echo "backup-reuse ok"
