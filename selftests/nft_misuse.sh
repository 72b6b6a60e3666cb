#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Flowtable and flow-offload-expression misuse through the nft CLI.
#
# Part 1, misuse: every wrong request must fail with the exact error text
# nft prints for the kernel's errno ("Error: Could not process rule: <text>"),
# and have no side effect: `nft list ruleset` of the router, the refcounts of
# nf_tables, nf_flow_table, nf_flow_table_inet and nft_flow_offload, and
# (where the kernel has nfnetlink_hook, i.e. 6.12) the ingress hooks of the
# router's devices are the same before and after. Requests that are legal but
# unusual (the same device in flowtables of two tables, extreme priorities,
# device add/delete updates, deleting a device a flowtable uses) are checked
# for their exact result.
#
# Part 2, the product's "supported / not offloadable" table as far as it
# applies to software flowtables: for each row a forward-chain rule of that
# kind feeds the flowtable, a TCP transfer runs client -> router -> server,
# and the flow must (or must not) be offloaded: cmp of the data, the router's
# forward-chain byte counter for the flow (below 1/4 of the bytes sent when
# offloaded, at least the bytes sent when not) and conntrack's [OFFLOAD]
# flag on the live flow. The table is printed as "# " lines. The hardware
# half of that table (log/queue/limit/quota/ct in a netdev chain with
# "flags offload") needs the simulated NIC and lives in the hw_*.sh tests.
#
# Part 3: deleting a device that a flowtable uses while a flow through it is
# offloaded: no splat, the flowtable keeps its other device, a new device of
# the same name is not hooked (traffic through it is not offloaded), and
# adding it back with an update offloads again.
#
# Per-kernel differences of the in-tree reference found for these requests:
# none (6.1 and 6.12 answer every request here alike). nft_malformed.sh has
# the ones that only raw netlink can reach.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat ss conntrack

SIZE=${KNO_XFER_SIZE:-2097152}
MODS="nf_tables nf_flow_table nf_flow_table_inet nft_flow_offload"
HOOKS_OK=0	# set when `nft list hooks` can show flowtable hooks

E_NOTSUPP="Error: Could not process rule: Operation not supported"
E_NOENT="Error: Could not process rule: No such file or directory"
E_EXIST="Error: Could not process rule: File exists"
E_BUSY="Error: Could not process rule: Device or resource busy"

ktap_begin 44

# ------------------------------------------------------------ helpers ---

rnft()
{
	ip netns exec "$NS_R" nft "$@"
}

refcounts()
{
	local m

	for m in $MODS; do
		if [ -r "/sys/module/$m/refcnt" ]; then
			echo "$m refcnt $(<"/sys/module/$m/refcnt")"
		else
			echo "$m not loaded"
		fi
	done
}

# number of ingress hooks on a router device (needs HOOKS_OK)
hook_count()
{
	local line n=0 re='^[[:space:]]*[-+]?[0-9]+ '

	while IFS= read -r line; do
		[[ $line =~ $re ]] && n=$((n + 1))
	done < <(rnft list hooks netdev device "$1" 2>/dev/null)
	echo "$n"
}

# state: our modules' refcounts, the router's ruleset and the ingress hooks
# of its devices. One "nft -f" lists them all (each nft run costs ~200 ms
# of TCG CPU, and state runs twice per case). Its output does not name the
# device of each hook list: a hook left behind or removed shows, one moved
# between two devices at once would not.
state()
{
	local d cmds="list ruleset"

	if [ "$HOOKS_OK" = 1 ]; then
		for d in veth0 veth1 lo dummy0 dummy1 dummy2; do
			cmds+=$'\n'"list hooks netdev device $d"
		done
	fi
	echo "--- modules"
	refcounts
	echo "--- ruleset, hooks"
	rnft -f - <<<"$cmds" 2>&1
}

# nft_in INPUT: run `nft -f -` in the router; sets OUT and RC.
nft_in()
{
	echo "nft -f - <<<'$1'"
	OUT=$(printf '%s\n' "$1" | rnft -f - 2>&1)
	RC=$?
	echo "nft rc $RC: $OUT"
}

# reject WANT INPUT: nft must fail with a message containing WANT, and the
# router state must not change.
reject()
{
	local want=$1 input=$2 before after

	before=$(state)
	nft_in "$input"
	after=$(state)
	if [ "$RC" = 0 ]; then
		echo "FAIL: nft accepted it"
		return 1
	fi
	if [[ $OUT != *"$want"* ]]; then
		echo "FAIL: expected \"$want\""
		return 1
	fi
	if [ "$before" != "$after" ]; then
		echo "FAIL: state changed:"
		diff <(echo "$before") <(echo "$after")
		return 1
	fi
	echo "ok: \"$want\", state unchanged"
}

# accept INPUT: nft must succeed.
accept()
{
	nft_in "$1"
	[ "$RC" = 0 ] || fail "nft rejected it"
}

# ft_devices FAMILY TABLE FT: the device list of a flowtable, sorted.
ft_devs()
{
	local out re='devices = [{] ([^}]*) [}]' d

	out=$(rnft list flowtable "$1" "$2" "$3" 2>/dev/null)
	[[ $out =~ $re ]] || return 0
	out=${BASH_REMATCH[1]// /}
	IFS=, read -r -a d <<<"$out"
	[ "${#d[@]}" -lt 2 ] || mapfile -t d < <(printf '%s\n' "${d[@]}" | sort)
	echo "${d[*]}"
}

# ft_prio FAMILY TABLE FT: the numeric priority (from the JSON listing).
ft_prio()
{
	local out re='"prio": *(-?[0-9]+)'

	out=$(rnft -j list flowtable "$1" "$2" "$3" 2>/dev/null)
	[[ $out =~ $re ]] && echo "${BASH_REMATCH[1]}"
	return 0
}

BASE_RULESET='table inet t {
	flowtable ft {
		hook ingress priority 0
		devices = { dummy0 }
	}

	chain fw {
		type filter hook forward priority 0; policy accept;
		meta l4proto tcp flow add @ft
	}
}'

base_ruleset()
{
	rnft flush ruleset && printf '%s\n' "$BASE_RULESET" | rnft -f -
}

# ------------------------------------------------ part 1: the misuses ---

t_hook_chain()
{
	reject "$E_NOTSUPP" "table inet t {
	chain c_$1 {
		type filter hook $1 priority 0; policy accept;
		meta l4proto tcp flow add @ft
	}
}"
}

t_jump_from_input()
{
	reject "$E_NOTSUPP" "table inet t {
	chain reg {
		flow add @ft
	}
	chain c_in {
		type filter hook input priority 0; policy accept;
		jump reg
	}
}"
}

# nft resolves @ft in its own cache first; a netdev table cannot hold a
# flowtable at all (no flowtable type for that family), so the lookup fails.
# nft_malformed covers the same request sent to the kernel directly.
t_netdev_chain()
{
	reject "Error: No such file or directory" "table netdev n {
	chain c {
		type filter hook ingress device dummy1 priority 0; policy accept;
		flow add @ft
	}
}"
}

t_unknown_ft()
{
	reject "$E_NOENT" "add rule inet t fw meta l4proto udp flow add @nosuch"
}

t_offload_on()
{
	reject "$E_NOTSUPP" "table inet t {
	flowtable hw {
		hook ingress priority 0
		devices = { $1 }
		flags offload
	}
}"
}

t_offload_mixed()
{
	reject "$E_NOTSUPP" "table inet t {
	flowtable hw {
		hook ingress priority 0
		devices = { dummy1, veth1, dummy2 }
		flags offload
	}
}"
}

t_dev_other_netns()
{
	ip -n "$NS_O" link show other0 >/dev/null || fail "other0 missing in $NS_O" || return
	reject "$E_NOENT" "table inet t2 {
	flowtable f {
		hook ingress priority 0
		devices = { other0 }
	}
}"
}

t_dev_missing()
{
	reject "$E_NOENT" "table inet t {
	flowtable f {
		hook ingress priority 0
		devices = { dummy1, nosuchdev }
	}
}"
}

t_dev_twice()
{
	reject "$E_EXIST" "table inet t {
	flowtable f {
		hook ingress priority 0
		devices = { dummy1, dummy1 }
	}
}"
}

t_dev_two_ft_one_table()
{
	reject "$E_EXIST" "table inet t {
	flowtable f {
		hook ingress priority 0
		devices = { dummy0 }
	}
}"
}

# The device check is per table: a second table of the same (or another)
# family may hook the same device. Both flowtables must then list it, and
# (with nfnetlink_hook) the device has one more ingress hook per flowtable.
t_dev_two_tables()
{
	local before n0 n1 rc=0

	before=$(state)
	n0=$([ "$HOOKS_OK" = 1 ] && hook_count dummy0)
	accept "table inet t2 {
	flowtable f2 {
		hook ingress priority 0
		devices = { dummy0 }
	}
}
table ip t4 {
	flowtable f4 {
		hook ingress priority 0
		devices = { dummy0 }
	}
}" || return 1
	[ "$(ft_devs inet t ft)" = dummy0 ] || { echo "FAIL: inet t ft: $(ft_devs inet t ft)"; rc=1; }
	[ "$(ft_devs inet t2 f2)" = dummy0 ] || { echo "FAIL: inet t2 f2: $(ft_devs inet t2 f2)"; rc=1; }
	[ "$(ft_devs ip t4 f4)" = dummy0 ] || { echo "FAIL: ip t4 f4: $(ft_devs ip t4 f4)"; rc=1; }
	if [ "$HOOKS_OK" = 1 ]; then
		n1=$(hook_count dummy0)
		echo "ingress hooks on dummy0: $n0 -> $n1"
		[ "$n1" -eq $((n0 + 2)) ] || { echo "FAIL: expected $((n0 + 2)) hooks"; rc=1; }
	fi
	rnft delete table inet t2 && rnft delete table ip t4 || rc=1
	[ "$before" = "$(state)" ] || { echo "FAIL: state differs after deleting the tables"; rc=1; }
	return $rc
}

# Priorities: the kernel stores any 32-bit value. Values inside the int32
# range must be accepted and listed back exactly.
t_prio_in_range()
{
	local p got rc=0

	for p in -2147483648 2147483647 -1000000 1000000 -1 1; do
		accept "table inet p {
	flowtable fp {
		hook ingress priority $p
		devices = { dummy1 }
	}
}" || { rc=1; continue; }
		got=$(ft_prio inet p fp)
		if [ "$got" != "$p" ]; then
			echo "FAIL: priority $p listed as '$got'"
			rc=1
		else
			echo "ok: priority $p stored and listed"
		fi
		rnft delete table inet p || rc=1
	done
	return $rc
}

# Outside int32 the value cannot reach the kernel unchanged (the attribute
# is 32 bits). nft 1.0.x truncates it; a stricter nft may reject it. Either
# is fine, but it must be exactly one of the two: rejected with no side
# effect, or stored as the low 32 bits.
t_prio_out_of_range()
{
	local p want got before rc=0

	for p in 2147483648 -2147483649 4294967296 99999999999 -99999999999; do
		want=$(((p & 0xffffffff) >= 0x80000000 ? (p & 0xffffffff) - 0x100000000 : (p & 0xffffffff)))
		before=$(state)
		nft_in "table inet p {
	flowtable fp {
		hook ingress priority $p
		devices = { dummy1 }
	}
}"
		if [ "$RC" != 0 ]; then
			if [ "$before" = "$(state)" ]; then
				echo "ok: priority $p rejected by nft, no side effect"
			else
				echo "FAIL: priority $p rejected but the state changed"
				rc=1
			fi
			continue
		fi
		got=$(ft_prio inet p fp)
		if [ "$got" = "$want" ]; then
			echo "ok: priority $p accepted by nft as its low 32 bits: $got"
		else
			echo "FAIL: priority $p stored as '$got', expected $want"
			rc=1
		fi
		rnft delete table inet p || rc=1
	done
	return $rc
}

t_prio_keyword()
{
	# "raw" is not a netdev-family priority name
	reject "Error: invalid priority expression value" "table inet t {
	flowtable f {
		hook ingress priority raw
		devices = { dummy1 }
	}
}"
}

t_del_referenced()
{
	reject "$E_BUSY" "delete flowtable inet t ft" || return 1
	local h

	h=$(rnft -a list flowtable inet t ft | sed -n 's/.*flowtable ft { # handle \([0-9]*\).*/\1/p')
	[ -n "$h" ] || fail "no handle for ft" || return
	reject "$E_BUSY" "delete flowtable inet t handle $h"
}

t_del_missing()
{
	reject "$E_NOENT" "delete flowtable inet t nosuch"
}

t_update_prio()
{
	reject "$E_NOTSUPP" "table inet t {
	flowtable ft {
		hook ingress priority 10
		devices = { dummy1 }
	}
}"
}

t_update_offload()
{
	reject "$E_NOTSUPP" "table inet t {
	flowtable ft {
		hook ingress priority 0
		devices = { dummy1 }
		flags offload
	}
}"
}

t_update_hook()
{
	reject "$E_NOTSUPP" "table inet t {
	flowtable ft {
		hook egress priority 0
		devices = { dummy1 }
	}
}"
}

t_create_egress()
{
	reject "$E_NOTSUPP" "table inet t {
	flowtable fe {
		hook egress priority 0
		devices = { dummy1 }
	}
}"
}

# Adding a device in an update and deleting it again: listed, then gone,
# and the state is back where it was.
t_update_add_del()
{
	local before n0 rc=0

	before=$(state)
	n0=$([ "$HOOKS_OK" = 1 ] && hook_count dummy1)
	accept "add flowtable inet t ft { hook ingress priority 0; devices = { dummy1 }; }" || return 1
	[ "$(ft_devs inet t ft)" = "dummy0 dummy1" ] ||
		{ echo "FAIL: after add: $(ft_devs inet t ft)"; rc=1; }
	if [ "$HOOKS_OK" = 1 ] && [ "$(hook_count dummy1)" -ne $((n0 + 1)) ]; then
		echo "FAIL: dummy1 has $(hook_count dummy1) ingress hooks, expected $((n0 + 1))"
		rc=1
	fi
	accept "delete flowtable inet t ft { devices = { dummy1 }; }" || return 1
	[ "$(ft_devs inet t ft)" = dummy0 ] ||
		{ echo "FAIL: after delete: $(ft_devs inet t ft)"; rc=1; }
	if [ "$before" != "$(state)" ]; then
		echo "FAIL: state differs after add + delete:"
		diff <(echo "$before") <(state)
		rc=1
	fi
	return $rc
}

t_update_del_foreign()
{
	reject "$E_NOENT" "delete flowtable inet t ft { devices = { dummy1 }; }"
}

t_update_del_nonexistent()
{
	reject "$E_NOENT" "delete flowtable inet t ft { devices = { nosuchdev }; }"
}

t_update_dev_of_other_ft()
{
	local rc=0

	accept "add flowtable inet t fo { hook ingress priority 0; devices = { dummy2 }; }" || return 1
	reject "$E_EXIST" "add flowtable inet t ft { hook ingress priority 0; devices = { dummy2 }; }" || rc=1
	rnft delete flowtable inet t fo || rc=1
	return $rc
}

# Both in one transaction: the delete cannot see the device that the same
# transaction adds.
t_update_add_then_del()
{
	reject "$E_NOENT" "add flowtable inet t ft { hook ingress priority 0; devices = { dummy1 }; }
delete flowtable inet t ft { devices = { dummy1 }; }"
}

# The other way round is fine: the device is deleted and added back.
t_update_del_then_add()
{
	local before

	before=$(state)
	accept "delete flowtable inet t ft { devices = { dummy0 }; }
add flowtable inet t ft { hook ingress priority 0; devices = { dummy0 }; }" || return 1
	[ "$(ft_devs inet t ft)" = dummy0 ] || fail "devices: $(ft_devs inet t ft)" || return
	[ "$before" = "$(state)" ] || { diff <(echo "$before") <(state); fail "state differs"; }
}

# A device of a flowtable goes away: the flowtable stays, without it; a new
# device with the same name is not hooked; deleting the table afterwards
# restores the module refcounts.
t_dev_deleted()
{
	local before rc=0

	before=$(state)
	ip -n "$NS_R" link add dummy3 type dummy || return 1
	accept "table inet d {
	flowtable fd {
		hook ingress priority 0
		devices = { dummy2, dummy3 }
	}
}" || return 1
	ip -n "$NS_R" link del dummy3 || return 1
	[ "$(ft_devs inet d fd)" = dummy2 ] ||
		{ echo "FAIL: after deleting dummy3: '$(ft_devs inet d fd)'"; rc=1; }
	ip -n "$NS_R" link add dummy3 type dummy || return 1
	[ "$(ft_devs inet d fd)" = dummy2 ] ||
		{ echo "FAIL: a new dummy3 shows up: '$(ft_devs inet d fd)'"; rc=1; }
	if [ "$HOOKS_OK" = 1 ]; then
		echo "hooks on the new dummy3: $(hook_count dummy3), on dummy2: $(hook_count dummy2)"
		[ "$(hook_count dummy3)" = 0 ] || { echo "FAIL: the new dummy3 is hooked"; rc=1; }
		[ "$(hook_count dummy2)" = 1 ] || { echo "FAIL: dummy2 lost its hook"; rc=1; }
	fi
	ip -n "$NS_R" link del dummy3
	rnft delete table inet d || rc=1
	[ "$before" = "$(state)" ] || { diff <(echo "$before") <(state); echo "FAIL: state differs"; rc=1; }
	return $rc
}

# A device of a flowtable moves to another namespace: same as a deletion.
t_dev_moved()
{
	local before rc=0

	before=$(state)
	ip -n "$NS_R" link add dummy4 type dummy || return 1
	accept "table inet d {
	flowtable fd {
		hook ingress priority 0
		devices = { dummy2, dummy4 }
	}
}" || return 1
	ip -n "$NS_R" link set dummy4 netns "$NS_O" || return 1
	[ "$(ft_devs inet d fd)" = dummy2 ] ||
		{ echo "FAIL: after moving dummy4 away: '$(ft_devs inet d fd)'"; rc=1; }
	ip -n "$NS_O" link del dummy4
	rnft delete table inet d || rc=1
	[ "$before" = "$(state)" ] || { diff <(echo "$before") <(state); echo "FAIL: state differs"; rc=1; }
	return $rc
}

# ------------------------------------ part 2: the offload matrix ---

MATRIX=()	# "feature|class|rule|result|expected" lines
PORT=6100

# matrix_row FEATURE CLASS EXPECT(yes|no) IPVER RULE...
# RULE is the forward-chain statement list (it includes the flow add). The
# "ct state invalid counter" rule keeps conntrack on in the router whatever
# RULE is (flow add would do that too, but the test must not depend on it).
matrix_row()
{
	local feat=$1 class=$2 expect=$3 v=$4 rule=$5 daddr id pk by live got src= rc=0 ct

	PORT=$((PORT + 1))
	id=m$PORT
	daddr=$S4
	[ "$v" = 6 ] && daddr=$S6
	[ "$v" = vlan ] && daddr=$S4 && v=4 && src=$VLAN_C4
	if ! nft_load "$NS_R" <<EOF
flush ruleset
table inet m {
	flowtable ft {
		hook ingress priority 0
		devices = { $RDEV_C, $RDEV_S }
	}

	counter fwbytes { }

	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state invalid counter
		tcp dport $PORT counter name fwbytes
		$rule
	}
}
EOF
	then
		MATRIX+=("$feat|$class|$rule|rule rejected|$expect")
		return 1
	fi
	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$PORT" "$SIZE" || rc=1
	[ "$rc" = 0 ] && { tcp_wait_received "$id" || rc=1; }
	ct=$(ct_get "$NS_R" "ipv$v" tcp "$XFER_SPORT" "$PORT")
	if [[ $ct == *"[OFFLOAD]"* ]]; then
		live=yes
	else
		live=no
	fi
	echo "conntrack (live): $ct"
	if [ -n "$src" ] && [[ "$ct " != *" src=$src "* ]]; then
		echo "FAIL: the flow does not come from $src"
		rc=2
	fi
	[ -e "$KNO_TMP/$id.spid" ] && { tcp_finish "$id" || rc=1; }
	read -r pk by < <(nft_counter "$NS_R" inet m fwbytes)
	echo "forward chain: $pk packets, $by bytes for $SIZE bytes sent; [OFFLOAD] while live: $live"
	if [ "$rc" = 2 ]; then
		got="wrong source"
	elif [ "$rc" != 0 ]; then
		got="transfer failed"
	elif [ "$live" = yes ] && [ "${by:-0}" -lt $((SIZE / 4)) ]; then
		got=yes
	elif [ "$live" = no ] && [ "${by:-0}" -ge "$SIZE" ]; then
		got=no
	else
		got="inconsistent ([OFFLOAD] $live, $by fwd bytes)"
	fi
	MATRIX+=("$feat|$class|$rule|$got ($by B fwd)|$expect")
	[ "$got" = "$expect" ] || fail "offloaded: $got, expected: $expect"
}

VLAN_C4=10.199.10.2	# client on eth0.10
VLAN_R4=10.199.10.1	# router on veth0.10

vlan_up()
{
	ns_ip "$NS_R" <<-EOF &&
	link add link $RDEV_C name $RDEV_C.10 type vlan id 10
	addr add $VLAN_R4/24 dev $RDEV_C.10
	link set $RDEV_C.10 up
	EOF
	ns_ip "$NS_C" <<-EOF &&
	link add link eth0 name eth0.10 type vlan id 10
	addr add $VLAN_C4/24 dev eth0.10
	link set eth0.10 up
	route add $S4/32 via $VLAN_R4 dev eth0.10
	EOF
	wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 -I "$VLAN_C4" "$S4" >/dev/null
}

vlan_down()
{
	printf '%s\n' "route del $S4/32" "link del eth0.10" | ip -n "$NS_C" -force -b - >/dev/null 2>&1
	ip -n "$NS_R" link del "$RDEV_C.10" 2>/dev/null
}

t_matrix_vlan()
{
	local rc

	vlan_up || { vlan_down; fail "VLAN setup failed"; return; }
	matrix_row "$@"
	rc=$?
	vlan_down
	return $rc
}

print_matrix()
{
	local line feat class rule got exp

	ktap_comment "Supported / not offloadable (software flowtable; proof: cmp, forward-chain bytes, [OFFLOAD] while live):"
	ktap_comment "$(printf '%-22s %-16s %-62s %-22s %s' feature "product class" "forward-chain rule" "sw offload (proof)" expected)"
	for line in "${MATRIX[@]}"; do
		IFS='|' read -r feat class rule got exp <<<"$line"
		ktap_comment "$(printf '%-22s %-16s %-62s %-22s %s' "$feat" "$class" "$rule" "$got" "$exp")"
	done
	ktap_comment "hw offload (flags offload flowtable / netdev offload chain): needs the simulated NIC, see hw_*.sh"
}

# -------------------------- part 3: device deleted under a live flow ---

client_link_up()
{
	ip link add veth0 netns "$NS_R" type veth peer name eth0 netns "$NS_C" || return 1
	ns_host "$NS_C" eth0 "$C4" "$C6" "$R4C" "$R6C" || return 1
	ns_ip "$NS_R" <<-EOF || return 1
	addr add $R4C/24 dev veth0
	addr add $R6C/64 dev veth0 nodad
	link set veth0 up
	EOF
	ip netns exec "$NS_R" sysctl -qw net.ipv4.conf.all.forwarding=1 >/dev/null
	wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$S4" >/dev/null
}

# transfer_fwd_bytes ID PORT: TCP transfer client -> server, print the
# forward-chain bytes counted for it.
transfer_fwd_bytes()
{
	nft_counter_reset "$NS_R" inet m fwbytes
	tcp_transfer "$1" "$NS_C" "$NS_S" "$S4" "$2" "$SIZE" >&2 || return 1
	nft_counter_bytes "$NS_R" inet m fwbytes
}

t_dev_deleted_live()
{
	local id=live sport by pid rc=0

	rnft flush ruleset
	nft_load "$NS_R" <<EOF || return 1
table inet m {
	flowtable ft {
		hook ingress priority 0
		devices = { $RDEV_C, $RDEV_S }
	}

	counter fwbytes { }

	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state invalid counter
		tcp dport { 6201, 6202, 6203 } counter name fwbytes
		meta l4proto tcp $(flow_add_stmt @ft)
	}
}
EOF
	tcp_start "$id" "$NS_C" "$NS_S" "$S4" 6201 "$SIZE" || return 1
	tcp_wait_received "$id" || return 1
	sport=$XFER_SPORT
	ct_is_offloaded "$NS_R" ipv4 tcp "$sport" 6201 ||
		fail "flow not offloaded before the deletion: $(ct_get "$NS_R" ipv4 tcp "$sport" 6201)" || return
	echo "offloaded: $(ct_get "$NS_R" ipv4 tcp "$sport" 6201)"

	ip -n "$NS_R" link del "$RDEV_C" || return 1
	[ "$(ft_devs inet m ft)" = "$RDEV_S" ] ||
		{ echo "FAIL: flowtable devices after the deletion: '$(ft_devs inet m ft)'"; rc=1; }
	wait_for 30 ct_not_offloaded "$NS_R" ipv4 tcp "$sport" 6201 ||
		{ echo "FAIL: flow still offloaded 30s after its device went away"; rc=1; }
	# The connection is dead: release the sender's input (it waits for the
	# gate), then stop both socat ends (ours, by PID).
	touch "$KNO_TMP/$id.gate"
	for pid in $(ip netns pids "$NS_C") $(ip netns pids "$NS_S"); do
		kill "$pid" 2>/dev/null
	done
	wait_pid_timeout 30 "$(<"$KNO_TMP/$id.spid")" >/dev/null 2>&1
	wait_pid_timeout 30 "$(<"$KNO_TMP/$id.rpid")" >/dev/null 2>&1

	client_link_up || { echo "FAIL: cannot rebuild the client link"; return 1; }
	[ "$(ft_devs inet m ft)" = "$RDEV_S" ] ||
		{ echo "FAIL: a new $RDEV_C appears in the flowtable: '$(ft_devs inet m ft)'"; rc=1; }
	if [ "$HOOKS_OK" = 1 ]; then
		echo "hooks on the new $RDEV_C: $(hook_count "$RDEV_C")"
		[ "$(hook_count "$RDEV_C")" = 0 ] || { echo "FAIL: the new $RDEV_C is hooked"; rc=1; }
	fi
	by=$(transfer_fwd_bytes re1 6202) || { echo "FAIL: transfer over the new $RDEV_C"; return 1; }
	echo "new $RDEV_C, not in the flowtable: $by forward-chain bytes for $SIZE sent"
	[ "$by" -ge "$SIZE" ] ||
		{ echo "FAIL: client->server packets bypassed the forward chain without a hook"; rc=1; }

	rnft add flowtable inet m ft "{ hook ingress priority 0; devices = { $RDEV_C }; }" || return 1
	by=$(transfer_fwd_bytes re2 6203) || { echo "FAIL: transfer after re-adding $RDEV_C"; return 1; }
	echo "$RDEV_C added back: $by forward-chain bytes for $SIZE sent"
	[ "$by" -lt $((SIZE / 4)) ] || { echo "FAIL: not offloaded after adding $RDEV_C back"; rc=1; }
	return $rc
}

# ------------------------------------------------------------- main ---

DMESG0=$(dmesg | wc -l)

topo_router || ktap_bail "topology setup failed"
setup_ns NS_O || ktap_bail "cannot create a namespace"
ip -n "$NS_O" link add other0 type dummy
for d in dummy0 dummy1 dummy2; do
	ip -n "$NS_R" link add "$d" type dummy && ip -n "$NS_R" link set "$d" up ||
		ktap_bail "cannot create $d"
done
base_ruleset || ktap_bail "cannot load the base ruleset"
impl_report
if [ "$(hook_count dummy0)" -ge 1 ] 2>/dev/null; then
	HOOKS_OK=1
	ktap_comment "nft list hooks works: ingress hooks are compared too"
else
	ktap_comment "nft list hooks shows nothing (no nfnetlink_hook in $KNO_KVER): hooks are not compared"
fi

for h in input output prerouting postrouting; do
	run_test "flow add in an inet $h chain: Operation not supported, no side effect" t_hook_chain "$h"
done
run_test "flow add in a regular chain jumped to from input: Operation not supported" t_jump_from_input
run_test "flow add in a netdev family chain: No such file or directory" t_netdev_chain
run_test "flow add to an unknown flowtable: No such file or directory" t_unknown_ft
run_test "flags offload on a veth: Operation not supported, nothing created" t_offload_on veth0
run_test "flags offload on lo: Operation not supported, nothing created" t_offload_on lo
run_test "flags offload on a dummy: Operation not supported, nothing created" t_offload_on dummy1
run_test "flags offload on three devices without offload: Operation not supported" t_offload_mixed
run_test "device in another netns: No such file or directory" t_dev_other_netns
run_test "nonexistent device among existing ones: No such file or directory" t_dev_missing
run_test "device listed twice in one flowtable: File exists" t_dev_twice
run_test "device of another flowtable of the same table: File exists" t_dev_two_ft_one_table
run_test "same device in flowtables of other tables (inet, ip): accepted, hooked by each" t_dev_two_tables
run_test "priorities INT32_MIN, INT32_MAX, +-1000000, +-1: accepted, listed exactly" t_prio_in_range
run_test "priorities outside int32: rejected, or stored as their low 32 bits" t_prio_out_of_range
run_test "priority keyword raw: rejected by nft" t_prio_keyword
run_test "delete a flowtable used by a rule (by name and handle): Device or resource busy" t_del_referenced
run_test "delete a nonexistent flowtable: No such file or directory" t_del_missing
run_test "create with hook egress: Operation not supported" t_create_egress
run_test "update with another priority: Operation not supported" t_update_prio
run_test "update adding flags offload: Operation not supported" t_update_offload
run_test "update with hook egress: Operation not supported" t_update_hook
run_test "update: add a device, delete it again: listed, removed, state restored" t_update_add_del
run_test "update: delete a device the flowtable does not have: No such file or directory" t_update_del_foreign
run_test "update: delete a nonexistent device: No such file or directory" t_update_del_nonexistent
run_test "update: add a device of another flowtable of the table: File exists" t_update_dev_of_other_ft
run_test "update: add and delete one device in one transaction: No such file or directory" t_update_add_then_del
run_test "update: delete and re-add one device in one transaction: accepted, unchanged" t_update_del_then_add
run_test "device of a flowtable deleted: flowtable stays without it, new namesake not hooked" t_dev_deleted
run_test "device of a flowtable moved to another netns: removed from the flowtable" t_dev_moved

# part 2
S="supported"
N="not offloadable"
FA=$(flow_add_stmt @ft)
run_test "matrix: IPv4 forwarding is offloaded" \
	matrix_row "IPv4 forwarding" "$S" yes 4 "meta l4proto tcp $FA"
run_test "matrix: IPv6 forwarding is offloaded" \
	matrix_row "IPv6 forwarding" "$S" yes 6 "meta l4proto tcp $FA"
run_test "matrix: IPv4 over a VLAN (802.1Q) is offloaded" \
	t_matrix_vlan "VLAN 802.1Q" "$S" yes vlan "meta l4proto tcp $FA"
run_test "matrix: ct state established,related is offloaded" \
	matrix_row "ct established,related" "$S" yes 4 "ct state established,related $FA"
run_test "matrix: iifname/oifname match is offloaded" \
	matrix_row "input/output iface" "$S" yes 4 "iifname \"$RDEV_C\" oifname \"$RDEV_S\" $FA"
run_test "matrix: log in the rule: software flowtable still offloads" \
	matrix_row "log" "$N" yes 4 "meta l4proto tcp log prefix \"kno-matrix \" $FA"
run_test "matrix: queue (bypass) after flow add: software flowtable still offloads" \
	matrix_row "queue" "$N" yes 4 "meta l4proto tcp $FA queue num 7 bypass"
run_test "matrix: limit in the rule: software flowtable still offloads" \
	matrix_row "limit" "$N" yes 4 "meta l4proto tcp limit rate 100/second burst 50 packets $FA"
run_test "matrix: ct state new: never offloaded" \
	matrix_row "ct state new" "$N" no 4 "ct state new $FA"
print_matrix

# part 3
run_test "delete a flowtable device under a live offloaded flow: flowtable keeps the other device, namesake not hooked, re-add offloads" \
	t_dev_deleted_live

t_no_splat()
{
	local f=$KNO_TMP/dmesg.new

	dmesg | tail -n +$((DMESG0 + 1)) >"$f"
	"$KNO_TOP/scripts/splat-check.sh" "$f"
}
run_test "no kernel splat during the test" t_no_splat

ktap_end
