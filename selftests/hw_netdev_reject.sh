#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What an offloaded nftables netdev chain refuses (simulated NIC, see
# hw_netdev_basic.sh and Documentation/simnic.rst).
#
# nf_tables translates a rule of a "flags offload" chain into a flow_rule
# expression by expression; only expressions with an offload callback can be
# translated: immediate (accept, drop, fwd, dup), cmp, payload (Ethernet
# addresses and type, IPv4/IPv6 addresses and protocol, TCP/UDP ports),
# meta (protocol, l4proto, iif, iiftype), bitwise (on those) and counter.
# Everything else makes the rule, and the whole batch, fail with
# EOPNOTSUPP before anything reaches the driver:
#   log, queue, limit, quota        no hardware equivalent (side effects,
#                                   state per packet);
#   ct state new / established      conntrack state is not known to the NIC;
#                                   the kernel refuses ct in the netdev
#                                   family even earlier, at expression
#                                   init: nf_conntrack has no netdev
#                                   family and returns EPROTO ("Protocol
#                                   error") on 6.1 and 6.12, so for ct the
#                                   expected error is EPROTO;
#   meta mark set, meta mark        packet metadata the NIC has no field for;
#   ip ttl, tcp flags               header fields nf_tables does not offload;
#   set lookup (udp dport { ... })  no offload of set lookups;
#   jump to another chain           only accept/drop/fwd/dup verdicts.
# A rule nf_tables can translate but the driver cannot do ("dup to", a
# mirror the sim has no resources for) is refused by the driver with
# EOPNOTSUPP during the commit (see hw_netdev_basic.sh).
#
#   1. each of the rules above, added alone, fails with nft's message for
#      the expected errno ("Operation not supported"; "Protocol error" for
#      ct) and leaves ruleset and hardware unchanged;
#   2. the matrix is printed as a table;
#   3. "counter", which nf_tables does offload, works end to end: 50 of 50
#      dropped in hardware, the sim rule and the nft counter both say 50;
#   4. a batch (nft -f) of two supported rules around an unsupported one
#      is refused as a whole (log: EOPNOTSUPP; ct state new: EPROTO):
#      ruleset (nft -s -a list ruleset), the sim's
#      hardware table (debugfs acl, with counters) and its command counters
#      are exactly as before;
#   5. the same with the unsupported rule being one the driver refuses
#      (dup): ruleset and hardware table unchanged (nf_tables undoes the
#      supported rules the driver had taken; the sim's REPLACE and DESTROY
#      calls are printed).
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft python3 nsenter
sim_require

N=50

EOPNOTSUPP_MSG="Operation not supported"
EPROTO_MSG="Protocol error"

# feature | rule (added to chain "in") | expected error
REJECT=(
	"log|udp dport 7010 log|EOPNOTSUPP"
	"queue|udp dport 7011 queue num 1|EOPNOTSUPP"
	"limit|udp dport 7012 limit rate 10/second accept|EOPNOTSUPP"
	"quota|udp dport 7013 quota 1 mbytes accept|EOPNOTSUPP"
	"ct state new|ct state new udp dport 7014 accept|EPROTO"
	"ct state established|ct state established udp dport 7015 accept|EPROTO"
	"meta mark set|udp dport 7016 meta mark set 1|EOPNOTSUPP"
	"meta mark (match)|meta mark 1 udp dport 7017 drop|EOPNOTSUPP"
	"ip ttl (match)|ip ttl 64 udp dport 7018 drop|EOPNOTSUPP"
	"tcp flags (match)|tcp flags syn tcp dport 7019 drop|EOPNOTSUPP"
	"set lookup|udp dport { 7020, 7021 } drop|EOPNOTSUPP"
	"jump|udp dport 7022 jump other|EOPNOTSUPP"
)

declare -a MATRIX

ktap_begin $((${#REJECT[@]} + 4))

ruleset()
{
	nft_load "$NS_R" <<EOF
table netdev kno_rej {
	chain other {
	}
	chain in {
		type filter hook ingress devices = { $RDEV_C, $RDEV_S } priority 10; flags offload; policy accept;
		ip saddr $C4 udp dport 7001 counter drop
	}
}
EOF
}

# acl_rules: the hardware table of the router's ports with the rule
# counters, without the fields that move with time.
acl_rules()
{
	local line re=' (lastused_ms|age_ms)=[0-9-]*'

	while IFS= read -r line; do
		[[ $line == "port=$RDEV_C "* || $line == "port=$RDEV_S "* ]] || continue
		while [[ $line =~ $re ]]; do
			line=${line/"${BASH_REMATCH[0]}"/}
		done
		echo "$line"
	done <"$SIM_DBG/acl"
}

# state: everything that must not change when a rule or batch is refused.
state()
{
	local p line f

	ip netns exec "$NS_R" nft -s -a list ruleset
	echo "--- acl"
	acl_rules
	echo "--- counters"
	for p in "$RDEV_C" "$RDEV_S"; do
		while IFS= read -r line; do
			[[ $line == "port=$p "* ]] || continue
			for f in $line; do
				[[ $f == acl_replace_* || $f == acl_destroy_* || $f == tc_* ]] &&
					echo "$f"
			done
		done <"$SIM_DBG/ports"
	done
}

# hw_state: the hardware table only (rules and their counters).
hw_state()
{
	ip netns exec "$NS_R" nft -s -a list ruleset
	echo "--- acl"
	acl_rules
}

# errname OUTPUT: the errno name of nft's message.
errname()
{
	case "$1" in
	*"$EOPNOTSUPP_MSG"*) echo EOPNOTSUPP ;;
	*"$EPROTO_MSG"*) echo EPROTO ;;
	*) echo "other" ;;
	esac
}

t_reject()
{
	local feat=$1 rule=$2 want=$3 before after out got rc=0

	before=$(state)
	if out=$(ip netns exec "$NS_R" nft add rule netdev kno_rej in "$rule" 2>&1); then
		MATRIX+=("$feat|$rule|accepted|$want")
		echo "FAIL: accepted: $rule"
		return 1
	fi
	echo "nft: ${out%%$'\n'*}"
	got=$(errname "$out")
	MATRIX+=("$feat|$rule|$got|$want")
	[ "$got" = "$want" ] || { echo "FAIL: $got, expected $want"; rc=1; }
	after=$(state)
	if [ "$before" != "$after" ]; then
		echo "FAIL: ruleset or hardware changed:"
		diff <(echo "$before") <(echo "$after")
		rc=1
	fi
	return $rc
}

print_matrix()
{
	local line feat rule got want

	ktap_comment "offloaded netdev chain: expression rejection matrix"
	ktap_comment "$(printf '%-22s %-50s %-12s %s' expression rule result expected)"
	for line in "${MATRIX[@]}"; do
		IFS='|' read -r feat rule got want <<<"$line"
		ktap_comment "$(printf '%-22s %-50s %-12s %s' "$feat" "$rule" "$got" "$want")"
	done
	ktap_comment "$(printf '%-22s %-50s %-12s %s' counter "ip saddr $C4 udp dport 7001 counter drop" offloaded "offloaded (next test)")"
}

t_counter()
{
	local rc=0 got pk

	sim_sink_start cd "$NS_S" 0.0.0.0 7001 60 || return 1
	sim_sink_start cc "$NS_S" 0.0.0.0 7002 60 || return 1
	sim_burst "$NS_C" "$S4" 7001 "$N" || return 1
	sim_burst "$NS_C" "$S4" 7002 "$N" || return 1
	wait_for 20 sim_is "sim_sink_count cc" = "$N" || rc=1
	sim_sink_stop cd
	sim_sink_stop cc
	got=$(sim_sink_count cd)
	[ "$got" = 0 ] || { echo "FAIL: $got of $N dropped datagrams arrived"; rc=1; }
	pk=$(grep "^port=$RDEV_C " "$SIM_DBG/acl" | grep " dport=7001/" |
		sed -n 's/.* packets=\([0-9]*\).*/\1/p')
	[ "$pk" = "$N" ] || { echo "FAIL: sim rule packets ${pk:-none}, expected $N"; rc=1; }
	pk=$(ip netns exec "$NS_R" nft list chain netdev kno_rej in | grep "dport 7001" |
		sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
	[ "$pk" = "$N" ] || { echo "FAIL: nft counter ${pk:-none}, expected $N"; rc=1; }
	echo "dropped in hardware: $N, sim rule and nft counter: $pk"
	return $rc
}

# t_batch WHAT BAD_RULE FUNC: a batch with BAD_RULE between two good ones
# is refused; FUNC (state or hw_state) is unchanged.
t_batch()
{
	local bad=$1 snap=$2 want=$3 before after out rc=0 r0 d0 r1 d1

	before=$($snap)
	r0=$(sim_ports_sum acl_replace_calls "$RDEV_C" "$RDEV_S")
	d0=$(sim_ports_sum acl_destroy_calls "$RDEV_C" "$RDEV_S")
	if out=$(ip netns exec "$NS_R" nft -f - 2>&1 <<EOF
add rule netdev kno_rej in ip saddr $C4 udp dport 7030 counter drop
add rule netdev kno_rej in $bad
add rule netdev kno_rej in ip saddr $C4 udp dport 7031 counter drop
EOF
	); then
		echo "FAIL: the batch was accepted"
		return 1
	fi
	echo "nft: ${out%%$'\n'*}"
	[ "$(errname "$out")" = "$want" ] || { echo "FAIL: $(errname "$out"), expected $want"; rc=1; }
	after=$($snap)
	if [ "$before" != "$after" ]; then
		echo "FAIL: ruleset or hardware changed:"
		diff <(echo "$before") <(echo "$after")
		rc=1
	fi
	r1=$(sim_ports_sum acl_replace_calls "$RDEV_C" "$RDEV_S")
	d1=$(sim_ports_sum acl_destroy_calls "$RDEV_C" "$RDEV_S")
	echo "sim REPLACE calls +$((r1 - r0)), DESTROY calls +$((d1 - d0))"
	return $rc
}

sim_topo || ktap_bail "topology setup failed"
ruleset || ktap_bail "cannot load the offloaded netdev chain"
[ -n "$(sim_port_get "$RDEV_C" acl_replace_calls)" ] ||
	ktap_bail "the sim shows no acl_replace_calls counter"

for line in "${REJECT[@]}"; do
	IFS='|' read -r feat rule want <<<"$line"
	run_test "offload chain refuses $feat: $want, nothing changed" t_reject "$feat" "$rule" "$want"
done
print_matrix
run_test "counter is offloaded: $N/$N dropped in hardware, sim and nft counters $N" t_counter
run_test "batch with log between two good rules: refused whole, ruleset/hardware/counters unchanged" \
	t_batch "udp dport 7032 log" state EOPNOTSUPP
run_test "batch with ct state new between two good rules: refused whole, unchanged" \
	t_batch "ct state new udp dport 7033 accept" state EPROTO
run_test "batch with a rule the driver refuses (dup): refused whole, ruleset and hardware table unchanged" \
	t_batch "udp dport 7034 dup to $RDEV_S" hw_state EOPNOTSUPP

ktap_end
