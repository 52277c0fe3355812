#!/bin/sh
# Build and run every test in each build directory given, plus clang-tidy
# (scripts/lint.sh, counted as one test) on the first plain one; print the
# totals last as "N passed, N failed, N skipped".
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
    case "$dir" in
        *asan*) ;;
        *)
            # clang-tidy (make lint) once, on the first plain build: one test
            if [ -z "${linted:-}" ]; then
                linted=1
                echo "== lint ($dir)"
                if "$(dirname "$0")/lint.sh" "$dir"; then pass=$((pass+1)); else fail=$((fail+1)); status=1; fi
            fi ;;
    esac
    echo "== tests in $dir"
    meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 || status=1
    set -- $(python3 "$(dirname "$0")/test-summary.py" "$dir/meson-logs/testlog.json")
    pass=$((pass+$1)); fail=$((fail+$2)); skip=$((skip+$3))
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$status" -eq 0 ]
