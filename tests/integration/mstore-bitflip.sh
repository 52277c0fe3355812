#!/bin/bash
# Random single-bit flips in .edb, .stm, logs and checkpoint are detected by
# mstoreutil verify / verify-logs / checkpoint (exit 6) and never turn into
# silently wrong data after recovery.
set -u
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
util="$LVSS_BUILD_ROOT/tools/mstoreutil/mstoreutil"
writer="$LVSS_BUILD_ROOT/tests/crash/mstore-crash-writer"
[ -x "$util" ] || skip "mstoreutil not built"
[ -x "$writer" ] || skip "mstore-crash-writer not built"
flips=${MSTORE_BITFLIPS:-48}

pristine="$FX_DIR/pristine"
"$writer" "$pristine" fill 600 >/dev/null || fail "could not build a storage group"
"$util" verify "$pristine/K9.edb" "$pristine/K9.stm" "$pristine/E00.chk" >/dev/null || fail "pristine files do not verify"
"$util" verify-logs "$pristine" >/dev/null || fail "pristine logs do not verify"

mapfile -t files < <(cd "$pristine" && ls K9.edb K9.stm E00.chk E00*.log | grep -v tmp)
detected=0
for ((i = 0; i < flips; i++)); do
    work="$FX_DIR/work"
    rm -rf "$work"
    cp -a "$pristine" "$work"
    f=${files[$((RANDOM % ${#files[@]}))]}
    size=$(stat -c %s "$work/$f")
    off=$(( (RANDOM * 32768 + RANDOM) % size ))
    bit=$((RANDOM % 8))
    python3 - "$work/$f" "$off" "$bit" <<'PY'
import sys
p, off, bit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(p, 'r+b') as fh:
    fh.seek(off); b = fh.read(1); fh.seek(off); fh.write(bytes([b[0] ^ (1 << bit)]))
PY
    case "$f" in
        *.log) "$util" verify-logs "$work" >/dev/null 2>"$FX_DIR/err"; rc=$? ;;
        *.chk) "$util" checkpoint "$work/$f" >/dev/null 2>"$FX_DIR/err"; rc=$? ;;
        *) "$util" verify "$work/$f" >/dev/null 2>"$FX_DIR/err"; rc=$? ;;
    esac
    [ $rc = 6 ] || fail "flip $i: bit $bit of byte $off in $f not detected (exit $rc)"
    detected=$((detected + 1))
    # recovery must fail loudly or leave correct data, never wrong data
    "$util" recover "$work" >/dev/null 2>&1
    rc=$?
    [ $rc -le 6 ] || fail "flip $i in $f: mstoreutil recover crashed (exit $rc)"
    "$writer" "$work" check 600 >"$FX_DIR/check" 2>&1
    rc=$?
    [ $rc -le 1 ] || fail "flip $i in $f: reading after recovery crashed (exit $rc): $(head -3 "$FX_DIR/check")"
    grep -q "wrong value" "$FX_DIR/check" && fail "flip $i in $f: recovery produced wrong data"
done
echo "$detected of $flips single-bit flips detected (exit 6)"
