#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Robustness of the flowtable life cycle while flows are live:
#   client --- router (flowtable ft on veth0, veth1) --- server
#
#  1. The flowtable is deleted (the table is replaced, in one transaction,
#     by one without flowtable) in the middle of a TCP transfer: the rest of
#     the data takes the classic path (forward chain counts it all), cmp.
#  2. A flowtable device is deleted while a flow uses it; 3. it is moved to
#     another netns. The flows leave the flowtable, the device leaves the
#     flowtable's hook list; after re-creating / moving back the device and
#     reloading the ruleset a fresh transfer is offloaded again (cmp).
#  4. The ruleset is reloaded (flush ruleset + the same rules, one
#     transaction) in the middle of a transfer: the transfer continues (cmp)
#     and the flow ends up offloaded again in the new flowtable.
#  5. The router netns is deleted with live TCP and UDP flows: module
#     references and the nf_conntrack slab objects return to their
#     baseline (so no flow kept a conntrack entry); then a new topology
#     works.
#  6. rmmod with live flows: nf_flow_table, nf_flow_table_inet and
#     nft_flow_offload are refused ("in use") while the flowtable exists,
#     the flow stays offloaded and the transfer goes on; after the ruleset
#     is flushed all three unload; modprobe brings them back (ours under
#     KNO_IMPL=ours) and a fresh transfer is offloaded.
# After each subtest: no conntrack entry of the router is left [OFFLOAD],
# and with ours /proc/net/nf_flowtable lists no flow where none should be.
# Kernel splats fail the run (vm.sh). The flow slab cache of ours
# ("kno_flow") is reported; it is only asserted on when the kernel did not
# merge it with other caches (SLUB merging is on in the Debian kernels).
#
# kno-timeout: 1200

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft socat conntrack python3 ss modprobe rmmod

SIZE=${KNO_XFER_SIZE:-2097152}
MODS="nf_flow_table nf_flow_table_inet nft_flow_offload"

ktap_begin 6

# ------------------------------------------------------------- helpers ---

# modref M: reference count of module M (-1 if not loaded)
modref()
{
	local r

	{ r=$(<"/sys/module/$1/refcnt"); } 2>/dev/null
	echo "${r:--1}"
}

# modrefs: "nf_flow_table=N nf_flow_table_inet=N nft_flow_offload=N"
modrefs()
{
	local m out=

	for m in $MODS; do
		out="$out $m=$(modref "$m")"
	done
	echo "${out# }"
}

# refs_are EXPECTED: modrefs equals EXPECTED
refs_are()
{
	[ "$(modrefs)" = "$1" ]
}

# slab_active NAME: objects in use in slab cache NAME (after flushing the
# per-CPU slabs, so the count is exact); empty if there is no such cache
slab_active()
{
	local name act

	echo 1 >"/sys/kernel/slab/$1/shrink" 2>/dev/null
	while read -r name act _; do
		[ "$name" = "$1" ] && { echo "$act"; return; }
	done </proc/slabinfo
}

ct_slab_at_most()
{
	[ "$(slab_active nf_conntrack)" -le "$1" ]
}

# kno_flow_slab: how our flow cache can be measured
kno_flow_slab()
{
	if [ -L /sys/kernel/slab/kno_flow ]; then
		echo "merged into $(basename "$(readlink /sys/kernel/slab/kno_flow)") with $(cat /sys/kernel/slab/kno_flow/aliases) other caches: not measurable"
	elif [ -d /sys/kernel/slab/kno_flow ]; then
		echo "own cache, $(slab_active kno_flow) objects in use"
	else
		echo "no kno_flow cache"
	fi
}

ft_proc()
{
	ip netns exec "$1" cat /proc/net/nf_flowtable 2>/dev/null
}

# proc_flows NS: total flows of all flowtables of NS (ours), "none" if NS
# has no flowtable
proc_flows()
{
	local line w n=0 t=0

	while IFS= read -r line; do
		[[ $line == "flowtable "* ]] || continue
		read -r -a w <<<"$line"
		n=$((n + w[${#w[@]} - 1]))
		t=$((t + 1))
	done < <(ft_proc "$1")
	if [ "$t" = 0 ]; then echo none; else echo "$n"; fi
}

proc_flows_is()
{
	[ "$(proc_flows "$NS_R")" = "$1" ]
}

ct_offloaded_count()
{
	local line n=0

	while IFS= read -r line; do
		[[ $line == *"OFFLOAD]"* ]] && n=$((n + 1))
	done < <(ip netns exec "$NS_R" conntrack -L 2>/dev/null)
	echo "$n"
}

no_offloaded_entries()
{
	[ "$(ct_offloaded_count)" = 0 ]
}

# check_clean EXPECTED_PROC_FLOWS: nothing left [OFFLOAD] in the router's
# conntrack table and (ours) /proc/net/nf_flowtable shows EXPECTED_PROC_FLOWS
# ("none": no flowtable at all, or a number of flows).
check_clean()
{
	local rc=0

	if ! wait_for 15 no_offloaded_entries; then
		echo "FAIL: conntrack entries still [OFFLOAD]:"
		ip netns exec "$NS_R" conntrack -L 2>/dev/null | grep -E 'OFFLOAD'
		rc=1
	fi
	if impl_is ours; then
		if ! wait_for 15 proc_flows_is "$1"; then
			echo "FAIL: /proc/net/nf_flowtable: flows $(proc_flows "$NS_R"), expected $1:"
			ft_proc "$NS_R"
			rc=1
		else
			echo "ok: /proc/net/nf_flowtable: flows $1"
		fi
	fi
	return $rc
}

# ft_devices_now: devices of the router's flowtable, as nft lists them
ft_devices_now()
{
	ip netns exec "$NS_R" nft list flowtable inet "$FT_TABLE" ft 2>/dev/null |
		sed -n 's/.*devices = { \(.*\) }.*/\1/p'
}

# tcp2_start ID SIZE1 SIZE2 DPORT: like tcp_start (client -> server, IPv4),
# but the sender stops after SIZE1 bytes until tcp2_release ID, then sends
# SIZE2 more bytes and keeps the connection open until tcp_finish ID.
tcp2_start()
{
	local id=$1 s1=$2 s2=$3 dport=$4 pid

	XFER_SPORT=$(random_port)
	make_file "$KNO_TMP/$id.in1" "$s1"
	make_file "$KNO_TMP/$id.in2" "$s2"
	cat "$KNO_TMP/$id.in1" "$KNO_TMP/$id.in2" >"$KNO_TMP/$id.in"
	rm -f "$KNO_TMP/$id.out" "$KNO_TMP/$id.gate" "$KNO_TMP/$id.gate1"
	echo 240 >"$KNO_TMP/$id.timeout"
	bg_start pid timeout 240 ip netns exec "$NS_S" \
		socat -u "TCP4-LISTEN:$dport,reuseaddr" "OPEN:$KNO_TMP/$id.out,creat,trunc"
	echo "$pid" >"$KNO_TMP/$id.rpid"
	wait_for 10 _tcp_listening "$NS_S" "$dport" || { echo "no listener"; return 1; }
	bg_start pid _tcp2_sender "$id" "$dport" "$XFER_SPORT"
	echo "$pid" >"$KNO_TMP/$id.spid"
}

_tcp2_sender()
{
	local id=$1 dport=$2 sport=$3

	{
		cat "$KNO_TMP/$id.in1"
		_gate_wait "$KNO_TMP/$id.gate1" 240
		cat "$KNO_TMP/$id.in2"
		_gate_wait "$KNO_TMP/$id.gate" 240
	} | timeout 240 ip netns exec "$NS_C" \
		socat -u - "TCP4:$S4:$dport,sourceport=$sport,reuseaddr"
}

tcp2_release()
{
	touch "$KNO_TMP/$1.gate1"
}

# tcp_wait_bytes ID N [T]: the receiver has at least N bytes
tcp_wait_bytes()
{
	wait_for "${3:-120}" _xfer_received "$1" "$2" ||
		{ echo "tcp $1: received $(file_size "$KNO_TMP/$1.out") of $2 bytes"; return 1; }
}

# tcp_abort ID: stop a transfer whose path is gone
tcp_abort()
{
	touch "$KNO_TMP/$1.gate" "$KNO_TMP/$1.gate1"
	kill "$(<"$KNO_TMP/$1.spid")" "$(<"$KNO_TMP/$1.rpid")" 2>/dev/null
	wait "$(<"$KNO_TMP/$1.spid")" "$(<"$KNO_TMP/$1.rpid")" 2>/dev/null
	ip netns exec "$NS_R" conntrack -F >/dev/null 2>&1
	return 0
}

# live_tcp ID DPORT: a TCP transfer kept open, offloaded (checked)
live_tcp()
{
	ft_routed_reset
	tcp_start "$1" "$NS_C" "$NS_S" "$S4" "$2" "$SIZE" "" 240 || return 1
	tcp_wait_received "$1" || return 1
	ft_check_offload tcp 4 "$XFER_SPORT" "$2" "$SIZE"
}

# fresh_transfer DPORT: a new TCP transfer through the router is offloaded
fresh_transfer()
{
	local id=fresh$1

	echo "--- a fresh transfer:"
	live_tcp "$id" "$1" || return 1
	tcp_finish "$id"
}

# server_link: (re)create the router's veth1 <-> server eth0 link
server_link()
{
	ip link add veth1 netns "$NS_R" type veth peer name eth0 netns "$NS_S" || return 1
	ns_ip "$NS_R" <<-EOF || return 1
	addr add $R4S/24 dev veth1
	addr add $R6S/64 dev veth1 nodad
	link set veth1 up
	EOF
	ns_host "$NS_S" eth0 "$S4" "$S6" "$R4S" "$R6S" || return 1
	wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$S4" >/dev/null
}

# ----------------------------------------------------------- subtests ---

# t_ft_delete: delete the flowtable in the middle of a transfer
t_ft_delete()
{
	local id=ftdel dport=7001 pk by rc=0

	ft_router_ruleset inet || return 1
	tcp2_start "$id" "$SIZE" "$SIZE" "$dport" || return 1
	tcp_wait_bytes "$id" "$SIZE" || return 1
	ft_check_offload tcp 4 "$XFER_SPORT" "$dport" "$SIZE" || rc=1
	echo "with the flowtable: $(modrefs)"
	# One transaction: the table with the flowtable goes, a plain
	# forwarding table comes.
	nft_load "$NS_R" <<EOF || return 1
delete table inet $FT_TABLE
table inet kno_plain {
	counter routed { }
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta l4proto { tcp, udp } counter name routed
	}
}
EOF
	FT_FAMILY=
	check_clean none || rc=1
	if ! wait_for 15 refs_are "$REFS_BASE"; then
		fail "module references $(modrefs), expected $REFS_BASE (no flowtable)"
		rc=1
	fi
	echo "after deleting the flowtable: $(modrefs)"
	tcp2_release "$id"
	tcp_wait_bytes "$id" $((2 * SIZE)) || rc=1
	read -r pk by <<<"$(nft_counter "$NS_R" inet kno_plain routed)"
	echo "classic path after the deletion: $pk packets, $by bytes (second half: $SIZE bytes)"
	assert_atleast "classic-path bytes" "${by:-0}" "$SIZE" || rc=1
	ct_not_offloaded "$NS_R" ipv4 tcp "$XFER_SPORT" "$dport" ||
		fail "offloaded without a flowtable: $(ct_get "$NS_R" ipv4 tcp "$XFER_SPORT" "$dport")" || rc=1
	tcp_finish "$id" || rc=1
	ip netns exec "$NS_R" nft delete table inet kno_plain
	return $rc
}

# t_dev_gone HOW(delete|netns): the server-side device disappears from the
# router while a flow uses it
t_dev_gone()
{
	local how=$1 id=dev$1 dport rc=0 devs

	[ "$how" = delete ] && dport=7002 || dport=7003
	ft_router_ruleset inet || return 1
	live_tcp "$id" "$dport" || return 1
	echo "flowtable devices: $(ft_devices_now); flows: $(proc_flows "$NS_R")"
	if [ "$how" = delete ]; then
		ip -n "$NS_R" link del veth1 || return 1
	else
		setup_ns NS_X || return 1
		ip -n "$NS_R" link set veth1 netns "$NS_X" || return 1
	fi
	check_clean 0 || rc=1
	devs=$(ft_devices_now)
	echo "flowtable devices now: $devs"
	case ", $devs," in
	*", veth1,"*) fail "veth1 still a device of the flowtable" || rc=1 ;;
	esac
	case ", $devs," in
	*", veth0,"*) ;;
	*) fail "veth0 is gone from the flowtable too" || rc=1 ;;
	esac
	tcp_abort "$id"
	if [ "$how" = delete ]; then
		server_link || { fail "cannot re-create the server link"; return; }
	else
		ip -n "$NS_X" link set veth1 netns "$NS_R" || return 1
		ns_ip "$NS_R" <<-EOF || return 1
		addr add $R4S/24 dev veth1
		addr add $R6S/64 dev veth1 nodad
		link set veth1 up
		EOF
		wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$S4" >/dev/null ||
			{ fail "no connectivity after moving veth1 back"; return; }
		ip netns del "$NS_X"
	fi
	# The flowtable lost the device for good: reload the ruleset.
	ft_router_ruleset inet || return 1
	fresh_transfer $((dport + 100)) || rc=1
	check_clean 0 || rc=1
	return $rc
}

# t_reload: flush ruleset + the same rules in the middle of a transfer
t_reload()
{
	local id=reload dport=7004 pk by rc=0 ft1 ft2

	ft_router_ruleset inet || return 1
	tcp2_start "$id" "$SIZE" "$SIZE" "$dport" || return 1
	tcp_wait_bytes "$id" "$SIZE" || return 1
	ft_check_offload tcp 4 "$XFER_SPORT" "$dport" "$SIZE" || rc=1
	ft1=$(ft_proc "$NS_R" | grep '^flowtable ')
	REFS_FT=$(modrefs)
	{
		echo "flush ruleset"
		ip netns exec "$NS_R" nft list ruleset
	} >"$KNO_TMP/ruleset.nft"
	ip netns exec "$NS_R" nft -f "$KNO_TMP/ruleset.nft" ||
		{ fail "reload failed: $(<"$KNO_TMP/ruleset.nft")"; return; }
	echo "ruleset reloaded:"
	ft_routed_reset
	tcp2_release "$id"
	tcp_wait_bytes "$id" $((2 * SIZE)) || rc=1
	# the flow went back to the classic path with the old flowtable and
	# was offloaded again into the new one
	read -r pk by <<<"$(ft_routed_counter)"
	echo "forward chain after the reload: $pk packets, $by bytes for $SIZE bytes"
	assert_below "forward-chain bytes" "${by:-999999999}" $((SIZE / 4)) || rc=1
	ct_is_offloaded "$NS_R" ipv4 tcp "$XFER_SPORT" "$dport" ||
		fail "not offloaded again: $(ct_get "$NS_R" ipv4 tcp "$XFER_SPORT" "$dport")" || rc=1
	if impl_is ours; then
		ft2=$(ft_proc "$NS_R" | grep '^flowtable ')
		echo "before: $ft1"
		echo "after:  $ft2"
		[ "$(wc -l <<<"$ft2")" = 1 ] || fail "expected one flowtable" || rc=1
		[ "${ft1%% nft*}" != "${ft2%% nft*}" ] || fail "same flowtable object after the reload" || rc=1
		ft_proc "$NS_R" | grep -qF "tcp $C4:$XFER_SPORT->$S4:$dport " ||
			fail "flow not in the new flowtable" || rc=1
	fi
	tcp_finish "$id" || rc=1
	[ "$(modrefs)" = "$REFS_FT" ] || fail "module references $(modrefs), before the reload $REFS_FT" || rc=1
	check_clean 0 || rc=1
	return $rc
}

# t_netns_del: delete the router netns with live flows
t_netns_del()
{
	local id=nsdel dport=7005 rc=0 ct0 ct1 slab

	ft_router_ruleset inet || return 1
	live_tcp "$id" "$dport" || return 1
	udp_transfer udpns "$NS_C" "$NS_S" "$S4" 7006 262144 || return 1
	ct_is_offloaded "$NS_R" ipv4 udp "$XFER_SPORT" 7006 ||
		fail "UDP flow not offloaded" || rc=1
	ct0=$(slab_active nf_conntrack)
	echo "live: TCP and UDP offloaded, $(ct_offloaded_count) [OFFLOAD] entries, flows $(proc_flows "$NS_R"), nf_conntrack slab $ct0 objects, $(modrefs)"
	ip netns del "$NS_R" || return 1
	tcp_abort "$id"
	if ! wait_for 60 refs_are "$REFS_BASE"; then
		fail "module references $(modrefs) 60 s after deleting the netns, baseline $REFS_BASE"
		rc=1
	fi
	# every conntrack entry of the router is freed, so no flow holds one
	if ! wait_for 60 ct_slab_at_most "$CT_SLAB_BASE"; then
		fail "nf_conntrack slab: $(slab_active nf_conntrack) objects in use, baseline $CT_SLAB_BASE"
		rc=1
	fi
	ct1=$(slab_active nf_conntrack)
	echo "after the netns deletion: nf_conntrack slab $ct1 objects (baseline $CT_SLAB_BASE), $(modrefs)"
	slab=$(kno_flow_slab)
	impl_is ours && echo "flow cache: $slab"
	# a new router works
	ip netns del "$NS_C"
	ip netns del "$NS_S"
	FT_FAMILY=
	topo_router || { fail "cannot build a new topology"; return; }
	ft_router_ruleset inet || return 1
	fresh_transfer 7105 || rc=1
	check_clean 0 || rc=1
	return $rc
}

# t_rmmod: module unload with live flows
t_rmmod()
{
	local id=rmmod dport=7007 m out rc=0 holders

	holders=$(ls /sys/module/nf_flow_table/holders 2>/dev/null | tr '\n' ' ')
	for m in $holders; do
		case "$m" in
		nf_flow_table_inet | nft_flow_offload) ;;
		*) skip "nf_flow_table is also held by $m (not ours to unload)"; return ;;
		esac
	done
	ft_router_ruleset inet || return 1
	live_tcp "$id" "$dport" || return 1
	for m in nf_flow_table nf_flow_table_inet nft_flow_offload; do
		if out=$(rmmod "$m" 2>&1); then
			fail "rmmod $m succeeded with a live flowtable"
			return 1
		fi
		echo "rmmod $m: $out"
		case "$out" in
		*"in use"*) ;;
		*) fail "rmmod $m did not say 'in use'" || rc=1 ;;
		esac
		[ -d "/sys/module/$m" ] || fail "$m is gone" || return 1
	done
	ct_is_offloaded "$NS_R" ipv4 tcp "$XFER_SPORT" "$dport" ||
		fail "flow no longer offloaded after the refused rmmods" || rc=1
	# Flush: the flows go back to the classic path, the connection lives on.
	ip netns exec "$NS_R" nft flush ruleset || return 1
	FT_FAMILY=
	tcp_finish "$id" || rc=1
	for m in nft_flow_offload nf_flow_table_inet; do
		wait_for 15 grep -qx 0 "/sys/module/$m/refcnt" ||
			fail "$m refcnt $(modref "$m") after the flush" || rc=1
	done
	for m in nft_flow_offload nf_flow_table_inet nf_flow_table; do
		if ! out=$(rmmod "$m" 2>&1); then
			fail "rmmod $m failed after the flush: $out"
			return 1
		fi
		[ ! -d "/sys/module/$m" ] || fail "$m still loaded after rmmod" || return 1
	done
	echo "all three unloaded; nf_conntrack slab $(slab_active nf_conntrack) objects"
	for m in nf_flow_table_inet nft_flow_offload; do
		modprobe "$m" || { fail "modprobe $m failed"; return; }
	done
	impl_report
	impl_check_ours || rc=1
	ft_router_ruleset inet || return 1
	fresh_transfer 7107 || rc=1
	check_clean 0 || rc=1
	return $rc
}

# --------------------------------------------------------------- main ---

# sub DESC FUNC [ARG...]: run_test, unless KNO_ONLY excludes it
sub()
{
	if [ -n "${KNO_ONLY:-}" ] && [[ " $KNO_ONLY " != *" $((_ktap_n + 1)) "* ]]; then
		ktap_skip "$1" "not selected (KNO_ONLY=$KNO_ONLY)"
		return 0
	fi
	run_test "$@"
}

modprobe nf_conntrack && modprobe nf_flow_table_inet && modprobe nft_flow_offload ||
	ktap_bail "cannot load the flowtable modules"
REFS_BASE=$(modrefs)
CT_SLAB_BASE=$(slab_active nf_conntrack)
[ -n "$CT_SLAB_BASE" ] || ktap_bail "no nf_conntrack slab cache in /proc/slabinfo"
ktap_comment "baseline: $REFS_BASE; nf_conntrack slab $CT_SLAB_BASE objects"
impl_is ours && ktap_comment "flow cache: $(kno_flow_slab)"
topo_router || ktap_bail "topology setup failed"
ft_router_ruleset inet || ktap_bail "cannot load the flowtable ruleset"
impl_report

sub "flowtable deleted during a transfer: the rest takes the classic path, cmp, references released" t_ft_delete
sub "flowtable device deleted while a flow uses it: flows leave, device unhooked, a fresh transfer is offloaded" t_dev_gone delete
sub "flowtable device moved to another netns while a flow uses it: flows leave, device unhooked, works again" t_dev_gone netns
sub "ruleset reloaded (flush ruleset + same rules) during a transfer: transfer continues and is offloaded again" t_reload
sub "router netns deleted with live flows: module references and conntrack objects back to baseline" t_netns_del
sub "rmmod with live flows is refused (in use); after a flush all three unload, reload and work" t_rmmod

ktap_end
