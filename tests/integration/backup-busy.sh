#!/bin/bash
# A second backup while a held one runs is "busy" (exit 4), not a failure:
# the Mail Store Writer vetoes PrepareForBackup with LVSS_E_WRITERERROR_BUSY
# ("already in progress"), lvssd passes that code on, and both lvssadm
# create and lvss-backup create exit 4 saying so.  Once the held backup
# ends, the next one succeeds.
. "$LVSS_SOURCE_ROOT/tests/integration/backup-common.bash"
bk_setup
deliver a@h1 5
"$LVSSADM" create --exec "echo \$\$ >$FX_DIR/exec-started; exec sleep 60" "$DATA" >"$FX_DIR/held.out" 2>&1 &
held=$!
for ((i=0; i<200; i++)); do [ -s "$FX_DIR/exec-started" ] && break; sleep 0.05; done
[ -s "$FX_DIR/exec-started" ] || fail "held backup never reached --exec: $(cat "$FX_DIR/held.out")"

"$LVSSADM" create --exec true "$DATA" >/dev/null 2>"$FX_DIR/adm.err"; rc=$?
cat "$FX_DIR/adm.err"
[ "$rc" = 4 ] || fail "lvssadm create during a held backup exited $rc, want 4 (busy)"
grep -q "already in progress" "$FX_DIR/adm.err" || fail "lvssadm: no 'already in progress' message"
grep -q "LVSS_E_WRITERERROR_BUSY" "$FX_DIR/adm.err" || fail "lvssadm: the busy code is not named"

$LB create --repo "$REPO" --quiet >/dev/null 2>"$FX_DIR/lb.err"; rc=$?
cat "$FX_DIR/lb.err"
[ "$rc" = 4 ] || fail "lvss-backup create during a held backup exited $rc, want 4 (busy)"
grep -q "already in progress" "$FX_DIR/lb.err" || fail "lvss-backup: no 'already in progress' message"

kill -TERM "$(cat "$FX_DIR/exec-started")"; wait "$held"
"$LVSSADM" create --exec true "$DATA" >/dev/null 2>"$FX_DIR/adm2.err" || fail "backup after the held one: $(cat "$FX_DIR/adm2.err")"
$LB create --repo "$REPO" --quiet >/dev/null 2>"$FX_DIR/lb2.err" || fail "lvss-backup create after: $(cat "$FX_DIR/lb2.err")"

# lvssd killed while a backup is held and a second one was just vetoed as
# busy: the Mail Store Writer still ends the held backup's session (the
# vetoed one must not hide it), so the first backup after lvssd's restart
# works.
rm -f "$FX_DIR/exec-started"
"$LVSSADM" create --exec "echo \$\$ >$FX_DIR/exec-started; exec sleep 60" "$DATA" >"$FX_DIR/held2.out" 2>&1 &
held=$!
for ((i=0; i<200; i++)); do [ -s "$FX_DIR/exec-started" ] && break; sleep 0.05; done
[ -s "$FX_DIR/exec-started" ] || fail "second held backup never reached --exec: $(cat "$FX_DIR/held2.out")"
"$LVSSADM" create --exec true "$DATA" >/dev/null 2>&1; rc=$?
[ "$rc" = 4 ] || fail "backup during the second held one exited $rc, want 4"
kill -KILL "$FX_PID_lvssd"; wait "$FX_PID_lvssd" 2>/dev/null
kill -KILL "$(cat "$FX_DIR/exec-started")" 2>/dev/null; wait "$held" 2>/dev/null
fixture_spawn lvssd2 "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
for ((i=0; i<100; i++)); do
    "$LVSSADM" list writers --json 2>/dev/null | grep -q '"Mail Store Writer"' && break
    sleep 0.1
done
"$LVSSADM" create --exec true "$DATA" >/dev/null 2>"$FX_DIR/adm3.err" ||
    fail "first backup after lvssd's restart: $(cat "$FX_DIR/adm3.err")"
# A wrong password: a full finds it only after the snapshot set (the key is
# derived while lvssd makes it, backup.md §7.8): exit 5, nothing stored,
# no shadow copy left behind; the right password then works.
LVSS_BACKUP_PASSWORD=right $LB init --repo "$FX_DIR/repo-enc" --quiet || fail "init of an encrypted repository"
LVSS_BACKUP_PASSWORD=wrong $LB create --repo "$FX_DIR/repo-enc" --type full --quiet >/dev/null 2>"$FX_DIR/pw.err"; rc=$?
[ "$rc" = 5 ] || fail "create with a wrong password exited $rc, want 5: $(cat "$FX_DIR/pw.err")"
grep -q "wrong password" "$FX_DIR/pw.err" || fail "no 'wrong password' message: $(cat "$FX_DIR/pw.err")"
[ -d "$FX_DIR/repo-enc/backups" ] || fail "init made no backups/ directory"
[ -z "$(ls -A "$FX_DIR/repo-enc/backups")" ] || fail "a record was stored with a wrong password"
[ "$(grep -c "wrong password" "$FX_DIR/pw.err")" = 1 ] || fail "the wrong password not reported exactly once: $(cat "$FX_DIR/pw.err")"
for ((i=0; i<200; i++)); do
    "$LVSSADM" list shadows 2>/dev/null | grep -q "No shadow copies" && break
    sleep 0.1
done
"$LVSSADM" list shadows | grep -q "No shadow copies" || fail "a shadow copy was left behind: $("$LVSSADM" list shadows)"
LVSS_BACKUP_PASSWORD=right $LB create --repo "$FX_DIR/repo-enc" --type full --quiet >/dev/null 2>"$FX_DIR/pw2.err" ||
    fail "create with the right password: $(cat "$FX_DIR/pw2.err")"
[ -n "$(ls -A "$FX_DIR/repo-enc/backups")" ] || fail "no record after a create with the right password"
echo ok
