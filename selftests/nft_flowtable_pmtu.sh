#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Path MTU on the fast path:
#   client (mtu 1500) --- router --(mtu 1280)-- hop --- server (mtu 1500)
# The router offloads; its egress link to the hop has MTU 1280, smaller than
# the packets the endpoints send (their MSS comes from MTU 1500).
#   - IPv4 TCP with DF: the router sends ICMP frag-needed (counted in its
#     output chain), the client lowers its path MTU, the transfer completes
#     (cmp) and the flow is offloaded (forward counter < 1/4, [OFFLOAD]).
#   - IPv6 TCP: the same with ICMPv6 packet-too-big.
#   - IPv4 UDP without DF, datagrams larger than 1280: the router fragments
#     them on the classic path, the server reassembles them (cmp, IpReasmOKs),
#     and the offloaded flow is not torn down or re-created by it: same
#     conntrack id, still [OFFLOAD], and small datagrams of the same flow
#     still take the fast path afterwards.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat conntrack python3 ss nstat

SIZE=${KNO_XFER_SIZE:-4194304}
UDP_SIZE=${KNO_UDP_SIZE:-524288}
LINK_MTU=1280

ktap_begin 3

setup()
{
	topo_router hop || return 1
	ip -n "$NS_R" link set "$RDEV_S" mtu "$LINK_MTU" || return 1
	ip -n "$NS_H" link set veth0 mtu "$LINK_MTU" || return 1
	ft_router_ruleset inet || return 1
	nft_load "$NS_R" <<EOF
table inet pmtu {
	counter fragneeded { }
	counter ptb { }

	chain out {
		type filter hook output priority 0; policy accept;
		icmp type destination-unreachable icmp code frag-needed counter name fragneeded
		icmpv6 type packet-too-big counter name ptb
	}
}
EOF
}

# t_tcp IPVER DPORT ICMPCOUNTER
t_tcp()
{
	local v=$1 dport=$2 icmp=$3 id=tcp$1 rc=0 daddr n

	[ "$v" = 4 ] && daddr=$S4 || daddr=$S6
	ft_routed_reset
	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$SIZE" || return 1
	tcp_wait_received "$id" || rc=1
	ft_check_offload tcp "$v" "$XFER_SPORT" "$dport" "$SIZE" || rc=1
	n=$(nft_counter_packets "$NS_R" inet pmtu "$icmp")
	assert_atleast "router ICMP $icmp sent" "${n:-0}" 1 || rc=1
	ip -n "$NS_C" route get "$daddr" | grep -q "mtu $LINK_MTU" ||
		{ echo "FAIL: client has no path MTU $LINK_MTU: $(ip -n "$NS_C" route get "$daddr")"; rc=1; }
	tcp_finish "$id" || rc=1
	return $rc
}

# t_udp_frag: see the header.
t_udp_frag()
{
	local dport=5300 sport rc=0 id0 id1 r0 r1 by

	sport=$(random_port)
	# 1. small datagrams: the flow is offloaded
	ft_routed_reset
	udp_transfer small "$NS_C" "$NS_S" "$S4" "$dport" 65536 "$sport" --chunk 1000 || return 1
	ft_check_offload udp 4 "$sport" "$dport" 65536 || return 1
	id0=$(ct_id "$NS_R" ipv4 udp "$sport" "$dport")
	# 2. datagrams larger than the egress MTU, no DF: fragmented on the
	# classic path, reassembled by the server
	r0=$(snmp_counter "$NS_S" IpReasmOKs)
	udp_transfer big "$NS_C" "$NS_S" "$S4" "$dport" "$UDP_SIZE" "$sport" --chunk 1400 --no-df || rc=1
	cat "$KNO_TMP/big.stats"
	r1=$(snmp_counter "$NS_S" IpReasmOKs)
	# every full 1400-byte chunk exceeds the MTU (the last one may not)
	assert_atleast "server IpReasmOKs increase" $((r1 - r0)) $((UDP_SIZE / 1400)) || rc=1
	id1=$(ct_id "$NS_R" ipv4 udp "$sport" "$dport")
	echo "conntrack id before $id0, after $id1: $(ct_get "$NS_R" ipv4 udp "$sport" "$dport")"
	[ -n "$id0" ] && [ "$id0" = "$id1" ] || { echo "FAIL: conntrack entry was replaced"; rc=1; }
	ct_is_offloaded "$NS_R" ipv4 udp "$sport" "$dport" ||
		{ echo "FAIL: flow no longer offloaded after fragmentation"; rc=1; }
	# 3. small datagrams again: still the fast path
	ft_routed_reset
	udp_transfer small2 "$NS_C" "$NS_S" "$S4" "$dport" 65536 "$sport" --chunk 1000 || rc=1
	read -r _ by <<<"$(ft_routed_counter)"
	assert_below "forward-chain bytes after fragmentation" "${by:-999999999}" 16384 || rc=1
	[ "$(ct_id "$NS_R" ipv4 udp "$sport" "$dport")" = "$id0" ] ||
		{ echo "FAIL: conntrack entry replaced"; rc=1; }
	return $rc
}

setup || ktap_bail "setup failed"
impl_report

run_test "IPv4 TCP with DF over a smaller egress MTU: frag-needed, completes offloaded" t_tcp 4 5101 fragneeded
run_test "IPv6 TCP over a smaller egress MTU: packet-too-big, completes offloaded" t_tcp 6 5102 ptb
run_test "IPv4 UDP without DF over a smaller MTU: fragmented, delivered, flow stays offloaded" t_udp_frag

ktap_end
