#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# NATed flows offloaded to (simulated) hardware. The client connects to the
# router's own address on port 80NN, the router DNATs that to the server on
# port 54NN and masquerades the source (IPv4 and IPv6). The hardware must
# apply both translations with correct IPv4 header and L4 checksums (the
# receivers verify them: nothing offloads receive checksums here), so:
#   - the stack of the router sees no packet of the flow after set-up and
#     the sim's rule counts the bulk (as in hw_basic.sh),
#   - the data compares equal,
#   - the rules carry the NAT rewrite of both directions,
#   - an IPv4 UDP flow without checksum keeps checksum 0 through hardware
#     NAT (tcpdump on the server),
#   - with the sim's ipv6_nat knob off (the MediaTek PPE refuses IPv6
#     address mangles) an IPv6 NAT flow stays in software ([OFFLOAD] but not
#     [HW_OFFLOAD]) and still works.
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

ktap_begin 6

nat_rules()
{
	cat <<EOF
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr $R4C tcp dport 8001 dnat ip to $S4:5401
		ip daddr $R4C udp dport 8002 dnat ip to $S4:5402
		ip daddr $R4C udp dport 8003 dnat ip to $S4:5403
		ip6 daddr $R6C tcp dport 8004 dnat ip6 to [$S6]:5404
		ip6 daddr $R6C udp dport 8005 dnat ip6 to [$S6]:5405
		ip6 daddr $R6C tcp dport 8006 dnat ip6 to [$S6]:5406
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname $RDEV_S masquerade
	}
EOF
}

# check_nat V PROTO CPORT DPORT SPORT_SRV: the NAT rewrite in both rules.
check_nat()
{
	local v=$1 cport=$3 dport=$4 srvport=$5 rc=0 c r s rs k want got

	if [ "$v" = 4 ]; then
		c=$C4 r=$R4C s=$S4 rs=$R4S
	else
		c=$C6 r=$R6C s=$S6 rs=$R6S
	fi
	for want in "r0 nat_src=$rs" "r0 nat_dst=$s" "r0 nat_dport=$srvport" \
		"r0 nat_sport=$cport" "r1 nat_src=$r" "r1 nat_sport=$dport" \
		"r1 nat_dst=$c" "r1 nat_dport=$cport" "r0 out=r1" "r1 out=r0"; do
		k=${want#* }
		got=$(sim_rule_get "${want%% *}" "$cport" "${k%%=*}")
		if [ "${k#*=}" != "$got" ]; then
			echo "FAIL: rule on ${want%% *}: ${k%%=*}=$got, expected ${k#*=}"
			rc=1
		fi
	done
	[ "$rc" = 0 ] && echo "ok: both rules carry the SNAT and DNAT rewrite"
	return $rc
}

daddr_for()
{
	[ "$1" = 4 ] && echo "$R4C" || echo "$R6C"
}

# t_tcp V DPORT SRVPORT
t_tcp()
{
	local v=$1 dport=$2 srv=$3 id=tcp$1 sport rc=0

	SIM_LPORT=$srv sim_tcp_start "$id" "$NS_C" "$NS_S" "$(daddr_for "$v")" \
		"$dport" "$SIZE1" "$SIZE2" || return 1
	sport=$XFER_SPORT
	sim_tcp_wait "$id" "$SIZE1" || return 1
	sim_wait_hw "ipv$v" tcp "$sport" "$dport" "$sport" || return 1
	check_nat "$v" tcp "$sport" "$dport" "$srv" || rc=1
	sim_snap a "$sport"
	sim_tcp_go "$id"
	sim_tcp_wait "$id" $((SIZE1 + SIZE2)) || return 1
	sim_snap b "$sport"
	sim_hw_proof a b "$SIZE2" up || rc=1
	sim_tcp_finish "$id" || rc=1
	return $rc
}

# t_udp V DPORT SRVPORT [--no-check]
t_udp()
{
	local v=$1 dport=$2 srv=$3 opt=${4:-} id=udp$1_$2 sport rc=0 dump pid n

	sport=$(random_port)
	sim_udp_transfer "${id}a" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" "$srv" 16384 \
		"$sport" $opt || return 1
	sim_wait_hw "ipv$v" udp "$sport" "$dport" "$sport" || return 1
	check_nat "$v" udp "$sport" "$dport" "$srv" || rc=1
	sim_snap a "$sport"
	if [ -n "$opt" ]; then
		dump=$KNO_TMP/$id.dump
		bg_start pid timeout 120 ip netns exec "$NS_S" tcpdump -l -n -vv -c 5 -i s0 \
			"udp and dst port $srv" >"$dump" 2>&1
		wait_for 10 grep -q "listening on" "$dump" || { cat "$dump"; return 1; }
	fi
	sim_udp_transfer "${id}b" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" "$srv" \
		"$UDP_SIZE" "$sport" $opt || rc=1
	sim_snap b "$sport"
	sim_hw_proof a b "$UDP_SIZE" up || rc=1
	if [ -n "$opt" ]; then
		wait_pid_timeout 30 "$pid" >/dev/null
		n=$(grep -c "no cksum" "$dump")
		if [ "$n" -ge 5 ]; then
			echo "ok: $n hardware-NATed packets arrive without UDP checksum"
		else
			echo "FAIL: expected 5 packets with [no cksum], got $n:"
			cat "$dump"
			rc=1
		fi
	fi
	return $rc
}

# t_v6nat_sw: ipv6_nat off, the IPv6 NAT flow must stay in software.
t_v6nat_sw()
{
	local dport=8006 id=v6sw sport rc=0 before after

	sim_knob ipv6_nat 0
	defer sim_knob ipv6_nat 1
	before=$(sim_ports_sum ft_replace_failed r0 r1)
	SIM_LPORT=5406 sim_tcp_start "$id" "$NS_C" "$NS_S" "$R6C" "$dport" "$SIZE1" \
		"$SIZE1" || return 1
	sport=$XFER_SPORT
	sim_tcp_wait "$id" "$SIZE1" || return 1
	wait_for 10 ct_is_offloaded "$NS_R" ipv6 tcp "$sport" "$dport" ||
		fail "no [OFFLOAD]: $(ct_get "$NS_R" ipv6 tcp "$sport" "$dport")" || return
	# Give the offload work time to try (and fail) both directions.
	wait_for 10 sim_is "sim_ports_sum ft_replace_failed r0 r1" -ge $((before + 2))
	after=$(sim_ports_sum ft_replace_failed r0 r1)
	echo "refused REPLACE commands: $((after - before))"
	if ct_is_hw_offloaded "$NS_R" ipv6 tcp "$sport" "$dport"; then
		echo "FAIL: [HW_OFFLOAD] although the sim refuses IPv6 NAT"
		rc=1
	fi
	if [ "$(sim_flow_nrules "$sport")" != 0 ] || [ "$after" -lt $((before + 2)) ]; then
		echo "FAIL: expected no rule and 2 refused REPLACEs:"
		sim_rules
		rc=1
	fi
	sim_tcp_finish "$id" || rc=1
	echo "conntrack: $(ct_get "$NS_R" ipv6 tcp "$sport" "$dport")"
	return $rc
}

sim_topo || ktap_bail "topology setup failed"
sim_ruleset "$(nat_rules)" || ktap_bail "cannot load the offload ruleset"
impl_report

run_test "IPv4 TCP masquerade+DNAT in hardware: rewrite both ways, stack saw 0 packets, cmp" \
	t_tcp 4 8001 5401
run_test "IPv4 UDP masquerade+DNAT in hardware: rewrite both ways, stack saw 0 packets, cmp" \
	t_udp 4 8002 5402
run_test "IPv4 UDP without checksum through hardware NAT keeps checksum 0, cmp" \
	t_udp 4 8003 5403 --no-check
run_test "IPv6 TCP masquerade+DNAT in hardware: rewrite both ways, stack saw 0 packets, cmp" \
	t_tcp 6 8004 5404
run_test "IPv6 UDP masquerade+DNAT in hardware: rewrite both ways, stack saw 0 packets, cmp" \
	t_udp 6 8005 5405
run_test "ipv6_nat off: IPv6 NAT flow refused by the sim stays in software, cmp" t_v6nat_sw

ktap_end
