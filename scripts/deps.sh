#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages the build, the VM harness and the tests need,
# if any is missing (apt-get update first). Needs root for the install.

set -u

packages="
make gcc libc6-dev bc flex bison libelf-dev dwarves pkg-config file kmod
linux-image-amd64 linux-headers-amd64
linux-image-6.12-amd64 linux-headers-6.12-amd64
linux-source-6.12
qemu-system-x86 busybox-static cpio xz-utils
nftables conntrack iproute2 ethtool socat iperf3 tcpdump iputils-ping
procps python3 ppp pppoe bash-builtins linux-perf
sparse libmnl-dev libnftnl-dev
"

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi

echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: not root; run: apt-get update && apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null || { echo "deps: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null ||
	{ echo "deps: apt-get install failed" >&2; exit 1; }
echo "deps: done"
