#!/bin/bash
# mstoreutil's command-line contract (docs/interfaces.md): header/checkpoint JSON
# fields, backup stamps after full and incremental snapshot sessions,
# verify/verify-logs/recover, exit codes, --help.
set -u
. "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
fixture_init
util="$LVSS_BUILD_ROOT/tools/mstoreutil/mstoreutil"
writer="$LVSS_BUILD_ROOT/tests/crash/mstore-crash-writer"
[ -x "$util" ] || skip "mstoreutil not built"
[ -x "$writer" ] || skip "mstore-crash-writer not built"
dir="$FX_DIR/sg"
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

"$util" --help | grep -q verify-logs || fail "--help does not list the commands"
"$util" >/dev/null 2>&1; [ $? = 2 ] || fail "no command must exit 2"
"$util" frobnicate >/dev/null 2>&1; [ $? = 2 ] || fail "unknown command must exit 2"
"$util" header "$FX_DIR/none.edb" >/dev/null 2>&1; [ $? = 1 ] || fail "missing file must exit 1"

"$writer" "$dir" fill 200 >/dev/null || fail "fill"
out=$("$util" header "$dir/K9.edb" --json) || fail "header --json"
[ "$(echo "$out" | j 'd["state"]')" = clean_shutdown ] || fail "state after clean close: $out"
[ "$(echo "$out" | j 'd["log_required"]')" = "[0, 0]" ] || fail "log_required of a clean database: $out"
[ "$(echo "$out" | j 'd["backup"]["full"]')" = None ] || fail "no backup yet: $out"

"$writer" "$dir" backup incremental 2>/dev/null && fail "incremental without a full must be refused"
"$writer" "$dir" backup full || fail "full backup session"
"$writer" "$dir" fill 50 >/dev/null || fail "fill after full"
"$writer" "$dir" backup incremental || fail "incremental backup session"
"$writer" "$dir" backup copy || fail "copy backup session"
out=$("$util" header "$dir/K9.edb" --json)
for slot in full incremental copy; do
    lo=$(echo "$out" | j "d['backup']['$slot']['gen_low']")
    hi=$(echo "$out" | j "d['backup']['$slot']['gen_high']")
    t=$(echo "$out" | j "d['backup']['$slot']['time']")
    [ "$lo" -ge 1 ] && [ "$hi" -ge "$lo" ] || fail "$slot stamp range $lo-$hi: $out"
    [[ "$t" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T ]] || fail "$slot stamp time '$t'"
done
[ "$(echo "$out" | j 'd["backup"]["differential"]')" = None ] || fail "differential slot must be empty"
"$util" header "$dir/K9.edb" | grep -q "Previous Full Backup" || fail "text header output"

out=$("$util" checkpoint "$dir/E00.chk" --json) || fail "checkpoint --json"
g=$(echo "$out" | j 'd["checkpoint"]["generation"]')
[ "$g" -ge 1 ] || fail "checkpoint generation: $out"
echo "$out" | j 'd["checkpoint"]["offset"]' >/dev/null || fail "checkpoint offset: $out"

out=$("$util" verify "$dir/K9.edb" "$dir/K9.stm" --json) || fail "verify --json"
[ "$(echo "$out" | j 'd["ok"]')" = True ] || fail "verify json: $out"
out=$("$util" verify-logs "$dir" --base E00 --json) || fail "verify-logs --json"
[ "$(echo "$out" | j 'd["ok"]')" = True ] || fail "verify-logs json: $out"
low=$(echo "$out" | j 'd["gen_low"]')
[ "$low" -gt 1 ] || fail "full/incremental backups should have truncated old generations (lowest $low)"

# a gap in the log set is corruption (exit 6), naming the generations
mid=$(ls "$dir"/E00????????.log | sed -n 2p)
[ -n "$mid" ] || fail "need at least two closed generations"
mv "$mid" "$FX_DIR/"
"$util" verify-logs "$dir" >/dev/null 2>"$FX_DIR/err"; rc=$?
[ $rc = 6 ] || fail "a gap must exit 6 (got $rc)"
grep -q "missing" "$FX_DIR/err" || fail "gap not named: $(cat "$FX_DIR/err")"
mv "$FX_DIR/$(basename "$mid")" "$dir/"

"$util" recover "$dir" >/dev/null || fail "soft recovery"
"$util" recover "$dir" --json | j 'd["mode"]' | grep -q soft || fail "recover --json"
echo "mstoreutil contract ok"
