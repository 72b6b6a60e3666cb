#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fault injection loop (simulated NIC, see hw_basic.sh), in the spirit of
# the upstream netfilter selftests: for KNO_FAULT_SECONDS (default 40)
# seconds, two loops keep starting short TCP transfers and UDP ping flows
# through the offload router while a third one keeps changing the sim's
# behaviour at random: REPLACE and STATS failures (random errno, a fixed
# number or a percentage), command delays up to 250 ms, the table capacity,
# and hw-tc-offload on the router ports. Then the faults stop and the flows
# end (TCP closes, UDP idles out with a 3 s flowtable timeout). It checks:
#   - every transfer and ping flow worked (cmp / answers) all along,
#   - the loop really exercised the sim (REPLACEs, injected failures,
#     installed rules),
#   - no rule is left once the flows are gone,
#   - deleting the namespaces leaves no port, binding or rule object,
# and the VM run fails on any kernel splat. DESTROY is never failed here:
# no stack retries a failed DESTROY, so that would leave rules by design.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss nsenter ethtool
sim_require

DURATION=${KNO_FAULT_SECONDS:-40}

ktap_begin 3

# traffic_loop N: flows until $KNO_TMP/stop exists; one result line per
# flow in $KNO_TMP/loopN.res.
traffic_loop()
{
	local n=$1 i=0 id port sport out

	while [ ! -e "$KNO_TMP/stop" ]; do
		i=$((i + 1))
		id=l${n}_$i
		port=$((6200 + n * 100 + i % 100))
		if [ $((RANDOM % 2)) = 0 ]; then
			if out=$(tcp_transfer "$id" "$NS_C" "$NS_S" "$S4" "$port" \
				$((65536 + RANDOM * 8)) "" 120 2>&1); then
				echo "ok tcp $id" >>"$KNO_TMP/loop$n.res"
			else
				echo "fail tcp $id: $out" >>"$KNO_TMP/loop$n.res"
			fi
			rm -f "$KNO_TMP/$id".*
		else
			sport=$(random_port)
			# (not in a command substitution: it waits for a child)
			if sim_ping_start "$id" "$NS_C" "$NS_S" "$S6" "$port" "$sport" \
				$((2 + RANDOM % 4)) 0.1 >"$KNO_TMP/$id.log" 2>&1 &&
				sim_ping_wait "$id" >>"$KNO_TMP/$id.log" 2>&1; then
				echo "ok udp $id: $(tail -n 1 "$KNO_TMP/$id.log")" >>"$KNO_TMP/loop$n.res"
			else
				echo "fail udp $id: $(<"$KNO_TMP/$id.log")" >>"$KNO_TMP/loop$n.res"
			fi
		fi
	done
}

pick()
{
	local a=("$@")

	echo "${a[RANDOM % ${#a[@]}]}"
}

fault_loop()
{
	local end=$(($(now_ms) + DURATION * 1000)) n=0 dev

	while [ "$(now_ms)" -lt "$end" ]; do
		n=$((n + 1))
		case $((RANDOM % 7)) in
		0) sim_fail replace "0 $(pick 5 12 16 28 95) $(pick 0 20 50 80 100)" ;;
		1) sim_fail replace "$((1 + RANDOM % 5)) $(pick 5 28)" ;;
		2) sim_fail stats "0 $(pick 5 16) $(pick 0 30 60 100)" ;;
		3) sim_knob delay_ms "$(pick 0 0 20 100 250)" ;;
		4) sim_knob capacity "$(pick 2 4 64 64)" ;;
		5)
			dev=$(pick "$RDEV_C" "$RDEV_S")
			ip netns exec "$NS_R" ethtool -K "$dev" hw-tc-offload "$(pick on off)" \
				2>/dev/null
			;;
		6) sim_fail replace 0 ;;
		esac
		sleep "0.$((2 + RANDOM % 8))"
	done
	echo "$n fault changes"
}

t_loop()
{
	local p1 p2 c0 rc=0 nflows nfail

	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_flowtable_udp_timeout=3 \
		net.netfilter.nf_flowtable_tcp_timeout=30 \
		net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5 || return 1
	c0=$(sim_ports_sum ft_replace_calls r0 r1)
	rm -f "$KNO_TMP/stop"
	traffic_loop 1 &
	p1=$!
	traffic_loop 2 &
	p2=$!
	fault_loop
	touch "$KNO_TMP/stop"
	sim_knobs_reset
	ip netns exec "$NS_R" ethtool -K "$RDEV_C" hw-tc-offload on
	ip netns exec "$NS_R" ethtool -K "$RDEV_S" hw-tc-offload on
	wait_pid_timeout 300 "$p1" || rc=1
	wait_pid_timeout 300 "$p2" || rc=1
	nflows=$(cat "$KNO_TMP"/loop*.res 2>/dev/null | grep -c .)
	nfail=$(cat "$KNO_TMP"/loop*.res 2>/dev/null | grep -c "^fail")
	echo "flows: $nflows, failed: $nfail; REPLACE calls: $(($(sim_ports_sum ft_replace_calls r0 r1) - c0))," \
		"injected: $(sim_ports_sum ft_replace_injected r0 r1) REPLACE" \
		"$(sim_ports_sum ft_stats_injected r0 r1) STATS; most rules at once: $(sim_summary_get rules_max)"
	grep "^fail" "$KNO_TMP"/loop*.res
	[ "$nfail" = 0 ] || rc=1
	assert_atleast "flows started" "$nflows" 6 || rc=1
	assert_atleast "REPLACE calls" $(($(sim_ports_sum ft_replace_calls r0 r1) - c0)) 10 || rc=1
	assert_atleast "injected REPLACE failures" "$(sim_ports_sum ft_replace_injected r0 r1)" 1 || rc=1
	assert_atleast "most rules at once" "$(sim_summary_get rules_max)" 2 || rc=1
	return $rc
}

t_no_rules()
{
	if ! wait_for 60 sim_is "sim_summary_get rules" = 0; then
		echo "FAIL: $(sim_summary_get rules) rules left 60 s after the flows ended"
		sim_dump
		ip netns exec "$NS_R" conntrack -L
		return 1
	fi
	echo "ok: no rule left; $(<"$SIM_DBG/summary")"
}

t_no_leak()
{
	sim_ns_del "$NS_C" "$NS_R" "$NS_S"
	if ! wait_for 30 sim_is "sim_summary_get ports" = 0 ||
		! wait_for 10 sim_is "sim_summary_get rule_objs" = 0; then
		echo "FAIL: left after deleting the namespaces: $(<"$SIM_DBG/summary")"
		return 1
	fi
	echo "ok: $(<"$SIM_DBG/summary")"
	[ "$(sim_summary_get bindings)" = 0 ]
}

sim_topo || ktap_bail "topology setup failed"
sim_ruleset || ktap_bail "cannot load the offload ruleset"
impl_report

run_test "${DURATION}s of random REPLACE/STATS failures, delays, capacity and offload flips: every flow works" t_loop
run_test "after the faults stop and the flows end, no hardware rule is left" t_no_rules
run_test "deleting the namespaces leaves no port, binding or rule object" t_no_leak

ktap_end
