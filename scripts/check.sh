#!/bin/sh
# Build and run every test in each build directory given; print the totals
# last as "N passed, N failed, N skipped".
set -u
status=0
pass=0; fail=0; skip=0
for dir in "$@"; do
    case "$dir" in
        *asan*) extra="-Db_sanitize=address,undefined -Db_lundef=false" ;;
        *) extra="" ;;
    esac
    if [ ! -f "$dir/build.ninja" ]; then
        # shellcheck disable=SC2086
        meson setup "$dir" -Dwerror=true $extra >/dev/null || { echo "check: meson setup $dir failed" >&2; fail=$((fail+1)); continue; }
    fi
    if ! meson compile -C "$dir" >"$dir.compile.log" 2>&1; then
        cat "$dir.compile.log" >&2
        echo "check: build in $dir failed" >&2
        fail=$((fail+1)); status=1; continue
    fi
    echo "== tests in $dir"
    meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1
    set -- $(python3 "$(dirname "$0")/test-summary.py" "$dir/meson-logs/testlog.json")
    pass=$((pass+$1)); fail=$((fail+$2)); skip=$((skip+$3))
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$status" -eq 0 ]
