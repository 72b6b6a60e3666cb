#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Offload failures and how the stack retries them (simulated NIC, see
# hw_basic.sh). The sim fails REPLACE commands on request and counts every
# REPLACE it receives for its own ports (ft_replace_calls).
#   - every REPLACE fails: a live UDP flow (20 packets/s, all in software
#     meanwhile) is retried, but at most about once per second per
#     direction (a backoff may space the retries further apart, ours
#     doubles from 1 s up to 8 s): over a 10 s window the calls stay below
#     2 * (10 + 2) and are at least 2; once the failures stop, the flow
#     reaches the hardware within 20 s and the stack stops seeing it;
#   - the next 3 REPLACEs fail with ENOSPC: a new flow still ends up with
#     both rules installed, and the sim counted exactly 3 injected failures;
#   - the first REPLACE fails, then half of them at random, at most 3 more
#     times (a bound, so no flow can lose every try by chance and the test
#     cannot fail on a run of bad luck), while 4 flows start: all 4 end up
#     in hardware, with 1 to 4 injected failures;
#   - every command takes 300 ms: flows still reach the hardware.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss nsenter
sim_require

WINDOW=10

ktap_begin 4

calls()
{
	sim_ports_sum ft_replace_calls r0 r1
}

injected()
{
	sim_ports_sum ft_replace_injected r0 r1
}

# both_rules SPORT: a rule for each direction of the flow from SPORT.
both_rules()
{
	[ "$(sim_flow_nrules "$1")" -ge 2 ]
}

t_always_fail()
{
	local dport=5901 sport c0 c1 rc=0 r0 r1 t

	sim_fail replace "1000000 5"
	sport=$(random_port)
	sim_ping_start af "$NS_C" "$NS_S" "$S4" "$dport" "$sport" 60 0.05 || return 1
	if ! wait_for 20 sim_is "injected" -ge 2; then
		echo "FAIL: no REPLACE reached the sim"
		sim_dump
		return 1
	fi
	c0=$(calls)
	t=$(now_ms)
	sleep "$WINDOW"
	c1=$(calls)
	t=$(($(now_ms) - t))
	echo "REPLACE calls in $t ms of failures: $((c1 - c0))"
	assert_below "REPLACE calls per ${WINDOW}s window" $((c1 - c0)) $((2 * (WINDOW + 2) + 1)) || rc=1
	assert_atleast "REPLACE calls per ${WINDOW}s window (retried)" $((c1 - c0)) 2 || rc=1
	[ "$(sim_flow_nrules "$sport")" = 0 ] || { echo "FAIL: a rule despite failures"; rc=1; }

	sim_fail replace 0
	t=$(now_ms)
	if ! wait_for 20 sim_flow_ok ipv4 udp "$sport" "$dport" "$sport"; then
		echo "FAIL: not in hardware 20 s after the failures stopped"
		sim_dump
		return 1
	fi
	echo "in hardware $(($(now_ms) - t)) ms after the failures stopped;" \
		"injected failures: $(injected)"
	r0=$(nft_counter_packets "$NS_R" netdev "$SIM_CNT_TABLE" l4_c)
	sleep 3
	r1=$(nft_counter_packets "$NS_R" netdev "$SIM_CNT_TABLE" l4_c)
	[ "$r0" = "$r1" ] || { echo "FAIL: the stack still sees the flow ($r0 -> $r1)"; rc=1; }
	sim_ping_stop af || rc=1
	return $rc
}

t_next3()
{
	local dport=5902 sport i0 rc=0

	i0=$(injected)
	sim_fail replace "3 28"
	sport=$(random_port)
	sim_ping_start n3 "$NS_C" "$NS_S" "$S4" "$dport" "$sport" 30 0.05 || return 1
	if ! wait_for 30 both_rules "$sport"; then
		echo "FAIL: the flow did not reach the hardware after 3 failures"
		sim_dump
		return 1
	fi
	echo "in hardware; $(<"$SIM_DBG/fail_replace"); injected: $(($(injected) - i0))"
	[ "$(($(injected) - i0))" = 3 ] || { echo "FAIL: expected 3 injected failures"; rc=1; }
	sim_ping_stop n3 || rc=1
	return $rc
}

t_random()
{
	local i sport rc=0 n i0

	i0=$(injected)
	sim_fail replace "1 16 50 3"
	for i in 1 2 3 4; do
		sport=$(random_port)
		SP[$i]=$sport
		sim_ping_start r$i "$NS_C" "$NS_S" "$S4" $((5910 + i)) "$sport" 40 0.1 || return 1
	done
	for i in 1 2 3 4; do
		if ! wait_for 40 both_rules "${SP[$i]}"; then
			echo "FAIL: flow $i not in hardware with 50% REPLACE failures"
			rc=1
		fi
	done
	sim_fail replace 0
	n=$(($(injected) - i0))
	echo "injected failures: $n; calls so far: $(calls)"
	[ "$n" -ge 1 ] && [ "$n" -le 4 ] ||
		{ echo "FAIL: $n injected failures, expected 1 to 4"; rc=1; }
	for i in 1 2 3 4; do
		sim_ping_stop r$i || rc=1
	done
	[ "$rc" = 0 ] || sim_dump
	return $rc
}

t_delay()
{
	local dport=5921 sport rc=0 t

	sim_knob delay_ms 300
	sport=$(random_port)
	t=$(now_ms)
	sim_ping_start dl "$NS_C" "$NS_S" "$S4" "$dport" "$sport" 20 0.1 || return 1
	sim_wait_hw ipv4 udp "$sport" "$dport" "$sport" 40 || rc=1
	echo "in hardware after $(($(now_ms) - t)) ms with 300 ms per command"
	sim_knob delay_ms 0
	sim_ping_stop dl || rc=1
	return $rc
}

declare -a SP

sim_topo || ktap_bail "topology setup failed"
sim_ruleset || ktap_bail "cannot load the offload ruleset"
impl_report

run_test "every REPLACE fails: retried at most ~1/s per direction, offloaded once it works" t_always_fail
run_test "the next 3 REPLACEs fail (ENOSPC): the flow still gets both rules" t_next3
run_test "first REPLACE and then 50% at random (at most 3) fail: 4 new flows all reach the hardware" t_random
run_test "300 ms per command: flows still reach the hardware" t_delay

ktap_end
