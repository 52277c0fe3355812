#!/bin/bash
# lvss-backupd's scheduler (tools/lvss-backupd/calendar.c) against systemd:
# for every expression of the table, the next 5 elapses after fixed base times
# (in a time zone with DST, and one base just before each DST change) must be
# exactly what `systemd-analyze calendar --iterations=5 --base-time=@T` prints;
# expressions systemd refuses must be refused too.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
fixture_init
NEXT=$(fx_bin tools/lvss-backupd/calendar-next)
[ -x "$NEXT" ] || skip "calendar-next not built"
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
systemd-analyze calendar --base-time=@0 daily >/dev/null 2>&1 || skip "systemd-analyze has no --base-time"
export TZ=Europe/Berlin
[ -e /usr/share/zoneinfo/Europe/Berlin ] || skip "tzdata (Europe/Berlin) not installed"

EXPRS=(
  'minutely' 'hourly' 'daily' 'weekly' 'monthly' 'yearly' 'annually' 'quarterly' 'semiannually'
  'Sun 01:00' 'Mon..Sat 01,13:00' 'Sat 03:00' 'Sun 04:00' '*:*:0/10' '*:*:0/15' '*:0/15' '*:0/5:30'
  '*-*-* *:*:*' '*-*-* 00:00:00' '*-*-* 12:00' '12:00' '12:30:45' '00:00' '23:59:59' '02:30' '03:30'
  '01:59:59' '02:00' '*-*-* 02:30:00' 'Mon *-*-* 00:00:00' 'Fri 17:00' 'Mon,Wed,Fri 08:00' 'Sat,Sun 10:00'
  'Mon..Fri 09..17:00' 'Mon..Fri 09..17:00/30' 'Tue..Thu 06:15' 'Monday 05:00' 'Sunday,Monday 00:00'
  'Mon-Fri 07:00' 'Mon..Wed,Fri..Sun 11:11' '*-*-01 00:00' '*-*-01/3 04:05' '*-*-1..7 18:00'
  'Sat *-*-1..7 18:00' 'Sun *-*-8..14 03:00' '*-*-15 12:00' '*-*-28..31 23:00' '*-*-31 00:00'
  '*-*-30' '*-*-29 06:00' '*-02-29 12:00' '*-02-28..29' '*-01-01' '*-12-25 08:00' '*-01,04,07,10-01'
  '*-01..03-01' '*-1/2-1' '*-06-* 12:00' '2026-*-* 00:00' '2027-01-01' '2026-12-31 23:59:59'
  '2027-02-29' '2028-02-29' '2026..2028-07-04' '2026/2-01-01' '2030-06-15 10:20:30' '1999-01-01' '*-*-* 0/6:00'
  '*-*-* 1/4:00' '*-*-* 0,6,12,18:00' '*-*-* 22..23,0..2:00' '*-*-* *:00' '*-*-* *:30' '*-*-* *:*:30'
  '*-*-* *:*:0/1' '*:*:59' '*:59:59' '*:0/7' '*:5..10' '*:5..10/2' '0/2:00' '0..23/3:00' '4:05:06'
  '*-*-* 4:5:6' '*-*-* 00..03:00' 'Mon *-*-1..7 02:30' 'Sun *-10-25..31 02:30'
  'Sun *-03-* 02:00' 'Sun *-10-* 02:00' '*-03-29 02:30' '*-10-25 02:30' 'Thu *-*-* 00:00' 'Wed 23:59'
  'Sat *-*-* 03:00 UTC' 'daily UTC' '12:00 UTC' '*-*-* 01:00:00 UTC' 'Mon..Fri *-*-* 9..17:00:00'
  'Mon *-01-* 01:00' 'Fri *-*-13 13:13' 'Tue *-02-29' 'Sun *-*-31' '*-*-* 12:00:00' 'Mon,Tue,Wed,Thu,Fri,Sat,Sun 00:00'
  '*-*-1,15 00:00' '*-*-1,15,28 00:00' '*-1,7-1 00:00:00' '*:00:0/20' '*-*-* *:15,45' 'Sat..Sun 09:30'
  'Sun 00:00/30' '2026-*-01/10 12:00' '*-*-10..20/5 00:00'
)
BAD=('' 'foo' 'Mon..Fro 10:00' '25:00' '*-13-01' '*:60' '*-*-32' '12:00:00:00' 'Mon Tue' '*-*-* *:*:*:*' '*-*/3-01 00:00' '*:*/10' '*/2:00')

BASES=(1780000000 1798761599 1774745000 1792281600 1806000000)
n=0
for b in "${BASES[@]}"; do
    # One systemd-analyze call per base time for the whole table (blocks in order).
    systemd-analyze calendar --iterations=5 --base-time="@$b" "${EXPRS[@]}" >"$FX_DIR/sd.$b" 2>&1 \
        || fail "systemd-analyze refused part of the table: $(grep -i fail "$FX_DIR/sd.$b")"
    awk '/Normalized form:/ { if (k++) print "--" } /Next elapse:|Iter\. #/ { sub(/^ *(Next elapse|Iter\. #[0-9]+): /, ""); print }' \
        "$FX_DIR/sd.$b" >"$FX_DIR/want.$b"
    printf '%s\n' "${EXPRS[@]}" | "$NEXT" - "$b" 5 2>"$FX_DIR/err" | grep -v '^normalized:' >"$FX_DIR/got.$b"
    [ -s "$FX_DIR/err" ] && fail "calendar-next refused part of the table: $(cat "$FX_DIR/err")"
    n=$((n + ${#EXPRS[@]}))
    if ! cmp -s "$FX_DIR/got.$b" "$FX_DIR/want.$b"; then
        diff "$FX_DIR/got.$b" "$FX_DIR/want.$b" | head -20 >&2
        # name the first expression that differs
        i=$(diff "$FX_DIR/got.$b" "$FX_DIR/want.$b" | head -1 | sed 's/[^0-9].*//')
        k=$(head -n "$i" "$FX_DIR/want.$b" | grep -c '^--$')
        fail "expression '${EXPRS[$k]}' after @$b differs from systemd-analyze (got < > want above)"
    fi
done
for e in "${BAD[@]}"; do
    systemd-analyze calendar "$e" >/dev/null 2>&1 && fail "table error: systemd accepts '$e'"
    "$NEXT" "$e" 0 1 >/dev/null 2>&1 && fail "calendar-next accepted '$e' (systemd refuses it)"
done
echo "${#EXPRS[@]} expressions x ${#BASES[@]} base times = $n comparisons with systemd-analyze: all equal; ${#BAD[@]} bad expressions refused"
