#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boot a VM with our modules and show an offloaded TCP flow
# through a NAT + VLAN router (scripts/demo-guest.sh).
#
#   demo.sh [-k KVER] [-i ours|intree]

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
kver=
impl=ours
while getopts "k:i:" opt; do
	case "$opt" in
	k) kver=$OPTARG ;;
	i) impl=$OPTARG ;;
	*) echo "usage: demo.sh [-k KVER] [-i ours|intree]" >&2; exit 2 ;;
	esac
done
kver=${kver:-$("$top/scripts/kernels.sh" list | tail -1)}
[ -n "$kver" ] || { echo "demo: no supported kernel headers; run make deps" >&2; exit 1; }
kver=$("$top/scripts/kernels.sh" resolve "${kver%% *}") || exit 1

"$top/scripts/deps.sh" || exit 1
make -s -C "$top" KVER="$kver" module >/dev/null || exit 1
echo "Booting Debian $kver under qemu (TCG) with the $impl flowtable modules..."
exec "$top/scripts/vm.sh" -k "$kver" -i "$impl" -q -v -t 900 -- scripts/demo-guest.sh
