#!/bin/bash
# lvss-backup restore --to DIR (Recovery Storage Group style): the chain
# full + incremental is restored into an alternate directory and recovered
# there by the writer, with the storage group online and untouched; the
# mail read from the alternate directory is exactly the mail at the time of
# the incremental, byte for byte.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
bk_rsg_chain 5000 25 15
deliver a@h1 5   # production moves on; the alternate copy must not see these

$LB restore --repo "$REPO" "$INC" --to "$FX_DIR/rsg" --json >"$FX_DIR/r.json" 2>"$FX_DIR/r.err" \
    || fail "restore --to: $(cat "$FX_DIR/r.err"); $(tail -5 "$FX_DIR/mstored.log")"
cat "$FX_DIR/r.json"
ls "$FX_DIR/rsg/DB1.edb" "$FX_DIR/rsg/DB2.stm" >/dev/null || fail "databases not in the alternate location"
[ "$(count a@h1)" = 45 ] || fail "production changed by an alternate-location restore"
ls "$SG"/.lvss-restore >/dev/null 2>&1 && fail "log staging used for an alternate-location restore"

$MSTORE rsg msg list "$FX_DIR/rsg" a@h1 --json >"$FX_DIR/rsg.json" || fail "rsg msg list"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["messages"]))' "$FX_DIR/rsg.json")
[ "$n" = 40 ] || fail "alternate location holds $n messages of a@h1, want 40 (as of the incremental)"
same_rsg_mail "$FX_DIR/rsg"
no_snapshots
echo "backup-alternate ok"
