#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# nftables netdev ingress chains with "flags offload" on the simulated NIC
# (Documentation/simnic.rst): the rules go to the sim's ingress ACL through
# TC_SETUP_BLOCK and are enforced in its hardware datapath. No flowtable is
# involved. Topology as in hw_basic.sh (routed), the offloaded chain hooks
# r0 and r1. Bursts of exactly 50 UDP datagrams, checked with exact counts:
#   1. "ip saddr ... udp dport 7001 drop": none of 50 arrives, the sim rule
#      counted 50, "nft list" shows counter packets 50 (from the hardware
#      stats), and a software ingress counter on the router saw 0 (the
#      dropped flow never reached the host stack); 50 of 50 on another port
#      arrive;
#   2. the same for IPv6 ("ip6 daddr ... udp dport 7003 drop");
#   3. "accept" in an earlier rule wins over a later "drop": 50 arrive, the
#      sim's accept rule counted 50, the drop rule 0. The accepted packets
#      then also run through the chain in software (an offloaded netdev
#      chain is still hooked in software), so nft shows 100 for the accept
#      rule: 50 from the hardware stats plus 50 counted in software;
#   4. "meta iif r1 ... drop": server-to-client datagrams (arriving on r1)
#      are dropped, client-to-server ones (r0) are not;
#   5. a rule the sim cannot do ("dup to", a mirror) is refused: the nft
#      command fails and nothing is installed;
#   6. deleting the drop rule lets the flow through again and removes it
#      from the sim;
#   7. deleting the table removes every rule and unbinds the blocks.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft python3 nsenter
sim_require

N=50

ktap_begin 7

acl_ruleset()
{
	nft_load "$NS_R" <<EOF
table netdev kno_acl {
	chain in {
		type filter hook ingress devices = { $RDEV_C, $RDEV_S } priority 10; flags offload; policy accept;
		ip saddr $C4 udp dport 7001 counter drop
		ip6 daddr $S6 udp dport 7003 counter drop
		ip saddr $C4 udp dport 7004 counter accept
		udp dport 7004 counter drop
		meta iif "$RDEV_S" udp dport 7005 counter drop
	}
}
table netdev kno_sw {
	counter sw_7001 { }
	counter sw_7003 { }
	counter sw_7004 { }
	counter sw_7005 { }
	chain in {
		type filter hook ingress devices = { $RDEV_C, $RDEV_S } priority -500; policy accept;
		udp dport 7001 counter name sw_7001
		udp dport 7003 counter name sw_7003
		udp dport 7004 counter name sw_7004
		udp dport 7005 counter name sw_7005
	}
}
EOF
}

# acl_get PORT DPORT KEY [VERDICT]: KEY of the sim's ACL rule on PORT that
# matches udp DPORT (and has VERDICT).
acl_get()
{
	grep "^port=$1 " "$SIM_DBG/acl" | grep " dport=$2/0xffff " |
		grep "verdict=${4:-}" | sed -n "s/.* $3=\([^ ]*\).*/\1/p" | head -n 1
}

# nft_rule_packets DPORT [VERDICT]: "counter packets N" of the offloaded
# rule for udp DPORT (nft list queries the hardware stats).
nft_rule_packets()
{
	ip netns exec "$NS_R" nft list chain netdev kno_acl in |
		grep "udp dport $1 " | grep "${2:-}" |
		sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -n 1
}

sw_count()
{
	nft_counter_packets "$NS_R" netdev kno_sw "sw_$1"
}

# burst_check ID SRCNS DSTNS DADDR DPORT WANT: send N datagrams, expect
# WANT of them to arrive. A control burst of N to port 7002 (never
# dropped) must arrive completely first, so late packets are ruled out.
burst_check()
{
	local id=$1 src=$2 dst=$3 daddr=$4 dport=$5 want=$6 bind=0.0.0.0 got

	case "$daddr" in *:*) bind=:: ;; esac
	sim_sink_start "$id" "$dst" "$bind" "$dport" 60 || return 1
	sim_sink_start "${id}c" "$dst" "$bind" 7002 60 || return 1
	sim_burst "$src" "$daddr" "$dport" "$N" || return 1
	sim_burst "$src" "$daddr" 7002 "$N" || return 1
	if ! wait_for 20 sim_is "sim_sink_count ${id}c" = "$N"; then
		echo "FAIL: control burst: $(sim_sink_count "${id}c") of $N arrived"
		sim_sink_stop "$id"
		sim_sink_stop "${id}c"
		return 1
	fi
	sim_sink_stop "$id"
	sim_sink_stop "${id}c"
	got=$(sim_sink_count "$id")
	echo "port $dport: $got of $N arrived (control: $N of $N)"
	[ "$got" = "$want" ] || { echo "FAIL: expected $want"; return 1; }
}

# t_drop ID DADDR DPORT: the offloaded drop rule for DPORT stops all N.
t_drop()
{
	local id=$1 daddr=$2 dport=$3 rc=0

	burst_check "$id" "$NS_C" "$NS_S" "$daddr" "$dport" 0 || rc=1
	assert_eq "sim rule on r0 (udp dport $dport) packets" "$(acl_get r0 "$dport" packets)" "$N" || rc=1
	assert_eq "nft counter of the rule" "$(nft_rule_packets "$dport")" "$N" || rc=1
	assert_eq "software ingress counter on the router" "$(sw_count "$dport")" 0 || rc=1
	[ "$rc" = 0 ] || cat "$SIM_DBG/acl"
	return $rc
}

t_accept_first()
{
	local rc=0

	burst_check af "$NS_C" "$NS_S" "$S4" 7004 "$N" || rc=1
	assert_eq "accept rule packets" "$(acl_get r0 7004 packets accept)" "$N" || rc=1
	assert_eq "drop rule packets" "$(acl_get r0 7004 packets drop)" 0 || rc=1
	assert_eq "software ingress counter on the router" "$(sw_count 7004)" "$N" || rc=1
	assert_eq "nft counter of the accept rule (hardware + software)" \
		"$(nft_rule_packets 7004 accept)" $((2 * N)) || rc=1
	assert_eq "nft counter of the drop rule" "$(nft_rule_packets 7004 drop)" 0 || rc=1
	[ "$rc" = 0 ] || cat "$SIM_DBG/acl"
	return $rc
}

t_iif()
{
	local rc=0

	burst_check ii "$NS_S" "$NS_C" "$C4" 7005 0 || rc=1
	assert_eq "rule copy on r1 packets" "$(acl_get r1 7005 packets)" "$N" || rc=1
	assert_eq "rule copy on r0 packets" "$(acl_get r0 7005 packets)" 0 || rc=1
	burst_check io "$NS_C" "$NS_S" "$S4" 7005 "$N" || rc=1
	assert_eq "rule copy on r0 packets (iif does not match)" "$(acl_get r0 7005 packets)" 0 || rc=1
	[ "$rc" = 0 ] || cat "$SIM_DBG/acl"
	return $rc
}

t_unsupported()
{
	local n0 out rc=0

	n0=$(sim_ports_sum acl_rules r0 r1)
	if out=$(ip netns exec "$NS_R" nft add rule netdev kno_acl in udp dport 7009 dup to "$RDEV_S" 2>&1); then
		echo "FAIL: a mirror rule was accepted"
		rc=1
	else
		echo "ok: nft refused it: $out"
	fi
	assert_eq "ACL rules on r0+r1" "$(sim_ports_sum acl_rules r0 r1)" "$n0" || rc=1
	ip netns exec "$NS_R" nft list chain netdev kno_acl in | grep -q "dport 7009" &&
		{ echo "FAIL: the rule is in the ruleset"; rc=1; }
	grep "type=acl" "$SIM_DBG/errors"
	return $rc
}

t_delete_rule()
{
	local h n0 rc=0

	h=$(ip netns exec "$NS_R" nft -a list chain netdev kno_acl in |
		sed -n 's/.*udp dport 7001 .*# handle \([0-9]*\)/\1/p')
	[ -n "$h" ] || fail "no handle for the 7001 rule" || return
	n0=$(sim_ports_sum acl_rules r0 r1)
	ip netns exec "$NS_R" nft delete rule netdev kno_acl in handle "$h" || return 1
	assert_eq "ACL rules on r0+r1" "$(sim_ports_sum acl_rules r0 r1)" $((n0 - 2)) || rc=1
	[ -z "$(acl_get r0 7001 packets)" ] || { echo "FAIL: rule still in the sim"; rc=1; }
	burst_check dr "$NS_C" "$NS_S" "$S4" 7001 "$N" || rc=1
	return $rc
}

t_delete_table()
{
	local p rc=0

	ip netns exec "$NS_R" nft delete table netdev kno_acl || return 1
	for p in r0 r1; do
		assert_eq "$p acl_rules" "$(sim_port_get $p acl_rules)" 0 || rc=1
		assert_eq "$p tc_blocks" "$(sim_port_get $p tc_blocks)" 0 || rc=1
		assert_eq "$p tc_binds - tc_unbinds" \
			$(($(sim_port_get $p tc_binds) - $(sim_port_get $p tc_unbinds))) 0 || rc=1
	done
	return $rc
}

sim_topo || ktap_bail "topology setup failed"
acl_ruleset || ktap_bail "cannot load the offloaded netdev chain"

run_test "IPv4 drop rule in hardware: 0/$N arrive, rule and nft counter $N, stack saw 0" t_drop d4 "$S4" 7001
run_test "IPv6 drop rule in hardware: 0/$N arrive, rule and nft counter $N, stack saw 0" t_drop d6 "$S6" 7003
run_test "an earlier accept wins over a later drop: $N/$N arrive, sim counters $N and 0" t_accept_first
run_test "meta iif: dropped only when arriving on the named port" t_iif
run_test "a rule the sim cannot do (dup) is refused and not installed" t_unsupported
run_test "deleting the drop rule removes it from hardware: $N/$N arrive" t_delete_rule
run_test "deleting the table removes every rule and unbinds" t_delete_table

ktap_end
