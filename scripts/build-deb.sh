#!/bin/sh
# make deb: build the Debian binary packages out of tree.  The working tree
# (committed and uncommitted files git knows of, or everything but build
# directories outside git) is copied to OUT/src, dpkg-buildpackage -b runs
# there, and the .deb, .buildinfo and .changes files land in OUT; the source
# tree is left as it was.  lintian then checks the .changes (errors and
# warnings fail).  Usage: scripts/build-deb.sh [OUT]   (default: build-deb)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
for t in dpkg-buildpackage dh lintian; do
    command -v "$t" >/dev/null || { echo "build-deb: $t missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done
rm -rf "$out"
mkdir -p "$out/src"
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -xf - -C "$out/src"
else
    tar --exclude='./build*' --exclude='./obj-*' -cf - . | tar -xf - -C "$out/src"
fi
cd "$out/src"
# The Cockpit page (cockpit-lvss) exists once the console is in the tree.
if [ ! -d console ]; then
    DEB_BUILD_PROFILES="${DEB_BUILD_PROFILES:+$DEB_BUILD_PROFILES }nocockpit"
    export DEB_BUILD_PROFILES
fi
dpkg-buildpackage -b -uc -us -j"${DEB_JOBS:-2}" >"$out/build.log" 2>&1 || {
    tail -30 "$out/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
    exit 1
}
cd "$out"
changes=$(ls "$out"/*.changes)
lintian --fail-on error,warning "$changes" >"$out/lintian.log" 2>&1 || {
    cat "$out/lintian.log" >&2
    echo "build-deb: lintian found errors or warnings" >&2
    exit 1
}
ls "$out"/*.deb
