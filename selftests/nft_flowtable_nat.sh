#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# NAT on the software fast path:
#   client --- router (flowtable + ip/ip6 nat) --- server
# Every case proves offload (forward-chain counter < 1/4 of the data,
# [OFFLOAD] in conntrack, cmp of the data) and proves that the fast path
# applied the translation: a counter in the server's input chain that only
# matches the translated addresses/ports saw at least all the data bytes.
# Checksums: the server verifies L3/L4 checksums in software (veth hands
# over CHECKSUM_NONE skbs unchanged), so a wrong incremental update drops
# packets, the transfer stalls and cmp fails; TcpInCsumErrors /
# UdpInCsumErrors / Udp6InCsumErrors on the server must stay unchanged.
# Covered: IPv4 SNAT (+ports), DNAT, masquerade with a port range, UDP with
# SNAT+DNAT, IPv4 UDP with checksum 0 (must stay 0), TCP whose skbs reach
# the router as CHECKSUM_NONE (client tx checksum offload off) and as
# CHECKSUM_PARTIAL (router's egress tx checksum offload off, so the router
# finishes the checksum), IPv6 masquerade (TCP, UDP) and IPv6 DNAT.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat conntrack python3 ss ethtool nstat

SIZE=${KNO_XFER_SIZE:-4194304}
UDP_SIZE=${KNO_UDP_SIZE:-1048576}
SNAT4=198.51.100.3	# extra router address used as SNAT source
VIP4=203.0.113.10	# DNAT'ed virtual address, routed to the router
VIP6=2001:db8:99::10

ktap_begin 11

setup_nat()
{
	ip -n "$NS_R" addr add "$SNAT4/24" dev "$RDEV_S" || return 1
	ft_router_ruleset inet || return 1
	nft_load "$NS_R" <<EOF || return 1
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr $VIP4 tcp dport 80 dnat to $S4:6002
		ip daddr $VIP4 udp dport 53 dnat to $S4:6004
		ip daddr $VIP4 udp dport 54 dnat to $S4:6005
		ip daddr $VIP4 tcp dport 81 dnat to $S4:6006
		ip daddr $VIP4 tcp dport 82 dnat to $S4:6007
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip daddr $S4 tcp dport 6001 snat to $SNAT4:40000-40099
		oifname "$RDEV_S" tcp dport 6003 masquerade to :41000-41099
		ip daddr $S4 udp dport { 6004, 6005 } snat to $SNAT4:42000-42099
		ip daddr $S4 tcp dport { 6006, 6007 } snat to $SNAT4:43000-43099
	}
}
table ip6 nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip6 daddr $VIP6 tcp dport 80 dnat to [$S6]:6103
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "$RDEV_S" meta l4proto { tcp, udp } th dport { 6101, 6102 } masquerade to :44000-44099
	}
}
EOF
	ip -n "$NS_C" route add "$VIP4/32" via "$R4C" 2>/dev/null
	ip -n "$NS_C" route add "$VIP6/128" via "$R6C" 2>/dev/null
	# Server: counters that match only the translated packets.
	nft_load "$NS_S" <<EOF
table inet srv {
	counter c_snat { }
	counter c_dnat { }
	counter c_masq { }
	counter c_udpnat { }
	counter c_udpcsum0 { }
	counter c_udpcsum0_all { }
	counter c_csumnone { }
	counter c_csumpartial { }
	counter c_masq6 { }
	counter c_masq6udp { }
	counter c_dnat6 { }

	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr $SNAT4 tcp sport 40000-40099 tcp dport 6001 counter name c_snat
		ip saddr $C4 tcp dport 6002 counter name c_dnat
		ip saddr $R4S tcp sport 41000-41099 tcp dport 6003 counter name c_masq
		ip saddr $SNAT4 udp sport 42000-42099 udp dport 6004 counter name c_udpnat
		ip saddr $SNAT4 udp sport 42000-42099 udp dport 6005 udp checksum 0 counter name c_udpcsum0
		udp dport 6005 counter name c_udpcsum0_all
		ip saddr $SNAT4 tcp sport 43000-43099 tcp dport 6006 counter name c_csumnone
		ip saddr $SNAT4 tcp sport 43000-43099 tcp dport 6007 counter name c_csumpartial
		ip6 saddr $R6S tcp sport 44000-44099 tcp dport 6101 counter name c_masq6
		ip6 saddr $R6S udp sport 44000-44099 udp dport 6102 counter name c_masq6udp
		ip6 saddr $C6 tcp dport 6103 counter name c_dnat6
	}
}
EOF
}

# server_saw NAME MIN: the server counter NAME saw at least MIN bytes
server_saw()
{
	local by

	by=$(nft_counter_bytes "$NS_S" inet srv "c_$1")
	assert_atleast "server counter $1 (translated packets) bytes" "${by:-0}" "$2"
}

csum_errors()
{
	echo "$(snmp_counter "$NS_S" TcpInCsumErrors)" \
		"$(snmp_counter "$NS_S" UdpInCsumErrors)" \
		"$(snmp_counter "$NS_S" Udp6InCsumErrors)"
}

# t_tcp ID IPVER DADDR DPORT SRVCOUNTER: TCP through NAT, offloaded.
# DPORT is CPORT/LPORT when the router rewrites the destination port.
t_tcp()
{
	local id=$1 v=$2 daddr=$3 dport=$4 cnt=$5 rc=0 e0 e1

	e0=$(csum_errors)
	ft_routed_reset
	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$SIZE" || return 1
	tcp_wait_received "$id" || rc=1
	ft_check_offload tcp "$v" "$XFER_SPORT" "${dport%/*}" "$SIZE" || rc=1
	server_saw "$cnt" "$SIZE" || rc=1
	tcp_finish "$id" || rc=1
	e1=$(csum_errors)
	[ "$e0" = "$e1" ] || { echo "FAIL: server checksum errors (tcp udp udp6): $e0 -> $e1"; rc=1; }
	return $rc
}

# t_udp ID IPVER DADDR DPORT SRVCOUNTER [SENDER OPTS]: UDP through NAT.
t_udp()
{
	local id=$1 v=$2 daddr=$3 dport=$4 cnt=$5 rc=0 e0 e1

	shift 5
	e0=$(csum_errors)
	ft_routed_reset
	udp_transfer "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$UDP_SIZE" "" "$@" || rc=1
	cat "$KNO_TMP/$id.stats" 2>/dev/null
	ft_check_offload udp "$v" "$XFER_SPORT" "${dport%/*}" "$UDP_SIZE" || rc=1
	server_saw "$cnt" "$UDP_SIZE" || rc=1
	e1=$(csum_errors)
	[ "$e0" = "$e1" ] || { echo "FAIL: server checksum errors (tcp udp udp6): $e0 -> $e1"; rc=1; }
	return $rc
}

# t_udp_csum0: datagrams sent with checksum 0 (SO_NO_CHECK) through SNAT +
# DNAT arrive with checksum 0 (every received datagram).
t_udp_csum0()
{
	local rc=0 p0 p1

	t_udp udpc0 4 "$VIP4" 54/6005 udpcsum0 --no-check || rc=1
	p0=$(nft_counter_packets "$NS_S" inet srv c_udpcsum0)
	p1=$(nft_counter_packets "$NS_S" inet srv c_udpcsum0_all)
	echo "server: $p0 of $p1 datagrams had checksum 0 and the translated tuple"
	[ "${p0:-0}" -gt 0 ] && [ "$p0" = "$p1" ] || { echo "FAIL: checksum not 0 on every datagram"; rc=1; }
	return $rc
}

# t_csum_none: client tx checksum offload off: the router gets
# CHECKSUM_NONE skbs with a full checksum to update incrementally.
t_csum_none()
{
	local rc=0

	ip netns exec "$NS_C" ethtool -K eth0 tx off >/dev/null || return 1
	ip netns exec "$NS_C" ethtool -k eth0 | grep -E '^tx-checksumming'
	t_tcp csnone 4 "$VIP4" 81/6006 csumnone || rc=1
	ip netns exec "$NS_C" ethtool -K eth0 tx on >/dev/null
	return $rc
}

# t_csum_partial: client tx checksum offload on (CHECKSUM_PARTIAL skbs reach
# the router), router egress tx checksum offload off: the router computes
# the final checksum from the (NAT-updated) pseudo-header seed.
t_csum_partial()
{
	local rc=0

	ip netns exec "$NS_C" ethtool -k eth0 | grep -E '^tx-checksumming'
	ip netns exec "$NS_R" ethtool -K "$RDEV_S" tx off >/dev/null || return 1
	t_tcp cspart 4 "$VIP4" 82/6007 csumpartial || rc=1
	ip netns exec "$NS_R" ethtool -K "$RDEV_S" tx on >/dev/null
	return $rc
}

t_no_invalid()
{
	local pk

	pk=$(nft_counter_packets "$NS_R" "$FT_FAMILY" "$FT_TABLE" invalid)
	echo "router: ${pk:-?} packets with ct state invalid"
	[ "${pk:-1}" = 0 ]
}

topo_router || ktap_bail "topology setup failed"
setup_nat || ktap_bail "cannot load the NAT rulesets"
impl_report

run_test "IPv4 TCP SNAT to address:port range, offloaded" t_tcp snat 4 "$S4" 6001 snat
run_test "IPv4 TCP DNAT, offloaded" t_tcp dnat 4 "$VIP4" 80/6002 dnat
run_test "IPv4 TCP masquerade with port range, offloaded" t_tcp masq 4 "$S4" 6003 masq
run_test "IPv4 UDP DNAT + SNAT, offloaded" t_udp udpnat 4 "$VIP4" 53/6004 udpnat
run_test "IPv4 UDP checksum 0 stays 0 through DNAT + SNAT, offloaded" t_udp_csum0
run_test "IPv4 TCP DNAT + SNAT, CHECKSUM_NONE skbs, checksums valid" t_csum_none
run_test "IPv4 TCP DNAT + SNAT, CHECKSUM_PARTIAL skbs, checksums valid" t_csum_partial
run_test "IPv6 TCP masquerade with port range, offloaded" t_tcp masq6 6 "$S6" 6101 masq6
run_test "IPv6 UDP masquerade with port range, offloaded" t_udp masq6u 6 "$S6" 6102 masq6udp
run_test "IPv6 TCP DNAT, offloaded" t_tcp dnat6 6 "$VIP6" 80/6103 dnat6
run_test "no invalid conntrack packets on the router" t_no_invalid

ktap_end
