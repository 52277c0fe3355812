# shellcheck shell=bash
# Shared by the console tests (tests/integration/console-*.sh): the backup
# service fixture of backupd-common.bash (private bus, lvssd, mstored on XFS,
# repository, lvss-backupd), the lvss Cockpit page staged in a share
# directory, cockpit-ws on a free loopback port, and the Selenium driver
# console-browser.py (headless Chromium).  Not a test itself (no .sh suffix).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backupd-common.bash" || exit 1

COCKPIT_WS=/usr/lib/cockpit/cockpit-ws
BROWSER="$LVSS_SOURCE_ROOT/tests/integration/console-browser.py"
# Screenshots and the browser's artifacts: kept after the test, in the build's logs.
ARTIFACTS="$LVSS_BUILD_ROOT/meson-logs/console"

console_need() {
    fixture_plain_build_only "the console suite (cockpit-ws, Chromium)"
    [ -x "$COCKPIT_WS" ] || skip "cockpit-ws not installed (Debian package cockpit-ws)"
    command -v cockpit-bridge >/dev/null || skip "cockpit-bridge not installed"
    [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || skip "chromium and chromium-driver not installed"
    /usr/bin/python3 -c "import selenium" 2>/dev/null || skip "python3-selenium not installed"
}

# console_stage DIR: the page as meson installs it, at DIR/cockpit/lvss.
console_stage() {
    local f
    for f in "$LVSS_SOURCE_ROOT"/console/*; do   # what meson installs is what is tested
        f=$(basename "$f")
        [ "$f" = meson.build ] || grep -q "'$f'" "$LVSS_SOURCE_ROOT/console/meson.build" \
            || fail "console/$f is not installed by console/meson.build"
    done
    mkdir -p "$1/cockpit"
    cp -r "$LVSS_SOURCE_ROOT/console" "$1/cockpit/lvss"
    rm -f "$1/cockpit/lvss/meson.build"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http PORT: cockpit-ws answers.
wait_http() {
    local i
    for ((i = 0; i < 300; i++)); do
        # Any HTTP answer will do ("/" is 404 without the cockpit-system shell).
        python3 -c "
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen('http://127.0.0.1:$1/', timeout=5)
except urllib.error.HTTPError:
    pass" 2>/dev/null && return 0
        kill -0 "$FX_PID_cockpit" 2>/dev/null || fail "cockpit-ws exited: $(tail -5 "$FX_DIR/cockpit.log")"
        sleep 0.1
    done
    fail "cockpit-ws did not answer on port $1 within 30 s: $(tail -5 "$FX_DIR/cockpit.log")"
}

# browser MODE ARTIFACT_SUBDIR [ARGS...]
browser() {
    local mode=$1 sub=$2
    shift 2
    rm -rf "${ARTIFACTS:?}/$sub"
    mkdir -p "$ARTIFACTS/$sub"
    /usr/bin/python3 "$BROWSER" "$mode" "http://127.0.0.1:$PORT" "$ARTIFACTS/$sub" "$@" \
        || fail "browser ($mode); screenshots in $ARTIFACTS/$sub; cockpit: $(tail -5 "$FX_DIR/cockpit.log"); backupd: $(tail -5 "$FX_DIR/backupd.log")"
    rm -rf "$ARTIFACTS/$sub/.chromium"
}
