#!/bin/sh
# make lint: clang-tidy with the focused set in .clang-tidy over every C file
# of the project's own code (not tests), using BUILD's compile_commands.json.
# Exit 0 only when clang-tidy reports nothing.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
[ -f "$build/compile_commands.json" ] || meson setup "$build" -Dwerror=true >/dev/null
command -v run-clang-tidy >/dev/null || { echo "lint: run-clang-tidy not found (Debian: clang-tidy)" >&2; exit 2; }
files=$(git ls-files '*.c' | grep -v '^tests/')
out=$(mktemp); trap 'rm -f "$out"' EXIT
if run-clang-tidy -quiet -p "$build" -j "$(nproc)" $files >"$out" 2>&1; then
    echo "lint: clean ($(echo "$files" | wc -l) files)"
else
    sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -A3 -E '(error|warning): ' >&2 || cat "$out" >&2
    echo "lint: $(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -cE '(error|warning): .*\[') findings" >&2
    exit 1
fi
