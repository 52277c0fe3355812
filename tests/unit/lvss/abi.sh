#!/bin/sh
# liblvss exports exactly its ABI: the functions named in lib/lvss/liblvss.sym,
# which are exactly the functions declared in include/lvss/*.h.  A new public
# function must be added to both; an internal one (lvss_doc_*, the bus glue)
# must never leak into the dynamic symbol table.
set -eu
lib="$LVSS_BUILD_ROOT/lib/lvss/liblvss.so"
sym="$LVSS_SOURCE_ROOT/lib/lvss/liblvss.sym"
[ -e "$lib" ] || { echo "FAIL: $lib not built" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 == "T" { sub(/@.*/, "", $3); print $3 }' | sort -u >"$tmp/exported"
sed -n 's/^ *\(lvss_[a-z0-9_]*\);$/\1/p' "$sym" | sort -u >"$tmp/listed"
# Function declarations: "lvss_xxx(" at a word boundary, in code, not comments.
for h in "$LVSS_SOURCE_ROOT"/include/lvss/*.h; do
    sed -e 's,/\*.*\*/,,g' -e '/\/\*/,/\*\//d' "$h"
done | grep -oE '\blvss_[a-z0-9_]+\(' | tr -d '(' | sort -u >"$tmp/declared"
[ -s "$tmp/exported" ] || { echo "FAIL: no exported symbols read from $lib" >&2; exit 1; }
st=0
if ! diff -u "$tmp/listed" "$tmp/exported" >"$tmp/d1"; then
    echo "FAIL: liblvss.so exports differ from liblvss.sym (- listed only, + exported only):" >&2; cat "$tmp/d1" >&2; st=1
fi
if ! diff -u "$tmp/declared" "$tmp/listed" >"$tmp/d2"; then
    echo "FAIL: include/lvss declarations differ from liblvss.sym (- declared only, + listed only):" >&2; cat "$tmp/d2" >&2; st=1
fi
[ $st = 0 ] && echo "OK: $(wc -l <"$tmp/exported") symbols, matching liblvss.sym and include/lvss"
exit $st
