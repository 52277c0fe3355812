#!/bin/bash
# What a package would ship: `meson install` into a staging directory puts the
# daemons, tools, D-Bus policies, systemd units, default configurations and
# man pages where a distribution expects them; the shipped configurations are
# accepted by the daemons that read them; the units pass systemd-analyze
# verify when systemd is available; every man page renders without warnings.
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1
command -v meson >/dev/null || skip "meson not installed"
fixture_init
STAGE=$FX_DIR/stage
meson install -C "$LVSS_BUILD_ROOT" --destdir "$STAGE" --no-rebuild >"$FX_DIR/install.log" 2>&1 ||
    fail "meson install failed: $(tail -5 "$FX_DIR/install.log")"
for f in sbin/lvssd sbin/mstored sbin/lvssadm bin/lvss-backup bin/mstore bin/mstoreutil \
         sbin/lvss-backupd bin/lvss-backupctl share/dbus-1/system.d/org.lvss.Backup1.conf \
         share/man/man8/lvss-backupd.8 share/man/man1/lvss-backupctl.1 \
         share/dbus-1/system.d/org.lvss.Coordinator1.conf share/dbus-1/system.d/org.lvss.MailStore1.conf \
         share/dbus-1/system-services/org.lvss.Coordinator1.service \
         share/man/man8/lvssd.8 share/man/man8/lvssadm.8 share/man/man8/mstored.8 \
         share/man/man1/lvss-backup.1 share/man/man1/mstore.1 share/man/man1/mstoreutil.1 \
         sbin/lvss-writer-sqlite share/man/man8/lvss-writer-sqlite.8; do
    found=$(find "$STAGE" -path "*/$f" | head -1)
    [ -n "$found" ] || fail "meson install did not ship $f"
done
for u in lvssd.service mstored.service lvss-backupd.service lvss-writer-sqlite.service \
         $( [ -x "$(fx_bin tools/lvss-writer-mariadb/lvss-writer-mariadb)" ] && echo lvss-writer-mariadb.service); do
    [ -n "$(find "$STAGE" -name "$u")" ] || fail "meson install did not ship $u"
done
# The Exec Writer always; the PostgreSQL Writer when libpq was found.
for f in bin/lvss-writer-exec share/man/man8/lvss-writer-exec.8 lib/systemd/system/lvss-writer-exec.service; do
    [ -n "$(find "$STAGE" -path "*/$f" | head -1)" ] || fail "meson install did not ship $f"
done
if pkg-config --exists libpq 2>/dev/null; then
    for f in bin/lvss-writer-postgresql share/man/man8/lvss-writer-postgresql.8 \
             lib/systemd/system/lvss-writer-postgresql@.service; do
        [ -n "$(find "$STAGE" -path "*/$f" | head -1)" ] || fail "meson install did not ship $f"
    done
fi
for c in lvssd.conf mstored.json; do
    [ -n "$(find "$STAGE" -path "*/lvss/$c")" ] || fail "meson install did not ship /etc/lvss/$c"
done

# The D-Bus policies are well-formed XML.
for x in "$LVSS_SOURCE_ROOT"/packaging/*.conf; do
    case $x in *lvssd.conf) continue ;; esac
    python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$x" || fail "$x is not well-formed XML"
done
# Only lvssd's user (root) may call writers (org.lvss.Writer1): no policy but
# user="root" allows that interface (tests/integration/dbus-policy.sh shows
# the bus refusing another uid).
python3 - "$LVSS_SOURCE_ROOT"/packaging/org.lvss.*.conf <<'EOP' || fail "a D-Bus policy lets someone other than root call org.lvss.Writer1"
import sys, xml.dom.minidom
bad = []
for f in sys.argv[1:]:
    for pol in xml.dom.minidom.parse(f).getElementsByTagName("policy"):
        if pol.getAttribute("user") == "root":
            continue
        for a in pol.getElementsByTagName("allow"):
            if a.getAttribute("send_interface") in ("org.lvss.Writer1", "*") or \
               (not a.getAttribute("send_interface") and not a.getAttribute("send_destination")
                and a.hasAttribute("send_type")):
                bad.append("%s: %s" % (f, a.toxml()))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOP

# mstored accepts its shipped configuration (a bad one exits 2 before anything else).
MSTORED=$(fx_bin store/mstored/mstored)
if [ -x "$MSTORED" ]; then
    fixture_bus
    fixture_spawn mstored "$MSTORED" --data-dir "$FX_DIR/data" --no-writer \
        --config "$LVSS_SOURCE_ROOT/packaging/mstored.json"
    fixture_wait_name org.lvss.MailStore1
    kill -TERM "$FX_PID_mstored"; wait "$FX_PID_mstored" || fail "mstored with the shipped config: exit $?"
    echo '{"max_storage_groups": "x"}' >"$FX_DIR/bad.json"
    "$MSTORED" --data-dir "$FX_DIR/data" --no-writer --config "$FX_DIR/bad.json" 2>"$FX_DIR/err"
    rc=$?; [ $rc = 2 ] || fail "mstored with a bad config: exit $rc, expected 2"
    grep -q "max_storage_groups" "$FX_DIR/err" || fail "bad config error does not name the setting: $(cat "$FX_DIR/err")"
fi

if command -v systemd-analyze >/dev/null && [ -d /run/systemd/system ]; then
    for u in lvssd mstored lvss-backupd lvss-writer-sqlite lvss-writer-mariadb; do
        # Unknown executables under /usr/sbin are expected in a build tree.
        systemd-analyze verify "$LVSS_SOURCE_ROOT/packaging/$u.service" 2>&1 |
            grep -v "not executable\|No such file\|Command /usr/sbin" | grep . &&
            fail "systemd-analyze verify $u.service complained"
    done
else
    echo "note: systemd not running here, unit files not verified with systemd-analyze"
fi

if command -v man >/dev/null; then
    for m in "$LVSS_SOURCE_ROOT"/docs/man/*.[18] "$LVSS_SOURCE_ROOT"/tools/lvss-example-writer/*.1; do
        # Line-filling notes (cannot adjust/break a line) are typography, not errors.
        w=$(LC_ALL=C MANWIDTH=80 man --warnings -l "$m" 2>&1 >/dev/null | grep -v "cannot adjust line\|cannot break line\|can.t break line")
        [ -z "$w" ] || fail "man page $m: $w"
    done
fi
echo "ok: packaging"
