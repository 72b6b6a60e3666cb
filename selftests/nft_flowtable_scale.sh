#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# 10,000 concurrent UDP flows through a software flowtable, created and
# expired:
#   client --- router (flowtable ft on veth0, veth1) --- server
# A sender in the client netns (one raw socket) sends one datagram from each
# of 10,000 source ports to the server (pass 1: the router's conntrack
# creates and confirms the entries), then a second one for each (pass 2: the
# forward chain sees a confirmed entry and offloads the flow; a UDP flow is
# added on its second packet). The server drops them in its input hook
# (counted, so no ICMP comes back).
#
#  1. At least 95 % of the flows are offloaded at the same time: counted as
#     [OFFLOAD] in conntrack -L on the router, and with ours as the flows of
#     the flowtable in /proc/net/nf_flowtable; the server got every
#     datagram.
#  2. With the conntrack UDP timeouts shortened, all flows leave the
#     flowtable after nf_flowtable_udp_timeout and their conntrack entries
#     expire: no [OFFLOAD] entry, no conntrack entry of the test, no flow in
#     /proc/net/nf_flowtable (ours), the nf_conntrack slab and (ours, when
#     measurable) the flow slab back near the baseline. Kernel splats fail
#     the run (vm.sh).
# Counts and times are printed as "# " comments.
#
# KNO_SCALE_FLOWS (default 10000), KNO_SCALE_FT_TIMEOUT (default 30 s).
#
# kno-timeout: 1200

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft conntrack python3

N=${KNO_SCALE_FLOWS:-10000}
FTT=${KNO_SCALE_FT_TIMEOUT:-30}
DPORT=7777
BASEPORT=20000
MIN=$((N * 95 / 100))

ktap_begin 2

# slab_active NAME: objects in use in slab cache NAME (per-CPU slabs flushed
# first, so the count is exact); "" if there is no such cache
slab_active()
{
	echo 1 >"/sys/kernel/slab/$1/shrink" 2>/dev/null
	awk -v n="$1" '$1 == n { print $2 }' /proc/slabinfo
}

# flow_slab: objects in use in the slab cache our flows come from (for a
# cache merged with others: of the whole merged cache); "" without a
# kno_flow cache (in-tree: kmalloc)
flow_slab()
{
	[ -e /sys/kernel/slab/kno_flow ] || return 0
	echo 1 >/sys/kernel/slab/kno_flow/shrink 2>/dev/null
	cut -d' ' -f1 /sys/kernel/slab/kno_flow/objects
}

_sender()
{
	local py=$KNO_TMP/kno_flood.py

	[ -r "$py" ] || cat >"$py" <<'EOF'
# SPDX-License-Identifier: GPL-2.0
# kno_flood.py DADDR DPORT BASEPORT N PASS: one UDP datagram from each
# source port BASEPORT..BASEPORT+N-1 (raw socket, UDP checksum 0).
import socket, struct, sys, time

daddr, dport, base, n, npass = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
payload = b"kno-scale-" + npass.encode() + b"-" * 22
t0 = time.monotonic()
err = 0
for i in range(n):
    pkt = struct.pack("!HHHH", base + i, dport, 8 + len(payload), 0) + payload
    while True:
        try:
            s.sendto(pkt, (daddr, 0))
            break
        except OSError:
            err += 1
            time.sleep(0.01)
print("pass %s: %d datagrams in %.1f s, %d send retries" % (npass, n, time.monotonic() - t0, err))
EOF
	echo "$py"
}

# send_pass PASS: one datagram per flow
send_pass()
{
	timeout 600 ip netns exec "$NS_C" python3 -S "$(_sender)" "$S4" "$DPORT" "$BASEPORT" "$N" "$1"
}

# counts: "CT_OFFLOAD CT_TOTAL PROC_FLOWS" for the test's flows on the router
counts()
{
	local off tot proc=-

	read -r off tot < <(ip netns exec "$NS_R" conntrack -L -p udp --dport "$DPORT" 2>/dev/null |
		awk '/OFFLOAD\]/ { o++ } { t++ } END { print o + 0, t + 0 }')
	impl_is ours &&
		proc=$(ip netns exec "$NS_R" cat /proc/net/nf_flowtable 2>/dev/null |
			awk '/^flowtable / { n += $NF } END { print n + 0 }')
	echo "$off $tot $proc"
}

server_got()
{
	nft_counter_packets "$NS_S" inet kno_sink got
}

t_create()
{
	local t0 t1 t2 tpeak off tot proc max_off=0 max_proc=0 got c rc=0 tstart

	tstart=$(now_ms)
	send_pass 1 || return 1
	t1=$(now_ms)
	read -r off tot proc <<<"$(counts)"
	echo "after pass 1 ($(((t1 - tstart) / 1000)) s): $tot conntrack entries, $off offloaded, flows $proc"
	[ "$tot" -ge "$MIN" ] || fail "only $tot conntrack entries after pass 1" || rc=1
	t0=$(now_ms)
	send_pass 2 || return 1
	t2=$(now_ms)
	# Poll until the count stops growing (or the flows start to expire).
	tpeak=$t2
	for c in 1 2 3 4 5 6; do
		read -r off tot proc <<<"$(counts)"
		echo "$(((($(now_ms) - t0)) / 1000)) s after pass 2 began: [OFFLOAD] $off of $tot entries, flowtable flows $proc"
		[ "$off" -gt "$max_off" ] && { max_off=$off; tpeak=$(now_ms); }
		[ "$proc" != - ] && [ "$proc" -gt "$max_proc" ] && max_proc=$proc
		[ "$off" -ge "$N" ] && break
		[ $(($(now_ms) - t0)) -lt $(((FTT - 5) * 1000)) ] || break
		sleep 1
	done
	got=$(server_got)
	PEAK="offloaded: $max_off [OFFLOAD] entries (conntrack -L), flows $max_proc (/proc/net/nf_flowtable); pass 1 $(((t1 - tstart) / 1000)) s, pass 2 $(((t2 - t0) / 1000)) s, peak $(((tpeak - t0) / 1000)) s after pass 2 began"
	echo "$PEAK; server got $got datagrams"
	assert_atleast "[OFFLOAD] entries at the peak" "$max_off" "$MIN" || rc=1
	if impl_is ours; then
		assert_atleast "flows in /proc/net/nf_flowtable at the peak" "$max_proc" "$MIN" || rc=1
	fi
	[ "${got:-0}" = $((2 * N)) ] || fail "server got ${got:-?} datagrams, sent $((2 * N))" || rc=1
	PEAK_SLAB=$(flow_slab)
	echo "nf_conntrack slab: $(slab_active nf_conntrack) objects (baseline $CT_BASE); flow slab: ${PEAK_SLAB:-n/a} (baseline ${FLOW_BASE:-n/a})"
	return $rc
}

all_gone()
{
	local off tot proc

	read -r off tot proc <<<"$(counts)"
	[ "$off" = 0 ] && [ "$tot" = 0 ] && { [ "$proc" = - ] || [ "$proc" = 0 ]; }
}

ct_slab_near()
{
	[ "$(slab_active nf_conntrack)" -le $((CT_BASE + 50)) ]
}

t_expire()
{
	local t0 t1 off tot proc cs fs rc=0

	# After the hand-over, conntrack's own (now short) timeout minus the
	# time spent idle applies: the entries go at once.
	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5 || return 1
	t0=$(now_ms)
	if ! wait_for $((FTT + 120)) all_gone; then
		read -r off tot proc <<<"$(counts)"
		fail "$((FTT + 120)) s later: [OFFLOAD] $off, entries $tot, flowtable flows $proc"
		rc=1
	fi
	t1=$(now_ms)
	echo "all flows and conntrack entries gone $(((t1 - t0) / 1000)) s after the last datagram (flowtable timeout $FTT s)"
	ip netns exec "$NS_R" conntrack -L 2>/dev/null | grep -q OFFLOAD &&
		fail "entries still [OFFLOAD]: $(ip netns exec "$NS_R" conntrack -L 2>/dev/null | grep -c OFFLOAD)" && rc=1
	if ! wait_for 30 ct_slab_near; then
		fail "nf_conntrack slab $(slab_active nf_conntrack) objects, baseline $CT_BASE"
		rc=1
	fi
	cs=$(slab_active nf_conntrack)
	fs=$(flow_slab)
	echo "nf_conntrack slab: $cs objects (baseline $CT_BASE); flow slab: ${fs:-n/a} (baseline ${FLOW_BASE:-n/a}, peak ${PEAK_SLAB:-n/a})"
	if [ -n "$fs" ] && [ -n "$FLOW_BASE" ] && [ -n "$PEAK_SLAB" ]; then
		# (a merged cache: other users come and go, allow 2 % of N)
		[ $((PEAK_SLAB - FLOW_BASE)) -ge "$MIN" ] ||
			fail "flow slab grew by only $((PEAK_SLAB - FLOW_BASE)) objects at the peak: not measurable" || rc=1
		[ "$fs" -le $((FLOW_BASE + N / 50)) ] ||
			fail "flow slab $fs objects, baseline $FLOW_BASE: $((fs - FLOW_BASE)) flows not freed" || rc=1
	fi
	return $rc
}

# --------------------------------------------------------------- main ---

modprobe nf_conntrack || ktap_bail "no nf_conntrack"
max=$(sysctl -n net.netfilter.nf_conntrack_max)
if [ "$max" -lt $((3 * N)) ]; then
	sysctl -qw net.netfilter.nf_conntrack_max=$((3 * N)) || ktap_bail "cannot raise nf_conntrack_max"
	defer "sysctl -qw net.netfilter.nf_conntrack_max=$max"
fi
ktap_comment "nf_conntrack_max $(sysctl -n net.netfilter.nf_conntrack_max), buckets $(sysctl -n net.netfilter.nf_conntrack_buckets)"

topo_router || ktap_bail "topology setup failed"
ft_router_ruleset inet || ktap_bail "cannot load the flowtable ruleset"
impl_report
nft_load "$NS_S" <<EOF || ktap_bail "cannot load the server's sink"
table inet kno_sink {
	counter got { }
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport $DPORT counter name got drop
	}
}
EOF
# Long conntrack timeouts while the flows are created; the flowtable
# timeout bounds how long they stay after the last datagram.
ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=300 \
	net.netfilter.nf_conntrack_udp_timeout_stream=300 \
	net.netfilter.nf_flowtable_udp_timeout="$FTT" || ktap_bail "cannot set the UDP timeouts"
CT_BASE=$(slab_active nf_conntrack)
FLOW_BASE=$(flow_slab)
PEAK_SLAB=
ktap_comment "$N flows; baseline: nf_conntrack slab $CT_BASE, flow slab ${FLOW_BASE:-n/a}"
impl_is ours && [ -L /sys/kernel/slab/kno_flow ] &&
	ktap_comment "kno_flow is merged into $(basename "$(readlink /sys/kernel/slab/kno_flow)") ($(cat /sys/kernel/slab/kno_flow/aliases) aliases): its object count includes other users"

run_test "$N UDP flows: at least $MIN offloaded at once ([OFFLOAD], /proc/net/nf_flowtable), all delivered" t_create
run_test "$N UDP flows expire: nothing left offloaded or in conntrack, slab objects back to baseline" t_expire
ktap_comment "$PEAK"

ktap_end
