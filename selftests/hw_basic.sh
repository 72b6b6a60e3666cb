#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Routed flows offloaded to (simulated) hardware:
#   client c0 <-simpair-> r0 router r1 <-simpair-> s0 server
# The router has a "flags offload" flowtable over r0 and r1. For IPv4 and
# IPv6, TCP and UDP, each flow first exchanges a little data (set-up), then,
# once conntrack shows [HW_OFFLOAD] and the sim holds a rule for each
# direction, the bulk of the data. While the bulk flows:
#   - the router's forward-chain counter does not move,
#   - no tcp/udp packet reaches the router's stack on r0 or r1 (netdev
#     ingress counters), and the ports' rx_packets grow by less than 16
#     (neighbour discovery only),
#   - the sim's rule for the data direction counted the bytes,
# and the data arrives intact (cmp). Rules must look like what the
# flowtable is expected to send (egress port, MACs, FIN/RST mask), and the
# hardware path must decrement TTL / hop limit like a router.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss tcpdump nsenter
sim_require

SIZE1=65536
SIZE2=${KNO_XFER_SIZE:-2097152}
UDP_SIZE=${KNO_UDP_SIZE:-524288}

ktap_begin 5

daddr_for()
{
	[ "$1" = 4 ] && echo "$S4" || echo "$S6"
}

# t_tcp IPVER DPORT
t_tcp()
{
	local v=$1 dport=$2 id=tcp$1 sport rc=0

	sim_tcp_start "$id" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" \
		"$SIZE1" "$SIZE2" || return 1
	sport=$XFER_SPORT
	sim_tcp_wait "$id" "$SIZE1" || return 1
	sim_wait_hw "ipv$v" tcp "$sport" "$dport" "$sport" || return 1
	sim_snap a "$sport"
	sim_tcp_go "$id"
	sim_tcp_wait "$id" $((SIZE1 + SIZE2)) || return 1
	sim_snap b "$sport"
	sim_hw_proof a b "$SIZE2" up || rc=1
	sim_tcp_finish "$id" || rc=1
	return $rc
}

# t_udp IPVER DPORT: set-up transfer, then the bulk on the same 5-tuple,
# with tcpdump on the server checking TTL / hop limit of hardware-forwarded
# packets (the client sends with 64).
t_udp()
{
	local v=$1 dport=$2 id=udp$1 sport rc=0 dump pid want

	sport=$(random_port)
	udp_transfer "${id}a" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" 16384 "$sport" ||
		return 1
	sim_wait_hw "ipv$v" udp "$sport" "$dport" "$sport" || return 1
	sim_snap a "$sport"

	dump=$KNO_TMP/$id.dump
	bg_start pid timeout 120 ip netns exec "$NS_S" tcpdump -l -n -v -c 5 -i s0 \
		"udp and dst port $dport" >"$dump" 2>&1
	wait_for 10 grep -q "listening on" "$dump" || { cat "$dump"; return 1; }

	udp_transfer "${id}b" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" "$UDP_SIZE" "$sport" ||
		rc=1
	sim_snap b "$sport"
	sim_hw_proof a b "$UDP_SIZE" up || rc=1

	wait_pid_timeout 30 "$pid" >/dev/null
	[ "$v" = 4 ] && want="ttl 63" || want="hlim 63"
	if [ "$(grep -c "$want" "$dump")" -ge 5 ]; then
		echo "ok: hardware-forwarded packets arrive with $want"
	else
		echo "FAIL: expected 5 captured packets with $want:"
		cat "$dump"
		rc=1
	fi
	return $rc
}

# t_rule_shape: the IPv4 TCP rules as the flowtable sends them.
t_rule_shape()
{
	local dport=5301 id=shape sport rc=0 mac_s mac_c mac_r0 mac_r1 line

	sim_tcp_start "$id" "$NS_C" "$NS_S" "$S4" "$dport" 4096 4096 || return 1
	sport=$XFER_SPORT
	sim_tcp_wait "$id" 4096 || return 1
	sim_wait_hw ipv4 tcp "$sport" "$dport" "$sport" || return 1
	mac_c=$(ip -n "$NS_C" -br link show c0 | awk '{print $3}')
	mac_s=$(ip -n "$NS_S" -br link show s0 | awk '{print $3}')
	mac_r0=$(ip -n "$NS_R" -br link show r0 | awk '{print $3}')
	mac_r1=$(ip -n "$NS_R" -br link show r1 | awk '{print $3}')
	for line in \
		"r0 out=r1 dmac=$mac_s smac=$mac_r1 src=$C4 dst=$S4 sport=$sport dport=$dport" \
		"r1 out=r0 dmac=$mac_c smac=$mac_r0 src=$S4 dst=$C4 sport=$dport dport=$sport"; do
		if check_rule_fields $line family=ipv4 proto=tcp tcp_mask=0x5 \
			vlans=- pop=0 push_vlan=- nat_src=- nat_dst=-; then
			echo "ok: rule on ${line%% *} has $line"
		else
			rc=1
		fi
	done
	sim_tcp_finish "$id" || rc=1
	return $rc
}

# check_rule_fields DEV KEY=VALUE...: the rule on DEV matching the first
# sport/dport pair has every KEY=VALUE.
check_rule_fields()
{
	local dev=$1 r kv

	shift
	r=$(grep "^port=$dev " "$SIM_DBG/rules")
	for kv in "$@"; do
		case "$kv" in
		sport=* | dport=*) r=$(echo "$r" | grep " $kv ") ;;
		esac
	done
	if [ "$(echo "$r" | grep -c .)" != 1 ]; then
		echo "FAIL: expected one rule on $dev for $*, got:"
		sim_rules
		return 1
	fi
	for kv in "$@"; do
		if ! echo " $r " | grep -q " $kv "; then
			echo "FAIL: rule on $dev lacks $kv: $r"
			return 1
		fi
	done
}

sim_topo || ktap_bail "topology setup failed"
sim_ruleset || ktap_bail "cannot load the offload ruleset"
impl_report

run_test "IPv4 TCP in hardware: stack saw 0 packets, rule counted the bytes, cmp" t_tcp 4 5201
run_test "IPv6 TCP in hardware: stack saw 0 packets, rule counted the bytes, cmp" t_tcp 6 5202
run_test "IPv4 UDP in hardware: stack saw 0 packets, TTL decremented, cmp" t_udp 4 5203
run_test "IPv6 UDP in hardware: stack saw 0 packets, hop limit decremented, cmp" t_udp 6 5204
run_test "rules carry egress port, MAC rewrite and the FIN/RST mask" t_rule_shape

ktap_end
