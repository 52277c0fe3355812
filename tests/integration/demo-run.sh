#!/bin/bash
# `make demo` end to end (scripts/demo.sh on this build): it must finish
# (exit 0, "demo finished"), and its backup-service part must show two
# scheduled backups (requested by "schedule", succeeded) in
# `lvss-backupctl history`, a full then an incremental.  Plain build only:
# the demo drives the same daemons the other tests run under ASan.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
fixture_plain_build_only "the demo"
fixture_init
fixture_need_root
command -v python3 >/dev/null || skip "python3 needed (the demo delivers mail with it)"
TMPDIR=$FX_DIR "$LVSS_SOURCE_ROOT/scripts/demo.sh" "$LVSS_BUILD_ROOT" >"$FX_DIR/demo.out" 2>&1 \
    || fail "scripts/demo.sh failed (exit $?): $(tail -20 "$FX_DIR/demo.out")"
grep -q "demo finished in" "$FX_DIR/demo.out" || fail "no 'demo finished': $(tail -5 "$FX_DIR/demo.out")"
python3 - "$FX_DIR/demo.out" <<'PY' || fail "the demo's scheduled backups: $(sed -n '/backup service lvss-backupd/,$p' "$FX_DIR/demo.out")"
import re, sys
text = re.sub(r"\x1b\[[0-9;]*m", "", open(sys.argv[1]).read())
part = text[text.index("The backup service lvss-backupd: a job scheduled every 10 seconds"):]
hist = part[part.index("$ lvss-backupctl history"):]
rows = [l.split() for l in hist.splitlines()[2:] if re.match(r"\s+\d+\s+mail\s", l)]
sched = [r for r in rows if r[4] == "succeeded" and r[7] == "schedule"]
assert len(sched) >= 2, rows
assert sched[0][3] == "full" and sched[1][3] == "incremental", sched
print("demo: %d scheduled backups shown (%s)" % (len(sched), ", ".join(r[3] for r in sched)))
PY
echo "demo: $(grep -o 'demo finished in [0-9.]* s' "$FX_DIR/demo.out")"
