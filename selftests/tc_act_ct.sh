#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tc's ct action (the in-tree act_ct module) on top of the loaded
# nf_flow_table (ours or the kernel's): act_ct is an in-tree consumer of
# nf_flow_table's exports, so with our module it only loads if every symbol
# CRC matches. Then a tc "router" forwards between two veths purely in tc:
#   client eth0 --- veth0 NS_R veth1 --- eth0 server   (one IP subnet)
# with flower on ingress of both veths:
#   chain 0: ct_state -trk            -> ct, goto chain 1
#   chain 1: ct_state +trk+new        -> ct commit, mirred redirect
#            ct_state +trk+est        -> mirred redirect
# (ARP and ICMPv6 are redirected without ct.) act_ct puts established
# connections into its own flowtable; the proof for each flow: cmp of the
# data, [OFFLOAD] in the router's conntrack -L while the flow is live, and
# with our module the flow listed under a "tc" flowtable in
# /proc/net/nf_flowtable. A TCP flow must leave the flowtable after FIN.
# Last, the tc rules are deleted while an offloaded flow is live: act_ct's
# flowtable is freed (the flow leaves it) and act_ct unloads.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"

require_root
require_cmd tc socat conntrack python3 ss

TCP_SIZE=${KNO_XFER_SIZE:-2097152}
UDP_SIZE=${KNO_UDP_SIZE:-524288}
A4=192.0.2.2
B4=192.0.2.3
A6=2001:db8:1::2
B6=2001:db8:1::3

ktap_begin 5

# t_module: act_ct loads and uses the nf_flow_table that is loaded.
t_module()
{
	local rc=0 holders

	modprobe nf_flow_table || return 1
	impl_check_ours || return 1
	if ! modprobe act_ct; then
		fail "modprobe act_ct failed: $(dmesg | tail -n 5)"
		return
	fi
	echo "act_ct: $(modinfo -n act_ct)"
	echo "nf_flow_table: $(modinfo -n nf_flow_table)" \
		"version $(cat /sys/module/nf_flow_table/version 2>/dev/null || echo '(none: in-tree)')"
	lsmod | awk '$1 == "nf_flow_table" || $1 == "act_ct"'
	holders=$(ls /sys/module/nf_flow_table/holders 2>/dev/null | tr '\n' ' ')
	echo "nf_flow_table holders: $holders"
	case " $holders " in
	*" act_ct "*) echo "ok: act_ct uses nf_flow_table" ;;
	*) echo "FAIL: act_ct is not a holder of nf_flow_table"; rc=1 ;;
	esac
	lsmod | awk '$1 == "nf_flow_table" { print $4 }' | tr ',' '\n' | grep -qx act_ct ||
		{ echo "FAIL: lsmod does not show act_ct using nf_flow_table"; rc=1; }
	modinfo -n act_ct | grep -q '/kernel/net/sched/' ||
		{ echo "FAIL: act_ct is not the in-tree module"; rc=1; }
	dmesg | grep -iE 'disagrees about version|Unknown symbol|invalid module format' &&
		{ echo "FAIL: symbol version errors in dmesg"; rc=1; }
	return $rc
}

# tc_dir IN OUT: the ct + redirect filters on ingress of IN.
tc_dir()
{
	local in=$1 out=$2 p pr commit=commit

	# KNO_TEST_BREAK=noflowadd (test validation only): never commit, so
	# no connection is ever established and none is offloaded.
	[ "$KNO_TEST_BREAK" = noflowadd ] && commit=
	ip netns exec "$NS_R" tc qdisc add dev "$in" ingress || return 1
	# A tc priority belongs to one protocol: ip uses 10..12, ipv6 20..22.
	for p in ip:10 ipv6:20; do
		pr=${p#*:}
		p=${p%:*}
		tcr filter add dev "$in" ingress protocol "$p" chain 0 prio "$pr" \
			flower ct_state -trk action ct pipe action goto chain 1 || return 1
		# shellcheck disable=SC2086
		tcr filter add dev "$in" ingress protocol "$p" chain 1 prio $((pr + 1)) \
			flower ct_state +trk+new action ct $commit pipe \
			action mirred egress redirect dev "$out" || return 1
		tcr filter add dev "$in" ingress protocol "$p" chain 1 prio $((pr + 2)) \
			flower ct_state +trk+est action mirred egress redirect dev "$out" || return 1
	done
	tcr filter add dev "$in" ingress protocol ipv6 chain 0 prio 1 \
		flower ip_proto icmpv6 action mirred egress redirect dev "$out" || return 1
	tcr filter add dev "$in" ingress protocol arp chain 0 prio 2 \
		flower action mirred egress redirect dev "$out" || return 1
}

tcr()
{
	ip netns exec "$NS_R" tc "$@"
}

setup()
{
	setup_ns NS_C NS_R NS_S || return 1
	ip link add veth0 netns "$NS_R" type veth peer name eth0 netns "$NS_C" || return 1
	ip link add veth1 netns "$NS_R" type veth peer name eth0 netns "$NS_S" || return 1
	ip -n "$NS_C" addr add "$A4/24" dev eth0
	ip -n "$NS_C" addr add "$A6/64" dev eth0 nodad
	ip -n "$NS_S" addr add "$B4/24" dev eth0
	ip -n "$NS_S" addr add "$B6/64" dev eth0 nodad
	for d in "$NS_C eth0" "$NS_S eth0" "$NS_R veth0" "$NS_R veth1"; do
		# shellcheck disable=SC2086
		set -- $d
		ip -n "$1" link set "$2" up || return 1
	done
	tc_dir veth0 veth1 || return 1
	tc_dir veth1 veth0 || return 1
	wait_for 15 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$B4" >/dev/null ||
		{ echo "no IPv4 connectivity through the tc router"; return 1; }
	wait_for 15 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$B6" >/dev/null ||
		{ echo "no IPv6 connectivity through the tc router"; return 1; }
}

# check_live FAM PROTO SPORT DPORT: [OFFLOAD] in the router's conntrack,
# and (ours) the flow is in a tc flowtable in /proc/net/nf_flowtable.
check_live()
{
	local fam=$1 proto=$2 sport=$3 dport=$4 rc=0

	if ct_is_offloaded "$NS_R" "$fam" "$proto" "$sport" "$dport"; then
		echo "ok: [OFFLOAD] while live: $(ct_get "$NS_R" "$fam" "$proto" "$sport" "$dport")"
	else
		echo "FAIL: no [OFFLOAD]: $(ct_get "$NS_R" "$fam" "$proto" "$sport" "$dport")"
		rc=1
	fi
	if impl_is ours; then
		if ip netns exec "$NS_R" awk -v p="$proto" -v s=":$sport->" '
			/^flowtable / { tc = ($0 ~ / tc family /) }
			tc && $1 == p && index($2, s) { found = 1; print "ok: /proc/net/nf_flowtable (tc flowtable): " $0 }
			END { exit !found }' /proc/net/nf_flowtable; then
			:
		else
			echo "FAIL: the flow is not in a tc flowtable in /proc/net/nf_flowtable:"
			ip netns exec "$NS_R" cat /proc/net/nf_flowtable
			rc=1
		fi
	fi
	return $rc
}

# t_tcp IPVER DADDR DPORT: live transfer, offloaded, then FIN takes the
# flow out of the flowtable.
t_tcp()
{
	local v=$1 daddr=$2 dport=$3 id=tcp$1 rc=0 sport

	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$TCP_SIZE" "" 180 || return 1
	sport=$XFER_SPORT
	tcp_wait_received "$id" || rc=1
	wait_for 10 ct_is_offloaded "$NS_R" "ipv$v" tcp "$sport" "$dport"
	check_live "ipv$v" tcp "$sport" "$dport" || rc=1
	tcp_finish "$id" || rc=1
	[ "$rc" = 0 ] && echo "ok: cmp: $TCP_SIZE bytes intact"
	if ! wait_for 30 ct_not_offloaded "$NS_R" "ipv$v" tcp "$sport" "$dport"; then
		echo "FAIL: still offloaded 30 s after FIN: $(ct_get "$NS_R" "ipv$v" tcp "$sport" "$dport")"
		rc=1
	else
		echo "ok: after FIN: $(ct_get "$NS_R" "ipv$v" tcp "$sport" "$dport")"
	fi
	return $rc
}

# t_udp: act_ct offloads a UDP connection only once conntrack has marked it
# assured, which for UDP takes a reply and traffic more than 2 s after the
# first packet (conntrack's "stream" rule; a fast machine can finish the
# transfer sooner). So: a short transfer, then, once 2.5 s have passed since
# it started (a deadline set by the kernel's rule, not a condition this test
# can poll), the main transfer on the same 5-tuple, which must be offloaded.
t_udp()
{
	local id=udp4 dport=5303 rc=0 t0 sport

	sport=$(random_port)
	t0=$(now_ms)
	udp_transfer udp4warm "$NS_C" "$NS_S" "$B4" "$dport" 4096 "$sport" || return 1
	wait_for 10 _since "$t0" 2500
	udp_transfer "$id" "$NS_C" "$NS_S" "$B4" "$dport" "$UDP_SIZE" "$sport" || rc=1
	cat "$KNO_TMP/$id.stats" 2>/dev/null
	[ "$rc" = 0 ] && echo "ok: cmp: $UDP_SIZE bytes intact"
	check_live ipv4 udp "$sport" "$dport" || rc=1
	return $rc
}

# _since T0_MS MS: at least MS milliseconds have passed since T0_MS.
_since()
{
	[ $(($(now_ms) - $1)) -ge "$2" ]
}

# t_release: delete the tc rules while an offloaded flow is live: act_ct
# frees its flowtable (nf_flow_table_free with a flow in it), the flow
# leaves the flowtable, and act_ct can then be unloaded, dropping its hold
# on nf_flow_table.
t_release()
{
	local id=rel dport=5304 rc=0 sport holders

	tcp_start "$id" "$NS_C" "$NS_S" "$B4" "$dport" 262144 "" 180 || return 1
	sport=$XFER_SPORT
	tcp_wait_received "$id" || return 1
	wait_for 10 ct_is_offloaded "$NS_R" ipv4 tcp "$sport" "$dport" ||
		fail "not offloaded: $(ct_get "$NS_R" ipv4 tcp "$sport" "$dport")" || return
	echo "live: $(ct_get "$NS_R" ipv4 tcp "$sport" "$dport")"
	tcr qdisc del dev veth0 ingress || rc=1
	tcr qdisc del dev veth1 ingress || rc=1
	if wait_for 30 ct_not_offloaded "$NS_R" ipv4 tcp "$sport" "$dport"; then
		echo "ok: flow left the flowtable: $(ct_get "$NS_R" ipv4 tcp "$sport" "$dport")"
	else
		echo "FAIL: still [OFFLOAD] 30 s after the tc rules were deleted"
		rc=1
	fi
	# The connection cannot close any more: release the sender (it exits
	# at the end of its input) and stop the receiver.
	touch "$KNO_TMP/$id.gate"
	kill "$(<"$KNO_TMP/$id.rpid")" 2>/dev/null
	wait_pid_timeout 20 "$(<"$KNO_TMP/$id.spid")"
	wait_pid_timeout 5 "$(<"$KNO_TMP/$id.rpid")"
	if wait_for 30 rmmod act_ct 2>/dev/null; then
		echo "ok: act_ct unloaded"
	else
		echo "FAIL: act_ct cannot be unloaded: $(lsmod | awk '$1 == "act_ct"')"
		rc=1
	fi
	holders=$(ls /sys/module/nf_flow_table/holders 2>/dev/null | tr '\n' ' ')
	echo "nf_flow_table holders now: $holders"
	case " $holders " in
	*" act_ct "*) echo "FAIL: act_ct still holds nf_flow_table"; rc=1 ;;
	esac
	if impl_is ours && ip netns exec "$NS_R" grep -q ' tc family' /proc/net/nf_flowtable; then
		echo "FAIL: a tc flowtable is still listed:"
		ip netns exec "$NS_R" cat /proc/net/nf_flowtable
		rc=1
	fi
	return $rc
}

impl_report
run_test "act_ct loads against the loaded nf_flow_table and uses it" t_module
if setup >"$KNO_TMP/setup.log" 2>&1; then
	run_test "act_ct: IPv4 TCP offloaded (cmp, [OFFLOAD]), leaves after FIN" t_tcp 4 "$B4" 5301
	run_test "act_ct: IPv6 TCP offloaded (cmp, [OFFLOAD]), leaves after FIN" t_tcp 6 "$B6" 5302
	run_test "act_ct: IPv4 UDP offloaded (cmp, [OFFLOAD])" t_udp
	run_test "act_ct: deleting the tc rules with a live offloaded flow frees the flowtable, act_ct unloads" t_release
else
	for d in "act_ct: IPv4 TCP offloaded (cmp, [OFFLOAD]), leaves after FIN" \
		"act_ct: IPv6 TCP offloaded (cmp, [OFFLOAD]), leaves after FIN" \
		"act_ct: IPv4 UDP offloaded (cmp, [OFFLOAD])" \
		"act_ct: deleting the tc rules with a live offloaded flow frees the flowtable, act_ct unloads"; do
		ktap_fail "$d" "setup failed:" "$(<"$KNO_TMP/setup.log")"
	done
fi
ktap_end
