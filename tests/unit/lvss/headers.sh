#!/bin/sh
# Every public header of liblvss compiles on its own as strict C99.
set -u
src=${LVSS_SOURCE_ROOT:?}
cc=${CC:-cc}
status=0
for h in "$src"/include/lvss/*.h "$src"/include/lvss/sys/*.h; do
    rel=${h#"$src"/include/}
    if ! printf '#include <%s>\nint main(void) { return 0; }\n' "$rel" |
            $cc -std=c99 -pedantic -Werror -Wall -Wextra -I"$src/include" -x c -fsyntax-only -; then
        echo "FAIL: $rel does not compile on its own with -std=c99 -pedantic" >&2
        status=1
    fi
done
exit $status
