# shellcheck shell=bash
# Test fixture for lvss integration tests.  Source it from a bash test:
#
#   . "$LVSS_SOURCE_ROOT/tests/lib/fixture.sh"
#   fixture_init                 # scratch dir in $FX_DIR, cleanup on any exit
#   fixture_need_root            # skip (exit 77, reason printed) unless root + loop devices
#   fixture_bus                  # private dbus-daemon; exports LVSS_BUS
#   mnt=$(fixture_xfs data 300)  # XFS (reflink=1) on a loop device, size in MiB
#   mnt=$(fixture_btrfs data 300)
#   fixture_spawn NAME CMD...    # background process, killed at cleanup; pid in FX_PID_<NAME>
#   fixture_wait_name org.lvss.Coordinator1
#
# Everything started here is torn down by the EXIT trap even when the test
# fails: processes killed, filesystems unmounted, loop devices detached.
set -u

FX_DIR=""
FX_PIDS=()
FX_MOUNTS=()
FX_LOOPS=()
: "${LVSS_BUILD_ROOT:=$(pwd)/build}"
: "${LVSS_SOURCE_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export LVSS_BUILD_ROOT LVSS_SOURCE_ROOT
# The distribution's programs first: the tests use what `make check`
# installs from Debian (python3 with python3-selenium & co.), not a
# per-user interpreter shim that may sit earlier in PATH (and takes seconds
# to start on a loaded machine).
export PATH="/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"

fx_log() { echo "fixture: $*" >&2; }
# fail MSG: the test failed; the tails of the daemons' logs go with it, so a
# failure seen only in CI can be read from CI's output.
fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "${FX_DIR:-/nonexistent}"/*.log; do
        [ -f "$f" ] || continue
        echo "--- last lines of ${f##*/}:" >&2
        tail -n 15 "$f" | cut -c1-400 >&2
    done
    exit 1
}
skip() { echo "SKIP: $*" >&2; exit 77; }

fixture_cleanup() {
    local rc=$? i
    for ((i=${#FX_PIDS[@]}-1; i>=0; i--)); do
        kill -TERM "${FX_PIDS[$i]}" 2>/dev/null
    done
    for ((i=0; i<30; i++)); do
        local alive=0 p
        for p in "${FX_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${FX_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    for ((i=${#FX_MOUNTS[@]}-1; i>=0; i--)); do
        umount "${FX_MOUNTS[$i]}" 2>/dev/null || umount -l "${FX_MOUNTS[$i]}" 2>/dev/null
    done
    for l in "${FX_LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
    [ -n "$FX_DIR" ] && [ -z "${FX_KEEP:-}" ] && rm -rf "$FX_DIR"
    exit $rc
}

fixture_init() {
    FX_DIR=$(mktemp -d "${TMPDIR:-/tmp}/lvss-test.XXXXXX")
    chmod 755 "$FX_DIR"
    trap fixture_cleanup EXIT
    trap 'exit 130' INT TERM
}

fixture_need_root() {
    [ "$(id -u)" = 0 ] || skip "needs root (loop devices, mount)"
    [ -e /dev/loop-control ] || skip "no /dev/loop-control: loop devices unavailable"
    losetup -f >/dev/null 2>&1 || skip "no free loop device"
}

# Tests that drive a test hook (lib/core/test-hook.h) skip in builds without them.
fixture_need_test_hooks() {
    [ "${LVSS_TEST_HOOKS:-0}" = 1 ] || skip "this build has no test hooks (-Dtest_hooks=disabled or a release build)"
}

# Suites whose cost is a third-party server (PostgreSQL, MariaDB, ...) run
# once, in the plain build: the sanitized build covers our own code.
fixture_plain_build_only() {
    case "${LVSS_BUILD_ROOT:-}" in
        *asan*) skip "${1:-this suite} runs in the plain build only (the sanitized build covers our own code)" ;;
    esac
}

fixture_need_fs() {
    local fs=$1
    grep -qw "$fs" /proc/filesystems || skip "kernel has no $fs support"
    command -v "mkfs.$fs" >/dev/null || skip "mkfs.$fs not installed"
}

# fixture_bus: start a private dbus-daemon that lets any local user connect
# (authorization is lvssd's job, not the bus's), export LVSS_BUS.
fixture_bus() {
    local conf="$FX_DIR/bus.conf" sock="$FX_DIR/bus.sock"
    cat >"$conf" <<EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=$sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
  <limit name="reply_timeout">300000</limit>
</busconfig>
EOC
    dbus-daemon --config-file="$conf" --nofork --nopidfile >"$FX_DIR/bus.log" 2>&1 &
    FX_PIDS+=($!)
    local i
    for ((i=0; i<100; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
    [ -S "$sock" ] || fail "dbus-daemon did not start: $(cat "$FX_DIR/bus.log")"
    chmod 777 "$sock"
    export LVSS_BUS="unix:path=$sock"
}

# fixture_spawn NAME CMD...: run CMD in the background with output in
# $FX_DIR/NAME.log; its pid lands in FX_PID_NAME.
fixture_spawn() {
    local name=$1; shift
    "$@" >"$FX_DIR/$name.log" 2>&1 &
    local pid=$!
    FX_PIDS+=("$pid")
    printf -v "FX_PID_$name" '%s' "$pid"
}

# fixture_wait_name NAME [SECONDS]: wait until a bus name is owned.
fixture_wait_name() {
    local name=$1 t=${2:-10} i
    for ((i=0; i<t*20; i++)); do
        busctl --address="$LVSS_BUS" status "$name" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    fail "bus name $name did not appear within ${t}s"
}

fx_loop() {
    local name=$1 mib=$2 img="$FX_DIR/$1.img"
    truncate -s "${mib}M" "$img"
    local dev
    dev=$(losetup -f --show "$img") || fail "losetup $img failed"
    echo "$dev"
}

fx_mount() {
    local dev=$1 mnt=$2
    mkdir -p "$mnt"
    mount "$dev" "$mnt" || fail "mount $dev $mnt failed"
    FX_MOUNTS+=("$mnt")
}

# fixture_xfs NAME MIB: XFS with reflink on a loop device; sets FX_MNT.
# (Call without $(...) so the cleanup arrays stay in this shell.)
fixture_xfs() {
    fixture_need_fs xfs
    local dev; dev=$(fx_loop "$1" "$2")
    FX_LOOPS+=("$dev")
    mkfs.xfs -q -f -m reflink=1 "$dev" >/dev/null || fail "mkfs.xfs failed"
    FX_MNT="$FX_DIR/mnt-$1"
    fx_mount "$dev" "$FX_MNT"
}

# fixture_btrfs NAME MIB: btrfs on a loop device; sets FX_MNT.
fixture_btrfs() {
    fixture_need_fs btrfs
    local mib=$2
    [ "$mib" -lt 120 ] && mib=120   # btrfs refuses tiny filesystems
    local dev; dev=$(fx_loop "$1" "$mib")
    FX_LOOPS+=("$dev")
    mkfs.btrfs -q -f "$dev" >/dev/null || fail "mkfs.btrfs failed"
    FX_MNT="$FX_DIR/mnt-$1"
    fx_mount "$dev" "$FX_MNT"
}

# Paths of built programs.
fx_bin() { echo "$LVSS_BUILD_ROOT/$1"; }
