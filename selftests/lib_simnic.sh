# SPDX-License-Identifier: GPL-2.0
#
# Helpers for the hardware-offload tests (hw_*.sh), which run the flowtable
# against kno_simnic, the simulated NIC in selftests/modules/ (see
# Documentation/simnic.rst). Source it after lib.sh:
#
#	. "$(dirname "$0")/lib.sh"
#	. "$(dirname "$0")/lib_simnic.sh"
#
#   module      sim_require (load the module or SKIP), sim_unload,
#               sim_knobs_reset, sim_knob NAME VALUE, sim_fail CMD SPEC
#   state       sim_port_get PORT KEY, sim_summary_get KEY, sim_rules,
#               sim_flow_rules PORT, sim_rules_on DEV, sim_rule_get PORT DIR KEY
#   topology    sim_topo [VID_C [VID_S]]: client <-simpair-> router <-simpair->
#               server with optional VLANs on either side, sim_ruleset
#   transfers   sim_tcp_start/sim_tcp_go/sim_tcp_wait/sim_tcp_finish (two
#               phases on one connection), sim_udp_phase
#   proof       sim_snap NAME, sim_hw_proof (the stack saw zero packets of
#               the flow while the bulk of it went through the hardware)
#
# KNO_SIM_BREAK exists only to show that the tests can fail; never set it
# otherwise. "nohw": the simulated table has capacity 0 (everything stays
# in software); "stats": STATS reports nothing (stats_frozen); "flush": the
# sim flushes rules on unbind.

: "${KNO_SIM_BREAK:=}"

SIM_DBG=/sys/kernel/debug/kno_simnic
SIM_KO=$KNO_TOP/build/$KNO_KVER/selftests/kno_simnic.ko
SIM_TABLE=kno_hw
SIM_CNT_TABLE=kno_cnt
SIM_LOADED_HERE=0

# sim_require: load kno_simnic (exit as SKIP when it was not built), reset
# its knobs, and make sure no ports of an earlier test are left.
sim_require()
{
	if [ ! -d /sys/module/kno_simnic ]; then
		if [ ! -r "$SIM_KO" ]; then
			echo "TAP version 13"
			echo "1..0 # SKIP $SIM_KO not built (make selftest-modules KVER=$KNO_KVER)"
			exit "$KSFT_SKIP"
		fi
		insmod "$SIM_KO" || { echo "insmod $SIM_KO failed"; exit "$KSFT_FAIL"; }
		SIM_LOADED_HERE=1
	fi
	[ -d "$SIM_DBG" ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	sim_knobs_reset
	trap 'cleanup; sim_unload' EXIT
	trap 'cleanup; sim_unload; exit 1' INT TERM
}

# sim_unload: remove the module (its exit path deletes any port left and
# WARNs on leaked rules, which fails the VM run).
sim_unload()
{
	[ -d /sys/module/kno_simnic ] || return 0
	sim_knobs_reset 2>/dev/null
	rmmod kno_simnic 2>/dev/null || sleep 1
	[ -d /sys/module/kno_simnic ] && rmmod kno_simnic
}

# sim_knob NAME VALUE
sim_knob()
{
	echo "$2" >"$SIM_DBG/$1"
}

# sim_fail CMD "N [ERRNO [PERCENT]]": CMD is replace, destroy, stats or bind.
sim_fail()
{
	echo "$2" >"$SIM_DBG/fail_$1"
}

sim_knobs_reset()
{
	local c

	sim_knob capacity 64
	sim_knob acl_capacity 64
	sim_knob delay_ms 0
	sim_knob flush_on_unbind 0
	sim_knob ipv6_nat 1
	sim_knob stats_frozen 0
	sim_knob strict_keys 0
	for c in replace destroy stats bind; do
		sim_fail "$c" "0 5 0"
	done
	case "$KNO_SIM_BREAK" in
	nohw) sim_knob capacity 0 ;;
	stats) sim_knob stats_frozen 1 ;;
	flush) sim_knob flush_on_unbind 1 ;;
	esac
}

# sim_is "CMD [ARG...]" OP VALUE: run CMD now and compare its output with
# test(1), for wait_for (whose arguments are expanded only once).
sim_is()
{
	local v

	v=$(eval "$1")
	test "${v:-x}" "$2" "$3" 2>/dev/null
}

# The helpers below read debugfs with bash alone: they run in polling loops,
# where a grep | sed | head pipeline costs a quarter of a second of TCG CPU.

# _sim_field LINE KEY: print the value of " KEY=value" in LINE; 1 if absent.
_sim_field()
{
	local v=" $1 "

	[[ $v == *" $2="* ]] || return 1
	v=${v#*" $2="}
	echo "${v%% *}"
}

# _sim_rule_lines [DEV] PORT: the rules (on ingress port DEV, if not empty)
# whose source or destination port is PORT, into the array SIM_LINES.
_sim_rule_lines()
{
	local dev=$1 port=$2 line

	SIM_LINES=()
	while IFS= read -r line; do
		[ -z "$dev" ] || [[ $line == "port=$dev "* ]] || continue
		[[ "$line " == *" sport=$port "* || "$line " == *" dport=$port "* ]] &&
			SIM_LINES+=("$line")
	done <"$SIM_DBG/rules"
}

# sim_port_get PORT KEY [PORTS]: a field of the port's line in "ports", or in
# PORTS, a copy of that file read earlier (one consistent snapshot).
sim_port_get()
{
	local line

	while IFS= read -r line; do
		[[ $line == "port=$1 "* ]] || continue
		_sim_field "$line" "$2"
		return 0
	done <<<"${3-$(<"$SIM_DBG/ports")}"
}

# sim_ports_sum KEY PORT...: sum of a field over ports.
sim_ports_sum()
{
	local key=$1 p v sum=0

	shift
	for p in "$@"; do
		v=$(sim_port_get "$p" "$key")
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# sim_summary_get KEY: a field of the "summary" file
sim_summary_get()
{
	local line

	while IFS= read -r line; do
		_sim_field "$line" "$1" && return 0
	done <"$SIM_DBG/summary"
	return 0
}

sim_rules()
{
	cat "$SIM_DBG/rules"
}

# sim_flow_rules PORT: rules whose source or destination port is PORT.
sim_flow_rules()
{
	_sim_rule_lines "" "$1"
	[ "${#SIM_LINES[@]}" -gt 0 ] || return 1
	printf '%s\n' "${SIM_LINES[@]}"
}

sim_flow_nrules()
{
	_sim_rule_lines "" "$1"
	echo "${#SIM_LINES[@]}"
}

# sim_rules_on DEV: number of rules installed on port DEV.
sim_rules_on()
{
	local line n=0

	while IFS= read -r line; do
		[[ $line == "port=$1 "* ]] && n=$((n + 1))
	done <"$SIM_DBG/rules"
	echo "$n"
}

# sim_rule_get DEV PORT KEY: KEY of the rule on DEV (the ingress port)
# that matches L4 port PORT.
sim_rule_get()
{
	local line

	_sim_rule_lines "$1" "$2"
	for line in "${SIM_LINES[@]}"; do
		_sim_field "$line" "$3" && return 0
	done
	return 0
}

# ------------------------------------------------------------- topology ---

RDEV_C=r0
RDEV_S=r1

# sim_in_ns NS CMD...: run CMD in the network namespace NS only ("ip netns
# exec" would also remount /sys and hide debugfs).
sim_in_ns()
{
	local ns=$1

	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# sim_pair NS NAME_A NAME_B [NAME_A NAME_B]...: create pairs inside NS (both
# ends there), one write to new_pair each, from one shell.
sim_pair()
{
	local ns=$1 cmd=

	shift
	while [ $# -ge 2 ]; do
		cmd+="echo '$1 $2' > $SIM_DBG/new_pair && "
		shift 2
	done
	sim_in_ns "$ns" sh -c "${cmd}:"
}

# sim_topo [VID_C [VID_S]]
#   NS_C c0 <-simpair-> r0 NS_R r1 <-simpair-> s0 NS_S
# Addresses as in lib.sh's topo_router; with VID_C/VID_S != 0 the client
# (server) side runs over VLAN VID on top of the sim ports. Sets L3_C, L3_S
# (the router's L3 devices) too.
sim_topo()
{
	local vc=${1:-0} vs=${2:-0} dc=c0 ds=s0 vlan_c= vlan_s=

	setup_ns NS_C NS_R NS_S || return 1
	sim_pair "$NS_R" r0 c0 r1 s0 || return 1
	L3_C=r0
	L3_S=r1
	if [ "$vc" != 0 ]; then
		dc=c0.$vc
		L3_C=r0.$vc
		vlan_c="type vlan id $vc"
	fi
	if [ "$vs" != 0 ]; then
		ds=s0.$vs
		L3_S=r1.$vs
		vlan_s="type vlan id $vs"
	fi
	# The router's side in one ip process.
	{
		echo "link set c0 netns $NS_C"
		echo "link set s0 netns $NS_S"
		echo "link set r0 up"
		echo "link set r1 up"
		[ -z "$vlan_c" ] || echo "link add link r0 name $L3_C $vlan_c"
		[ -z "$vlan_s" ] || echo "link add link r1 name $L3_S $vlan_s"
		echo "link set $L3_C up"
		echo "link set $L3_S up"
		echo "addr add $R4C/24 dev $L3_C"
		echo "addr add $R6C/64 dev $L3_C nodad"
		echo "addr add $R4S/24 dev $L3_S"
		echo "addr add $R6S/64 dev $L3_S nodad"
	} | ns_ip "$NS_R" || return 1
	# Hosts: the VLAN device on the sim port first, if any.
	if [ -n "$vlan_c" ]; then
		printf '%s\n' "link set c0 up" "link add link c0 name $dc $vlan_c" |
			ns_ip "$NS_C" || return 1
	fi
	ns_host "$NS_C" "$dc" "$C4" "$C6" "$R4C" "$R6C" || return 1
	if [ -n "$vlan_s" ]; then
		printf '%s\n' "link set s0 up" "link add link s0 name $ds $vlan_s" |
			ns_ip "$NS_S" || return 1
	fi
	ns_host "$NS_S" "$ds" "$S4" "$S6" "$R4S" "$R6S" || return 1
	# Forwarding on. Flows sit idle between the set-up and the bulk phase
	# of a test, for longer than the default 30 s when the machine is busy;
	# an idle flow would (correctly) expire and come back as a new one, so
	# the flowtable timeouts are 300 s (these two keys exist once
	# nf_conntrack is loaded; sysctl sets the others regardless).
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.netfilter.nf_flowtable_tcp_timeout=300 \
		net.netfilter.nf_flowtable_udp_timeout=300 >/dev/null 2>&1

	wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$S4" >/dev/null ||
		{ echo "sim_topo: client cannot ping $S4"; return 1; }
	wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$S6" >/dev/null ||
		{ echo "sim_topo: client cannot ping $S6"; return 1; }
	return 0
}

# sim_ruleset [EXTRA]: the router's ruleset. A "table inet kno_hw" with a
# hardware flowtable over r0 and r1, a forward chain that offloads tcp/udp
# (named counter "routed" counts what the forward chain sees) and EXTRA lines
# appended inside the table; and a "table netdev kno_cnt" whose ingress
# chains count what reaches the router's stack on r0/r1: all packets
# ("all_c", "all_s") and tcp/udp ones ("l4_c", "l4_s"). The flowtable
# counts (flag "counter") unless SIM_FT_COUNTER is set to "".
sim_ruleset()
{
	local extra=${1:-}

	nft_load "$NS_R" <<EOF
table inet $SIM_TABLE {
	flowtable ft {
		hook ingress priority 0
		devices = { $RDEV_C, $RDEV_S }
		flags offload
		${SIM_FT_COUNTER-counter}
	}

	counter routed { }

	chain forward {
		type filter hook forward priority 0; policy accept;
		meta l4proto { tcp, udp } counter name routed
		meta l4proto { tcp, udp } $(flow_add_stmt @ft)
	}
$extra
}

table netdev $SIM_CNT_TABLE {
	counter all_c { }
	counter all_s { }
	counter l4_c { }
	counter l4_s { }

	chain in_c {
		type filter hook ingress device $RDEV_C priority -500; policy accept;
		counter name all_c
		meta l4proto { tcp, udp } counter name l4_c
	}
	chain in_s {
		type filter hook ingress device $RDEV_S priority -500; policy accept;
		counter name all_s
		meta l4proto { tcp, udp } counter name l4_s
	}
}
EOF
}

# ------------------------------------------------------------ transfers ---

# sim_tcp_start ID SRCNS DSTNS DADDR DPORT SIZE1 SIZE2 [SPORT [TIMEOUT_S]]
# One TCP connection that sends SIZE1 bytes, waits for sim_tcp_go, sends
# SIZE2 more bytes and stays open until sim_tcp_finish. Sets XFER_SPORT.
# The receiver listens on DPORT, or on SIM_LPORT when that is set (DNAT).
sim_tcp_start()
{
	local id=$1 srcns=$2 dstns=$3 daddr=$4 dport=$5 s1=$6 s2=$7
	local sport=${8:-$(random_port)} t=${9:-300} fam pid laddr
	local lport=${SIM_LPORT:-$5}

	fam=$(_addr_family_opt "$daddr")
	XFER_SPORT=$sport
	make_file "$KNO_TMP/$id.in1" "$s1"
	make_file "$KNO_TMP/$id.in2" "$s2"
	cat "$KNO_TMP/$id.in1" "$KNO_TMP/$id.in2" >"$KNO_TMP/$id.in"
	rm -f "$KNO_TMP/$id.out" "$KNO_TMP/$id.go.gate" "$KNO_TMP/$id.gate"
	echo "$t" >"$KNO_TMP/$id.timeout"
	bg_start pid timeout "$t" ip netns exec "$dstns" \
		socat -u "TCP$fam-LISTEN:$lport,reuseaddr" "OPEN:$KNO_TMP/$id.out,creat,trunc"
	echo "$pid" >"$KNO_TMP/$id.rpid"
	if ! wait_for 10 _tcp_listening "$dstns" "$lport"; then
		echo "sim_tcp_start $id: no listener on port $lport in $dstns"
		return 1
	fi
	[ "$fam" = 6 ] && laddr="[$daddr]" || laddr=$daddr
	bg_start pid _sim_tcp_sender "$id" "$srcns" "$laddr" "$dport" "$sport" "$fam" "$t"
	echo "$pid" >"$KNO_TMP/$id.spid"
	return 0
}

_sim_tcp_sender()
{
	local id=$1 ns=$2 addr=$3 dport=$4 sport=$5 fam=$6 t=$7

	{
		cat "$KNO_TMP/$id.in1"
		_gate_wait "$KNO_TMP/$id.go.gate" "$t"
		cat "$KNO_TMP/$id.in2"
		_gate_wait "$KNO_TMP/$id.gate" "$t"
	} | timeout "$t" ip netns exec "$ns" \
		socat -u - "TCP$fam:$addr:$dport,sourceport=$sport,reuseaddr"
}

# sim_tcp_wait ID BYTES [TIMEOUT_S]: the receiver has at least BYTES.
sim_tcp_wait()
{
	local t=${3:-120}

	if ! wait_for "$t" _xfer_received "$1" "$2"; then
		echo "tcp $1: received $(file_size "$KNO_TMP/$1.out") of $2 bytes in ${t}s"
		return 1
	fi
}

# sim_tcp_go ID: send the second part.
sim_tcp_go()
{
	touch "$KNO_TMP/$1.go.gate"
}

# sim_tcp_kill ID: stop both ends of a connection without checking anything.
sim_tcp_kill()
{
	local f

	touch "$KNO_TMP/$1.go.gate" "$KNO_TMP/$1.gate"
	for f in "$KNO_TMP/$1.spid" "$KNO_TMP/$1.rpid"; do
		[ -r "$f" ] && kill "$(<"$f")" 2>/dev/null
	done
	return 0
}

# sim_ns_del NS...: kill what runs in the namespaces, then delete them.
sim_ns_del()
{
	local ns pid

	for ns in "$@"; do
		[ -n "$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# sim_tcp_finish ID: close (FIN), wait for both ends, cmp everything.
sim_tcp_finish()
{
	sim_tcp_go "$1"
	tcp_finish "$1"
}

# sim_udp_transfer ID SRCNS DSTNS DADDR DPORT LPORT SIZE SPORT [OPTS...]
# lib.sh's udp_transfer with the receiver on LPORT instead of DPORT (DNAT).
sim_udp_transfer()
{
	local id=$1 srcns=$2 dstns=$3 daddr=$4 dport=$5 lport=$6 size=$7 sport=$8
	local py rpid rc=0 bind=0.0.0.0

	shift 8
	py=$(_udp_tool)
	make_file "$KNO_TMP/$id.in" "$size"
	rm -f "$KNO_TMP/$id.out" "$KNO_TMP/$id.ready"
	[ "$(_addr_family_opt "$daddr")" = 6 ] && bind=::
	bg_start rpid timeout 300 ip netns exec "$dstns" python3 -S "$py" recv "$bind" "$lport" \
		"$KNO_TMP/$id.out" "$KNO_TMP/$id.ready"
	if ! wait_for 10 test -e "$KNO_TMP/$id.ready"; then
		echo "udp $id: receiver did not start"
		return 1
	fi
	if ! timeout 300 ip netns exec "$srcns" python3 -S "$py" send "$daddr" "$dport" \
		"$KNO_TMP/$id.in" --sport "$sport" --stats "$KNO_TMP/$id.stats" "$@"; then
		rc=1
	fi
	wait_pid_timeout 60 "$rpid" || { echo "udp $id: receiver rc $?"; rc=1; }
	if ! cmp -s "$KNO_TMP/$id.in" "$KNO_TMP/$id.out"; then
		echo "udp $id: received data differs: sent $size, received $(file_size "$KNO_TMP/$id.out") bytes"
		rc=1
	fi
	return $rc
}

# The UDP ping tool: "echo" answers every datagram until its deadline;
# "ping" sends one datagram every INTERVAL seconds for DURATION seconds
# from SPORT and counts the answers (printed as "sent N answered N");
# "sink", "burst", "talk" and "open" are described at their code.
_sim_ping_tool()
{
	local py=$KNO_TMP/kno_ping.py

	[ -r "$py" ] || cat >"$py" <<'EOF2'
# SPDX-License-Identifier: GPL-2.0
import os, socket, sys, time

def fam(a):
    return socket.AF_INET6 if ":" in a else socket.AF_INET

if sys.argv[1] == "sink":
    # sink ADDR PORT DURATION READY COUNTFILE: count datagrams, rewrite
    # COUNTFILE after each one.
    addr, port, dur, ready, cnt = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((addr, port))
    n = 0
    open(cnt, "w").write("0\n")
    open(ready, "w").close()
    end = time.monotonic() + dur
    s.settimeout(0.2)
    while time.monotonic() < end:
        try:
            s.recv(65535)
        except socket.timeout:
            continue
        n += 1
        open(cnt, "w").write("%d\n" % n)
    sys.exit(0)

if sys.argv[1] == "burst":
    # burst ADDR PORT SPORT N INTERVAL: send N datagrams, no answers.
    addr, port, sport, n, ival = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if fam(addr) == socket.AF_INET6 else "0.0.0.0", sport))
    s.connect((addr, port))
    for i in range(n):
        s.send(b"%08d" % i + b"b" * 92)
        time.sleep(ival)
    sys.exit(0)

if sys.argv[1] == "talk":
    # talk ADDR PORT DURATION READY: wait for a datagram, then send one
    # back to its sender every 5 ms for DURATION seconds, one way.
    addr, port, dur, ready = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    open(ready, "w").close()
    s.settimeout(30)
    d, peer = s.recvfrom(65535)
    end = time.monotonic() + dur
    while time.monotonic() < end:
        s.sendto(b"t" * 100, peer)
        time.sleep(0.005)
    sys.exit(0)

if sys.argv[1] == "open":
    # open ADDR PORT SPORT DURATION: send 3 datagrams from SPORT, then
    # receive (without answering) until DURATION is over.
    addr, port, sport, dur = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.bind(("::" if fam(addr) == socket.AF_INET6 else "0.0.0.0", sport))
    for i in range(3):
        s.sendto(b"o" * 100, (addr, port))
    s.settimeout(0.5)
    end = time.monotonic() + dur
    while time.monotonic() < end:
        try:
            s.recv(65535)
        except socket.timeout:
            pass
    sys.exit(0)

if sys.argv[1] == "echo":
    addr, port, dur, ready = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    s = socket.socket(fam(addr), socket.SOCK_DGRAM)
    s.bind((addr, port))
    open(ready, "w").close()
    end = time.monotonic() + dur
    s.settimeout(0.5)
    while time.monotonic() < end:
        try:
            d, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        s.sendto(d, peer)
    sys.exit(0)

# ping ADDR PORT SPORT DURATION INTERVAL [STOPFILE]: send a datagram every
# INTERVAL for DURATION, or until STOPFILE exists; count the echoes.
addr, port, sport, dur, ival = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
stop = sys.argv[7] if len(sys.argv) > 7 else None
s = socket.socket(fam(addr), socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::" if fam(addr) == socket.AF_INET6 else "0.0.0.0", sport))
s.connect((addr, port))
s.setblocking(False)
sent = answered = 0
end = time.monotonic() + dur
nxt = time.monotonic()
while time.monotonic() < end:
    if stop and os.path.exists(stop):
        break
    now = time.monotonic()
    if now >= nxt:
        try:
            s.send(b"%08d" % sent + b"x" * 200)
            sent += 1
        except OSError:
            pass
        nxt += ival
    try:
        while True:
            s.recv(65535)
            answered += 1
    except (BlockingIOError, ConnectionRefusedError):
        pass
    time.sleep(min(0.02, max(0.0, nxt - time.monotonic())))
time.sleep(0.5)
try:
    while True:
        s.recv(65535)
        answered += 1
except (BlockingIOError, ConnectionRefusedError):
    pass
print("sent %d answered %d" % (sent, answered))
sys.exit(0 if sent and answered >= sent * 9 // 10 else 1)
EOF2
	echo "$py"
}

# sim_ping_start ID SRCNS DSTNS DADDR DPORT SPORT DURATION_S [INTERVAL_S]:
# an echo server in DSTNS and a pinger in SRCNS, both in the background.
# sim_ping_wait ID waits for the pinger and prints its result;
# sim_ping_stop ID ends it early first. DURATION_S is then an upper bound.
sim_ping_start()
{
	local id=$1 srcns=$2 dstns=$3 daddr=$4 dport=$5 sport=$6 dur=$7 ival=${8:-0.1}
	local py pid bind=0.0.0.0

	py=$(_sim_ping_tool)
	[ "$(_addr_family_opt "$daddr")" = 6 ] && bind=::
	rm -f "$KNO_TMP/$id.ready" "$KNO_TMP/$id.stop"
	bg_start pid timeout $((dur + 60)) ip netns exec "$dstns" python3 -S "$py" echo "$bind" \
		"$dport" $((dur + 30)) "$KNO_TMP/$id.ready"
	wait_for 20 test -e "$KNO_TMP/$id.ready" || { echo "ping $id: no echo server"; return 1; }
	bg_start pid timeout $((dur + 60)) ip netns exec "$srcns" python3 -S "$py" ping "$daddr" \
		"$dport" "$sport" "$dur" "$ival" "$KNO_TMP/$id.stop" >"$KNO_TMP/$id.ping" 2>&1
	echo "$pid" >"$KNO_TMP/$id.ppid"
}

sim_ping_wait()
{
	local rc=0

	wait_pid_timeout 600 "$(<"$KNO_TMP/$1.ppid")" || rc=1
	cat "$KNO_TMP/$1.ping"
	return $rc
}

# sim_ping_stop ID: end the pinger now, once a subtest has what it waited
# for, and wait for its verdict (at least 90% of the datagrams answered).
sim_ping_stop()
{
	: >"$KNO_TMP/$1.stop"
	sim_ping_wait "$1"
}

# sim_sink_start ID NS ADDR PORT [DURATION_S]: count UDP datagrams to
# ADDR:PORT in NS; sim_sink_count ID prints the count so far.
sim_sink_start()
{
	local id=$1 ns=$2 addr=$3 port=$4 dur=${5:-120} py pid

	py=$(_sim_ping_tool)
	rm -f "$KNO_TMP/$id.ready" "$KNO_TMP/$id.count"
	bg_start pid timeout $((dur + 30)) ip netns exec "$ns" python3 -S "$py" sink "$addr" \
		"$port" "$dur" "$KNO_TMP/$id.ready" "$KNO_TMP/$id.count"
	echo "$pid" >"$KNO_TMP/$id.kpid"
	wait_for 20 test -e "$KNO_TMP/$id.ready" || { echo "sink $id did not start"; return 1; }
}

# sim_sink_stop ID: end the sink (its count stays readable).
sim_sink_stop()
{
	local pid

	pid=$(cat "$KNO_TMP/$1.kpid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

sim_sink_count()
{
	cat "$KNO_TMP/$1.count" 2>/dev/null || echo 0
}

# sim_burst NS DADDR DPORT N [SPORT]: send N 100-byte UDP datagrams, 5 ms
# apart, and return once they are sent.
sim_burst()
{
	local py

	py=$(_sim_ping_tool)
	ip netns exec "$1" python3 -S "$py" burst "$2" "$3" "${5:-$(random_port)}" "$4" 0.005
}

sim_ping_running()
{
	kill -0 "$(<"$KNO_TMP/$1.ppid")" 2>/dev/null
}

# ------------------------------------------------------------------ proof ---

# sim_flow_ok FAM PROTO SPORT DPORT CPORT: the flow is [HW_OFFLOAD] in the
# router's conntrack and both directions have a rule in the sim (CPORT is
# the client's port, which both rules carry).
sim_flow_ok()
{
	ct_is_hw_offloaded "$NS_R" "$1" "$2" "$3" "$4" &&
		[ "$(sim_flow_nrules "$5")" -ge 2 ]
}

# sim_wait_hw FAM PROTO SPORT DPORT CPORT [TIMEOUT_S]
sim_wait_hw()
{
	if ! wait_for "${6:-20}" sim_flow_ok "$1" "$2" "$3" "$4" "$5"; then
		echo "FAIL: flow $2 $3 -> $4 not in hardware within ${6:-20}s"
		echo "conntrack: $(ct_get "$NS_R" "$1" "$2" "$3" "$4")"
		sim_dump
		return 1
	fi
	echo "in hardware: $(ct_get "$NS_R" "$1" "$2" "$3" "$4")"
	sim_flow_rules "$5"
}

# sim_snap NAME CPORT: record the counters that tell whether the router's
# stack saw packets, and the flow's rule counters, as SNAP_NAME_* variables.
sim_snap()
{
	local n=$1 cport=$2 v c
	local -A ft=() cnt=()

	# One nft call per table (lib.sh's nft_counters_to).
	nft_counters_to ft "$NS_R" inet "$SIM_TABLE"
	nft_counters_to cnt "$NS_R" netdev "$SIM_CNT_TABLE"
	for v in routed all_c all_s l4_c l4_s; do
		c=${ft[$v]:-${cnt[$v]:-}}
		printf -v "SNAP_${n}_$v" '%s' "${c% *}"
	done
	printf -v "SNAP_${n}_rx_c" '%s' "$(sim_port_get "$RDEV_C" rx_packets)"
	printf -v "SNAP_${n}_rx_s" '%s' "$(sim_port_get "$RDEV_S" rx_packets)"
	printf -v "SNAP_${n}_hw_c" '%s' "$(sim_port_get "$RDEV_C" hw_fwd_packets)"
	printf -v "SNAP_${n}_hw_s" '%s' "$(sim_port_get "$RDEV_S" hw_fwd_packets)"
	printf -v "SNAP_${n}_rb_c" '%s' "$(sim_rule_get "$RDEV_C" "$cport" bytes)"
	printf -v "SNAP_${n}_rp_c" '%s' "$(sim_rule_get "$RDEV_C" "$cport" packets)"
	printf -v "SNAP_${n}_rb_s" '%s' "$(sim_rule_get "$RDEV_S" "$cport" bytes)"
	printf -v "SNAP_${n}_rp_s" '%s' "$(sim_rule_get "$RDEV_S" "$cport" packets)"
	printf -v "SNAP_${n}_id_c" '%s' "$(sim_rule_get "$RDEV_C" "$cport" id)"
	printf -v "SNAP_${n}_id_s" '%s' "$(sim_rule_get "$RDEV_S" "$cport" id)"
}

# sim_dump: the sim's state, for diagnostics.
sim_dump()
{
	echo "sim rules:"
	sim_rules
	echo "sim errors:"
	cat "$SIM_DBG/errors"
	echo "sim ports (non-zero fields):"
	grep -E "^port=($RDEV_C|$RDEV_S) " "$SIM_DBG/ports" | tr ' ' '\n' |
		grep -E "^(port|rules|ft_|hw_|rx_|orphaned|flushed|vlan)" | grep -v "=0$" |
		tr '\n' ' '
	echo
}

# _snap NAME KEY: a snapshot value; "0" when it is missing or not a
# number (sim_hw_proof then fails on the difference, not on a shell error).
_snap()
{
	local v="SNAP_$1_$2"

	case "${!v:-}" in
	'' | *[!0-9]*) echo 0 ;;
	*) echo "${!v}" ;;
	esac
}

# sim_hw_proof A B SIZE DIR: between snapshots A and B, SIZE payload bytes
# went from client to server (DIR=up) or back (DIR=down). Proves that
#  - the router's forward chain saw no packet (counter "routed" unchanged),
#  - no tcp/udp packet reached the router's stack on r0 or r1 (netdev
#    ingress counters unchanged) and the ports' rx_packets (what the sim
#    delivered to the stack) grew by less than 16 (neighbour discovery),
#  - the rule on the sending side's port counted at least SIZE bytes (L3,
#    so headers included) and no more than SIZE * 1.25 + 64 KiB, and the
#    ports' hardware-forwarded counters grew accordingly.
sim_hw_proof()
{
	local a=$1 b=$2 size=$3 dir=$4 rc=0 k d bytes pk hw in v

	for k in routed l4_c l4_s rx_c rx_s; do
		for v in "SNAP_${a}_$k" "SNAP_${b}_$k"; do
			case "${!v:-}" in
			'' | *[!0-9]*)
				echo "FAIL: snapshot value $v is '${!v:-}'"
				rc=1
				;;
			esac
		done
	done
	for k in routed l4_c l4_s; do
		d=$(($(_snap "$b" $k) - $(_snap "$a" $k)))
		if [ "$d" -ne 0 ]; then
			echo "FAIL: counter $k grew by $d packets (router stack saw the flow)"
			rc=1
		else
			echo "ok: counter $k unchanged"
		fi
	done
	for k in c s; do
		d=$(($(_snap "$b" rx_$k) - $(_snap "$a" rx_$k)))
		in=$(($(_snap "$b" all_$k) - $(_snap "$a" all_$k)))
		# Only neighbour discovery may reach the stack meanwhile.
		if [ "$d" -ge 16 ]; then
			echo "FAIL: r$k rx_packets grew by $d (ingress hook: $in)"
			rc=1
		else
			echo "ok: r$k rx_packets grew by $d, none tcp/udp (ingress hook: $in)"
		fi
	done
	if [ "$dir" = up ]; then
		k=c
	else
		k=s
	fi
	bytes=$(($(_snap "$b" rb_$k) - $(_snap "$a" rb_$k)))
	pk=$(($(_snap "$b" rp_$k) - $(_snap "$a" rp_$k)))
	hw=$(($(_snap "$b" hw_$k) - $(_snap "$a" hw_$k)))
	echo "rule on the $k side: +$pk packets, +$bytes bytes; port hw_fwd_packets +$hw"
	assert_atleast "rule bytes" "$bytes" "$size" || rc=1
	assert_below "rule bytes" "$bytes" $((size * 5 / 4 + 65536)) || rc=1
	assert_atleast "port hw_fwd_packets" "$hw" "$pk" || rc=1
	assert_atleast "rule packets" "$pk" $((size / 1500)) || rc=1
	for k in c s; do
		if [ "$(_snap "$a" id_$k)" != "$(_snap "$b" id_$k)" ]; then
			echo "FAIL: the rule on the $k side changed from id $(_snap "$a" id_$k)" \
				"to $(_snap "$b" id_$k) (destroyed and re-created)"
			rc=1
		fi
	done
	[ "$rc" = 0 ] || sim_dump
	return $rc
}
