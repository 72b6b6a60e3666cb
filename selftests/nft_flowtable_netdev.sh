#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# netdev ingress/egress chains around the fast path:
#   client --- veth0 router veth1 --- server
#   - a netdev ingress chain on the router's input device (priority -10,
#     before the flowtable hook at 0) counts the offloaded packets: its
#     counter >= the data while the forward chain saw < 1/4 of it;
#   - a netdev ingress chain that sets DSCP cs3 on the input device: the
#     offloaded packets carry it to the server (every data packet arrives
#     with cs3, counted in the server's input chain);
#   - a netdev egress chain on the router's output device sets DSCP cs4
#     (IPv4 and IPv6) and counts: it sees the offloaded packets (egress
#     counter >= data) and the server receives every packet with cs4.
# Each flow is also shown offloaded (forward counter, [OFFLOAD], cmp).
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat conntrack python3 ss

SIZE=${KNO_XFER_SIZE:-4194304}

ktap_begin 4

setup()
{
	topo_router || return 1
	ft_router_ruleset inet || return 1
	nft_load "$NS_R" <<EOF || return 1
table netdev ndin {
	counter c_in { }

	chain in {
		type filter hook ingress device "$RDEV_C" priority -10; policy accept;
		tcp dport 5401 counter name c_in
		tcp dport 5402 ip dscp set cs3
	}
}
table netdev ndout {
	counter c_out4 { }
	counter c_out6 { }

	chain out {
		type filter hook egress device "$RDEV_S" priority 0; policy accept;
		tcp dport 5403 ip dscp set cs4 counter name c_out4
		tcp dport 5404 ip6 dscp set cs4 counter name c_out6
	}
}
EOF
	nft_load "$NS_S" <<EOF
table inet srv {
	counter c_cs3 { }
	counter c_not_cs3 { }
	counter c_cs4 { }
	counter c_not_cs4 { }
	counter c_cs4_6 { }
	counter c_not_cs4_6 { }

	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 5402 ip dscp cs3 counter name c_cs3
		tcp dport 5402 ip dscp != cs3 counter name c_not_cs3
		tcp dport 5403 ip dscp cs4 counter name c_cs4
		tcp dport 5403 ip dscp != cs4 counter name c_not_cs4
		tcp dport 5404 ip6 dscp cs4 counter name c_cs4_6
		tcp dport 5404 ip6 dscp != cs4 counter name c_not_cs4_6
	}
}
EOF
}

# t_flow IPVER DPORT [RTABLE RCOUNTER] [SCOUNTER NOT_SCOUNTER]
#   RTABLE/RCOUNTER: router netdev counter that must see >= SIZE bytes;
#   SCOUNTER: server counter that must see >= SIZE bytes; NOT_SCOUNTER:
#   packets of the flow without the DSCP, must be 0 (the chain mangles every
#   packet of the port, on the classic path and on the fast path).
t_flow()
{
	local v=$1 dport=$2 rt=${3:-} rc_=${4:-} sc=${5:-} nsc=${6:-} id=f$2 rc=0 daddr by pk

	[ "$v" = 4 ] && daddr=$S4 || daddr=$S6
	ft_routed_reset
	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$SIZE" || return 1
	tcp_wait_received "$id" || rc=1
	ft_check_offload tcp "$v" "$XFER_SPORT" "$dport" "$SIZE" || rc=1
	if [ -n "$rt" ]; then
		by=$(nft_counter_bytes "$NS_R" netdev "$rt" "$rc_")
		assert_atleast "router netdev $rt counter $rc_ bytes" "${by:-0}" "$SIZE" || rc=1
	fi
	if [ -n "$sc" ]; then
		by=$(nft_counter_bytes "$NS_S" inet srv "$sc")
		assert_atleast "server $sc bytes" "${by:-0}" "$SIZE" || rc=1
		pk=$(nft_counter_packets "$NS_S" inet srv "$nsc")
		[ "${pk:-1}" = 0 ] || { echo "FAIL: server $nsc: ${pk:-?} packets without the DSCP"; rc=1; }
	fi
	tcp_finish "$id" || rc=1
	return $rc
}

setup || ktap_bail "setup failed (netdev egress hook missing?)"
impl_report

run_test "netdev ingress chain on the input device counts offloaded packets" t_flow 4 5401 ndin c_in
run_test "netdev ingress chain sets DSCP: offloaded packets carry it" t_flow 4 5402 "" "" c_cs3 c_not_cs3
run_test "netdev egress chain on the output device sees offloaded IPv4 packets, DSCP set" \
	t_flow 4 5403 ndout c_out4 c_cs4 c_not_cs4
run_test "netdev egress chain on the output device sees offloaded IPv6 packets, DSCP set" \
	t_flow 6 5404 ndout c_out6 c_cs4_6 c_not_cs4_6

ktap_end
