#!/bin/bash
# An application-aware restore makes its files durable in one pass at the end
# (docs/design/backup.md §2 "Writing"): `lvss-backup restore --to DIR` of an
# incremental chain (full + incremental: two steps, each written then
# synced) calls syncfs once per step and target file system and fsync once
# per target directory, not once per file and again per directory (the old
# per-file path made 2 fsyncs per restored file: a 1000-file PostgreSQL
# cluster took 8x longer to write than cp -a + syncfs).  The restored mail is
# the backed-up mail.  Counted with strace -f -c (skips without strace).
. "${LVSS_SOURCE_ROOT:?LVSS_SOURCE_ROOT must be set}/tests/integration/backup-common.bash" || exit 1
command -v strace >/dev/null || skip "strace not installed"
bk_rsg_chain 3000 20 10

# LeakSanitizer cannot run under ptrace (the ASan build): leaks of this path
# are checked by backup-alternate.sh, which restores --to without strace.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -c -e trace=fsync,fdatasync,syncfs -o "$FX_DIR/strace.txt" \
    $LB restore --repo "$REPO" "$INC" --to "$FX_DIR/rsg" --json >"$FX_DIR/r.json" 2>"$FX_DIR/r.err" \
    || fail "restore --to: $(cat "$FX_DIR/r.err"); $(tail -5 "$FX_DIR/mstored.log")"
cat "$FX_DIR/strace.txt"
calls() { awk -v s="$1" '$NF == s { n = $4 } END { print n + 0 }' "$FX_DIR/strace.txt"; }
files=$(find "$FX_DIR/rsg" -type f | wc -l)
dirs=$(find "$FX_DIR/rsg" -type d | wc -l)
fsyncs=$(( $(calls fsync) + $(calls fdatasync) ))
syncfs=$(calls syncfs)
echo "restored $files file(s) in $dirs director(y/ies): $fsyncs fsync/fdatasync, ${syncfs:-0} syncfs"
[ "$files" -ge 4 ] || fail "only $files file(s) restored: $(ls -R "$FX_DIR/rsg")"
[ "${syncfs:-0}" -ge 1 ] || fail "no syncfs: the restored files were not made durable in one pass"
# two steps (full, incremental), each: at most one fsync per directory
[ "$fsyncs" -le $((2 * dirs)) ] || fail "$fsyncs fsync calls for $files files in $dirs directories (one per file?)"
same_rsg_mail "$FX_DIR/rsg"
no_snapshots
echo "backup-restore-sync ok"
