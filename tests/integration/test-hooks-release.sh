#!/bin/bash
# Test hooks never ship: a --buildtype=release build of every program that
# has one contains none of the hook variables' names (lib/core/test-hook.h
# compiles TEST_HOOK_ENV() to NULL there), while this test build does.
# Runs in the plain build only (the sanitized build proves nothing more).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
command -v meson >/dev/null || skip "meson not installed"
case "$LVSS_BUILD_ROOT" in *asan*) skip "runs in the plain build only" ;; esac
fixture_init
hooks=$(grep -rhoE 'TEST_HOOK_(ENV|IS)\("[A-Z0-9_]+"' "$LVSS_SOURCE_ROOT"/lib "$LVSS_SOURCE_ROOT"/daemon \
        "$LVSS_SOURCE_ROOT"/store "$LVSS_SOURCE_ROOT"/tools "$LVSS_SOURCE_ROOT"/providers |
        sed -E 's/.*\("//; s/"$//' | sort -u)
[ -n "$hooks" ] || fail "found no TEST_HOOK_ENV/TEST_HOOK_IS sites in the source"
REL=$FX_DIR/release
meson setup "$REL" "$LVSS_SOURCE_ROOT" --buildtype=release -Dtests=disabled >"$FX_DIR/setup.log" 2>&1 ||
    fail "meson setup --buildtype=release failed: $(tail -5 "$FX_DIR/setup.log")"
grep -q 'test hooks *: *NO' "$FX_DIR/setup.log" || fail "release configuration did not turn test hooks off"
ninja -C "$REL" >"$FX_DIR/build.log" 2>&1 || fail "release build failed: $(tail -5 "$FX_DIR/build.log")"
bins=$(find "$REL" -type f \( -perm -u+x -o -name '*.so*' -o -name '*.a' \) ! -path '*/meson-*' ! -name '*.p')
[ -n "$bins" ] || fail "release build produced no binaries"
for h in $hooks; do
    # shellcheck disable=SC2086
    if grep -laF "$h" $bins >"$FX_DIR/hits" 2>/dev/null; then
        fail "test hook $h is compiled into the release build: $(tr '\n' ' ' <"$FX_DIR/hits")"
    fi
    # ...and is present in this (test) build, so the grep above can find one.
    grep -rlaF "$h" "$LVSS_BUILD_ROOT"/lib "$LVSS_BUILD_ROOT"/daemon "$LVSS_BUILD_ROOT"/store "$LVSS_BUILD_ROOT"/tools \
        >/dev/null 2>&1 || fail "test hook $h not found in the test build either: the check would prove nothing"
done
echo "OK: $(echo "$hooks" | wc -w) test hooks, none in the release build"
