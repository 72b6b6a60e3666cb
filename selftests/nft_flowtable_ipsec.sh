#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# IPsec (xfrm tunnel mode) and the fast path:
#   client --- router ==ESP tunnel== server
# The router and the server protect client-net <-> server traffic with an
# ESP tunnel (router R4S <-> server S4, resp. R6S <-> S6). A flow that
# matches the xfrm policy must still be encrypted when it is offloaded:
#   - cmp of the data;
#   - the router's outbound SA counted at least the transferred bytes
#     (ip -s xfrm state "current" bytes);
#   - the server's input chain saw at least that many ESP bytes, and no
#     plaintext (no secpath) packet of the flow at all;
#   - the flow itself is offloaded (forward counter < 1/4, [OFFLOAD]): the
#     fast path hands it to xfrm output.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat conntrack python3 ss

SIZE=${KNO_IPSEC_SIZE:-2097152}
KEY_ENC=0x$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY_AUTH=0x$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')

ktap_begin 5

# esp_pair NS ME REMOTE LOCALNET REMOTENET SPI_OUT SPI_IN DIR_IN(in|fwd)
esp_pair()
{
	local ns=$1 me=$2 remote=$3 lnet=$4 rnet=$5 spo=$6 spi=$7 dirin=$8

	ip -n "$ns" xfrm state add src "$me" dst "$remote" proto esp spi "$spo" \
		enc 'cbc(aes)' "$KEY_ENC" auth 'hmac(sha1)' "$KEY_AUTH" mode tunnel \
		sel src "$lnet" dst "$rnet" || return 1
	ip -n "$ns" xfrm state add src "$remote" dst "$me" proto esp spi "$spi" \
		enc 'cbc(aes)' "$KEY_ENC" auth 'hmac(sha1)' "$KEY_AUTH" mode tunnel \
		sel src "$rnet" dst "$lnet" || return 1
	ip -n "$ns" xfrm policy add src "$lnet" dst "$rnet" dir out \
		tmpl src "$me" dst "$remote" proto esp mode tunnel || return 1
	ip -n "$ns" xfrm policy add src "$rnet" dst "$lnet" dir "$dirin" \
		tmpl src "$remote" dst "$me" proto esp mode tunnel
}

XFRM_DONE=0

setup_xfrm()
{
	[ "$XFRM_DONE" = 1 ] && return 0
	XFRM_DONE=1
	# router: client net <-> server address, through the tunnel
	esp_pair "$NS_R" "$R4S" "$S4" 192.0.2.0/24 "$S4/32" 0x1001 0x1002 fwd || return 1
	esp_pair "$NS_S" "$S4" "$R4S" "$S4/32" 192.0.2.0/24 0x1002 0x1001 in || return 1
	esp_pair "$NS_R" "$R6S" "$S6" 2001:db8:1::/64 "$S6/128" 0x1003 0x1004 fwd || return 1
	esp_pair "$NS_S" "$S6" "$R6S" "$S6/128" 2001:db8:1::/64 0x1004 0x1003 in
}

setup()
{
	topo_router || return 1
	ft_router_ruleset inet || return 1
	nft_load "$NS_S" <<EOF
table inet srv {
	counter c_esp4 { }
	counter c_esp6 { }
	counter c_plain { }
	counter c_plain_pc { }

	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr $R4S meta l4proto esp counter name c_esp4
		ip6 saddr $R6S meta l4proto esp counter name c_esp6
		tcp dport { 5501, 5502 } meta ipsec missing counter name c_plain
		tcp dport 5503 meta ipsec missing counter name c_plain_pc
	}
}
EOF
}

# sa_bytes NS SRC DST: "current" byte count of the SA SRC -> DST
sa_bytes()
{
	ip -n "$1" -s xfrm state get src "$2" dst "$3" proto esp spi "$4" 2>/dev/null |
		sed -n 's/^[[:space:]]*\([0-9]*\)(bytes).*/\1/p' | head -n 1
}

# t_ipsec IPVER DPORT: the transfer is encrypted (SA, ESP, no plaintext).
t_ipsec()
{
	local v=$1 dport=$2 id=ipsec$1 rc=0 daddr rs spi esp b0 b1 by pk

	if [ "$v" = 4 ]; then
		daddr=$S4 rs=$R4S spi=0x1001 esp=c_esp4
	else
		daddr=$S6 rs=$R6S spi=0x1003 esp=c_esp6
	fi
	ft_routed_reset
	nft_counter_reset "$NS_S" inet srv "$esp"
	b0=$(sa_bytes "$NS_R" "$rs" "$daddr" "$spi")
	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$SIZE" || return 1
	tcp_wait_received "$id" || rc=1
	b1=$(sa_bytes "$NS_R" "$rs" "$daddr" "$spi")
	echo "router SA $rs -> $daddr: ${b0:-?} -> ${b1:-?} bytes"
	assert_atleast "router outbound SA bytes" $((${b1:-0} - ${b0:-0})) "$SIZE" || rc=1
	by=$(nft_counter_bytes "$NS_S" inet srv "$esp")
	assert_atleast "server ESP bytes received" "${by:-0}" "$SIZE" || rc=1
	pk=$(nft_counter_packets "$NS_S" inet srv c_plain)
	[ "${pk:-1}" = 0 ] || { echo "FAIL: ${pk:-?} plaintext packets of the flow reached the server"; rc=1; }
	# remember for t_offloaded
	echo "$XFER_SPORT" >"$KNO_TMP/$id.sport"
	tcp_finish "$id" || rc=1
	return $rc
}

# t_offloaded IPVER DPORT: the flow of t_ipsec was on the fast path.
t_offloaded()
{
	local v=$1 dport=$2 id=ipsec$1 sport

	# The counters were taken while the flow was live (t_ipsec); the
	# conntrack entry is not offloaded any more after FIN, so check with a
	# second, held-open transfer.
	ft_routed_reset
	tcp_start "${id}b" "$NS_C" "$NS_S" "$([ "$v" = 4 ] && echo "$S4" || echo "$S6")" \
		"$dport" "$SIZE" || return 1
	tcp_wait_received "${id}b" || return 1
	sport=$XFER_SPORT
	ft_check_offload tcp "$v" "$sport" "$dport" "$SIZE" || { tcp_finish "${id}b"; return 1; }
	tcp_finish "${id}b"
}

_two_part_sender()
{
	local sport=$1

	{
		cat "$KNO_TMP/pc.p1"
		_gate_wait "$KNO_TMP/pc.gate1" 120
		cat "$KNO_TMP/pc.p2"
		_gate_wait "$KNO_TMP/pc.gate" 120
	} | timeout 240 ip netns exec "$NS_C" \
		socat -u - "TCP4:$S4:5503,sourceport=$sport,reuseaddr"
}

# t_policy_change: a flow offloaded while no policy applies; then the tunnel
# and its policies are installed. The rest of the data must be encrypted:
# the flow may not stay on a fast path that bypasses the new policy (the
# server's inbound policy drops plaintext, so such a flow stalls).
t_policy_change()
{
	local p1=1048576 p2=2097152 sport spid rpid rc=0 b0 b1 pl0 pl1

	make_file "$KNO_TMP/pc.p1" "$p1"
	make_file "$KNO_TMP/pc.p2" "$p2"
	cat "$KNO_TMP/pc.p1" "$KNO_TMP/pc.p2" >"$KNO_TMP/pc.in"
	bg_start rpid timeout 240 ip netns exec "$NS_S" \
		socat -u TCP4-LISTEN:5503,reuseaddr "OPEN:$KNO_TMP/pc.out,creat,trunc"
	wait_for 10 _tcp_listening "$NS_S" 5503 || return 1
	sport=$(random_port)
	bg_start spid _two_part_sender "$sport"
	wait_for 60 _xfer_received pc "$p1" || fail "first part did not arrive" || return
	ct_is_offloaded "$NS_R" ipv4 tcp "$sport" 5503 ||
		fail "not offloaded before the policy change: $(ct_get "$NS_R" ipv4 tcp "$sport" 5503)" ||
		return
	setup_xfrm || fail "xfrm setup failed" || return
	b0=$(sa_bytes "$NS_R" "$R4S" "$S4" 0x1001)
	pl0=$(nft_counter_packets "$NS_S" inet srv c_plain_pc)
	touch "$KNO_TMP/pc.gate1"
	if ! wait_for 60 _xfer_received pc $((p1 + p2)); then
		echo "FAIL: second part: $(file_size "$KNO_TMP/pc.out") of $((p1 + p2)) bytes arrived"
		rc=1
	fi
	b1=$(sa_bytes "$NS_R" "$R4S" "$S4" 0x1001)
	pl1=$(nft_counter_packets "$NS_S" inet srv c_plain_pc)
	echo "after the policy: router SA ${b0:-?} -> ${b1:-?} bytes, plaintext packets at the server ${pl0:-?} -> ${pl1:-?}"
	echo "conntrack: $(ct_get "$NS_R" ipv4 tcp "$sport" 5503)"
	assert_atleast "router outbound SA bytes after the policy" $((${b1:-0} - ${b0:-0})) "$p2" || rc=1
	[ "${pl0:-x}" = "${pl1:-y}" ] || { echo "FAIL: plaintext packets after the policy was installed"; rc=1; }
	touch "$KNO_TMP/pc.gate"
	wait_pid_timeout 60 "$spid" || rc=1
	wait_pid_timeout 60 "$rpid" || rc=1
	cmp "$KNO_TMP/pc.in" "$KNO_TMP/pc.out" || rc=1
	return $rc
}

setup || ktap_bail "setup failed"
impl_report

run_test "IPv4 offloaded flow, then an ESP policy is installed: the rest is encrypted" t_policy_change
setup_xfrm || ktap_bail "xfrm setup failed"

run_test "IPv4 flow through an ESP tunnel stays encrypted (SA bytes, ESP, cmp)" t_ipsec 4 5501
run_test "IPv4 flow through an ESP tunnel is offloaded to xfrm output" t_offloaded 4 5501
run_test "IPv6 flow through an ESP tunnel stays encrypted (SA bytes, ESP, cmp)" t_ipsec 6 5502
run_test "IPv6 flow through an ESP tunnel is offloaded to xfrm output" t_offloaded 6 5502

ktap_end
