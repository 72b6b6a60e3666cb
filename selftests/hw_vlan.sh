#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# VLAN flows offloaded to (simulated) hardware. The router's L3 interfaces
# are VLAN devices on top of the sim ports; the flowtable lists the sim
# ports (the lower devices), as OpenWrt's fw4 does. First the client side
# runs over VLAN 10 and the server side untagged: the hardware must pop tag
# 10 towards the server and push it towards the client. Then both sides are
# tagged (10 and 20): every rule pops one tag and pushes the other. In each
# case the rules must say so (matched VLAN, pop, push), the router's stack
# sees no packet of the flow after set-up, the rule counts the bulk, and
# the data compares equal (the receivers only listen on their VLAN device,
# so a wrong or missing tag loses the data).
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss nsenter
sim_require

SIZE1=65536
SIZE2=${KNO_XFER_SIZE:-2097152}
UDP_SIZE=${KNO_UDP_SIZE:-524288}

ktap_begin 5

# check_vlan CPORT SPORT KEY=VAL...: "r0:" / "r1:" prefixed expectations.
check_vlan()
{
	local cport=$1 rc=0 want dev k got

	shift
	for want in "$@"; do
		dev=${want%%:*}
		k=${want#*:}
		got=$(sim_rule_get "$dev" "$cport" "${k%%=*}")
		if [ "${k#*=}" != "$got" ]; then
			echo "FAIL: rule on $dev: ${k%%=*}=$got, expected ${k#*=}"
			rc=1
		fi
	done
	[ "$rc" = 0 ] && echo "ok: rules: $*"
	return $rc
}

# t_tcp V DPORT EXPECT...
t_tcp()
{
	local v=$1 dport=$2 id=tcp$1_$2 sport rc=0 daddr

	shift 2
	[ "$v" = 4 ] && daddr=$S4 || daddr=$S6
	sim_tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$SIZE1" "$SIZE2" || return 1
	sport=$XFER_SPORT
	sim_tcp_wait "$id" "$SIZE1" || return 1
	sim_wait_hw "ipv$v" tcp "$sport" "$dport" "$sport" || return 1
	check_vlan "$sport" "$@" || rc=1
	sim_snap a "$sport"
	sim_tcp_go "$id"
	sim_tcp_wait "$id" $((SIZE1 + SIZE2)) || return 1
	sim_snap b "$sport"
	sim_hw_proof a b "$SIZE2" up || rc=1
	sim_tcp_finish "$id" || rc=1
	return $rc
}

# t_udp V DPORT EXPECT...
t_udp()
{
	local v=$1 dport=$2 id=udp$1_$2 sport rc=0 daddr

	shift 2
	[ "$v" = 4 ] && daddr=$S4 || daddr=$S6
	sport=$(random_port)
	udp_transfer "${id}a" "$NS_C" "$NS_S" "$daddr" "$dport" 16384 "$sport" || return 1
	sim_wait_hw "ipv$v" udp "$sport" "$dport" "$sport" || return 1
	check_vlan "$sport" "$@" || rc=1
	sim_snap a "$sport"
	udp_transfer "${id}b" "$NS_C" "$NS_S" "$daddr" "$dport" "$UDP_SIZE" "$sport" || rc=1
	sim_snap b "$sport"
	sim_hw_proof a b "$UDP_SIZE" up || rc=1
	return $rc
}

new_topo()
{
	if [ -n "${NS_R:-}" ]; then
		sim_ns_del "$NS_C" "$NS_R" "$NS_S"
		wait_for 30 sim_is "sim_summary_get ports" = 0 ||
			{ ktap_comment "ports of the old topology are still there"; return 1; }
	fi
	if ! { sim_topo "$@" && sim_ruleset; } >"$KNO_TMP/topo.log" 2>&1; then
		ktap_comment "$(<"$KNO_TMP/topo.log")"
		return 1
	fi
}

if new_topo 10 0; then
	impl_report
	run_test "client VLAN 10, server untagged: IPv4 TCP pop/push in hardware, cmp" \
		t_tcp 4 5501 r0:vlans=8100:10 r0:pop=1 r0:push_vlan=- \
		r1:vlans=- r1:pop=0 r1:push_vlan=10
	run_test "client VLAN 10, server untagged: IPv6 TCP pop/push in hardware, cmp" \
		t_tcp 6 5502 r0:vlans=8100:10 r0:pop=1 r0:push_vlan=- \
		r1:vlans=- r1:pop=0 r1:push_vlan=10
	run_test "client VLAN 10, server untagged: IPv4 UDP pop/push in hardware, cmp" \
		t_udp 4 5503 r0:vlans=8100:10 r0:pop=1 r0:push_vlan=- \
		r1:vlans=- r1:pop=0 r1:push_vlan=10
else
	for i in 1 2 3; do
		ktap_fail "client VLAN 10, server untagged: subtest $i" "topology setup failed"
	done
fi

if new_topo 10 20; then
	run_test "client VLAN 10, server VLAN 20: IPv4 TCP pop+push in hardware, cmp" \
		t_tcp 4 5511 r0:vlans=8100:10 r0:pop=1 r0:push_vlan=20 \
		r1:vlans=8100:20 r1:pop=1 r1:push_vlan=10
	run_test "client VLAN 10, server VLAN 20: IPv6 UDP pop+push in hardware, cmp" \
		t_udp 6 5512 r0:vlans=8100:10 r0:pop=1 r0:push_vlan=20 \
		r1:vlans=8100:20 r1:pop=1 r1:push_vlan=10
else
	for i in 1 2; do
		ktap_fail "client VLAN 10, server VLAN 20: subtest $i" "topology setup failed"
	done
fi

ktap_end
