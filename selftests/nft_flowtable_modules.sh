#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Module autoloading and identity:
#   - adding a flowtable (families inet, ip, ip6) autoloads nf_flow_table and
#     nf_flow_table_inet; a "flow add" rule autoloads nft_flow_offload;
#   - deleting the table drops every module reference, so all three unload;
#   - with KNO_IMPL=ours the loaded modules are ours (MODULE_VERSION in
#     /sys/module/*/version, modinfo -n under .../updates/); with
#     KNO_IMPL=intree they are the kernel's own.
# Runs first in run.sh's default order so that the modules are not loaded
# yet; if they are (and cannot be unloaded) the autoload subtests skip.
#
# kno-timeout: 300

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft modprobe modinfo

MODS="nft_flow_offload nf_flow_table_inet nf_flow_table"

ktap_begin 7

# Unload the flowtable modules; 0 if none of them is loaded afterwards.
unload_all()
{
	local m

	for m in $MODS; do
		[ -d "/sys/module/$m" ] && modprobe -r "$m" 2>/dev/null
	done
	for m in $MODS; do
		[ -d "/sys/module/$m" ] && return 1
	done
	return 0
}

loaded_list()
{
	local m l=

	for m in $MODS; do
		[ -d "/sys/module/$m" ] && l="$l $m"
	done
	echo "${l:- none}"
}

# t_autoload FAMILY: adding a FAMILY flowtable loads nf_flow_table{,_inet}.
t_autoload()
{
	local fam=$1 out f

	for f in inet ip ip6; do
		ip netns exec "$NS" nft delete table "$f" autoload 2>/dev/null
	done
	if ! unload_all; then
		skip "flowtable modules already loaded and in use:$(loaded_list)"
		return
	fi
	if ! out=$(ip netns exec "$NS" nft -f - 2>&1 <<EOF
table $fam autoload {
	flowtable ft {
		hook ingress priority 0
		devices = { veth0, veth1 }
	}
}
EOF
	); then
		fail "nft add flowtable ($fam) failed: $out"
		return
	fi
	echo "loaded after 'nft add flowtable' ($fam):$(loaded_list)"
	[ -d /sys/module/nf_flow_table ] || fail "nf_flow_table not loaded" || return
	[ -d /sys/module/nf_flow_table_inet ] || fail "nf_flow_table_inet not loaded" || return
	flowtable_modules_loaded || fail "flowtable_modules_loaded disagrees" || return
	ip netns exec "$NS" nft list flowtable "$fam" autoload ft
}

# t_flow_add: a rule with "flow add" loads nft_flow_offload.
t_flow_add()
{
	local out

	flowtable_modules_loaded || fail "flowtable modules not loaded by the previous subtest" || return
	if ! out=$(ip netns exec "$NS" nft -f - 2>&1 <<EOF
table ip6 autoload {
	chain forward {
		type filter hook forward priority 0; policy accept;
		meta l4proto { tcp, udp } flow add @ft
	}
}
EOF
	); then
		fail "adding a flow add rule failed: $out"
		return
	fi
	echo "loaded:$(loaded_list)"
	[ -d /sys/module/nft_flow_offload ] || fail "nft_flow_offload not loaded"
}

# t_unload: deleting the table releases every reference; modules unload.
t_unload()
{
	local m

	ip netns exec "$NS" nft delete table ip6 autoload || return 1
	for m in nf_flow_table_inet nft_flow_offload; do
		[ -d "/sys/module/$m" ] || continue
		wait_for 10 grep -qx 0 "/sys/module/$m/refcnt" ||
			fail "$m refcnt $(<"/sys/module/$m/refcnt") after deleting the table" ||
			return
	done
	if ! unload_all; then
		# Other users (act_ct, another test) may hold nf_flow_table.
		if [ -d /sys/module/nf_flow_table_inet ] || [ -d /sys/module/nft_flow_offload ]; then
			fail "could not unload:$(loaded_list)"
			return
		fi
		echo "nf_flow_table still held by: $(ls /sys/module/nf_flow_table/holders 2>/dev/null)"
	fi
	echo "after unload:$(loaded_list)"
	return 0
}

# t_is_ours: KNO_IMPL=ours -> every flowtable module loaded is ours.
t_is_ours()
{
	local m path

	impl_is ours || { skip "KNO_IMPL=${KNO_IMPL:-unset}: in-tree modules are expected"; return; }
	modprobe nft_flow_offload || return 1
	modprobe nf_flow_table_inet || return 1
	impl_report
	impl_check_ours || return 1
	for m in $MODS; do
		path=$(modinfo -n "$m")
		echo "$m: $path version $(cat "/sys/module/$m/version" 2>/dev/null)"
		[ -r "/sys/module/$m/version" ] || fail "$m has no version: not ours" || return
		case "$path" in
		*/updates/*) ;;
		*) fail "$m resolves to $path, not updates/"; return ;;
		esac
		[ "$(<"/sys/module/$m/srcversion")" = "$(modinfo -F srcversion "$m")" ] ||
			fail "$m: loaded srcversion differs from $path" || return
	done
}

# t_is_intree: KNO_IMPL=intree -> the kernel's own modules are loaded.
t_is_intree()
{
	local m path

	impl_is intree || { skip "KNO_IMPL=${KNO_IMPL:-unset}: our modules are expected"; return; }
	modprobe nft_flow_offload || return 1
	modprobe nf_flow_table_inet || return 1
	impl_report
	for m in $MODS; do
		path=$(modinfo -n "$m")
		echo "$m: $path"
		[ ! -e "/sys/module/$m/version" ] || fail "$m has a version: not in-tree" || return
		case "$path" in
		*/kernel/net/netfilter/*) ;;
		*) fail "$m resolves to $path"; return ;;
		esac
	done
}

setup_ns NS || ktap_bail "cannot create a namespace"
ip link add veth0 netns "$NS" type veth peer name veth1 netns "$NS" || ktap_bail "no veth"
ip -n "$NS" link set veth0 up
ip -n "$NS" link set veth1 up

run_test "nft add flowtable (inet) autoloads nf_flow_table, nf_flow_table_inet" t_autoload inet
run_test "nft add flowtable (ip) autoloads nf_flow_table, nf_flow_table_inet" t_autoload ip
run_test "nft add flowtable (ip6) autoloads nf_flow_table, nf_flow_table_inet" t_autoload ip6
run_test "a flow add rule autoloads nft_flow_offload" t_flow_add
run_test "deleting the table drops all references, the modules unload" t_unload
run_test "KNO_IMPL=ours: the loaded flowtable modules are ours (version, updates/)" t_is_ours
run_test "KNO_IMPL=intree: the loaded flowtable modules are the kernel's" t_is_intree

ktap_end
