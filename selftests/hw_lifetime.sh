#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Life and death of hardware flows (simulated NIC, see hw_basic.sh):
#   - a UDP flow whose packets all go through the hardware looks idle to
#     the router's stack; with the flowtable and conntrack UDP timeouts cut
#     to 4-5 s it must stay offloaded for 5 times that long, because the
#     hardware statistics (lastused) keep it alive: same rule all the time,
#     [HW_OFFLOAD] in every sample, the forward chain sees nothing; once the
#     traffic stops, the rule is removed within the timeout (plus GC);
#   - a TCP FIN, and a TCP RST, go to software (the rules never match them)
#     and the hardware entries of that connection are removed;
#   - (ours) a flowtable without counters asks the hardware only for what
#     keeps a flow alive: with traffic in the original direction, STATS of
#     the reply direction are never answered by the port holding its rule;
#     with traffic only in the reply direction they are, and the flow stays
#     in hardware past its 4 s timeout.
#
# kno-timeout: 600

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_simnic.sh"

require_root
require_cmd nft socat conntrack python3 ss nsenter
sim_require

ktap_begin 4

# t_keepalive: see above.
t_keepalive()
{
	local dport=5701 sport id rid t0 el r0 r1 bad=0 samples=0 rc=0 p0 p1= p

	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_flowtable_udp_timeout=4 \
		net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5 || return 1
	sport=$(random_port)
	sim_ping_start ka "$NS_C" "$NS_S" "$S4" "$dport" "$sport" 30 0.1 || return 1
	sim_wait_hw ipv4 udp "$sport" "$dport" "$sport" || return 1
	rid=$(sim_rule_get "$RDEV_C" "$sport" id)
	p0=$(sim_rule_get "$RDEV_C" "$sport" packets)
	r0=$(nft_counter_packets "$NS_R" inet "$SIM_TABLE" routed)
	t0=$(now_ms)
	while sim_ping_running ka; do
		samples=$((samples + 1))
		if ! ct_is_hw_offloaded "$NS_R" ipv4 udp "$sport" "$dport" ||
			[ "$(sim_rule_get "$RDEV_C" "$sport" id)" != "$rid" ]; then
			bad=$((bad + 1))
			echo "sample $samples at $(($(now_ms) - t0)) ms:" \
				"$(ct_get "$NS_R" ipv4 udp "$sport" "$dport")" \
				"rule id $(sim_rule_get "$RDEV_C" "$sport" id) (was $rid)"
		fi
		# The rule's count while the flow is alive: once the pings
		# stop, the idle flow (4 s timeout) may go before we look.
		p=$(sim_rule_get "$RDEV_C" "$sport" packets)
		[ -n "$p" ] && p1=$p
		sleep 0.5
	done
	el=$(($(now_ms) - t0))
	sim_ping_wait ka || rc=1
	r1=$(nft_counter_packets "$NS_R" inet "$SIM_TABLE" routed)
	echo "offloaded traffic for $el ms, $samples samples, $bad bad;" \
		"rule $rid: $p0 -> ${p1:-gone} packets; forward chain $r0 -> $r1"
	assert_atleast "time in hardware (ms)" "$el" 20000 || rc=1
	[ "$bad" = 0 ] || { echo "FAIL: the flow left the hardware ($bad samples)"; rc=1; }
	[ "$r0" = "$r1" ] || { echo "FAIL: the forward chain saw the flow"; rc=1; }
	assert_atleast "rule packets while alive" "$((${p1:-0} - p0))" $((el / 200)) || rc=1
	[ "$rc" = 0 ] || { sim_dump; return 1; }

	# Idle now: the hardware reports no use, the flow must go.
	t0=$(now_ms)
	if ! wait_for 30 sim_is "sim_flow_nrules $sport" = 0; then
		echo "FAIL: rules still installed 30 s after the traffic stopped"
		sim_dump
		return 1
	fi
	echo "ok: rules removed $(($(now_ms) - t0)) ms after the traffic stopped"
}

# t_fin: TCP connection in hardware, then a normal close.
t_fin()
{
	local dport=5702 id=fin sport d0 d1

	sim_tcp_start "$id" "$NS_C" "$NS_S" "$S4" "$dport" 65536 65536 || return 1
	sport=$XFER_SPORT
	sim_tcp_wait "$id" 65536 || return 1
	sim_wait_hw ipv4 tcp "$sport" "$dport" "$sport" || return 1
	d0=$(sim_ports_sum ft_destroy_ok r0 r1)
	sim_tcp_finish "$id" || return 1
	if ! wait_for 15 sim_is "sim_flow_nrules $sport" = 0; then
		echo "FAIL: rules of the closed connection still installed"
		sim_dump
		return 1
	fi
	d1=$(sim_ports_sum ft_destroy_ok r0 r1)
	echo "ok: both rules destroyed after FIN ($((d1 - d0)) DESTROY commands);" \
		"conntrack: $(ct_get "$NS_R" ipv4 tcp "$sport" "$dport")"
	ct_is_hw_offloaded "$NS_R" ipv4 tcp "$sport" "$dport" &&
		fail "conntrack still says [HW_OFFLOAD]"
	return 0
}

# A client that connects, sends 64 KiB, waits for a gate file and then
# aborts the connection (SO_LINGER 0: RST).
rst_client()
{
	cat >"$KNO_TMP/rst.py" <<'EOF'
# SPDX-License-Identifier: GPL-2.0
import os, socket, struct, sys, time
addr, port, sport, gate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", sport))
s.connect((addr, port))
s.sendall(os.urandom(65536))
end = time.monotonic() + 120
while not os.path.exists(gate) and time.monotonic() < end:
    time.sleep(0.1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
EOF
	ip netns exec "$NS_C" python3 -S "$KNO_TMP/rst.py" "$@"
}

t_rst()
{
	local dport=5703 sport pid rpid

	sport=$(random_port)
	rm -f "$KNO_TMP/rst.gate"
	bg_start rpid timeout 120 ip netns exec "$NS_S" \
		socat -u "TCP4-LISTEN:$dport,reuseaddr" "OPEN:$KNO_TMP/rst.out,creat,trunc"
	wait_for 10 _tcp_listening "$NS_S" "$dport" || return 1
	bg_start pid rst_client "$S4" "$dport" "$sport" "$KNO_TMP/rst.gate"
	wait_for 60 _xfer_received rst 65536 || fail "no data arrived" || return
	sim_wait_hw ipv4 tcp "$sport" "$dport" "$sport" || return 1
	touch "$KNO_TMP/rst.gate"
	wait_pid_timeout 30 "$pid" || fail "RST client failed" || return
	if ! wait_for 15 sim_is "sim_flow_nrules $sport" = 0; then
		echo "FAIL: rules of the reset connection still installed"
		sim_dump
		return 1
	fi
	echo "ok: both rules destroyed after RST;" \
		"conntrack: $(ct_get "$NS_R" ipv4 tcp "$sport" "$dport")"
	wait_pid_timeout 10 "$rpid" >/dev/null
	return 0
}

# t_stats_dirs: see above. Runs last: it replaces the ruleset.
t_stats_dirs()
{
	local dport=5704 sport c0 c1 s0 s1 rc=0 bad=0 samples=0 spid cpid t0 rid
	local r0 r1 py

	if impl_is intree; then
		skip "the in-tree stack asks hardware for both directions every time"
		return
	fi
	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_flowtable_udp_timeout=4 \
		net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5 || return 1
	ip netns exec "$NS_R" nft delete table inet "$SIM_TABLE" || return 1
	SIM_FT_COUNTER="" sim_ruleset || return 1

	# Both directions busy (echo): only the original direction is asked.
	sport=$(random_port)
	sim_ping_start sd "$NS_C" "$NS_S" "$S4" "$dport" "$sport" 12 0.1 || return 1
	sim_wait_hw ipv4 udp "$sport" "$dport" "$sport" || return 1
	c0=$(sim_port_get "$RDEV_C" ft_stats_ok)
	s0=$(sim_port_get "$RDEV_S" ft_stats_ok)
	sim_ping_wait sd || rc=1
	c1=$(sim_port_get "$RDEV_C" ft_stats_ok)
	s1=$(sim_port_get "$RDEV_S" ft_stats_ok)
	echo "echo traffic: STATS answered by $RDEV_C (original rule) $((c1 - c0))," \
		"by $RDEV_S (reply rule) $((s1 - s0))"
	assert_atleast "STATS of the original direction" $((c1 - c0)) 2 || rc=1
	[ "$s1" = "$s0" ] || { echo "FAIL: the reply direction was asked too"; rc=1; }

	# Only the reply direction carries traffic: it must be asked, and
	# its use keeps the flow in hardware.
	dport=5705
	sport=$(random_port)
	py=$(_sim_ping_tool)
	rm -f "$KNO_TMP/dirs.ready"
	bg_start spid timeout 60 ip netns exec "$NS_S" python3 -S "$py" \
		talk 0.0.0.0 "$dport" 14 "$KNO_TMP/dirs.ready"
	wait_for 20 test -e "$KNO_TMP/dirs.ready" || return 1
	bg_start cpid timeout 60 ip netns exec "$NS_C" python3 -S "$py" \
		open "$S4" "$dport" "$sport" 16
	sim_wait_hw ipv4 udp "$sport" "$dport" "$sport" || return 1
	rid=$(sim_rule_get "$RDEV_C" "$sport" id)
	s0=$(sim_port_get "$RDEV_S" ft_stats_ok)
	r0=$(nft_counter_packets "$NS_R" inet "$SIM_TABLE" routed)
	t0=$(now_ms)
	while [ $(($(now_ms) - t0)) -lt 11000 ]; do
		samples=$((samples + 1))
		# A flow that expired comes back at once (next packet, flow
		# add): a new rule id tells.
		if ! ct_is_hw_offloaded "$NS_R" ipv4 udp "$sport" "$dport" ||
			[ "$(sim_rule_get "$RDEV_C" "$sport" id)" != "$rid" ]; then
			bad=$((bad + 1))
		fi
		sleep 0.5
	done
	s1=$(sim_port_get "$RDEV_S" ft_stats_ok)
	r1=$(nft_counter_packets "$NS_R" inet "$SIM_TABLE" routed)
	wait_pid_timeout 30 "$spid"
	wait_pid_timeout 30 "$cpid"
	echo "reply-only traffic: STATS answered by $RDEV_S $((s1 - s0));" \
		"$samples samples, $bad not [HW_OFFLOAD] under rule $rid;" \
		"forward chain $r0 -> $r1"
	assert_atleast "STATS of the reply direction" $((s1 - s0)) 1 || rc=1
	[ "$bad" = 0 ] || { echo "FAIL: the flow left the hardware"; rc=1; }
	[ "$r0" = "$r1" ] || { echo "FAIL: the forward chain saw the flow"; rc=1; }
	[ "$rc" = 0 ] || sim_dump
	return $rc
}

sim_topo || ktap_bail "topology setup failed"
sim_ruleset || ktap_bail "cannot load the offload ruleset"
impl_report

run_test "TCP FIN removes the connection's hardware rules" t_fin
run_test "TCP RST removes the connection's hardware rules" t_rst
run_test "hardware stats keep a flow the stack sees as idle alive past its timeouts" t_keepalive
run_test "STATS ask only the direction that keeps the flow alive (no counters)" t_stats_dirs

ktap_end
