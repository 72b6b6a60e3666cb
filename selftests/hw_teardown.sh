#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Tearing things down under hardware flows (simulated NIC, see
# hw_basic.sh). Each subtest starts from a fresh topology with two TCP
# connections and a UDP ping flow in hardware (6 rules), then:
#   1. deletes the router's server-side port while traffic flows: the sim
#      keeps the client-side rules (orphaned, they lost their egress) and
#      the stack must DESTROY them: no rule may be left;
#   2. deletes the flowtable (nft delete table): no rule may be left. Ours
#      only: the in-tree stack unbinds the blocks before it would send the
#      DESTROYs, and then never sends them;
#   3. (in-tree only) the same, showing that the in-tree stack leaves the
#      rules behind and that they keep forwarding the flow past a router
#      that has no flowtable any more: so test 2 can tell the difference;
#   4. flushes the ruleset and unloads the flowtable modules: no rule left
#      (ours only, for the same reason as 2);
#   5. deletes the namespaces: ports, rules and bindings all go, and no rule
#      object is leaked (the sim counts allocated rules until their RCU
#      free);
#   6. unloads kno_simnic itself with the flows installed and traffic
#      running: it goes, taking its ports from every namespace, and a fresh
#      load starts empty.
# The VM run fails on any kernel splat, so all of this must also be clean.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss nsenter
sim_require

ktap_begin 6

INTREE_STALE="in-tree nf_flow_table unbinds the hardware block before sending DESTROY and never sends it: stale rules are expected (subtest 3 shows them)"
OURS_DESTROY="our stack destroys every rule before unbinding (subtest 2 checks that)"

# setup: fresh topology, ruleset, two TCP connections and a UDP ping flow
# in hardware. Sets T1, T2 (client ports of the connections), PS.
setup()
{
	local id

	if [ -n "${NS_R:-}" ]; then
		for id in t1 t2; do
			sim_tcp_kill "$id"
		done
		sim_ns_del "$NS_C" "$NS_R" "$NS_S"
		wait_for 20 sim_is "sim_summary_get ports" = 0 ||
			{ echo "ports of the old topology still there"; return 1; }
		NS_R=
	fi
	sim_topo && sim_ruleset || return 1
	sim_tcp_start t1 "$NS_C" "$NS_S" "$S4" 6001 16384 262144 || return 1
	T1=$XFER_SPORT
	sim_tcp_start t2 "$NS_C" "$NS_S" "$S6" 6002 16384 262144 || return 1
	T2=$XFER_SPORT
	PS=$(random_port)
	sim_ping_start p "$NS_C" "$NS_S" "$S4" 6003 "$PS" 60 0.1 || return 1
	sim_tcp_wait t1 16384 && sim_tcp_wait t2 16384 || return 1
	sim_wait_hw ipv4 tcp "$T1" 6001 "$T1" >/dev/null &&
		sim_wait_hw ipv6 tcp "$T2" 6002 "$T2" >/dev/null &&
		sim_wait_hw ipv4 udp "$PS" 6003 "$PS" >/dev/null || { sim_dump; return 1; }
	echo "set up: $(sim_summary_get rules) rules in hardware"
}

# no_rules_within SECONDS WHAT
no_rules_within()
{
	if ! wait_for "$1" sim_is "sim_summary_get rules" = 0; then
		echo "FAIL: $(sim_summary_get rules) rules left $1 s after $2"
		sim_dump
		return 1
	fi
	echo "ok: no rule left after $2"
}

t_port_del()
{
	setup || return 1
	sim_tcp_go t1
	ip -n "$NS_R" link del "$RDEV_S" || return 1
	no_rules_within 15 "deleting $RDEV_S" || return 1
	echo "rules of $RDEV_C orphaned by the deletion before the stack's DESTROY:" \
		"$(sim_port_get "$RDEV_C" orphaned)"
}

t_table_del()
{
	if impl_is intree; then
		skip "$INTREE_STALE"
		return
	fi
	setup || return 1
	ip netns exec "$NS_R" nft delete table inet "$SIM_TABLE" || return 1
	no_rules_within 10 "nft delete table"
}

t_table_del_intree()
{
	local n p0 p1 l0 l1 rc=0

	if ! impl_is intree; then
		skip "$OURS_DESTROY"
		return
	fi
	setup || return 1
	ip netns exec "$NS_R" nft delete table inet "$SIM_TABLE" || return 1
	sleep 3
	n=$(sim_summary_get rules)
	echo "rules left 3 s after nft delete table: $n;" \
		"bindings: $(sim_summary_get bindings)"
	[ "$n" -gt 0 ] || { echo "FAIL: the in-tree stack left no rule"; rc=1; }
	# The stale rules still forward what they match.
	p0=$(sim_rule_get "$RDEV_C" "$T1" packets)
	l0=$(nft_counter_packets "$NS_R" netdev "$SIM_CNT_TABLE" l4_c)
	sim_tcp_go t1
	sim_tcp_wait t1 $((16384 + 262144)) 120 || rc=1
	p1=$(sim_rule_get "$RDEV_C" "$T1" packets)
	l1=$(nft_counter_packets "$NS_R" netdev "$SIM_CNT_TABLE" l4_c)
	echo "stale rule forwarded $((p1 - p0)) more packets; the router's stack saw" \
		"$((l1 - l0)) tcp/udp packets on $RDEV_C"
	assert_atleast "packets forwarded by the stale rule" $((p1 - p0)) 100 || rc=1
	return $rc
}

t_rmmod_ft()
{
	local m out

	if impl_is intree; then
		skip "$INTREE_STALE"
		return
	fi
	setup || return 1
	ip netns exec "$NS_R" nft flush ruleset || return 1
	for m in nft_flow_offload nf_flow_table_inet nf_flow_table; do
		[ -d "/sys/module/$m" ] || continue
		out=$(rmmod "$m" 2>&1) || fail "rmmod $m: $out" || return
	done
	no_rules_within 10 "flushing the ruleset and unloading the flowtable modules"
}

t_netns_del()
{
	local rc=0

	setup || return 1
	sim_tcp_kill t1
	sim_tcp_kill t2
	sim_ns_del "$NS_C" "$NS_R" "$NS_S"
	NS_R=
	if ! wait_for 20 sim_is "sim_summary_get ports" = 0; then
		echo "FAIL: ports still there after deleting their namespaces"
		rc=1
	fi
	# Rule objects are freed after an RCU grace period.
	wait_for 10 sim_is "sim_summary_get rule_objs" = 0 || rc=1
	cat "$SIM_DBG/summary"
	[ "$(sim_summary_get rules)" = 0 ] && [ "$(sim_summary_get bindings)" = 0 ] &&
		[ "$(sim_summary_get rule_objs)" = 0 ] || { echo "FAIL: something left"; rc=1; }
	return $rc
}

t_rmmod_sim()
{
	local out rc=0

	setup || return 1
	sim_tcp_go t1
	sim_tcp_go t2
	out=$(rmmod kno_simnic 2>&1) || fail "rmmod kno_simnic: $out" || return
	[ -d /sys/module/kno_simnic ] && fail "module still loaded" && return
	if ip -n "$NS_R" link show "$RDEV_C" >/dev/null 2>&1 ||
		ip -n "$NS_C" link show c0 >/dev/null 2>&1; then
		echo "FAIL: ports survived the module"
		rc=1
	fi
	echo "router ruleset after the unload:"
	ip netns exec "$NS_R" nft list flowtables
	insmod "$SIM_KO" || return 1
	sim_knobs_reset
	cat "$SIM_DBG/summary"
	[ "$(sim_summary_get ports)" = 0 ] && [ "$(sim_summary_get rules)" = 0 ] ||
		{ echo "FAIL: a fresh load is not empty"; rc=1; }
	return $rc
}

modprobe nft_flow_offload 2>/dev/null
impl_report

run_test "port deleted under hardware flows: the stack destroys the orphaned rules" t_port_del
run_test "flowtable deleted: every hardware rule destroyed" t_table_del
run_test "in-tree: flowtable deleted, stale rules left behind keep forwarding" t_table_del_intree
run_test "ruleset flushed and flowtable modules unloaded: no rule left" t_rmmod_ft
run_test "namespaces deleted under hardware flows: ports, rules, bindings, objects all gone" t_netns_del
run_test "kno_simnic unloaded under hardware flows and traffic, reloads empty" t_rmmod_sim

ktap_end
