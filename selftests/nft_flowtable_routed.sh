#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Plain routed flows (no NAT) through a software flowtable:
#   client --- router (flowtable ft on veth0, veth1) --- server
# For IPv4 and IPv6, TCP and UDP, with inet, ip and ip6 family flowtables,
# each flow is shown to be offloaded three ways:
#   - the data arrives intact (cmp),
#   - the router's forward-chain counter for tcp/udp saw far fewer bytes than
#     were transferred (below 1/4: only the packets before the flow was
#     added pass the forward chain),
#   - conntrack -L on the router shows [OFFLOAD] for the flow while it is live.
# It also checks that a TCP flow leaves the flowtable after FIN, and a UDP
# flow after the flowtable UDP timeout (shortened here), and that the
# conntrack entry then expires normally.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat conntrack python3 ss

SIZE=${KNO_XFER_SIZE:-4194304}
UDP_SIZE=${KNO_UDP_SIZE:-1048576}
TABLE=ft_test
TFAM=

ktap_begin 12

# router_ruleset FAMILY: (re)load the flowtable ruleset in the router.
router_ruleset()
{
	[ -n "$TFAM" ] && ip netns exec "$NS_R" nft delete table "$TFAM" "$TABLE"
	TFAM=$1
	nft_load "$NS_R" <<EOF
table $TFAM $TABLE {
	flowtable ft {
		hook ingress priority 0
		devices = { $RDEV_C, $RDEV_S }
	}

	counter routed { }
	counter invalid { }

	chain forward {
		type filter hook forward priority 0; policy accept;
		# (also keeps conntrack on when flow add is left out)
		ct state invalid counter name invalid
		meta l4proto { tcp, udp } $(flow_add_stmt @ft)
		meta l4proto { tcp, udp } counter name routed
	}
}
EOF
}

# check_offload KIND(tcp|udp) IPVER SPORT DPORT SIZE: counter + conntrack
check_offload()
{
	local proto=$1 fam=ipv$2 sport=$3 dport=$4 size=$5 rc=0 pk by

	read -r pk by < <(nft_counter "$NS_R" "$TFAM" "$TABLE" routed)
	echo "forward chain: $pk packets, $by bytes for $size bytes transferred"
	assert_below "forward-chain bytes" "${by:-999999999}" $((size / 4)) || rc=1
	assert_atleast "forward-chain packets (flow seen before offload)" "${pk:-0}" 1 || rc=1
	if ct_is_offloaded "$NS_R" "$fam" "$proto" "$sport" "$dport"; then
		echo "ok: [OFFLOAD] while live: $(ct_get "$NS_R" "$fam" "$proto" "$sport" "$dport")"
	else
		echo "FAIL: no [OFFLOAD] on the live flow: $(ct_get "$NS_R" "$fam" "$proto" "$sport" "$dport")"
		rc=1
	fi
	return $rc
}

daddr_for()
{
	[ "$1" = 4 ] && echo "$S4" || echo "$S6"
}

# t_tcp_live IPVER DPORT: transfer, keep the connection open, check offload.
t_tcp_live()
{
	local v=$1 dport=$2 id=tcp$1_$2

	nft_counter_reset "$NS_R" "$TFAM" "$TABLE" routed
	tcp_start "$id" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" "$SIZE" || return 1
	tcp_wait_received "$id" || return 1
	cmp "$KNO_TMP/$id.in" "$KNO_TMP/$id.out" || return 1
	check_offload tcp "$v" "$XFER_SPORT" "$dport" "$SIZE"
}

# t_tcp_fin IPVER DPORT: close the connection of t_tcp_live, cmp, and the
# flow must leave the flowtable (conntrack entry without [OFFLOAD]).
t_tcp_fin()
{
	local v=$1 dport=$2 id=tcp$1_$2 sport

	[ -e "$KNO_TMP/$id.spid" ] || fail "no live connection from the previous subtest" || return
	sport=$XFER_SPORT
	tcp_finish "$id" || return 1
	if ! wait_for 10 ct_not_offloaded "$NS_R" "ipv$v" tcp "$sport" "$dport"; then
		fail "still offloaded 10s after FIN: $(ct_get "$NS_R" "ipv$v" tcp "$sport" "$dport")"
		return
	fi
	echo "after FIN: $(ct_get "$NS_R" "ipv$v" tcp "$sport" "$dport")"
}

# t_tcp IPVER DPORT: both in one subtest (for the ip/ip6 families).
t_tcp()
{
	t_tcp_live "$@" && t_tcp_fin "$@"
}

# t_udp IPVER DPORT: reliable UDP transfer, then check offload (the flow
# stays in the flowtable for nf_flowtable_udp_timeout after the last packet).
t_udp()
{
	local v=$1 dport=$2 id=udp$1_$2

	nft_counter_reset "$NS_R" "$TFAM" "$TABLE" routed
	udp_transfer "$id" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" "$UDP_SIZE" || return 1
	cat "$KNO_TMP/$id.stats"
	check_offload udp "$v" "$XFER_SPORT" "$dport" "$UDP_SIZE"
}

# t_udp_timeout IPVER DPORT: with short flowtable and conntrack UDP
# timeouts, an idle UDP flow leaves the flowtable and then conntrack.
t_udp_timeout()
{
	local v=$1 dport=$2 id=udp_to$1 t0 t1 sport

	if ! ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_flowtable_udp_timeout=4; then
		skip "no net.netfilter.nf_flowtable_udp_timeout sysctl"
		return
	fi
	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=6 \
		net.netfilter.nf_conntrack_udp_timeout_stream=6 || return 1
	udp_transfer "$id" "$NS_C" "$NS_S" "$(daddr_for "$v")" "$dport" 65536 || return 1
	sport=$XFER_SPORT
	ct_is_offloaded "$NS_R" "ipv$v" udp "$sport" "$dport" ||
		fail "not offloaded right after the transfer: $(ct_get "$NS_R" "ipv$v" udp "$sport" "$dport")" ||
		return
	t0=$(now_ms)
	if ! wait_for 30 ct_not_offloaded "$NS_R" "ipv$v" udp "$sport" "$dport"; then
		fail "still offloaded 30s after the last packet (timeout 4s)"
		return
	fi
	t1=$(now_ms)
	echo "left the flowtable after $((t1 - t0)) ms: $(ct_get "$NS_R" "ipv$v" udp "$sport" "$dport")"
	if ! wait_while 30 ct_get_any "$NS_R" "ipv$v" udp "$sport" "$dport"; then
		fail "conntrack entry still there 30s after leaving the flowtable: $(ct_get "$NS_R" "ipv$v" udp "$sport" "$dport")"
		return
	fi
	echo "conntrack entry expired $(($(now_ms) - t1)) ms later"
}

ct_get_any()
{
	[ -n "$(ct_get "$@")" ]
}

topo_router || ktap_bail "topology setup failed"
router_ruleset inet || ktap_bail "cannot load an inet flowtable ruleset"
impl_report

run_test "inet flowtable: IPv4 TCP offloaded (cmp, counter, [OFFLOAD])" t_tcp_live 4 5001
run_test "inet flowtable: IPv4 TCP leaves the flowtable after FIN" t_tcp_fin 4 5001
run_test "inet flowtable: IPv6 TCP offloaded (cmp, counter, [OFFLOAD])" t_tcp_live 6 5002
run_test "inet flowtable: IPv6 TCP leaves the flowtable after FIN" t_tcp_fin 6 5002
run_test "inet flowtable: IPv4 UDP offloaded (cmp, counter, [OFFLOAD])" t_udp 4 5003
run_test "inet flowtable: IPv6 UDP offloaded (cmp, counter, [OFFLOAD])" t_udp 6 5004

if router_ruleset ip; then
	run_test "ip flowtable: IPv4 TCP offloaded, leaves after FIN" t_tcp 4 5011
	run_test "ip flowtable: IPv4 UDP offloaded" t_udp 4 5012
else
	ktap_fail "ip flowtable: IPv4 TCP offloaded, leaves after FIN" "cannot load the ip family ruleset"
	ktap_fail "ip flowtable: IPv4 UDP offloaded" "cannot load the ip family ruleset"
fi

if router_ruleset ip6; then
	run_test "ip6 flowtable: IPv6 TCP offloaded, leaves after FIN" t_tcp 6 5021
	run_test "ip6 flowtable: IPv6 UDP offloaded" t_udp 6 5022
else
	ktap_fail "ip6 flowtable: IPv6 TCP offloaded, leaves after FIN" "cannot load the ip6 family ruleset"
	ktap_fail "ip6 flowtable: IPv6 UDP offloaded" "cannot load the ip6 family ruleset"
fi

# inet again, for the timeout tests (they shorten the UDP timeouts).
if router_ruleset inet; then
	run_test "inet flowtable: IPv4 UDP flow leaves the flowtable after its timeout" t_udp_timeout 4 5031
	run_test "inet flowtable: IPv6 UDP flow leaves the flowtable after its timeout" t_udp_timeout 6 5032
else
	ktap_fail "inet flowtable: IPv4 UDP flow leaves the flowtable after its timeout" "cannot reload"
	ktap_fail "inet flowtable: IPv6 UDP flow leaves the flowtable after its timeout" "cannot reload"
fi

ktap_end
