#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The ABI drop-in check: for each kernel release given, every symbol the
# kernel's own Module.symvers lists for net/netfilter/nf_flow_table must be
# exported by our build/<release>/Module.symvers with the identical CRC.
# Prints one line per symbol; exits 1 on any difference.

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
rc=0

for kver in "$@"; do
	ref=/usr/src/linux-headers-$kver/Module.symvers
	ours=$top/build/$kver/Module.symvers
	if [ ! -r "$ref" ] || [ ! -r "$ours" ]; then
		echo "abi: $kver: missing $ref or $ours"
		rc=1
		continue
	fi
	n=0
	bad=0
	while IFS=$'\t' read -r crc sym mod _; do
		[ "$mod" = net/netfilter/nf_flow_table ] || continue
		n=$((n + 1))
		mine=$(awk -F'\t' -v s="$sym" '$2 == s { print $1 }' "$ours")
		if [ -z "$mine" ]; then
			echo "abi: $kver: $sym: not exported (kernel $crc)"
			bad=$((bad + 1))
		elif [ "$mine" != "$crc" ]; then
			echo "abi: $kver: $sym: CRC $mine, kernel $crc"
			bad=$((bad + 1))
		fi
	done < "$ref"
	extra=$(awk -F'\t' '$3 ~ /nf_flow_table$/ { print $2 }' "$ours" | while read -r s; do
		grep -qP "\t$s\tnet/netfilter/nf_flow_table\t" "$ref" || echo "$s"; done)
	if [ -n "$extra" ]; then
		echo "abi: $kver: exported beyond the kernel's set: $extra"
		bad=$((bad + 1))
	fi
	if [ "$n" = 0 ]; then
		echo "abi: $kver: the kernel lists no nf_flow_table exports"
		bad=1
	fi
	if [ "$bad" = 0 ]; then
		echo "abi: $kver: all $n nf_flow_table exports match (symbol and CRC)"
	else
		rc=1
	fi
done
exit $rc
