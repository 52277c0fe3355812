#!/bin/bash
# Reuse of unchanged ranges never skips verification (docs/design/backup.md
# §8, invariant 12): after a full, a stream page of DB2 (no new mail: every
# range of DB2.stm unchanged) is damaged on disk, keeping its stored
# checksum and version, so that only reading and checking the page can
# tell.  The next full must refuse it: component failed, exit 1, the file
# and page named, no record, no truncation.  The page repaired, the next
# full reuses DB2.stm's ranges again (it would have reused that range).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup
deliver a@h1 200 30000
deliver b@h1 300 30000
$LB create --repo "$REPO" --json >"$FX_DIR/f1.json" 2>"$FX_DIR/f1.err" || fail "first full: $(cat "$FX_DIR/f1.err")"
nrec() { $LB list --repo "$REPO" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["backups"]))'; }
[ "$(nrec)" = 1 ] || fail "one record expected after the first full"

$MSTORE db dismount SG1/DB2 || fail "dismount DB2"
cp "$SG/DB2.stm" "$FX_DIR/DB2.stm.good"
size=$(stat -c %s "$SG/DB2.stm")
[ "$size" -ge $((4 * 1048576)) ] || fail "DB2.stm too small ($size bytes)"
# A page in the middle: bytes 1000.. of its body (header, stored checksum and version untouched).
page=$((size / 4096 / 2))
printf '\xde\xad\xbe\xef' | dd of="$SG/DB2.stm" bs=1 seek=$((page * 4096 + 1000)) conv=notrunc status=none
cmp -s "$SG/DB2.stm" "$FX_DIR/DB2.stm.good" && fail "the page was not damaged"
cmp -n 32 <(dd if="$SG/DB2.stm" bs=4096 skip=$page count=1 status=none) \
    <(dd if="$FX_DIR/DB2.stm.good" bs=4096 skip=$page count=1 status=none) || fail "the page header changed"
$MSTORE db mount SG1/DB2 || fail "mount DB2 with a damaged stream page"
deliver a@h1 5 30000

$LB create --repo "$REPO" --json >"$FX_DIR/f2.json" 2>"$FX_DIR/f2.err"
rc=$?
cat "$FX_DIR/f2.err"
[ $rc = 1 ] || fail "a full over a damaged page in an unchanged range: exit $rc, want 1"
grep -q "DB2.stm.*failed verification" "$FX_DIR/f2.err" || fail "the damaged file is not named"
grep -q "page $page" "$FX_DIR/f2.err" || fail "the damaged page $page is not named"
[ "$(nrec)" = 1 ] || fail "a backup over a damaged page was stored"
grep -q "reported failed by the requestor: no truncation" "$FX_DIR/mstored.log" \
    || fail "the writer was not told the backup failed: $(tail -3 "$FX_DIR/mstored.log")"
no_snapshots

$MSTORE db dismount SG1/DB2 || fail "dismount DB2"
cp "$FX_DIR/DB2.stm.good" "$SG/DB2.stm"
$MSTORE db mount SG1/DB2 || fail "mount DB2 after the repair"
$LB create --repo "$REPO" --json >"$FX_DIR/f3.json" 2>"$FX_DIR/f3.err" || fail "full after the repair: $(cat "$FX_DIR/f3.err")"
reused=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_reused"])' <"$FX_DIR/f3.json")
[ "$reused" -ge $((size * 3 / 4)) ] || fail "the full after the repair reused only $reused bytes (DB2.stm alone: $size)"
echo "backup-reuse-corrupt ok"
