#!/bin/bash
# lvss-backupd's RestoreIntoLive (docs/design/service.md R2), through
# `lvss-backupctl restore JOB ID --component C --mailbox A --message UID...
# --into-live --wait`:
#  1. a full backup by the service, two messages deleted in production, then
#     the into-live restore task brings them back into Recovered/<time> of
#     the live mailbox byte for byte, nothing dismounted; the task's JSON
#     carries the mailbox, the UIDs asked for, the folder and the
#     backup_uid -> uid pairs; the task's command line had --into-live;
#  2. bad input is refused before a task is queued (exit 2, one line naming
#     the reason): not an address, UID 0, a component outside the Mail
#     Store, --mailbox without --into-live;
#  3. a caller outside root/group backup is refused (exit 5) and audited;
#  4. ReadRestored (R3) of an alternate-location restore task: the mailbox's
#     messages listed, one message's text as backed up (also when production
#     deleted it); refused for a restore that was not to another directory
#     and for an outsider.  The restore is requested by a test user in group
#     backup: that user and root may read it, a second member of group
#     backup is refused (AccessDenied, audited), and so is everyone but root
#     once the task's record has no requesting uid.  The two users are
#     created with useradd and removed at exit;
#  5. job changes are root's (A5): a member of group backup may not create,
#     change or delete a job (notify.exec would run its program as root),
#     refused with exit 5 and audited, the job files untouched; and such a
#     member may restore --to only a new directory in a place only root can
#     change (A6): /tmp itself, a directory the member owns, a path through
#     a symlink and an existing directory are refused (exit 5, audited,
#     nothing created, no task queued).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backupd-common.bash" || exit 1
command -v setpriv >/dev/null || skip "setpriv (util-linux) needed"
command -v useradd >/dev/null || skip "useradd needed"
getent group backup >/dev/null || skip "no group 'backup' on this system"
bd_setup 600
U_REQ=lvssr$$a
U_OTHER=lvssr$$b
remove_users() {
    local rc=$? u
    for u in "$U_REQ" "$U_OTHER"; do
        getent passwd "$u" >/dev/null && { userdel -f "$u" 2>/dev/null || echo "could not remove test user $u" >&2; }
    done
    (exit $rc)
    fixture_cleanup
}
trap remove_users EXIT
for u in "$U_REQ" "$U_OTHER"; do
    useradd -M -d /nonexistent -s /usr/sbin/nologin -G backup "$u" || fail "useradd $u"
done
as_user() { local u=$1; shift; setpriv --reuid "$u" --regid "$u" --init-groups "$@"; }
deliver a@h1 5 2500
deliver b@h1 2 1000
snapshot_mail a@h1 "$FX_DIR/at-full"
uids=($(ls "$FX_DIR/at-full" | sort -n))
[ "${#uids[@]}" = 5 ] || fail "expected 5 messages, have ${#uids[@]}"
cat >"$JOBS/a.json" <<EOJ
{"repository": "$REPO", "components": ["Mail Store/h1/SG1"]}
EOJ
start_backupd
$CTL run a --wait --quiet >"$FX_DIR/run.out" 2>&1 || fail "backup: $(cat "$FX_DIR/run.out")"
FULL=$($LB list --repo "$REPO" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][-1]["id"])') \
    || fail "no backup in the repository"

$MSTORE msg delete a@h1 "${uids[1]}" && $MSTORE msg delete a@h1 "${uids[3]}" || fail "msg delete"
deliver a@h1 1 700
[ "$(count a@h1)" = 4 ] || fail "production should hold 4 messages"

# 1. Through the service.
$CTL restore a "$FULL" --component 'Mail Store/h1/SG1/DB1' --mailbox a@h1 --message "${uids[1]}" \
    --message "${uids[3]}" --into-live --wait --quiet >"$FX_DIR/r.out" 2>&1 \
    || fail "restore --into-live through the service: $(cat "$FX_DIR/r.out"); $($CTL history a | tail -3)"
TID=$($CTL history a --json | python3 -c 'import json,sys; print([t["id"] for t in json.load(sys.stdin)["tasks"] if t["kind"]=="restore"][-1])')
$CTL log "$TID" | grep -q -- "--mailbox a@h1 --message ${uids[1]} --message ${uids[3]} --into-live" \
    || fail "task $TID's command line: $($CTL log "$TID" | grep step | head -2)"
$CTL show "$TID" >"$FX_DIR/task.json"
python3 - "$FX_DIR/task.json" "${uids[1]}" "${uids[3]}" >"$FX_DIR/pairs" <<'PY' || fail "task JSON: $(cat "$FX_DIR/task.json")"
import json, sys
t = json.load(open(sys.argv[1]))
r = t["restore"]
assert t["state"] == "succeeded", t
assert r["mailbox"] == "a@h1" and r["into_live"] is True, r
assert r["messages"] == sys.argv[2:], r
assert r["components"] == ["Mail Store/h1/SG1/DB1"], r
assert r["folder"].startswith("Recovered/20") and r["folder"].endswith("Z"), r
got = {str(m["backup_uid"]): m["uid"] for m in r["recovered"]}
assert sorted(got) == sorted(sys.argv[2:]), got
print(r["folder"])
for k, v in got.items():
    print(k, v)
PY
folder=$(head -1 "$FX_DIR/pairs")
$MSTORE folder list a@h1 | grep -qx "$folder" || fail "folder $folder not in the live mailbox"
[ "$(count a@h1)" = 6 ] || fail "live mailbox should hold 6 messages, has $(count a@h1)"
$MSTORE db list --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["databases"]; sys.exit(0 if all(x["state"]=="mounted" for x in d) else 1)' \
    || fail "a database was dismounted"
tail -n +2 "$FX_DIR/pairs" | while read -r old new; do
    $MSTORE msg get a@h1 "$new" | cmp -s - "$FX_DIR/at-full/$old" || fail "recovered copy $new of message $old differs"
    f=$($MSTORE msg list a@h1 --json | python3 -c "import json,sys; print([m['folder'] for m in json.load(sys.stdin)['messages'] if m['uid']==$new][0])")
    [ "$f" = "$folder" ] || fail "message $new is in '$f', want '$folder'"
done || exit 1
[ "$(count b@h1)" = 2 ] || fail "b@h1 changed"
echo "1. into-live restore through lvss-backupctl: 2 messages back in $folder, byte for byte"

# 2. Refusals before any task is queued.
ntasks() { $CTL history a --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tasks"]))'; }
before=$(ntasks)
refuse() { # refuse WANT_TEXT ARGS...
    local want=$1 rc=0
    shift
    $CTL restore a "$FULL" "$@" >"$FX_DIR/bad.out" 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "restore $* exited $rc, want 2: $(cat "$FX_DIR/bad.out")"
    grep -q -- "$want" "$FX_DIR/bad.out" || fail "restore $*: $(cat "$FX_DIR/bad.out"), want '$want'"
}
refuse "is not an e-mail address" --component 'Mail Store/h1/SG1/DB1' --mailbox 'a h1' --into-live
refuse "is not an e-mail address" --component 'Mail Store/h1/SG1/DB1' --mailbox 'nobody' --into-live
refuse "is not a Mail Store database" --component 'SQLite/x' --mailbox a@h1 --into-live
refuse "expected a message UID" --component 'Mail Store/h1/SG1/DB1' --mailbox a@h1 --message 0 --into-live
refuse "expected a message UID" --component 'Mail Store/h1/SG1/DB1' --mailbox a@h1 --message 1x --into-live
refuse "go with --into-live" --component 'Mail Store/h1/SG1/DB1' --mailbox a@h1
# The service checks what a client other than lvss-backupctl sends.
rc=0
busctl --address="$LVSS_BUS" call org.lvss.Backup1 /org/lvss/Backup1 org.lvss.Backup1 RestoreIntoLive ssssat \
    a "$FULL" 'Mail Store/h1/SG1/DB1' a@h1 1 0 >"$FX_DIR/bad.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "out of range" "$FX_DIR/bad.out" || fail "UID 0 over the bus: $(cat "$FX_DIR/bad.out")"
rc=0
busctl --address="$LVSS_BUS" call org.lvss.Backup1 /org/lvss/Backup1 org.lvss.Backup1 RestoreIntoLive ssssat \
    a "$FULL" 'Mail Store/h1/SG1/DB1' a@h1 65 $(seq 65) >"$FX_DIR/bad.out" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "at most 64" "$FX_DIR/bad.out" || fail "65 UIDs over the bus: $(cat "$FX_DIR/bad.out")"
[ "$(ntasks)" = "$before" ] || fail "a refused request queued a task"
echo "2. bad addresses, UIDs and components refused before queueing"

# 3. An outsider.
rc=0
setpriv --reuid nobody --regid nogroup --clear-groups "$CTL" restore a "$FULL" --component 'Mail Store/h1/SG1/DB1' \
    --mailbox a@h1 --into-live >"$FX_DIR/deny.out" 2>&1 || rc=$?
[ "$rc" = 5 ] || fail "an outsider's into-live restore exited $rc, want 5: $(cat "$FX_DIR/deny.out")"
$CTL audit | grep -q "uid=65534 restore : refused: access denied" || fail "refusal not audited: $($CTL audit | tail -3)"
[ "$(ntasks)" = "$before" ] || fail "an outsider's request queued a task"
echo "3. an outsider refused and audited"

# 4. ReadRestored: mail of an alternate-location restore, read through the service.
# Requested by a member of group backup other than root.
as_user "$U_REQ" "$CTL" restore a "$FULL" --to "$FX_DIR/rsg" --wait --quiet >"$FX_DIR/alt.out" 2>&1 \
    || fail "restore --to through the service as $U_REQ: $(cat "$FX_DIR/alt.out")"
ALT=$($CTL history a --json | python3 -c 'import json,sys; print([t["id"] for t in json.load(sys.stdin)["tasks"] if t["kind"]=="restore"][-1])')
RR=(busctl --address="$LVSS_BUS" --json=short call org.lvss.Backup1 /org/lvss/Backup1 org.lvss.Backup1 ReadRestored tsu)
"${RR[@]}" "$ALT" a@h1 0 >"$FX_DIR/rr-list.json" || fail "ReadRestored list"
"${RR[@]}" "$ALT" a@h1 "${uids[1]}" >"$FX_DIR/rr-msg.json" || fail "ReadRestored message ${uids[1]}"
python3 - "$FX_DIR/rr-list.json" "$FX_DIR/rr-msg.json" "$FX_DIR/at-full" "${uids[1]}" <<'PY' || fail "ReadRestored replies"
import json, os, sys
lst = json.loads(json.load(open(sys.argv[1]))["data"][0])
uids = sorted(m["uid"] for m in lst["messages"])
want = sorted(int(f) for f in os.listdir(sys.argv[3]))
assert uids == want, (uids, want)
msg = json.loads(json.load(open(sys.argv[2]))["data"][0])
raw = open(os.path.join(sys.argv[3], sys.argv[4]), "rb").read()
assert msg["uid"] == int(sys.argv[4]) and msg["bytes"] == len(raw) and msg["truncated"] is False, msg
assert msg["text"] == raw.decode(), "text differs"
PY
rc=0; "${RR[@]}" "$TID" a@h1 0 >"$FX_DIR/rr-bad" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "not a restore to an alternate location" "$FX_DIR/rr-bad" \
    || fail "ReadRestored of the into-live task: $(cat "$FX_DIR/rr-bad")"
rc=0; "${RR[@]}" "$ALT" 'a@h1/../x' 0 >"$FX_DIR/rr-bad" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "is not an e-mail address" "$FX_DIR/rr-bad" || fail "ReadRestored of a path: $(cat "$FX_DIR/rr-bad")"
rc=0; setpriv --reuid nobody --regid nogroup --clear-groups "${RR[@]}" "$ALT" a@h1 0 >"$FX_DIR/rr-bad" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -qi "access denied\|AccessDenied" "$FX_DIR/rr-bad" || fail "an outsider's ReadRestored: $(cat "$FX_DIR/rr-bad")"
[ "$($CTL show "$ALT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requested_by"])')" = "$(id -u "$U_REQ")" ] \
    || fail "task $ALT's requested_by: $($CTL show "$ALT")"
# The requester may read it too; a second member of group backup may not.
as_user "$U_REQ" "${RR[@]}" "$ALT" a@h1 "${uids[1]}" >"$FX_DIR/rr-req.json" 2>&1 \
    || fail "ReadRestored as the requester $U_REQ: $(cat "$FX_DIR/rr-req.json")"
cmp -s "$FX_DIR/rr-req.json" "$FX_DIR/rr-msg.json" || fail "the requester read other text than root"
other_refused() { # other_refused USER: ReadRestored of $ALT as USER is refused and audited
    local rc=0 n
    n=$($CTL audit | grep -c "uid=$(id -u "$1") read restored task $ALT: refused: access denied")
    as_user "$1" "${RR[@]}" "$ALT" a@h1 0 >"$FX_DIR/rr-bad" 2>&1 || rc=$?
    [ "$rc" != 0 ] && grep -qi "access denied" "$FX_DIR/rr-bad" && ! grep -q '"messages"' "$FX_DIR/rr-bad" \
        || fail "ReadRestored of $U_REQ's restore as $1: rc $rc, $(cat "$FX_DIR/rr-bad")"
    rc=0; as_user "$1" "${RR[@]}" "$ALT" a@h1 "${uids[1]}" >"$FX_DIR/rr-bad" 2>&1 || rc=$?
    [ "$rc" != 0 ] && grep -qi "access denied" "$FX_DIR/rr-bad" \
        || fail "ReadRestored of a message of $U_REQ's restore as $1: rc $rc, $(cat "$FX_DIR/rr-bad")"
    [ "$($CTL audit | grep -c "uid=$(id -u "$1") read restored task $ALT: refused: access denied")" = $((n + 2)) ] \
        || fail "$1's refusals not audited: $($CTL audit | tail -3)"
}
other_refused "$U_OTHER"
# A record without a requesting uid (an older record) is root's only.
kill -TERM "$FX_PID_backupd"
for ((i = 0; i < 300; i++)); do kill -0 "$FX_PID_backupd" 2>/dev/null || break; sleep 0.1; done
kill -0 "$FX_PID_backupd" 2>/dev/null && fail "lvss-backupd did not exit on SIGTERM within 30 s"
python3 - "$BSTATE/tasks/$ALT.json" <<'PY' || fail "editing task $ALT's record"
import json, sys
t = json.load(open(sys.argv[1]))
del t["requested_by"]
json.dump(t, open(sys.argv[1], "w"))
PY
start_backupd
other_refused "$U_REQ"
"${RR[@]}" "$ALT" a@h1 0 >"$FX_DIR/rr-list2.json" || fail "ReadRestored as root of a record without its requester"
cmp -s "$FX_DIR/rr-list.json" "$FX_DIR/rr-list2.json" || fail "root's list changed after the restart"
echo "4. ReadRestored lists and reads an alternate-location restore's mail (root, the requester); refusals (another member of group backup, an outsider, everyone but root without a recorded requester)"

# 5. What a member of group backup may not make the root service do.
uid_req=$(id -u "$U_REQ")
printf '{"repository": "%s", "notify": {"exec": "%s/evil.sh"}}\n' "$REPO" "$FX_DIR" >"$FX_DIR/evil.json"
chmod 644 "$FX_DIR/evil.json"
cp "$JOBS/a.json" "$FX_DIR/a.json.before"
member_refused() { # member_refused AUDIT-LINE CTL-ARGS...: exit 5, access denied, audited
    local line=$1 rc=0 n
    shift
    n=$($CTL audit | grep -cF "$line")
    as_user "$U_REQ" "$CTL" "$@" >"$FX_DIR/m.out" 2>&1 || rc=$?
    [ "$rc" = 5 ] && grep -q "uid $uid_req may " "$FX_DIR/m.out" \
        || fail "$* as $U_REQ (group backup): exit $rc, want 5: $(cat "$FX_DIR/m.out")"
    [ "$($CTL audit | grep -cF "$line")" = $((n + 1)) ] || fail "$* as $U_REQ not audited: $($CTL audit | tail -3)"
}
member_refused "uid=$uid_req create job job evil: refused: access denied (root only)" job set evil "$FX_DIR/evil.json"
[ -e "$JOBS/evil.json" ] && fail "a member of group backup created a job"
member_refused "uid=$uid_req change job job a: refused: access denied (root only)" job set a "$FX_DIR/evil.json"
member_refused "uid=$uid_req delete job job a: refused: access denied (root only)" job delete a
cmp -s "$JOBS/a.json" "$FX_DIR/a.json.before" || fail "job a changed by a member of group backup: $(cat "$JOBS/a.json")"
before=$(ntasks)
mkdir "$FX_DIR/mine" && chown "$U_REQ" "$FX_DIR/mine"
ln -s / "$FX_DIR/sl"
for to in "/tmp/lvss-evil-$$" "$FX_DIR/mine/x" "$FX_DIR/sl/etc/lvss-evil-$$" "$FX_DIR/rsg"; do
    member_refused "uid=$uid_req restore job a backup ${FULL:0:16} to $to: refused: access denied" restore a "$FULL" --to "$to"
done
[ -e "/tmp/lvss-evil-$$" ] || [ -e "$FX_DIR/mine/x" ] || [ -e "/etc/lvss-evil-$$" ] && fail "a refused restore target was created"
[ "$(ntasks)" = "$before" ] || fail "a refused restore queued a task"
as_user "$U_REQ" "$CTL" restore a "$FULL" --to "$FX_DIR/sl/x" >"$FX_DIR/m.out" 2>&1 && fail "restore through a symlink accepted"
grep -q "a symlink or not a directory" "$FX_DIR/m.out" || fail "symlink refusal unclear: $(cat "$FX_DIR/m.out")"
# Root still may.
$CTL job set evil "$FX_DIR/evil.json" || fail "root's job set"
$CTL job delete evil || fail "root's job delete"
echo "5. a member of group backup may not change jobs or restore into a place it controls (refused, audited)"
echo "backupd-into-live ok"
