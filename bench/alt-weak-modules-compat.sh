#!/bin/sh
# The weak-modules way of asking "does this module load on that kernel?", for comparison:
# every "CRC<TAB>symbol" the module records (modprobe --dump-modversions) must appear in the
# kernel's Module.symvers. One modprobe, sort and comm per module, as Red Hat's script does.
# Usage: alt-weak-modules-compat.sh SYMVERS DIR   (prints one line per module and a summary)
set -eu
symvers=$1
dir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cut -f1,2 "$symvers" | LC_ALL=C sort -u >"$tmp/kernel"
find "$dir" -name '*.ko*' | LC_ALL=C sort >"$tmp/modules"
ok=0
bad=0
while IFS= read -r ko; do
	modprobe --dump-modversions "$ko" | LC_ALL=C sort -u >"$tmp/module"
	if [ -n "$(LC_ALL=C comm -13 "$tmp/kernel" "$tmp/module")" ]; then
		echo "$ko: incompatible"
		bad=$((bad + 1))
	else
		echo "$ko: compatible"
		ok=$((ok + 1))
	fi
done <"$tmp/modules"
echo "compatible $ok incompatible $bad"
