# shellcheck shell=bash
# Shared by the MariaDB Writer tests (tests/integration/mariadb-writer*.sh): a
# real MariaDB 10.11 (mariadbd on a scratch data directory on an XFS loop
# mount, or a btrfs subvolume with MDBW_FS=btrfs, options in $FX_DIR/my.cnf, its own socket, --skip-networking,
# binary log on), the schema bank.{a,b,meta,m} with TOTAL money in a and b,
# lvssd on the private bus, the writer (instance m1), an lvss-backup
# repository, and $FX_DIR/load.sh: a client moving money between a and b
# until $STOP exists.  Not a test itself (no .sh suffix).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/lib/fixture.sh" || exit 1

LVSSD=$(fx_bin daemon/lvssd/lvssd)
LB=$(fx_bin tools/lvss-backup/lvss-backup)
LVSSADM=$(fx_bin tools/lvssadm/lvssadm)
MW=$(fx_bin tools/lvss-writer-mariadb/lvss-writer-mariadb)
for b in "$LVSSD" "$LB" "$LVSSADM" "$MW"; do
    [ -x "$b" ] || skip "$(basename "$b") not built (libmariadb-dev missing?)"
done
for b in mariadbd mariadb-install-db mariadb mariadb-admin; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || skip "$b not installed (Debian mariadb-server, mariadb-client)"
done
MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
fixture_init
fixture_plain_build_only "the MariaDB suite"
fixture_need_root
fixture_bus
if [ "${MDBW_FS:-xfs}" = btrfs ]; then   # mariadb-writer-btrfs.sh
    fixture_btrfs data 1200
    btrfs -q subvolume create "$FX_MNT/vol" >/dev/null || fail "btrfs subvolume create failed"
    DATADIR=$FX_MNT/vol/mysql
else
    fixture_xfs data 1200
    DATADIR=$FX_MNT/mysql
fi
SOCK=$FX_DIR/mysql.sock
REPO=$FX_DIR/repo
H=$(hostname | cut -d. -f1)
COMP="MariaDB/$H/m1"
TOTAL=200000
mkdir -p "$DATADIR" "$FX_DIR/state"

sql() { mariadb --no-defaults -S "$SOCK" -u root -N -B "$@"; }

start_server() {
    fixture_spawn mariadbd "$MARIADBD" --defaults-file="$FX_DIR/my.cnf" --datadir="$DATADIR" --socket="$SOCK" \
        --pid-file="$FX_DIR/mariadbd.pid" --skip-networking --user=root --log-error="$FX_DIR/mariadbd.err" "$@"
    local i
    for i in $(seq 600); do sql -e 'SELECT 1' >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "mariadbd did not start: $(tail -5 "$FX_DIR/mariadbd.err")"
}

stop_server() {
    mariadb-admin --no-defaults -S "$SOCK" -u root shutdown || fail "mariadb-admin shutdown"
    wait "$FX_PID_mariadbd" 2>/dev/null
    [ -S "$SOCK" ] && fail "socket still there after shutdown"
    return 0
}

start_writer() {
    fixture_spawn mw "$MW" --datadir "$DATADIR" --socket "$SOCK" --instance m1 --freeze-timeout 40000 \
        --defaults-file "$FX_DIR/my.cnf" --mariadbd "$MARIADBD" "$@"
    local i
    for i in $(seq 100); do grep -q '^ready' "$FX_DIR/mw.log" && return 0; sleep 0.1; done
    fail "the MariaDB Writer did not register: $(cat "$FX_DIR/mw.log")"
}

# state: "transfers total" after CHECK TABLE of both tables says OK.
state() {
    local chk
    chk=$(sql -e 'CHECK TABLE bank.a, bank.b' | awk '$3 == "status" {print $4}' | sort -u)
    [ "$chk" = OK ] || fail "CHECK TABLE: $(sql -e 'CHECK TABLE bank.a, bank.b')"
    sql -e 'SELECT (SELECT n FROM bank.meta), (SELECT SUM(bal) FROM bank.a) + (SELECT SUM(bal) FROM bank.b)'
}

# no_stage_held: a new connection goes through every stage at once, and commits work.
no_stage_held() {
    timeout 30 mariadb --no-defaults -S "$SOCK" -u root -e 'SET SESSION lock_wait_timeout = 10;
        BACKUP STAGE START; BACKUP STAGE FLUSH; BACKUP STAGE BLOCK_DDL; BACKUP STAGE BLOCK_COMMIT; BACKUP STAGE END' \
        || fail "$1: a backup stage is still held (BACKUP STAGE START..BLOCK_COMMIT failed)"
    timeout 30 mariadb --no-defaults -S "$SOCK" -u root -e 'SET SESSION lock_wait_timeout = 10;
        UPDATE bank.meta SET n = n' || fail "$1: commits are blocked"
}

cat >"$FX_DIR/my.cnf" <<EOF
[mariadbd]
innodb-log-file-size = 16M
innodb-buffer-pool-size = 64M
log-bin = binlog
server-id = 1
skip-name-resolve
${MDBW_MYCNF_EXTRA:-}
EOF
mariadb-install-db --no-defaults --datadir="$DATADIR" --user=root --auth-root-authentication-method=socket \
    --skip-test-db >"$FX_DIR/install-db.log" 2>&1 || fail "mariadb-install-db: $(tail -5 "$FX_DIR/install-db.log")"
start_server
sql -e "CREATE DATABASE bank;
  CREATE TABLE bank.a(id INT PRIMARY KEY, bal INT NOT NULL) ENGINE=InnoDB;
  CREATE TABLE bank.b(id INT PRIMARY KEY, bal INT NOT NULL) ENGINE=InnoDB;
  CREATE TABLE bank.meta(n INT NOT NULL) ENGINE=InnoDB;
  CREATE TABLE bank.m(v INT) ENGINE=MyISAM; INSERT INTO bank.m VALUES (0);
  INSERT INTO bank.meta VALUES (0);
  INSERT INTO bank.a SELECT seq, 1000 FROM bank.seq_0_to_99;
  INSERT INTO bank.b SELECT seq, 1000 FROM bank.seq_0_to_99;" || fail "schema"
[ "$(sql -e 'SELECT @@log_bin')" = 1 ] || fail "log_bin is off"

fixture_spawn lvssd "$LVSSD" --state-dir "$FX_DIR/state"
fixture_wait_name org.lvss.Coordinator1 10
start_writer
$LB init --repo "$REPO" --no-encryption --quiet || fail "lvss-backup init"

STOP=$FX_DIR/stop-load
cat >"$FX_DIR/load.sh" <<EOF
#!/bin/bash
while [ ! -e "$STOP" ]; do
    for i in \$(seq 20); do
        x=\$((RANDOM % 50 + 1)); i1=\$((RANDOM % 100)); i2=\$((RANDOM % 100))
        echo "START TRANSACTION; UPDATE bank.a SET bal = bal - \$x WHERE id = \$i1;
              UPDATE bank.b SET bal = bal + \$x WHERE id = \$i2; UPDATE bank.meta SET n = n + 1; COMMIT;"
    done | mariadb --no-defaults -S "$SOCK" -u root || exit 1
done
EOF
chmod +x "$FX_DIR/load.sh"
