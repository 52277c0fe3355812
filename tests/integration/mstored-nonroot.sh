#!/bin/bash
# mstored without root (docs/design/mailstore.md, "Privileges"): started as
# a system user of its own with no capability at all (what mstored.service
# does: User=mstored, CapabilityBoundingSet= empty, NoNewPrivileges), it
#  - creates its LMTP socket owner:own-group 0660 and its storage group files
#    owned by that user;
#  - accepts LMTP deliveries;
#  - registers the Mail Store Writer with lvssd under the shipped
#    packaging/lvssd.conf access map (its "user:mstored = writer" rule, here
#    for the test's user), and a full backup with lvss-backup through lvssd
#    runs the writer end to end (freeze, thaw, logs truncated);
#  - recovers a database restored by lvss-backup (files back with the user
#    as owner), every message back byte for byte;
#  - refuses an lmtp_group it is not a member of (exit 2, one line).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
for b in "$MSTORED" "$MSTORE" "$LVSSD" "$LB" "$LVSSADM"; do
    [ -x "$b" ] || skip "$(basename "$b") not built"
done
command -v python3 >/dev/null || skip "python3 needed (LMTP client, JSON)"
command -v setpriv >/dev/null || skip "setpriv (util-linux) not installed"
command -v useradd >/dev/null || skip "useradd not installed"
fixture_init
fixture_need_root

# The service's user: a system user and group of its own, removed at exit
# (after mstored, which runs as it, is gone).
TUSER=lvsst$$
useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$TUSER" ||
    fail "useradd $TUSER"
nr_cleanup() {
    local rc=$? i
    if [ -n "${FX_PID_mstored:-}" ]; then
        kill -TERM "$FX_PID_mstored" 2>/dev/null
        for ((i = 0; i < 200; i++)); do kill -0 "$FX_PID_mstored" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$FX_PID_mstored" 2>/dev/null
    fi
    pkill -KILL -u "$TUSER" 2>/dev/null   # only processes of the test's own user
    userdel "$TUSER" 2>/dev/null
    getent group "$TUSER" >/dev/null && groupdel "$TUSER"
    (exit $rc)
    fixture_cleanup
}
trap nr_cleanup EXIT
TUID=$(id -u "$TUSER")

fixture_bus
fixture_xfs mail 600
DATA=$FX_MNT/data
SG=$DATA/SG1
RUN=$FX_DIR/run
SOCK=$RUN/lmtp
REPO=$FX_DIR/repo
install -d -m 0700 -o "$TUSER" -g "$TUSER" "$DATA"
install -d -m 0755 -o "$TUSER" -g "$TUSER" "$RUN"

# The shipped access map names the mail store's user as a writer.
CONF=$LVSS_SOURCE_ROOT/packaging/lvssd.conf
sed -n '/^\[access\]/,/^\[/p' "$CONF" | grep -Eq '^user:mstored[[:space:]]*=[[:space:]]*writer[[:space:]]*$' ||
    fail "packaging/lvssd.conf: no 'user:mstored = writer' rule in [access]"
sed "s/^user:mstored\([[:space:]]*=\)/user:$TUSER\1/" "$CONF" >"$FX_DIR/lvssd.conf"
mkdir -p "$FX_DIR/state"
fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state" --config "$FX_DIR/lvssd.conf"
fixture_wait_name org.lvss.Coordinator1 10

# As mstored.service runs it: the user's uid and groups, no capability in
# any set, no new privileges.
AS_SERVICE=(setpriv --reuid="$TUSER" --regid="$TUSER" --init-groups --inh-caps=-all --bounding-set=-all --no-new-privs)

# An lmtp_group the user is not a member of: a clear refusal, before anything.
echo '{"lmtp_group": "root"}' >"$FX_DIR/bad.json"
"${AS_SERVICE[@]}" "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --no-writer --config "$FX_DIR/bad.json" \
    >/dev/null 2>"$FX_DIR/bad.err" && rc=0 || rc=$?
[ "$rc" = 2 ] || fail "lmtp_group root for a non-root mstored: exit $rc, expected 2: $(cat "$FX_DIR/bad.err")"
grep -q "LMTP group 'root'.*not a member" "$FX_DIR/bad.err" || fail "unclear refusal: $(cat "$FX_DIR/bad.err")"
[ -e "$SOCK" ] && fail "the refused start left a socket"

fixture_spawn mstored "${AS_SERVICE[@]}" "$MSTORED" --data-dir "$DATA" --lmtp "unix:$SOCK" --server-name h1 \
    --config "$LVSS_SOURCE_ROOT/packaging/mstored.json"
fixture_wait_name org.lvss.MailStore1 20
for i in $(seq 200); do
    grep -q "Mail Store Writer subscribed" "$FX_DIR/mstored.log" && break
    sleep 0.1
done
grep -q "Mail Store Writer subscribed" "$FX_DIR/mstored.log" ||
    fail "the Mail Store Writer did not subscribe: $(tail -3 "$FX_DIR/mstored.log"; tail -3 "$FX_DIR/lvssd.log")"

# What the process holds: the user's ids, no capability, no new privileges.
st=/proc/$FX_PID_mstored/status
[ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")" = "$TUID $TUID $TUID $TUID" ] ||
    fail "mstored runs with $(grep '^Uid:' "$st"), expected uid $TUID"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    [ "$(awk -v k="$c:" '$1 == k {print $2}' "$st")" = 0000000000000000 ] || fail "mstored holds $(grep "^$c:" "$st")"
done
grep -q '^NoNewPrivs:[[:space:]]*1' "$st" || fail "mstored may gain privileges: $(grep NoNewPrivs "$st")"
grep -q "writer 'Mail Store Writer' .*uid $TUID) registered" "$FX_DIR/lvssd.log" ||
    fail "lvssd did not register the writer as uid $TUID: $(grep -i writer "$FX_DIR/lvssd.log" | tail -3)"
[ "$(stat -c '%a %U:%G' "$SOCK")" = "660 $TUSER:$TUSER" ] ||
    fail "LMTP socket is $(stat -c '%a %U:%G' "$SOCK"), expected 660 $TUSER:$TUSER"

$MSTORE sg create SG1 && $MSTORE db create SG1/DB1 && $MSTORE db create SG1/DB2 || fail "storage group setup"
$MSTORE mailbox create a@h1 --db SG1/DB1 && $MSTORE mailbox create b@h1 --db SG1/DB2 || fail "mailboxes"
deliver a@h1 30 3000
deliver b@h1 20 9000
for f in "$SG"/DB1.edb "$SG"/DB2.stm "$SG"/E00.chk; do
    [ "$(stat -c '%U %a' "$f")" = "$TUSER 600" ] || fail "$f is $(stat -c '%U %a' "$f"), expected $TUSER 600"
done
snapshot_mail a@h1 "$FX_DIR/before-a"
[ "$(ls "$FX_DIR/before-a" | wc -l)" = 30 ] || fail "30 deliveries to a@h1, $(ls "$FX_DIR/before-a" | wc -l) stored"

# A full backup through lvssd: the non-root writer freezes, thaws and
# truncates its logs at BackupComplete.
$LB init --repo "$REPO" --no-encryption --quiet || fail "lvss-backup init"
$LB create --repo "$REPO" --type full --json >"$FX_DIR/full.json" 2>"$FX_DIR/full.err" ||
    fail "full backup: $(cat "$FX_DIR/full.err") $(tail -3 "$FX_DIR/mstored.log")"
python3 - "$FX_DIR/full.json" <<'PY' || fail "create --json: $(cat "$FX_DIR/full.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["type"] == "full" and d["components"] == ["Mail Store/h1/SG1"], d
assert d["bytes_read"] > 0
PY
grep -q "storage group 'SG1': logs truncated after a full backup" "$FX_DIR/mstored.log" ||
    fail "no log truncation after the full backup: $(tail -5 "$FX_DIR/mstored.log")"
grep -q "backup of storage group 'SG1' complete (full)$" "$FX_DIR/mstored.log" ||
    fail "backup not completed by the writer: $(tail -5 "$FX_DIR/mstored.log")"
ID=$(json_get id <"$FX_DIR/full.json")
no_snapshots

# Restore DB1 in place: files come back owned by the user, and the non-root
# mstored recovers and mounts them.
deliver a@h1 5 3000
snapshot_mail a@h1 "$FX_DIR/before-a"
offline_flagged
rm -f "$SG"/DB1.edb "$SG"/DB1.stm
$LB restore --repo "$REPO" "$ID" --component 'Mail Store/h1/SG1/DB1' --json >"$FX_DIR/restore.json" \
    2>"$FX_DIR/restore.err" || fail "restore: $(cat "$FX_DIR/restore.err") $(tail -3 "$FX_DIR/mstored.log")"
[ "$(stat -c %U "$SG/DB1.edb")" = "$TUSER" ] || fail "restored DB1.edb is owned by $(stat -c %U "$SG/DB1.edb")"
mount_all
same_mail a@h1 "$FX_DIR/before-a"
deliver b@h1 2
[ "$(count b@h1)" = 22 ] || fail "delivery after restore: b@h1 has $(count b@h1) messages"
echo "mstored-nonroot ok"
