#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# VLAN matches of offloaded nftables netdev chains (simulated NIC, see
# hw_netdev_basic.sh). The client side runs over VLAN 10 on top of the sim
# ports; the offloaded chain hooks the router's lower port r0. Bursts of
# exactly 50 UDP datagrams:
#   1. "vlan id 10 udp dport 7006 drop": 0 of 50 arrive, the sim rule and
#      the nft counter say 50, the router's software ingress counter 0;
#   2. "vlan id 11 udp dport 7007 drop" does not match VLAN 10: 50 of 50
#      arrive, its counters stay 0;
#   3. "vlan id 10 ip6 daddr ... udp dport 7008 drop": IPv6 inside the tag,
#      0 of 50 arrive, counters 50.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft python3 nsenter
sim_require

N=50

ktap_begin 3

acl_ruleset()
{
	nft_load "$NS_R" <<EOF2
table netdev kno_acl {
	chain in {
		type filter hook ingress device $RDEV_C priority 10; flags offload; policy accept;
		vlan id 10 udp dport 7006 counter drop
		vlan id 11 udp dport 7007 counter drop
		vlan id 10 ip6 daddr $S6 udp dport 7008 counter drop
	}
}
table netdev kno_sw {
	counter sw { }
	chain in {
		type filter hook ingress device $RDEV_C priority -500; policy accept;
		udp dport { 7006, 7007, 7008 } counter name sw
	}
}
EOF2
}

acl_get()
{
	grep "^port=$1 " "$SIM_DBG/acl" | grep " dport=$2/0xffff " |
		sed -n "s/.* $3=\([^ ]*\).*/\1/p" | head -n 1
}

nft_rule_packets()
{
	ip netns exec "$NS_R" nft list chain netdev kno_acl in | grep "udp dport $1 " |
		sed -n 's/.*counter packets \([0-9]*\).*/\1/p' | head -n 1
}

# burst DADDR DPORT WANT: N datagrams from the client, WANT must arrive;
# a control burst to port 7002 arrives completely first.
burst()
{
	local daddr=$1 dport=$2 want=$3 bind=0.0.0.0 got

	case "$daddr" in *:*) bind=:: ;; esac
	sim_sink_start "s$dport" "$NS_S" "$bind" "$dport" 60 || return 1
	sim_sink_start "c$dport" "$NS_S" "$bind" 7002 60 || return 1
	sim_burst "$NS_C" "$daddr" "$dport" "$N" || return 1
	sim_burst "$NS_C" "$daddr" 7002 "$N" || return 1
	wait_for 20 sim_is "sim_sink_count c$dport" = "$N" ||
		echo "FAIL: control burst: $(sim_sink_count "c$dport") of $N"
	sim_sink_stop "s$dport"
	sim_sink_stop "c$dport"
	got=$(sim_sink_count "s$dport")
	assert_eq "datagrams to port $dport that arrived" "$got" "$want"
}

t_vlan()
{
	local daddr=$1 dport=$2 want=$3 cnt=$4 rc=0 sw0

	sw0=$(nft_counter_packets "$NS_R" netdev kno_sw sw)
	burst "$daddr" "$dport" "$want" || rc=1
	assert_eq "sim rule packets" "$(acl_get r0 "$dport" packets)" "$cnt" || rc=1
	assert_eq "nft counter of the rule" "$(nft_rule_packets "$dport")" "$cnt" || rc=1
	assert_eq "software ingress counter growth" \
		$(($(nft_counter_packets "$NS_R" netdev kno_sw sw) - sw0)) "$want" || rc=1
	[ "$rc" = 0 ] || cat "$SIM_DBG/acl"
	return $rc
}

sim_topo 10 0 || ktap_bail "topology setup failed"
acl_ruleset || ktap_bail "cannot load the offloaded netdev chain"

run_test "vlan id 10 drop in hardware: 0/$N arrive, counters $N, stack saw 0" t_vlan "$S4" 7006 0 "$N"
run_test "vlan id 11 does not match VLAN 10: $N/$N arrive, counters 0" t_vlan "$S4" 7007 "$N" 0
run_test "vlan id 10 + IPv6 drop in hardware: 0/$N arrive, counters $N" t_vlan "$S6" 7008 0 "$N"

ktap_end
