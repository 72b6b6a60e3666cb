#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The demo, inside the VM (see scripts/demo.sh): a home router in a netns.
# The LAN client sits behind an 802.1Q VLAN, the router masquerades towards
# the server, and an nft flowtable takes the established TCP connection off
# the slow path. Shows conntrack's [OFFLOAD] flag, the forward-chain
# counter that stays tiny while the data flows, and cmp of the data.

set -u
size_mb=${KNO_DEMO_MB:-100}
sfx=$(mktemp -u XXXXXX)
lan=lan-$sfx
rtr=rtr-$sfx
wan=wan-$sfx
tmp=$(mktemp -d)
pids=

cleanup() {
	local p
	for p in $pids; do kill "$p" 2>/dev/null; done
	for ns in "$lan" "$rtr" "$wan"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Kernel $(uname -r), nf_flow_table from $(modinfo -n nf_flow_table)"

for ns in "$lan" "$rtr" "$wan"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add lan0 netns "$lan" type veth peer name eth0 netns "$rtr"
ip link add wan0 netns "$wan" type veth peer name eth1 netns "$rtr"

# LAN: VLAN 10 on top of the cable on both ends.
ip -n "$lan" link set lan0 up
ip -n "$lan" link add link lan0 name lan0.10 type vlan id 10
ip -n "$lan" addr add 192.168.10.2/24 dev lan0.10
ip -n "$lan" link set lan0.10 up
ip -n "$lan" route add default via 192.168.10.1

ip -n "$rtr" link set eth0 up
ip -n "$rtr" link add link eth0 name eth0.10 type vlan id 10
ip -n "$rtr" addr add 192.168.10.1/24 dev eth0.10
ip -n "$rtr" link set eth0.10 up
ip -n "$rtr" addr add 203.0.113.1/24 dev eth1
ip -n "$rtr" link set eth1 up
ip netns exec "$rtr" sysctl -qw net.ipv4.ip_forward=1

ip -n "$wan" addr add 203.0.113.2/24 dev wan0
ip -n "$wan" link set wan0 up

say "Router ruleset: flowtable on the physical ports, masquerade to the WAN"
ip netns exec "$rtr" nft -f - <<'EOF'
table inet router {
	flowtable ft {
		hook ingress priority filter
		devices = { eth0, eth1 }
		counter
	}
	counter forwarded { }
	chain forward {
		type filter hook forward priority filter; policy accept;
		meta l4proto { tcp, udp } flow add @ft
		counter name "forwarded"
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" masquerade
	}
}
EOF
ip netns exec "$rtr" nft list ruleset
printf '\nnf_flow_table version (ours has one): %s\n' \
	"$(cat /sys/module/nf_flow_table/version 2>/dev/null || echo '(none: in-tree module)')"

say "Transfer ${size_mb} MB over TCP from the LAN client to the server"
head -c "${size_mb}M" /dev/urandom > "$tmp/in"
ip netns exec "$wan" socat -u TCP-LISTEN:8080,reuseaddr "OPEN:$tmp/out,creat,trunc" &
pids="$pids $!"
for _ in $(seq 50); do
	ip netns exec "$wan" ss -ltn | grep -q ':8080 ' && break
	sleep 0.1
done
t0=$(date +%s.%N)
ip netns exec "$lan" socat -u "OPEN:$tmp/in" TCP:203.0.113.2:8080 &
client=$!
pids="$pids $client"

shown=0
while kill -0 "$client" 2>/dev/null; do
	if [ "$shown" = 0 ] &&
	   ip netns exec "$rtr" conntrack -L -p tcp --dport 8080 2>/dev/null | grep -q OFFLOAD; then
		say "While the transfer runs: conntrack on the router"
		ip netns exec "$rtr" conntrack -L -p tcp --dport 8080 2>/dev/null
		shown=1
	fi
	sleep 0.2
done
wait "$client"
t1=$(date +%s.%N)
for _ in $(seq 100); do
	[ "$(stat -c %s "$tmp/out" 2>/dev/null)" = "$(stat -c %s "$tmp/in")" ] && break
	sleep 0.1
done

say "Result"
if cmp -s "$tmp/in" "$tmp/out"; then
	echo "cmp: the server received exactly the ${size_mb} MB that were sent"
else
	echo "cmp: DATA DIFFERS"
	exit 1
fi
awk -v a="$t0" -v b="$t1" -v mb="$size_mb" \
	'BEGIN { printf "throughput: %.0f Mbit/s (TCG-emulated CPU)\n", mb * 8 / (b - a) }'
run ip netns exec "$rtr" nft list counter inet router forwarded
bytes=$(ip netns exec "$rtr" nft list counter inet router forwarded | awk '/bytes/ { print $4 }')
echo "The forward chain saw ${bytes} bytes of a $((size_mb * 1048576))-byte transfer:"
echo "everything after the handshake took the flowtable fast path."
say "Why connections were or were not offloaded (/proc/net/nft_flow_offload)"
ip netns exec "$rtr" cat /proc/net/nft_flow_offload 2>/dev/null ||
	echo "(not available: in-tree module)"
[ "$shown" = 1 ] || { echo "the connection was never shown as [OFFLOAD]"; exit 1; }
exit 0
