#!/bin/bash
# Every shipped systemd unit (packaging/*.service but the D-Bus activation
# files) is sandboxed: systemd-analyze security --offline=yes rates its
# exposure at most 4.0, and each has the settings the project promises
# (ProtectSystem=strict, PrivateTmp, NoNewPrivileges, a CapabilityBoundingSet,
# SystemCallFilter=@system-service, RestrictAddressFamilies); lvssd keeps only
# the capabilities its providers need, mstored none and runs as user mstored;
# systemd-analyze verify finds nothing wrong but the executables missing from
# this machine.  Prints each unit's score.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
systemd-analyze security --help 2>/dev/null | grep -q -- '--offline' || skip "systemd-analyze has no --offline (systemd < 250)"
fixture_init
MAX=4.0

units=()
for u in "$LVSS_SOURCE_ROOT"/packaging/*.service; do
    grep -q '^\[D-BUS Service\]' "$u" && continue   # bus activation file, not a unit
    units+=("$u")
done
[ ${#units[@]} -ge 7 ] || fail "expected at least 7 units in packaging/, found ${#units[@]}"

# value KEY FILE: the settings of KEY in the [Service] section, one per line.
value() { sed -n '/^\[Service\]/,/^\[/p' "$2" | sed -n "s/^$1=//p"; }

for u in "${units[@]}"; do
    name=$(basename "$u")
    out=$(systemd-analyze security --offline=yes "$u" 2>"$FX_DIR/err") ||
        fail "$name: systemd-analyze security failed: $(cat "$FX_DIR/err")"
    [ -s "$FX_DIR/err" ] && fail "$name: systemd-analyze security warns: $(cat "$FX_DIR/err")"
    score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\) .*/\1/p')
    [ -n "$score" ] || fail "$name: no exposure level in: $(printf '%s\n' "$out" | tail -3)"
    echo "$name: exposure $score"
    awk -v s="$score" -v m="$MAX" 'BEGIN { exit !(s + 0 <= m + 0) }' ||
        fail "$name: exposure $score is above $MAX: $(printf '%s\n' "$out" | grep '✗' | sort -k3 -rn | head -20)"
    # systemd-analyze's own threshold agrees (0-100 scale).
    systemd-analyze security --offline=yes --threshold=40 "$u" >/dev/null 2>&1 ||
        fail "$name: systemd-analyze security --threshold=40 refused it"

    [ "$(value ProtectSystem "$u")" = strict ] || fail "$name: ProtectSystem is not strict"
    [ "$(value PrivateTmp "$u")" = yes ] || fail "$name: no PrivateTmp=yes"
    [ "$(value NoNewPrivileges "$u")" = yes ] || fail "$name: no NoNewPrivileges=yes"
    value SystemCallFilter "$u" | grep -qx '@system-service' || fail "$name: no SystemCallFilter=@system-service"
    value RestrictAddressFamilies "$u" | grep -q AF_UNIX || fail "$name: no RestrictAddressFamilies (with AF_UNIX for D-Bus)"
    value CapabilityBoundingSet "$u" | grep -q . || grep -q '^CapabilityBoundingSet=$' "$u" ||
        fail "$name: no CapabilityBoundingSet"
    value CapabilityBoundingSet "$u" | grep -q '~' && fail "$name: CapabilityBoundingSet is a deny list, not the capabilities kept"
    value CapabilityBoundingSet "$u" | grep -qw 'CAP_SETPCAP\|CAP_SYS_MODULE\|CAP_NET_ADMIN\|CAP_SYS_RAWIO\|CAP_SYS_BOOT' &&
        fail "$name: keeps a capability no lvss daemon needs: $(value CapabilityBoundingSet "$u")"

    # Nothing systemd does not understand (only this machine's missing binaries).
    v=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$u" 2>&1 |
        grep -v 'is not executable: No such file\|Command .* is not executable')
    [ -z "$v" ] || fail "$name: systemd-analyze verify: $v"
done

# lvssd: exactly what the providers need (docs/design/coordinator.md).
caps=$(value CapabilityBoundingSet "$LVSS_SOURCE_ROOT/packaging/lvssd.service" | tr ' ' '\n' | sort | xargs)
[ "$caps" = "CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_MKNOD CAP_SYS_ADMIN" ] ||
    fail "lvssd.service keeps $caps"
# mstored: no root, no capability (docs/design/mailstore.md, "Privileges").
m=$LVSS_SOURCE_ROOT/packaging/mstored.service
[ "$(value User "$m")" = mstored ] || fail "mstored.service does not run as user mstored"
[ -z "$(value CapabilityBoundingSet "$m")" ] || fail "mstored.service keeps capabilities: $(value CapabilityBoundingSet "$m")"
[ "$(value PrivateTmp "$m")" = yes ] || fail "mstored.service: no PrivateTmp"
echo "ok: ${#units[@]} units at most $MAX"
