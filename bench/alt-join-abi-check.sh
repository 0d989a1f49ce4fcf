#!/bin/sh
# A check-kabi-style comparison by symbol, for comparison: one awk hash join of the two
# Module.symvers files, classifying each symbol as changed (CRC), moved (module), export type
# changed, removed or added.
# Usage: alt-join-abi-check.sh REF NEW   (exit 1 when a symbol changed or was removed)
set -eu
awk -F'\t' '
NR == FNR { crc[$2] = $1; mod[$2] = $3; type[$2] = $4; next }
{
	seen[$2] = 1
	if (!($2 in crc)) { added++; next }
	if (crc[$2] != $1) changed++
	if (mod[$2] != $3) moved++
	if (type[$2] != $4) typechanged++
}
END {
	for (s in crc) if (!(s in seen)) removed++
	printf "changed %d removed %d added %d moved %d exporttype %d\n", changed, removed, added, moved, typechanged
	exit (changed + removed > 0)
}' "$1" "$2"
