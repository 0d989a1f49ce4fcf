#!/bin/sh
# Mandriva's packager check, for comparison: `diff -u` of the sorted ABI descriptions; a "-"
# line (a symbol changed or removed) is an ABI break, "+" lines alone only a warning.
# Usage: alt-mandriva-abi-check.sh REF NEW   (exit 1 on breakage)
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
LC_ALL=C sort "$1" >"$tmp/ref"
LC_ALL=C sort "$2" >"$tmp/new"
diff -u "$tmp/ref" "$tmp/new" >"$tmp/abi.diff" || true
minus=$(grep -c '^-[^-]' "$tmp/abi.diff" || true)
plus=$(grep -c '^+[^+]' "$tmp/abi.diff" || true)
echo "lines removed or changed $minus added or changed $plus"
[ "$minus" -eq 0 ]
