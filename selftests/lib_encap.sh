# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the encapsulation tests (VLAN, QinQ, bridge, PPPoE):
# source it after lib.sh.
#
#   enc_topo              NS_C eth0 --- veth0 NS_R veth1 --- eth0 NS_S, links
#                         up, forwarding on, no addresses
#   enc_vlan NS LOWER NAME ID [PROTO]   a VLAN device, up
#   enc_addrs NS DEV A4 A6              addresses (/24, /64 nodad), DEV up
#   enc_ping NS A4 [A6]                 wait until pings get through
#   enc_ruleset DEVS [FWD_EXTRA]        router flowtable + counters
#   enc_endpoints                       rx counters in NS_C and NS_S
#   enc_quiet NS DEV DIR                a device whose rx must stay quiet
#   enc_reset                           reset every counter before a flow
#   enc_check PROTO IPVER SPORT DPORT SIZE [PROCRE]   the offload proof
#   enc_tcp / enc_udp                   a transfer plus enc_check
#   enc_proc_flow SPORT                 our /proc/net/nf_flowtable flow line
#   enc_teardown                        delete this topology's namespaces
#   enc_group "SETUP ARGS" DESC "FUNC ARGS" ...  topology + subtests + teardown
#
# The offload proof (enc_check) for one flow, live:
#   - the router's forward chain saw fewer than SIZE/4 bytes of tcp/udp,
#   - per direction (ct direction original / reply) the forward chain saw
#     fewer than a quarter of the packets the receiving endpoint got (the
#     endpoints count every tcp/udp packet in their input hook), so both
#     directions are on the fast path,
#   - at least one packet passed the forward chain (the flow was set up),
#   - conntrack -L on the router shows [OFFLOAD],
#   - every device registered with enc_quiet (e.g. the router's VLAN
#     device) received fewer than a quarter of the packets of its
#     direction: the fast path took them at the lower device,
#   - with our module (KNO_IMPL=ours): /proc/net/nf_flowtable lists the
#     flow, and the line matches PROCRE (an extended regex) if given.
# cmp of the data is done by the transfer helpers.
#
# KNO_TEST_BREAK=ftdevs (test validation only) makes enc_ruleset list only
# the last device of DEVS in the flowtable, so the LAN side has no hook.

ENC_TABLE=kno_enc
ENC_NS=()
ENC_QUIET=()
TCP_SIZE=${KNO_XFER_SIZE:-2097152}
UDP_SIZE=${KNO_UDP_SIZE:-524288}

# enc_topo: three fresh namespaces and two veth pairs (see above).
enc_topo()
{
	local ns

	setup_ns NS_C NS_R NS_S || return 1
	ENC_NS=("$NS_C" "$NS_R" "$NS_S")
	ENC_QUIET=()
	# No ICMP redirects: with a router that routes between two subnets on
	# one bridge, the hosts would otherwise be told to talk directly
	# (IPv4 shared_media is on by default) and bypass the router.
	ip netns exec "$NS_R" sysctl -qw net.ipv4.conf.all.send_redirects=0 \
		net.ipv4.conf.default.send_redirects=0 \
		net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null || return 1
	for ns in "$NS_C" "$NS_S"; do
		ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.accept_redirects=0 \
			net.ipv4.conf.default.accept_redirects=0 \
			net.ipv6.conf.all.accept_redirects=0 \
			net.ipv6.conf.default.accept_redirects=0 >/dev/null || return 1
	done
	ip -b - <<-EOF || return 1
	link add veth0 netns $NS_R type veth peer name eth0 netns $NS_C
	link add veth1 netns $NS_R type veth peer name eth0 netns $NS_S
	EOF
	ip -n "$NS_C" link set eth0 up || return 1
	ip -n "$NS_S" link set eth0 up || return 1
	printf 'link set %s up\n' veth0 veth1 | ns_ip "$NS_R"
}

# enc_ns_add VAR...: more namespaces that belong to this topology.
enc_ns_add()
{
	local v

	setup_ns "$@" || return 1
	for v in "$@"; do
		ENC_NS+=("${!v}")
	done
}

# enc_teardown: delete the namespaces of the current topology (the
# processes in them are killed first). Namespaces stay in lib.sh's list;
# deleting them again at exit is harmless.
enc_teardown()
{
	local ns pid f

	# Release TCP senders still waiting to close (after a failed subtest).
	for f in "$KNO_TMP"/*.spid; do
		[ -e "$f" ] && touch "${f%.spid}.gate"
	done
	for ns in "${ENC_NS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$pid" 2>/dev/null
		done
	done
	for ns in "${ENC_NS[@]}"; do
		wait_while 5 _enc_ns_busy "$ns"
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	ENC_NS=()
	ENC_QUIET=()
}

_enc_ns_busy()
{
	[ -n "$(ip netns pids "$1" 2>/dev/null)" ]
}

# enc_vlan NS LOWER NAME ID [PROTO]
enc_vlan()
{
	ns_ip "$1" <<-EOF
	link add link $2 name $3 type vlan protocol ${5:-802.1Q} id $4
	link set $3 up
	EOF
}

# enc_addrs NS DEV A4 A6
enc_addrs()
{
	ns_ip "$1" <<-EOF
	addr add $3/24 dev $2
	addr add $4/64 dev $2 nodad
	link set $2 up
	EOF
}

# enc_routes: default routes of client and server via the router.
enc_routes()
{
	printf 'route add default via %s\n' "$R4C" "$R6C" | ns_ip "$NS_C" || return 1
	printf 'route add default via %s\n' "$R4S" "$R6S" | ns_ip "$NS_S"
}

# enc_ping NS A4 [A6]: both addresses answer within 15 s.
enc_ping()
{
	wait_for 15 ip netns exec "$1" ping -q -c 1 -W 1 "$2" >/dev/null ||
		{ echo "no ping reply from $2 in $1"; return 1; }
	[ -z "${3:-}" ] && return 0
	wait_for 15 ip netns exec "$1" ping -q -c 1 -W 1 "$3" >/dev/null ||
		{ echo "no ping reply from $3 in $1"; return 1; }
}

# enc_ruleset "DEV, DEV..." [FWD_EXTRA]: (re)load the router's table: the
# flowtable over DEVS, the forward chain (FWD_EXTRA first, then flow add)
# with the counters enc_check reads.
enc_ruleset()
{
	local devs=$1

	if [ "$KNO_TEST_BREAK" = ftdevs ]; then
		devs=${devs##*,}
		echo "KNO_TEST_BREAK=ftdevs: flowtable devices { $devs } instead of { $1 }"
	fi
	ip netns exec "$NS_R" nft delete table inet "$ENC_TABLE" 2>/dev/null
	nft_load "$NS_R" <<EOF
table inet $ENC_TABLE {
	flowtable ft {
		hook ingress priority 0
		devices = { $devs }
	}

	counter routed { }
	counter orig { }
	counter reply { }
	counter invalid { }

	chain forward {
		type filter hook forward priority 0; policy accept;
		${2:-}
		ct state invalid counter name invalid
		meta l4proto { tcp, udp } $(flow_add_stmt @ft)
		meta l4proto { tcp, udp } counter name routed
		meta l4proto { tcp, udp } ct direction original counter name orig
		meta l4proto { tcp, udp } ct direction reply counter name reply
	}
}
EOF
}

# enc_endpoints: every tcp/udp packet delivered locally in NS_C and NS_S
# is counted (counter rx of table inet kno_ep).
enc_endpoints()
{
	local ns

	for ns in "$NS_C" "$NS_S"; do
		nft_load "$ns" <<EOF || return 1
table inet kno_ep {
	counter rx { }
	chain input {
		type filter hook input priority 0; policy accept;
		meta l4proto { tcp, udp } counter name rx
	}
}
EOF
	done
}

# enc_quiet NS DEV DIR(orig|reply): DEV's rx packets must stay below a
# quarter of the packets the endpoint of direction DIR received.
enc_quiet()
{
	ENC_QUIET+=("$1 $2 $3")
}

# _enc_rx_packets NS DEV: DEV's rx packet count, from one "ip -s -o link"
# ("... RX: bytes packets errors ... \ VALUES ... TX: ...": the values
# follow the "\" in the order of the headers)
_enc_rx_packets()
{
	local w i=0 n h0 col=-1

	read -r -a w < <(ip -n "$1" -s -o link show dev "$2" 2>/dev/null)
	n=${#w[@]}
	while [ $i -lt "$n" ] && [ "${w[i]}" != "RX:" ]; do
		i=$((i + 1))
	done
	h0=$((i + 1))
	for ((i = h0; i < n; i++)); do
		[ "${w[i]}" = '\' ] && break
		[ "${w[i]}" = packets ] && col=$i
	done
	if [ "$col" -ge 0 ] && [ $i -lt "$n" ]; then
		echo "${w[i + 1 + col - h0]:-0}"
	else
		echo 0
	fi
}

# enc_reset: zero the router and endpoint counters, snapshot quiet devices.
enc_reset()
{
	local q ns dev dir

	# routed, orig, reply (and invalid) at once
	ip netns exec "$NS_R" nft reset counters table inet "$ENC_TABLE" >/dev/null
	nft_counter_reset "$NS_C" inet kno_ep rx
	nft_counter_reset "$NS_S" inet kno_ep rx
	ENC_SNAP=()
	for q in "${ENC_QUIET[@]}"; do
		read -r ns dev dir <<<"$q"
		ENC_SNAP+=("$(_enc_rx_packets "$ns" "$dev")")
	done
}

# enc_proc_flow PROTO SPORT: the flow's line in our /proc/net/nf_flowtable
# (original tuple with source port SPORT).
enc_proc_flow()
{
	local line re="^$1 [^ ]+:$2->"

	while IFS= read -r line; do
		[[ $line =~ $re ]] && { echo "$line"; return 0; }
	done < <(ip netns exec "$NS_R" cat /proc/net/nf_flowtable 2>/dev/null)
	return 0
}

# enc_check PROTO IPVER SPORT DPORT SIZE [PROCRE]: see the top of the file.
enc_check()
{
	local proto=$1 fam=ipv$2 sport=$3 dport=$4 size=$5 re=${6:-} rc=0
	local by po pr srx crx i q ns dev dir now lim line

	local -A cnt

	nft_counters_to cnt "$NS_R" inet "$ENC_TABLE"
	by=${cnt[routed]#* }
	po=${cnt[orig]% *}
	pr=${cnt[reply]% *}
	srx=$(nft_counter_packets "$NS_S" inet kno_ep rx)
	crx=$(nft_counter_packets "$NS_C" inet kno_ep rx)
	echo "forward chain: ${by:-?} bytes for $size transferred;" \
		"packets original ${po:-?} (server received ${srx:-?})," \
		"reply ${pr:-?} (client received ${crx:-?})"
	assert_below "forward-chain bytes" "${by:-999999999}" $((size / 4)) || rc=1
	assert_atleast "server packets" "${srx:-0}" 8 || rc=1
	assert_atleast "client packets" "${crx:-0}" 8 || rc=1
	assert_below "forward-chain original packets x4" $((${po:-999999} * 4)) "${srx:-0}" || rc=1
	assert_below "forward-chain reply packets x4" $((${pr:-999999} * 4)) "${crx:-0}" || rc=1
	assert_atleast "forward-chain packets (flow seen before offload)" $((${po:-0} + ${pr:-0})) 1 ||
		rc=1
	i=0
	for q in "${ENC_QUIET[@]}"; do
		read -r ns dev dir <<<"$q"
		now=$(( $(_enc_rx_packets "$ns" "$dev") - ${ENC_SNAP[$i]:-0} ))
		[ "$dir" = orig ] && lim=$srx || lim=$crx
		assert_below "rx packets x4 of $dev (bypassed by the fast path)" $((now * 4)) "${lim:-0}" ||
			rc=1
		i=$((i + 1))
	done
	line=$(ct_get "$NS_R" "$fam" "$proto" "$sport" "$dport")
	if [[ $line == *"[OFFLOAD]"* ]]; then
		echo "ok: [OFFLOAD] while live: $line"
	else
		echo "FAIL: no [OFFLOAD] on the live flow: $line"
		rc=1
	fi
	if impl_is ours; then
		line=$(enc_proc_flow "$proto" "$sport")
		if [ -z "$line" ]; then
			echo "FAIL: /proc/net/nf_flowtable does not list the flow"
			ip netns exec "$NS_R" cat /proc/net/nf_flowtable
			rc=1
		elif [ -n "$re" ] && ! grep -qE -- "$re" <<<"$line"; then
			echo "FAIL: /proc/net/nf_flowtable flow line does not match /$re/:"
			echo "$line"
			rc=1
		else
			echo "ok: /proc/net/nf_flowtable: $line"
		fi
	fi
	[ "$rc" = 0 ] || enc_dump
	return $rc
}

# enc_dump: state for the log of a failed check.
enc_dump()
{
	echo "--- router conntrack:"
	ip netns exec "$NS_R" conntrack -L 2>/dev/null
	echo "--- router ICMP/IP counters:"
	ip netns exec "$NS_R" nstat -asz 2>/dev/null | grep -E 'Redirect|OutNoRoutes|ForwDatagrams|InDiscards'
	echo "--- client neighbours and route cache:"
	ip -n "$NS_C" neigh
	ip -n "$NS_C" route show cache
	ip -n "$NS_C" -6 route show cache
	echo "--- server neighbours and route cache:"
	ip -n "$NS_S" neigh
	ip -n "$NS_S" route show cache
	if impl_is ours; then
		echo "--- /proc/net/nf_flowtable, /proc/net/nft_flow_offload:"
		ip netns exec "$NS_R" cat /proc/net/nf_flowtable /proc/net/nft_flow_offload
	fi
}

# enc_tcp IPVER DADDR DPORT [PROCRE]: a live TCP transfer client -> DADDR,
# offload proof while live, then close and cmp.
enc_tcp()
{
	local v=$1 daddr=$2 dport=$3 re=${4:-} id=tcp$1_$3 rc=0

	enc_reset
	tcp_start "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$TCP_SIZE" "" 180 || return 1
	tcp_wait_received "$id" || rc=1
	enc_check tcp "$v" "$XFER_SPORT" "$dport" "$TCP_SIZE" "$re" || rc=1
	tcp_finish "$id" || rc=1
	[ "$rc" = 0 ] && echo "ok: cmp: $TCP_SIZE bytes intact"
	return $rc
}

# enc_udp IPVER DADDR DPORT [PROCRE]: a reliable UDP transfer (one ack per
# datagram, so both directions carry as many packets), then the proof.
enc_udp()
{
	local v=$1 daddr=$2 dport=$3 re=${4:-} id=udp$1_$3 rc=0

	enc_reset
	udp_transfer "$id" "$NS_C" "$NS_S" "$daddr" "$dport" "$UDP_SIZE" || rc=1
	cat "$KNO_TMP/$id.stats" 2>/dev/null
	[ "$rc" = 0 ] && echo "ok: cmp: $UDP_SIZE bytes intact"
	enc_check udp "$v" "$XFER_SPORT" "$dport" "$UDP_SIZE" "$re" || rc=1
	return $rc
}

# enc_ifindex NS DEV
enc_ifindex()
{
	ip netns exec "$1" cat "/sys/class/net/$2/ifindex" 2>/dev/null
}

# enc_group "SETUPFUNC ARGS" DESC "FUNC ARGS" [DESC "FUNC ARGS"]...: run
# SETUPFUNC ARGS (word-split; builds a topology), then each subtest with
# run_test, then enc_teardown. If the setup fails, its subtests fail with
# the setup's output.
enc_group()
{
	local setup=$1 log=$KNO_TMP/setup.log ok=1

	shift
	# shellcheck disable=SC2086
	$setup >"$log" 2>&1 || ok=0
	while [ $# -ge 2 ]; do
		if [ "$ok" = 1 ]; then
			# shellcheck disable=SC2086
			run_test "$1" $2
		else
			ktap_fail "$1" "setup ($setup) failed:" "$(<"$log")"
		fi
		shift 2
	done
	enc_teardown
}
