#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Forwarding decided by the simulated NIC's ingress ACL (see
# hw_netdev_basic.sh): the router namespace only holds two sim ports, r0 and
# r1, without addresses, and an offloaded netdev chain
#     udp dport 7100 counter drop
#     meta iif "r0" counter fwd to "r1"
#     meta iif "r1" counter fwd to "r0"
# so client (10.7.0.1) and server (10.7.0.2), on one subnet, talk through
# the hardware alone:
#   1. ping, ARP/ND and a 1 MiB TCP transfer work (cmp), the router's ports
#      delivered no frame to its stack (rx_packets unchanged), and each fwd
#      rule counted exactly the frames the client (server) sent;
#   2. the drop rule in front wins: 0 of 50 datagrams to port 7100 arrive,
#      50 of 50 to port 7101 do;
#   3. tc flower with skip_sw on a second pair of ports: tagged (VLAN 10)
#      frames from the client are popped and redirected, untagged frames
#      from the server get tag 10 pushed and are redirected back; ping over
#      the VLAN works only if the hardware pops and pushes.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft tc socat python3 ss nsenter
sim_require

N=50

ktap_begin 3

topo()
{
	setup_ns NS_C NS_R NS_S || return 1
	sim_pair "$NS_R" r0 c0 && sim_pair "$NS_R" r1 s0 || return 1
	ip -n "$NS_R" link set c0 netns "$NS_C" || return 1
	ip -n "$NS_R" link set s0 netns "$NS_S" || return 1
	ip -n "$NS_C" addr add 10.7.0.1/24 dev c0
	ip -n "$NS_C" addr add fd07::1/64 dev c0 nodad
	ip -n "$NS_S" addr add 10.7.0.2/24 dev s0
	ip -n "$NS_S" addr add fd07::2/64 dev s0 nodad
	ip -n "$NS_C" link set c0 up
	ip -n "$NS_S" link set s0 up
	ip -n "$NS_R" link set r0 up
	ip -n "$NS_R" link set r1 up
	nft_load "$NS_R" <<EOF
table netdev kno_fwd {
	chain in {
		type filter hook ingress devices = { r0, r1 } priority 10; flags offload; policy accept;
		udp dport 7100 counter drop
		meta iif "r0" counter fwd to "r1"
		meta iif "r1" counter fwd to "r0"
	}
}
EOF
}

# fwd_get PORT KEY [ACL]: the fwd rule installed on PORT that is for PORT's
# own ingress (iif = PORT's ifindex), field KEY; from ACL (the acl file's
# text) if given. Parsed in bash: snap runs many times per subtest.
fwd_get()
{
	local acl=${3-$(<"$SIM_DBG/acl")} ifidx line

	ifidx=$(sim_port_get "$1" ifindex)
	while IFS= read -r line; do
		[[ $line == "port=$1 "* && $line == *" iif=$ifidx "* &&
			$line == *"verdict=redirect"* ]] || continue
		_sim_field "$line" "$2"
		return
	done <<<"$acl"
}

t_wire()
{
	local rc=0 rx0 rx1 f0 f1 c0 c1 s0 s1 g0 g1

	read -r rx0 f0 g0 c0 s0 < <(snap_quiet)
	ip netns exec "$NS_C" ping -q -c 10 -i 0.2 -W 2 10.7.0.2 || rc=1
	ip netns exec "$NS_C" ping -q -c 5 -i 0.2 -W 2 fd07::2 || rc=1
	tcp_transfer fw "$NS_C" "$NS_S" 10.7.0.2 7200 1048576 || rc=1
	read -r rx1 f1 g1 c1 s1 < <(snap_quiet)
	assert_eq "frames r0+r1 delivered to the router's stack" $((rx1 - rx0)) 0 || rc=1
	assert_eq "frames the r0 fwd rule counted (= sent by the client)" $((f1 - f0)) $((c1 - c0)) || rc=1
	assert_eq "frames the r1 fwd rule counted (= sent by the server)" $((g1 - g0)) $((s1 - s0)) || rc=1
	assert_atleast "frames through the hardware" $((f1 - f0)) 700 || rc=1
	[ "$rc" = 0 ] || cat "$SIM_DBG/acl"
	return $rc
}

# snap: r0+r1 rx_packets, fwd rule packets on r0 and r1, c0 and s0
# tx_packets, from one read of each file.
snap()
{
	local ports acl

	ports=$(<"$SIM_DBG/ports")
	acl=$(<"$SIM_DBG/acl")
	echo "$(($(sim_port_get r0 rx_packets "$ports") + $(sim_port_get r1 rx_packets "$ports")))" \
		"$(fwd_get r0 packets "$acl")" "$(fwd_get r1 packets "$acl")" \
		"$(sim_port_get c0 tx_packets "$ports")" "$(sim_port_get s0 tx_packets "$ports")"
}

# snap_quiet: snap once the counters stopped moving (late ACKs, ND), so
# that the per-file reads of one snap agree; at most 10 tries.
snap_quiet()
{
	local a b i

	a=$(snap)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.5
		b=$(snap)
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$b"
}

t_drop()
{
	local rc=0

	sim_sink_start d "$NS_S" 0.0.0.0 7100 60 || return 1
	sim_sink_start c "$NS_S" 0.0.0.0 7101 60 || return 1
	sim_burst "$NS_C" 10.7.0.2 7100 "$N" || return 1
	sim_burst "$NS_C" 10.7.0.2 7101 "$N" || return 1
	wait_for 20 sim_is "sim_sink_count c" = "$N" || rc=1
	sim_sink_stop d
	sim_sink_stop c
	assert_eq "datagrams to 7100 that arrived" "$(sim_sink_count d)" 0 || rc=1
	assert_eq "datagrams to 7101 that arrived" "$(sim_sink_count c)" "$N" || rc=1
	assert_eq "drop rule packets on r0" "$(grep '^port=r0 ' "$SIM_DBG/acl" |
		grep 'verdict=drop' | sed -n 's/.* packets=\([0-9]*\).*/\1/p')" "$N" || rc=1
	return $rc
}

t_tc_vlan()
{
	local rc=0 rx0 rx1 p

	sim_pair "$NS_R" r2 c1 && sim_pair "$NS_R" r3 s1 || return 1
	ip -n "$NS_R" link set c1 netns "$NS_C" || return 1
	ip -n "$NS_R" link set s1 netns "$NS_S" || return 1
	# Untagged frames from c1 (IPv6 RS, MLD) would miss the VLAN filter
	# and reach the router's stack: c1 itself speaks no IPv6.
	ip netns exec "$NS_C" sysctl -qw net.ipv6.conf.c1.disable_ipv6=1
	ip -n "$NS_C" link set c1 up
	ip -n "$NS_C" link add link c1 name c1.10 type vlan id 10 || return 1
	ip -n "$NS_C" addr add 10.8.0.1/24 dev c1.10
	ip -n "$NS_C" link set c1.10 up
	ip -n "$NS_S" addr add 10.8.0.2/24 dev s1
	ip -n "$NS_S" link set s1 up
	ip -n "$NS_R" link set r2 up
	ip -n "$NS_R" link set r3 up
	for p in r2 r3; do
		ip netns exec "$NS_R" tc qdisc add dev "$p" clsact || return 1
	done
	ip netns exec "$NS_R" tc filter add dev r2 ingress protocol 802.1Q prio 1 \
		flower skip_sw vlan_id 10 \
		action vlan pop action mirred egress redirect dev r3 || return 1
	ip netns exec "$NS_R" tc filter add dev r3 ingress protocol all prio 1 \
		flower skip_sw \
		action vlan push id 10 action mirred egress redirect dev r2 || return 1
	ip netns exec "$NS_R" tc -s filter show dev r2 ingress | grep -q in_hw ||
		{ echo "FAIL: r2 filter not in hardware"; rc=1; }
	rx0=$(($(sim_port_get r2 rx_packets) + $(sim_port_get r3 rx_packets)))
	ip netns exec "$NS_C" ping -q -c 10 -i 0.2 -W 2 10.8.0.2 || rc=1
	rx1=$(($(sim_port_get r2 rx_packets) + $(sim_port_get r3 rx_packets)))
	assert_eq "frames r2+r3 delivered to the router's stack" $((rx1 - rx0)) 0 || rc=1
	grep -E "^port=r[23] " "$SIM_DBG/acl"
	assert_atleast "packets popped and redirected on r2" \
		"$(grep '^port=r2 ' "$SIM_DBG/acl" | sed -n 's/.* packets=\([0-9]*\).*/\1/p')" 10 || rc=1
	assert_atleast "packets pushed and redirected on r3" \
		"$(grep '^port=r3 ' "$SIM_DBG/acl" | sed -n 's/.* packets=\([0-9]*\).*/\1/p')" 10 || rc=1
	ip netns exec "$NS_R" tc -s filter show dev r2 ingress | grep -E "Sent|in_hw"
	return $rc
}

topo || ktap_bail "topology setup failed"

run_test "client and server talk through hardware fwd only (ping, TCP cmp, exact counts)" t_wire
run_test "a drop rule before the fwd rules: 0/$N dropped, $N/$N forwarded" t_drop
run_test "tc flower skip_sw: VLAN pop + redirect, push + redirect in hardware" t_tc_vlan

ktap_end
