#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Conntrack accounting of fast-path packets:
#   client --- router (flowtable ft with/without "counter") --- server
# With net.netfilter.nf_conntrack_acct=1 and the flowtable "counter" flag,
# the conntrack entry of an offloaded flow counts the packets the fast path
# forwarded: bytes= in the original direction >= the data transferred, while
# the forward-chain counter stays below 1/4 of it ([OFFLOAD], cmp as usual).
# Control: without the flag, conntrack only counts the few packets that took
# the classic path (so the check above really depends on the fast path
# feeding conntrack).
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat conntrack python3 ss

SIZE=${KNO_XFER_SIZE:-4194304}
UDP_SIZE=${KNO_UDP_SIZE:-1048576}

ktap_begin 4

# check_acct PROTO IPVER SPORT DPORT MIN_ORIG_BYTES MAX_ORIG_BYTES
check_acct()
{
	local ob rb

	read -r ob rb <<<"$(ct_bytes "$NS_R" "ipv$2" "$1" "$3" "$4")"
	echo "conntrack bytes: original ${ob:-?}, reply ${rb:-?}: $(ct_get "$NS_R" "ipv$2" "$1" "$3" "$4")"
	[ -n "$ob" ] || { echo "FAIL: no bytes= in conntrack -L (accounting off?)"; return 1; }
	assert_atleast "conntrack original bytes" "$ob" "$5" || return 1
	[ -z "${6:-}" ] || assert_below "conntrack original bytes" "$ob" "$6"
}

# t_tcp IPVER DPORT: counter flag on
t_tcp()
{
	local v=$1 dport=$2 id=tcp$1 rc=0 daddr

	[ "$v" = 4 ] && daddr=$S4 || daddr=$S6
	ft_routed_reset
	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$SIZE" || return 1
	tcp_wait_received "$id" || rc=1
	ft_check_offload tcp "$v" "$XFER_SPORT" "$dport" "$SIZE" || rc=1
	check_acct tcp "$v" "$XFER_SPORT" "$dport" "$SIZE" || rc=1
	tcp_finish "$id" || rc=1
	return $rc
}

t_udp()
{
	local v=$1 dport=$2 id=udp$1 rc=0 daddr

	[ "$v" = 4 ] && daddr=$S4 || daddr=$S6
	ft_routed_reset
	udp_transfer "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$UDP_SIZE" || rc=1
	ft_check_offload udp "$v" "$XFER_SPORT" "$dport" "$UDP_SIZE" || rc=1
	check_acct udp "$v" "$XFER_SPORT" "$dport" "$UDP_SIZE" || rc=1
	return $rc
}

# t_control: flowtable without the counter flag: conntrack misses the
# fast-path bytes.
t_control()
{
	local id=ctl rc=0 dport=5209

	ft_router_ruleset inet || return 1
	ft_routed_reset
	tcp_start "$id" "$NS_C" "$NS_S" "$S4" "$dport" "$SIZE" || return 1
	tcp_wait_received "$id" || rc=1
	ft_check_offload tcp 4 "$XFER_SPORT" "$dport" "$SIZE" || rc=1
	check_acct tcp 4 "$XFER_SPORT" "$dport" 1 $((SIZE / 4)) || rc=1
	tcp_finish "$id" || rc=1
	return $rc
}

topo_router || ktap_bail "topology setup failed"
# (the ruleset loads nf_conntrack, which brings the sysctl; accounting must
# be on before the flows are created)
ft_router_ruleset inet counter || ktap_bail "cannot load a flowtable with the counter flag"
ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_acct=1 ||
	ktap_bail "no net.netfilter.nf_conntrack_acct"
impl_report

run_test "counter flag: IPv4 TCP fast-path bytes in conntrack accounting" t_tcp 4 5201
run_test "counter flag: IPv6 TCP fast-path bytes in conntrack accounting" t_tcp 6 5202
run_test "counter flag: IPv4 UDP fast-path bytes in conntrack accounting" t_udp 4 5203
run_test "no counter flag: conntrack does not see the fast-path bytes (control)" t_control

ktap_end
