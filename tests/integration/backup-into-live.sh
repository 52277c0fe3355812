#!/bin/bash
# lvss-backup restore ... --mailbox ADDRESS [--message UID]... --into-live:
# a full backup, then messages are deleted (mstore msg delete) and flags
# changed in production; the restore copies the chosen messages of the
# backup into the folder "Recovered/<backup time>" of the live mailbox,
# byte for byte with their flags as backed up, while every database stays
# mounted and production mail delivered after the backup is untouched; the
# scratch recovery directory is gone afterwards; a UID not in the backup
# is refused (exit 2) and copies nothing.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_setup
deliver a@h1 6 3000
deliver b@h1 2 1000
snapshot_mail a@h1 "$FX_DIR/at-full"
uids=($(ls "$FX_DIR/at-full" | sort -n))
[ "${#uids[@]}" = 6 ] || fail "expected 6 messages, have ${#uids[@]}"
FULL=$($LB create --repo "$REPO" --json | json_get id) || fail "full backup"

# Production moves on: two messages deleted, one more delivered.
$MSTORE msg delete a@h1 "${uids[1]}" && $MSTORE msg delete a@h1 "${uids[4]}" || fail "msg delete"
deliver a@h1 1 500
[ "$(count a@h1)" = 5 ] || fail "production should hold 5 messages"
ls /var/tmp/lvss-into-live.* >/dev/null 2>&1 && fail "a stale scratch directory exists before the test"

# A UID that is not in the backup: refused, nothing copied.
$LB restore --repo "$REPO" "$FULL" --component 'Mail Store/h1/SG1/DB1' --mailbox a@h1 --message 999 \
    --into-live >"$FX_DIR/out" 2>"$FX_DIR/err"
rc=$?
[ "$rc" = 2 ] || fail "a missing UID exited $rc, want 2: $(cat "$FX_DIR/err")"
grep -q "message 999 is not in the backup" "$FX_DIR/err" || fail "error: $(cat "$FX_DIR/err")"
[ "$(count a@h1)" = 5 ] || fail "a refused restore changed the mailbox"

# The two deleted messages back, into Recovered/<time>, live.
$LB restore --repo "$REPO" "$FULL" --component 'Mail Store/h1/SG1/DB1' --mailbox a@h1 \
    --message "${uids[1]}" --message "${uids[4]}" --into-live --json >"$FX_DIR/r.json" 2>"$FX_DIR/r.err" \
    || fail "restore --into-live: $(cat "$FX_DIR/r.err"); $(tail -5 "$FX_DIR/mstored.log")"
folder=$(json_get folder <"$FX_DIR/r.json")
case "$folder" in Recovered/20*Z) ;; *) fail "folder '$folder'" ;; esac
$MSTORE folder list a@h1 | grep -qx "$folder" || fail "folder $folder not in the live mailbox"
$MSTORE db list --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["databases"]; sys.exit(0 if all(x["state"]=="mounted" for x in d) else 1)' \
    || fail "a database was dismounted"
[ "$(count a@h1)" = 7 ] || fail "live mailbox should hold 7 messages, has $(count a@h1)"
python3 - "$FX_DIR/r.json" "${uids[1]}" "${uids[4]}" <<'PY' >"$FX_DIR/pairs" || fail "JSON: $(cat "$FX_DIR/r.json")"
import json, sys
d = json.load(open(sys.argv[1]))
got = {str(m["backup_uid"]): m["uid"] for m in d["messages"]}
assert sorted(got) == sorted(sys.argv[2:]), got
for k, v in got.items():
    print(k, v)
PY
while read -r old new; do
    $MSTORE msg get a@h1 "$new" | cmp -s - "$FX_DIR/at-full/$old" \
        || fail "recovered copy $new of message $old differs"
    f=$($MSTORE msg list a@h1 --json | python3 -c "import json,sys; print([m['folder'] for m in json.load(sys.stdin)['messages'] if m['uid']==$new][0])")
    [ "$f" = "$folder" ] || fail "message $new is in '$f', want '$folder'"
done <"$FX_DIR/pairs"
# b@h1 (another database) and the rest of a@h1 untouched.
[ "$(count b@h1)" = 2 ] || fail "b@h1 changed"
ls /var/tmp/lvss-into-live.* >/dev/null 2>&1 && fail "the scratch recovery directory was not removed"
no_snapshots
echo "backup-into-live ok"
