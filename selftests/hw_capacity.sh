#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A full hardware table (simulated NIC, see hw_basic.sh). The sim's table
# holds CAP rules per port; a flow needs one rule on each router port. With
# CAP+2 TCP connections opened one after the other:
#   - the first CAP flows are [HW_OFFLOAD] with a rule per direction,
#   - the others are [OFFLOAD] (software flowtable) but not [HW_OFFLOAD],
#     have no rule, and the sim refused them with ENOSPC ("table full"),
#   - no port ever held more than CAP rules,
#   - every connection then carries its bulk data intact (cmp): the flows
#     that did not fit keep working in software,
#   - when the hardware flows close, their rules go and the table is empty.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss nsenter
sim_require

CAP=${KNO_SIM_CAP:-3}
N=$((CAP + 2))
SIZE2=${KNO_XFER_SIZE:-1048576}

ktap_begin 3

declare -a SPORTS

# fail_count: REPLACE commands the sim refused, both router ports.
fail_count()
{
	sim_ports_sum ft_replace_failed r0 r1
}

t_fill()
{
	local i id sport f0 rc=0

	sim_knob capacity "$CAP"
	for ((i = 1; i <= N; i++)); do
		id=c$i
		f0=$(fail_count)
		sim_tcp_start "$id" "$NS_C" "$NS_S" "$S4" $((5800 + i)) 16384 "$SIZE2" || return 1
		sport=$XFER_SPORT
		SPORTS[$i]=$sport
		sim_tcp_wait "$id" 16384 || return 1
		if [ "$i" -le "$CAP" ]; then
			sim_wait_hw ipv4 tcp "$sport" $((5800 + i)) "$sport" >/dev/null ||
				{ echo "FAIL: flow $i (of capacity $CAP) not in hardware"; sim_dump; rc=1; }
			continue
		fi
		# Beyond capacity: offloaded in software, refused by the sim.
		wait_for 20 ct_is_offloaded "$NS_R" ipv4 tcp "$sport" $((5800 + i)) ||
			{ echo "FAIL: flow $i not even in the software flowtable"; rc=1; }
		wait_for 20 sim_is "fail_count" -ge $((f0 + 2)) ||
			{ echo "FAIL: flow $i: the sim refused nothing"; rc=1; }
		if ct_is_hw_offloaded "$NS_R" ipv4 tcp "$sport" $((5800 + i)) ||
			[ "$(sim_flow_nrules "$sport")" != 0 ]; then
			echo "FAIL: flow $i beyond capacity is in hardware"
			rc=1
		fi
		echo "flow $i: $(ct_get "$NS_R" ipv4 tcp "$sport" $((5800 + i)))"
	done
	if ! grep -q "errno=-28 msg=kno_simnic: hardware flow table full" "$SIM_DBG/errors"; then
		echo "FAIL: no ENOSPC refusal recorded:"
		cat "$SIM_DBG/errors"
		rc=1
	fi
	for i in r0 r1; do
		assert_below "max rules ever on $i" "$(sim_port_get $i max_rules)" $((CAP + 1)) || rc=1
		assert_atleast "max rules ever on $i" "$(sim_port_get $i max_rules)" "$CAP" || rc=1
	done
	[ "$rc" = 0 ] || sim_dump
	return $rc
}

t_traffic()
{
	local i rc=0 r0 r1

	[ -n "${SPORTS[$N]:-}" ] || fail "flows not set up" || return
	r0=$(nft_counter_packets "$NS_R" inet "$SIM_TABLE" routed)
	for ((i = 1; i <= N; i++)); do
		sim_tcp_go c$i
	done
	for ((i = 1; i <= N; i++)); do
		sim_tcp_wait c$i $((16384 + SIZE2)) 300 || rc=1
	done
	for ((i = CAP + 1; i <= N; i++)); do
		ct_is_offloaded "$NS_R" ipv4 tcp "${SPORTS[$i]}" $((5800 + i)) ||
			{ echo "FAIL: flow $i left the software flowtable"; rc=1; }
	done
	r1=$(nft_counter_packets "$NS_R" inet "$SIM_TABLE" routed)
	echo "forward chain packets during the bulk: $((r1 - r0))" \
		"(software flowtable flows bypass it as well)"
	echo "rules now: $(sim_summary_get rules), at most $(sim_summary_get rules_max)"
	return $rc
}

t_close()
{
	local i rc=0

	[ -n "${SPORTS[$N]:-}" ] || fail "flows not set up" || return
	for ((i = 1; i <= N; i++)); do
		sim_tcp_finish c$i || rc=1
	done
	if ! wait_for 20 sim_is "sim_summary_get rules" = 0; then
		echo "FAIL: rules left after all connections closed"
		sim_dump
		rc=1
	fi
	echo "all $N connections compared equal; rules left: $(sim_summary_get rules)"
	return $rc
}

sim_topo || ktap_bail "topology setup failed"
sim_ruleset || ktap_bail "cannot load the offload ruleset"
impl_report

run_test "capacity $CAP: $CAP flows in hardware, 2 more refused (ENOSPC) and in software" t_fill
run_test "all $N flows carry their data, the refused ones in software" t_traffic
run_test "all connections compare equal, then the table is empty" t_close

ktap_end
