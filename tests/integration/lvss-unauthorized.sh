#!/bin/bash
# An unauthorized uid (nobody: not root, not in group backup) is refused with
# a clear message and exit 5 when it creates or deletes snapshots or
# registers as a writer; listing needs no rights.
. "$LVSS_SOURCE_ROOT/tests/integration/lvss-common.bash"
lvss_setup
id nobody >/dev/null 2>&1 || skip "no user 'nobody'"
command -v runuser >/dev/null || skip "runuser not installed"
fixture_xfs data 300
data="$FX_MNT/data"; mkdir -p "$data"; chmod 755 "$FX_MNT" "$data"
start_lvssd
as_nobody() { runuser -u nobody -- env LVSS_BUS="$LVSS_BUS" "$LVSSADM" "$@"; }

as_nobody create --no-writers "$data" >"$FX_DIR/n.out" 2>"$FX_DIR/n.err"; rc=$?
[ "$rc" = 5 ] || fail "create as nobody exited $rc, want 5: $(cat "$FX_DIR/n.err")"
grep -qi 'denied\|not allowed\|permission' "$FX_DIR/n.err" || fail "no clear refusal message: $(cat "$FX_DIR/n.err")"
[ "$(wc -l <"$FX_DIR/n.err")" -le 2 ] || fail "refusal is not a short message: $(cat "$FX_DIR/n.err")"

adm create --no-writers --json "$data"
[ "$RC" = 0 ] || fail "create as root exited $RC: $(cat "$FX_DIR/err")"
set=$(json "$FX_DIR/out.json" 'd["set_id"]')
as_nobody delete shadows --set "$set" >"$FX_DIR/n.out" 2>"$FX_DIR/n.err"; rc=$?
[ "$rc" = 5 ] || fail "delete as nobody exited $rc, want 5: $(cat "$FX_DIR/n.err")"
[ "$(shadow_count)" = 1 ] || fail "nobody managed to delete the set"
as_nobody list providers --json >"$FX_DIR/n.out" 2>"$FX_DIR/n.err"; rc=$?
[ "$rc" = 0 ] || fail "list providers as nobody exited $rc: $(cat "$FX_DIR/n.err")"
adm delete shadows --all
[ "$RC" = 0 ] || fail "delete --all as root exited $RC: $(cat "$FX_DIR/err")"

# Writer registration is for root and configured users only.
mkdir -p "$FX_DIR/nobody-data"; chmod 777 "$FX_DIR/nobody-data"
runuser -u nobody -- env LVSS_BUS="$LVSS_BUS" timeout 20 "$EW" --dir "$FX_DIR/nobody-data" --rate 0 \
    >"$FX_DIR/n.out" 2>"$FX_DIR/n.err"; rc=$?
[ "$rc" = 5 ] || fail "writer as nobody exited $rc, want 5: $(cat "$FX_DIR/n.err")"
grep -qi 'denied\|not allowed\|permission' "$FX_DIR/n.err" || fail "writer refusal unclear: $(cat "$FX_DIR/n.err")"
adm list writers --json
[ "$(json "$FX_DIR/out.json" 'len(d["writers"])')" = 0 ] || fail "nobody's writer got registered"
echo ok
