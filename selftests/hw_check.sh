#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Check-only transactions against hardware (simulated NIC, see
# hw_basic.sh). OpenWrt's fw4 probes hardware offload with "nft -c" on a
# throwaway ruleset and falls back to software when that fails, so:
#   1. "nft -c" of a "flags offload" flowtable over the sim ports succeeds
#      and leaves nothing behind: no table, no block bound, no rule, every
#      bind undone, link state and features unchanged (the sim's per-port
#      state line is identical apart from the bind/unbind totals, which are
#      reported);
#   2. with hw-tc-offload turned off on a port (the sim then refuses to
#      bind), "nft -c" fails, so the probe tells, and again nothing is left;
#   3. after both checks the real ruleset loads, binds each port exactly
#      once and offloads a flow.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss nsenter ethtool
sim_require

ktap_begin 3

probe_ruleset()
{
	cat <<EOF
table inet kno_probe {
	flowtable ft {
		hook ingress priority 0
		devices = { $RDEV_C, $RDEV_S }
		flags offload
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta l4proto { tcp, udp } flow add @ft
	}
}
EOF
}

# port_state PORT: the port's line without the bind/unbind totals and the
# traffic counters (neighbour discovery may move those meanwhile).
port_state()
{
	grep "^port=$1 " "$SIM_DBG/ports" | tr ' ' '\n' |
		grep -vE "^(ft|tc)_(binds|unbinds|bind_failed)=|^(rx|tx)_|^hw_" | tr '\n' ' '
}

# nothing_left: the probe left no trace; BEFORE_r0/BEFORE_r1 hold the
# port states from before.
nothing_left()
{
	local p rc=0 b u v

	if ip netns exec "$NS_R" nft list tables | grep -q kno_probe; then
		echo "FAIL: table kno_probe exists"
		rc=1
	fi
	for p in r0 r1; do
		v=BEFORE_$p
		if [ "$(port_state $p)" != "${!v}" ]; then
			echo "FAIL: $p changed:"
			echo " before: ${!v}"
			echo " after:  $(port_state $p)"
			rc=1
		fi
		b=$(sim_port_get $p ft_binds)
		u=$(sim_port_get $p ft_unbinds)
		echo "$p: ft_blocks=$(sim_port_get $p ft_blocks) rules=$(sim_port_get $p rules)" \
			"binds=$b unbinds=$u bind_failed=$(sim_port_get $p ft_bind_failed)"
		[ "$b" = "$u" ] || { echo "FAIL: $p has $b binds but $u unbinds"; rc=1; }
		[ "$(sim_port_get $p ft_blocks)" = 0 ] || { echo "FAIL: a block is bound on $p"; rc=1; }
	done
	[ "$(sim_summary_get rules)" = 0 ] || { echo "FAIL: rules installed"; rc=1; }
	return $rc
}

t_check()
{
	local out

	BEFORE_r0=$(port_state r0)
	BEFORE_r1=$(port_state r1)
	if ! out=$(probe_ruleset | ip netns exec "$NS_R" nft -c -f - 2>&1); then
		echo "FAIL: nft -c refused the offload ruleset: $out"
		return 1
	fi
	echo "nft -c accepted the offload ruleset"
	nothing_left
}

t_check_refused()
{
	local out rc=0

	ip netns exec "$NS_R" ethtool -K "$RDEV_S" hw-tc-offload off || return 1
	BEFORE_r0=$(port_state r0)
	BEFORE_r1=$(port_state r1)
	if out=$(probe_ruleset | ip netns exec "$NS_R" nft -c -f - 2>&1); then
		echo "FAIL: nft -c accepted a flowtable over a port without offload"
		rc=1
	else
		echo "ok: nft -c failed: $out"
	fi
	nothing_left || rc=1
	ip netns exec "$NS_R" ethtool -K "$RDEV_S" hw-tc-offload on || return 1
	return $rc
}

t_real_load()
{
	local b0 b1 sport rc=0

	b0=$(sim_ports_sum ft_binds r0 r1)
	sim_ruleset || return 1
	b1=$(sim_ports_sum ft_binds r0 r1)
	echo "binds by the real load: $((b1 - b0)); blocks bound:" \
		"r0 $(sim_port_get r0 ft_blocks), r1 $(sim_port_get r1 ft_blocks)"
	[ "$(sim_port_get r0 ft_blocks)" = 1 ] && [ "$(sim_port_get r1 ft_blocks)" = 1 ] ||
		{ echo "FAIL: expected one bound block per port"; rc=1; }
	sim_tcp_start rl "$NS_C" "$NS_S" "$S4" 6101 16384 16384 || return 1
	sport=$XFER_SPORT
	sim_tcp_wait rl 16384 || return 1
	sim_wait_hw ipv4 tcp "$sport" 6101 "$sport" >/dev/null || rc=1
	sim_tcp_finish rl || rc=1
	return $rc
}

sim_topo || ktap_bail "topology setup failed"
impl_report

run_test "nft -c of an offload flowtable: accepted, no table, block, rule or state left" t_check
run_test "nft -c over a port with hw-tc-offload off: refused, nothing left" t_check_refused
run_test "after the checks the real load binds each port once and offloads" t_real_load

ktap_end
