#!/bin/bash
# The Exec Writer (lvss-writer-exec) against the real lvssd on XFS:
#  - a good config: prepare_backup/freeze/fsfreeze hooks (name order) /thaw
#    (reverse order)/post_snapshot/backup_complete run in order, with their
#    environment, and the set succeeds;
#  - a freeze hook that outlives its timeout: veto naming the timeout, the
#    hook's process group killed, thaw ran, the next backup succeeds;
#  - a freeze command that fails: veto carrying its stderr, thaw ran;
#  - a freeze command killed by a signal: veto naming the signal, thaw ran;
#  - a freeze command that forks a child that keeps running: the set
#    succeeds, the child is killed, thaw ran;
#  - a type that is not configured is vetoed naming the file;
#  - restore through lvss-backup: pre_restore refuses (its stderr quoted,
#    nothing written), then restores, post_restore sees the status;
#  - a bad configuration exits 2 naming file and line; SIGTERM while frozen
#    still thaws.
# After every failure: no set in progress, no shadow, and the same writer
# process takes the next backup.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
XW=$(fx_bin tools/lvss-writer-exec/lvss-writer-exec)
[ -x "$XW" ] || skip "lvss-writer-exec not built"
lvss_setup
fixture_xfs data 300
data="$FX_MNT/data"; mkdir -p "$data"; echo hello >"$data/file"
start_lvssd
M="$FX_DIR/marks"

check_clean() {
    [ "$(shadow_count)" = 0 ] || fail "$1: shadows left: $(cat "$FX_DIR/shadows.json")"
    adm status --json
    [ -z "$(json "$FX_DIR/out.json" 'd["set_in_progress"]')" ] || fail "$1: set still in progress"
}

# start_xw NAME: lvss-writer-exec on $FX_DIR/NAME.d; waits for "ready".
start_xw() {
    local name=$1 i
    fixture_spawn "$name" "$XW" --config-dir "$FX_DIR/$name.d"
    for ((i=0; i<100; i++)); do
        grep -q '^ready Exec/' "$FX_DIR/$name.log" 2>/dev/null && return 0
        kill -0 "$(eval echo "\$FX_PID_$name")" 2>/dev/null || break
        sleep 0.1
    done
    fail "exec writer $name did not register: $(cat "$FX_DIR/$name.log")"
}

# thawed_after_freeze WHAT: the marks show a freeze start followed by a thaw.
thawed_after_freeze() {
    local f t
    f=$(grep -n '^freeze-start' "$M" | tail -1 | cut -d: -f1)
    t=$(grep -n '^thaw' "$M" | tail -1 | cut -d: -f1)
    [ -n "$f" ] || fail "$1: the freeze was never started: $(tr '\n' ' ' <"$M")"
    [ -n "$t" ] && [ "$t" -gt "$f" ] || fail "$1: no thaw after the freeze: $(tr '\n' ' ' <"$M")"
}

# alive PID: the process exists and is not a zombie (a killed orphan may
# wait a moment for init to reap it).
alive() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# gone PID WHAT: wait up to 2 s for PID to die.
gone() {
    local i
    for ((i=0; i<20; i++)); do alive "$1" || return 0; sleep 0.1; done
    fail "$2: process $1 outlived its command"
}

good_backup() {
    : >"$M"
    adm create --exec true "$data"
    [ "$RC" = 0 ] || fail "$1: the next backup failed ($RC): $(cat "$FX_DIR/err")"
    grep -q '^thaw' "$M" || fail "$1: next backup did not thaw"
    check_clean "$1 (next backup)"
}

# ---------------------------------------------------------------- good run
mkdir -p "$FX_DIR/good.d" "$FX_DIR/hooks"
cat >"$FX_DIR/hooks/20-second" <<EOF
#!/bin/sh
echo "hook2 \$1 \$LVSS_COMPONENT" >>"$M"
EOF
cat >"$FX_DIR/hooks/10-first" <<EOF
#!/bin/sh
echo "hook1 \$1" >>"$M"
EOF
echo 'echo never' >"$FX_DIR/hooks/15-not-executable"
cp "$FX_DIR/hooks/10-first" "$FX_DIR/hooks/10-first~"
chmod +x "$FX_DIR/hooks/10-first" "$FX_DIR/hooks/20-second" "$FX_DIR/hooks/10-first~"
cat >"$FX_DIR/good.d/app.conf" <<EOF
# a comment
name = app
paths = $data
prepare_backup = echo "prepare \$LVSS_BACKUP_TYPE" >>$M
freeze = echo freeze-start >>$M
thaw = echo thaw >>$M
post_snapshot = echo "post \$(printf '%s' "\$LVSS_SHADOW_PATHS" | cut -d= -f1)" >>$M
backup_complete = echo "complete \$LVSS_BACKUP_SUCCEEDED" >>$M
fsfreeze_hook_dir = $FX_DIR/hooks
EOF
start_xw good
host=$(hostname | cut -d. -f1)
grep -q "^ready Exec/$host/app " "$FX_DIR/good.log" || fail "component path: $(cat "$FX_DIR/good.log")"
adm writer-metadata --json
grep -q '"Exec Writer"' "$FX_DIR/out.json" || fail "writer not listed: $(head -c 600 "$FX_DIR/out.json")"
: >"$M"
adm create --exec true "$data"
[ "$RC" = 0 ] || fail "good backup exited $RC: $(cat "$FX_DIR/err")"
got=$(grep -v '^complete\|^prepare' "$M" | tr '\n' '|')
want="freeze-start|hook1 freeze|hook2 freeze Exec/$host/app|thaw|hook2 thaw Exec/$host/app|hook1 thaw|post $data|"
[ "$got" = "$want" ] || fail "event order: got '$got', want '$want'"
check_clean "good run"
stop_writer good

# ------------------------------------------------ a hook outlives its timeout
mkdir -p "$FX_DIR/slow.d" "$FX_DIR/slowhooks"
cat >"$FX_DIR/slowhooks/50-slow" <<EOF
#!/bin/sh
if [ "\$1" = freeze ] && [ ! -e "$FX_DIR/slow.once" ]; then
    touch "$FX_DIR/slow.once"
    sleep 300 &
    echo \$! >"$FX_DIR/slow.child"
    echo "slow hook stuck" >&2
    sleep 300
fi
exit 0
EOF
chmod +x "$FX_DIR/slowhooks/50-slow"
cat >"$FX_DIR/slow.d/slow.conf" <<EOF
paths = $data
freeze = echo freeze-start >>$M
thaw = echo thaw >>$M
timeout_freeze = 2
fsfreeze_hook_dir = $FX_DIR/slowhooks
EOF
start_xw slow
: >"$M"
t0=$(date +%s)
adm create --exec true "$data"
t1=$(date +%s)
[ "$RC" = 1 ] || fail "hook timeout: create exited $RC, want 1: $(cat "$FX_DIR/err")"
grep -q 'timed out after 2 s' "$FX_DIR/err" || fail "hook timeout: message: $(cat "$FX_DIR/err")"
grep -q 'slow hook stuck' "$FX_DIR/err" || fail "hook timeout: stderr not carried: $(cat "$FX_DIR/err")"
[ $((t1 - t0)) -lt 30 ] || fail "hook timeout: took $((t1 - t0)) s"
thawed_after_freeze "hook timeout"
child=$(cat "$FX_DIR/slow.child")
gone "$child" "hook timeout: the hook's child"
check_clean "hook timeout"
good_backup "hook timeout"
stop_writer slow

# ------------------------------------------- fails / killed / forks a child
mkdir -p "$FX_DIR/bad.d"
cat >"$FX_DIR/bad.d/fails.conf" <<EOF
name = fails
paths = $data
freeze = echo freeze-start >>$M; if [ ! -e $FX_DIR/fails.once ]; then touch $FX_DIR/fails.once; echo "database is busy" >&2; exit 3; fi
thaw = echo thaw >>$M
EOF
start_xw bad
: >"$M"
adm create --exec true "$data"
[ "$RC" = 1 ] || fail "freeze fails: create exited $RC: $(cat "$FX_DIR/err")"
grep -q 'exit status 3: database is busy' "$FX_DIR/err" || fail "freeze fails: message: $(cat "$FX_DIR/err")"
grep -q "Exec/$host/fails" "$FX_DIR/err" || fail "freeze fails: component not named: $(cat "$FX_DIR/err")"
for ((i=0; i<50; i++)); do grep -q '^thaw' "$M" && break; sleep 0.1; done
thawed_after_freeze "freeze fails"
check_clean "freeze fails"
good_backup "freeze fails"
stop_writer bad

mkdir -p "$FX_DIR/sig.d"
cat >"$FX_DIR/sig.d/sig.conf" <<EOF
paths = $data
freeze = echo freeze-start >>$M; [ -e $FX_DIR/sig.once ] || { touch $FX_DIR/sig.once; kill -KILL \$\$; }
thaw = echo thaw >>$M
EOF
start_xw sig
: >"$M"
adm create --exec true "$data"
[ "$RC" = 1 ] || fail "killed by signal: create exited $RC: $(cat "$FX_DIR/err")"
grep -q 'killed by signal 9' "$FX_DIR/err" || fail "killed by signal: message: $(cat "$FX_DIR/err")"
for ((i=0; i<50; i++)); do grep -q '^thaw' "$M" && break; sleep 0.1; done
thawed_after_freeze "killed by signal"
check_clean "killed by signal"
good_backup "killed by signal"
stop_writer sig

mkdir -p "$FX_DIR/fork.d"
cat >"$FX_DIR/fork.d/fork.conf" <<EOF
paths = $data
freeze = echo freeze-start >>$M; sleep 300 & echo \$! >$FX_DIR/fork.child; exit 0
thaw = echo thaw >>$M
EOF
start_xw fork
: >"$M"
t0=$(date +%s)
adm create --exec true "$data"
t1=$(date +%s)
[ "$RC" = 0 ] || fail "forked child: create exited $RC: $(cat "$FX_DIR/err")"
[ $((t1 - t0)) -lt 30 ] || fail "forked child: the writer waited for the child ($((t1 - t0)) s)"
thawed_after_freeze "forked child"
child=$(cat "$FX_DIR/fork.child")
gone "$child" "forked child"
check_clean "forked child"
good_backup "forked child"

# ------------------------------------------------------- type not configured
adm create --type incremental --exec true "$data"
[ "$RC" = 1 ] || fail "incremental: create exited $RC, want 1: $(cat "$FX_DIR/err")"
grep -q "backup type incremental is not configured in $FX_DIR/fork.d/fork.conf" "$FX_DIR/err" ||
    fail "incremental: message: $(cat "$FX_DIR/err")"
check_clean "type refused"
stop_writer fork

# -------------------------------------------------- SIGTERM while frozen
# The example writer hangs in its Freeze for 4 s, so the Exec Writer sits
# frozen (its freeze done, no Thaw yet) when it gets SIGTERM: it thaws
# before it exits, and exits 0.
mkdir -p "$FX_DIR/term.d"
cat >"$FX_DIR/term.d/term.conf" <<EOF
paths = $data
freeze_timeout = 30
freeze = echo freeze-start >>$M
thaw = echo thaw >>$M
EOF
start_xw term
start_writer hang "$data" --rate 0 --hang-at freeze --hang-seconds 4
: >"$M"
adm create --exec true "$data" &
adm_pid=$!
for ((i=0; i<100; i++)); do grep -q '^freeze-start' "$M" && break; sleep 0.05; done
grep -q '^freeze-start' "$M" || fail "SIGTERM: the exec writer never froze"
sleep 0.3
grep -q '^thaw' "$M" && fail "SIGTERM: thawed before the signal (the hang did not hold the set)"
kill -TERM "$FX_PID_term"
wait "$FX_PID_term"; rc=$?
[ "$rc" = 0 ] || fail "SIGTERM: writer exited $rc"
[ "$(grep -c '^thaw' "$M")" = 1 ] || fail "SIGTERM while frozen: thaw ran $(grep -c '^thaw' "$M") times"
wait "$adm_pid"
stop_writer hang
check_clean "SIGTERM while frozen"

# ------------------------------------------------ restore through lvss-backup
# pre_restore decides: while $FX_DIR/app.running exists it refuses (its
# stderr is the reason), nothing is written; then the restore goes through
# and post_restore sees the status.
LB=$(fx_bin tools/lvss-backup/lvss-backup)
[ -x "$LB" ] || skip "lvss-backup not built"
REPO=$FX_DIR/repo
"$LB" init --repo "$REPO" --no-encryption --quiet || fail "lvss-backup init"
mkdir -p "$FX_DIR/rst.d"
cat >"$FX_DIR/rst.d/rst.conf" <<EOF
name = rst
paths = $data
pre_restore = if [ -e $FX_DIR/app.running ]; then echo "app is running, stop it first" >&2; exit 1; fi
post_restore = echo "post_restore \$LVSS_RESTORE_STATUS \$LVSS_ADDITIONAL_RESTORES" >>$M
EOF
start_xw rst
echo original >"$data/file"
"$LB" create --repo "$REPO" --type full --json >"$FX_DIR/c.json" 2>"$FX_DIR/c.err" || fail "exec full backup: $(cat "$FX_DIR/c.err")"
RID=$(json "$FX_DIR/c.json" 'd["id"]')
grep -q "\"Exec/$host/rst\"" "$FX_DIR/c.json" || fail "backup does not hold Exec/$host/rst: $(cat "$FX_DIR/c.json")"
echo changed >"$data/file"
touch "$FX_DIR/app.running"
: >"$M"
"$LB" restore --repo "$REPO" "$RID" --quiet 2>"$FX_DIR/r.err"; rc=$?
[ "$rc" = 1 ] || fail "restore while the app runs exited $rc: $(cat "$FX_DIR/r.err")"
grep -q "Exec/$host/rst: restore refused: pre_restore failed with exit status 1: app is running, stop it first" "$FX_DIR/r.err" ||
    fail "refusal message: $(cat "$FX_DIR/r.err")"
[ "$(cat "$data/file")" = changed ] || fail "the refused restore wrote the file"
grep -q post_restore "$M" && fail "post_restore ran after a refusal"
rm "$FX_DIR/app.running"
"$LB" restore --repo "$REPO" "$RID" --quiet 2>"$FX_DIR/r.err" || fail "restore: $(cat "$FX_DIR/r.err")"
[ "$(cat "$data/file")" = original ] || fail "restore did not bring the file back"
grep -q '^post_restore all 0$' "$M" || fail "post_restore: $(cat "$M")"
stop_writer rst

# ------------------------------------------------------ bad configuration
mkdir -p "$FX_DIR/conf.d"
printf 'paths = %s\nfreez = true\n' "$data" >"$FX_DIR/conf.d/x.conf"
"$XW" --config-dir "$FX_DIR/conf.d" 2>"$FX_DIR/err"; rc=$?
[ "$rc" = 2 ] || fail "bad config: exit $rc, want 2"
grep -q "x.conf:2: unknown key 'freez'" "$FX_DIR/err" || fail "bad config: message: $(cat "$FX_DIR/err")"
printf 'paths = relative/dir\n' >"$FX_DIR/conf.d/x.conf"
"$XW" --config-dir "$FX_DIR/conf.d" 2>"$FX_DIR/err"; rc=$?
[ "$rc" = 2 ] && grep -q "x.conf:1: path 'relative/dir' is not absolute" "$FX_DIR/err" ||
    fail "relative path: exit $rc: $(cat "$FX_DIR/err")"
"$XW" --help | grep -q 'config-dir' || fail "--help"
echo ok
