#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel matrix. The supported series are 6.1 and 6.12 (Debian 12's
# linux-image-amd64 and linux-image-6.12-amd64).
#
#   kernels.sh list        releases of supported series with headers installed
#   kernels.sh resolve X   X is a release (6.1.0-56-amd64) or a series (6.1)
#   kernels.sh packages    the Debian packages the matrix needs

set -u
series="6.1 6.12"

# Series of a release: 6.1.0-56-amd64 -> 6.1, 6.12.117+deb12-amd64 -> 6.12
series_of() { echo "$1" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/'; }

supported() {
	local s
	for s in $series; do
		[ "$(series_of "$1")" = "$s" ] && return 0
	done
	return 1
}

list() {
	local d r
	for d in /usr/src/linux-headers-*-amd64; do
		[ -f "$d/Module.symvers" ] || continue
		r=${d#/usr/src/linux-headers-}
		supported "$r" && echo "$r"
	done | sort -V
}

case "${1:-list}" in
list)
	list
	;;
resolve)
	want=${2:?resolve needs a release or series}
	for r in $(list); do
		if [ "$r" = "$want" ] || [ "$(series_of "$r")" = "$want" ]; then
			echo "$r"
			exit 0
		fi
	done
	if [ -d "/lib/modules/$want" ] || [ -r "/boot/vmlinuz-$want" ]; then
		supported "$want" && { echo "$want"; exit 0; }
	fi
	echo "kernels.sh: no supported kernel '$want' with headers installed" \
		"(found: $(list | tr '\n' ' '))" >&2
	exit 1
	;;
packages)
	echo linux-image-amd64 linux-headers-amd64
	echo linux-image-6.12-amd64 linux-headers-6.12-amd64
	;;
*)
	echo "usage: kernels.sh list|resolve X|packages" >&2
	exit 2
	;;
esac
