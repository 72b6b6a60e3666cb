#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The simulated NIC itself (kno_simnic, Documentation/simnic.rst), without
# any flowtable:
#   1. the control files reject bad input with the right errno and create
#      nothing: missing or extra names, names too long, equal names, an
#      existing name (EEXIST), deleting an unknown port (ENODEV), bad knob
#      values, the replace_log's size bound and header; "ip link add type
#      kno_simnic" is refused;
#   2. a pair created in one namespace and split over two carries traffic
#      (ping) and counts it on both ends; "ip link del" of one end removes
#      both ends, from both namespaces;
#   3. deleting a namespace removes the pairs with an end in it;
#   4. the module unloads with ports in several namespaces (one of them
#      with a bound flowtable) and loads again empty.
#
# kno-timeout: 300

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft ip nsenter
sim_require

ktap_begin 4

# expect_err ERRNO_NAME FILE TEXT: writing TEXT to FILE fails with ERRNO_NAME.
expect_err()
{
	local want=$1 file=$2 text=$3 out

	if out=$(sim_in_ns "$NS_A" bash -c "echo '$text' > $SIM_DBG/$file" 2>&1); then
		echo "FAIL: '$text' > $file accepted"
		return 1
	fi
	if ! echo "$out" | grep -qi "$want"; then
		echo "FAIL: '$text' > $file: $out (expected $want)"
		return 1
	fi
	echo "ok: '$text' > $file: ${out##*: }"
}

t_control()
{
	local rc=0 long=abcdefghijklmnopq n0

	n0=$(sim_summary_get ports)
	expect_err "invalid argument" new_pair "onlyone" || rc=1
	expect_err "invalid argument" new_pair "a b c" || rc=1
	expect_err "invalid argument" new_pair "$long x" || rc=1
	expect_err "invalid argument" new_pair "same same" || rc=1
	expect_err "invalid argument" new_pair "bad/name x" || rc=1
	sim_pair "$NS_A" pa pb || { echo "FAIL: a valid pair was refused"; rc=1; }
	expect_err "file exists" new_pair "pa pc" || rc=1
	expect_err "file exists" new_pair "pc pb" || rc=1
	expect_err "no such device" del_pair "nonexistent" || rc=1
	expect_err "no such device" del_pair "lo" || rc=1
	expect_err "invalid argument" fail_replace "x" || rc=1
	expect_err "invalid argument" fail_replace "1 5 101" || rc=1
	expect_err "invalid argument" fail_replace "1 0" || rc=1
	expect_err "invalid argument" fail_replace "0 5 50 0" || rc=1
	expect_err "invalid argument" fail_replace "0 5 0 3" || rc=1
	expect_err "invalid argument" fail_replace "0 5 50 3 1" || rc=1
	echo "0 16 50 3" >"$SIM_DBG/fail_replace" || rc=1
	[ "$(<"$SIM_DBG/fail_replace")" = "next=0 errno=16 percent=50 times=3" ] ||
		{ echo "FAIL: fail_replace reads '$(<"$SIM_DBG/fail_replace")'"; rc=1; }
	echo 0 >"$SIM_DBG/fail_replace" || rc=1
	[ "$(<"$SIM_DBG/fail_replace")" = "next=0 errno=5 percent=0" ] ||
		{ echo "FAIL: reset fail_replace reads '$(<"$SIM_DBG/fail_replace")'"; rc=1; }
	expect_err "invalid argument" replace_log "x" || rc=1
	expect_err "invalid argument" replace_log "$((4194304 + 1))" || rc=1
	echo 4 >"$SIM_DBG/replace_log" || rc=1
	[[ "$(head -n 1 "$SIM_DBG/replace_log")" =~ ^size=4\ len=0\ dropped=0\ cookie_off=[0-9]+,[0-9]+$ ]] ||
		{ echo "FAIL: replace_log reads '$(<"$SIM_DBG/replace_log")'"; rc=1; }
	echo 0 >"$SIM_DBG/replace_log" || rc=1
	[[ "$(<"$SIM_DBG/replace_log")" =~ ^size=0\ len=0\ dropped=0\  ]] ||
		{ echo "FAIL: replace_log off reads '$(<"$SIM_DBG/replace_log")'"; rc=1; }
	if ip -n "$NS_A" link add type kno_simnic 2>/dev/null; then
		echo "FAIL: ip link add type kno_simnic was accepted"
		rc=1
	fi
	[ "$(sim_summary_get ports)" = $((n0 + 2)) ] ||
		{ echo "FAIL: $(sim_summary_get ports) ports, expected $((n0 + 2))"; rc=1; }
	sim_in_ns "$NS_A" sh -c "echo pa > $SIM_DBG/del_pair" || rc=1
	[ "$(sim_summary_get ports)" = "$n0" ] || { echo "FAIL: del_pair left ports"; rc=1; }
	return $rc
}

t_netns()
{
	local rc=0 tx rx

	sim_pair "$NS_A" xa xb || return 1
	ip -n "$NS_A" link set xb netns "$NS_B" || return 1
	ip -n "$NS_A" addr add 10.9.0.1/24 dev xa
	ip -n "$NS_B" addr add 10.9.0.2/24 dev xb
	ip -n "$NS_A" link set xa up
	ip -n "$NS_B" link set xb up
	ip netns exec "$NS_A" ping -q -c 5 -i 0.2 -W 2 10.9.0.2 || rc=1
	tx=$(sim_port_get xa tx_packets)
	rx=$(sim_port_get xb rx_packets)
	echo "xa tx_packets=$tx, xb rx_packets=$rx, xa peer=$(sim_port_get xa peer)"
	assert_atleast "xb rx_packets" "$rx" 5 || rc=1
	[ "$(sim_port_get xa peer)" = xb ] || { echo "FAIL: xa's peer is not xb"; rc=1; }
	ip -n "$NS_B" link del xb || rc=1
	if ip -n "$NS_A" link show xa >/dev/null 2>&1; then
		echo "FAIL: xa survived ip link del of its peer"
		rc=1
	fi
	grep -q "^port=x[ab] " "$SIM_DBG/ports" && { echo "FAIL: still listed"; rc=1; }
	return $rc
}

t_netns_del()
{
	local n0

	n0=$(sim_summary_get ports)
	setup_ns NS_D || return 1
	sim_pair "$NS_D" da db || return 1
	ip -n "$NS_D" link set db netns "$NS_A" || return 1
	[ "$(sim_summary_get ports)" = $((n0 + 2)) ] || return 1
	ip netns del "$NS_D"
	if ! wait_for 20 sim_is "sim_summary_get ports" = "$n0"; then
		echo "FAIL: ports left after deleting the namespace: $(<"$SIM_DBG/summary")"
		return 1
	fi
	if ip -n "$NS_A" link show db >/dev/null 2>&1; then
		echo "FAIL: the peer in the other namespace survived"
		return 1
	fi
	echo "ok: both ends gone"
}

t_unload()
{
	local out

	sim_pair "$NS_A" ua ub || return 1
	sim_pair "$NS_B" va vb || return 1
	ip -n "$NS_A" link set ub netns "$NS_B" || return 1
	ip -n "$NS_A" link set ua up
	nft_load "$NS_A" <<EOF || return 1
table inet kno_unload {
	flowtable ft {
		hook ingress priority 0
		devices = { ua }
		flags offload
	}
}
EOF
	cat "$SIM_DBG/summary"
	[ "$(sim_summary_get bindings)" = 1 ] || fail "flowtable did not bind" || return
	out=$(rmmod kno_simnic 2>&1) || fail "rmmod: $out" || return
	if ip -n "$NS_A" link show ua >/dev/null 2>&1 ||
		ip -n "$NS_B" link show va >/dev/null 2>&1; then
		echo "FAIL: ports survived the unload"
		return 1
	fi
	ip netns exec "$NS_A" nft list flowtables
	insmod "$SIM_KO" || return 1
	sim_knobs_reset
	echo "after reload: $(<"$SIM_DBG/summary")"
	[ "$(sim_summary_get ports)" = 0 ]
}

setup_ns NS_A NS_B || ktap_bail "cannot create namespaces"

run_test "control files reject bad input with the right errno" t_control
run_test "a pair split over two namespaces carries traffic; ip link del removes both ends" t_netns
run_test "deleting a namespace removes the pairs with an end in it" t_netns_del
run_test "module unloads with ports in several namespaces and a bound flowtable" t_unload

ktap_end
