# SPDX-License-Identifier: GPL-2.0
#
# Shared library for the kmod-nft-offload selftests. Source it from a test
# script (cwd is selftests/ under run.sh, but any cwd works):
#
#	. "$(dirname "$0")/lib.sh"
#
# What it provides (see the comment above each function for details):
#   KTAP        ktap_begin N, ktap_pass, ktap_fail, ktap_skip, ktap_end,
#               run_test DESC FUNC [ARG...] (runs FUNC, records the result),
#               skip REASON (inside a subtest: return its status), diag, ktap_bail
#   cleanup     setup_ns VAR..., defer CMD..., bg_start VAR CMD..., cleanup
#   polling     wait_for TIMEOUT CMD..., wait_for_ms, wait_while, wait_pid_timeout,
#               now_ms, now_ms_to VAR
#   topology    topo_router [hop] (client <-> router [<-> hop] <-> server),
#               ns_ip NS (ip commands on stdin, one ip -batch)
#   nft         nft_load NS (ruleset on stdin), nft_counter NS FAMILY TABLE NAME,
#               nft_counters_to ARRAY NS FAMILY TABLE, flow_add_stmt @FT
#   conntrack   ct_get NS FAMILY PROTO SPORT DPORT, ct_is_offloaded, ct_is_hw_offloaded
#   transfers   make_file, tcp_start/tcp_wait_received/tcp_finish/tcp_transfer,
#               udp_transfer
#   environment impl_is ours|intree, kver_series, require_cmd,
#               flowtable_modules_loaded, impl_report, impl_check_ours
#
# Environment (from scripts/vm.sh): KNO_KVER, KNO_IMPL, KNO_TOP, KNO_OUT.
# KNO_VERBOSE=1 prints the output of passing subtests too.
# KNO_TEST_BREAK=noflowadd makes flow_add_stmt emit nothing, so that every
# test can be shown to fail when flows are never offloaded. It exists only to
# validate the tests; never set it otherwise.

set -u

KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_NAME=$(basename "$0" .sh)

: "${KNO_KVER:=$(uname -r)}"
: "${KNO_IMPL:=}"
: "${KNO_TOP:=$(cd "$LIB_DIR/.." && pwd)}"
: "${KNO_TEST_BREAK:=}"
: "${KNO_VERBOSE:=0}"

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

# Creating a process costs 50-100 ms of guest CPU under TCG: a polling loop
# that runs sleep(1) and stat(1) ten times a second takes the CPU away from
# the traffic it waits for. Debian's bash-builtins (scripts/deps.sh installs
# it) has both as loadable builtins; without it the commands are used.
KNO_FINFO=0
if [ -r /usr/lib/bash/sleep ] && [ -r /usr/lib/bash/finfo ]; then
	enable -f /usr/lib/bash/sleep sleep 2>/dev/null &&
		enable -f /usr/lib/bash/finfo finfo 2>/dev/null && KNO_FINFO=1
fi

# The VM's devtmpfs has no /dev/fd; bash process substitution needs it.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd 2>/dev/null

# Per-test scratch directory; removed by cleanup.
KNO_TMP=$(mktemp -d "/tmp/kno-$TEST_NAME-XXXXXX")

# ---------------------------------------------------------------- KTAP ---

_ktap_planned=0
_ktap_n=0
_ktap_npass=0
_ktap_nfail=0
_ktap_nskip=0
_sub_skip_reason=
_sub_diag=()

# ktap_begin N: print the KTAP header and the plan.
ktap_begin()
{
	_ktap_planned=$1
	echo "TAP version 13"
	echo "1..$1"
}

# Print each argument (and each line of each argument) as a "# " comment.
ktap_comment()
{
	local arg line

	for arg in "$@"; do
		[ -n "$arg" ] || continue
		while IFS= read -r line; do
			echo "# $line"
		done <<<"$arg"
	done
}

# ktap_pass DESC
ktap_pass()
{
	_ktap_n=$((_ktap_n + 1))
	_ktap_npass=$((_ktap_npass + 1))
	echo "ok $_ktap_n $1"
}

# ktap_fail DESC [DIAGNOSTIC...]: diagnostics are printed as "# " lines.
ktap_fail()
{
	local desc=$1

	shift
	_ktap_n=$((_ktap_n + 1))
	_ktap_nfail=$((_ktap_nfail + 1))
	[ $# -gt 0 ] && ktap_comment "$@"
	echo "not ok $_ktap_n $desc"
}

# ktap_skip DESC REASON
ktap_skip()
{
	_ktap_n=$((_ktap_n + 1))
	_ktap_nskip=$((_ktap_nskip + 1))
	echo "ok $_ktap_n $1 # SKIP ${2:-no reason given}"
}

# ktap_bail REASON: fail every planned subtest not run yet, then exit 1.
# For setup failures that make the rest of the script meaningless.
ktap_bail()
{
	ktap_comment "bail out: $1"
	while [ "$_ktap_n" -lt "$_ktap_planned" ]; do
		ktap_fail "not run ($1)"
	done
	ktap_end
}

# ktap_end: print totals and exit 1 if anything failed, 4 if everything was
# skipped, 0 otherwise. A plan/result count mismatch is a failure.
ktap_end()
{
	local rc=$KSFT_PASS

	if [ "$_ktap_n" -ne "$_ktap_planned" ]; then
		ktap_comment "planned $_ktap_planned subtests, ran $_ktap_n"
		rc=$KSFT_FAIL
	fi
	ktap_comment "Totals: pass:$_ktap_npass fail:$_ktap_nfail skip:$_ktap_nskip"
	if [ "$_ktap_nfail" -gt 0 ]; then
		rc=$KSFT_FAIL
	elif [ "$rc" = "$KSFT_PASS" ] && [ "$_ktap_nskip" -eq "$_ktap_n" ]; then
		rc=$KSFT_SKIP
	fi
	exit "$rc"
}

# Inside a subtest: record a diagnostic line shown if the subtest fails.
diag()
{
	_sub_diag+=("$*")
}

# Inside a subtest: `skip "reason"; return` makes it a SKIP.
skip()
{
	_sub_skip_reason=$*
	return $KSFT_SKIP
}

# Inside a subtest: log an error (shown on failure) and return 1.
fail()
{
	echo "FAIL: $*"
	return $KSFT_FAIL
}

# run_test DESC FUNC [ARG...]: run FUNC in this shell (so it can use and
# change the topology) with its output captured; status 0 = pass,
# 4 = skip (reason from `skip`), anything else = fail, in which case the
# captured output and the diag lines are printed as comments.
run_test()
{
	local desc=$1 log rc t0

	shift
	log=$KNO_TMP/subtest.log
	_sub_skip_reason=
	_sub_diag=()
	t0=$(now_ms)
	"$@" >"$log" 2>&1
	rc=$?
	if [ "$KNO_VERBOSE" = 1 ] || { [ "$rc" != 0 ] && [ "$rc" != "$KSFT_SKIP" ]; }; then
		ktap_comment "$(<"$log")"
	fi
	ktap_comment "time: $(($(now_ms) - t0)) ms"
	case "$rc" in
	0)
		ktap_pass "$desc"
		;;
	"$KSFT_SKIP")
		ktap_skip "$desc" "$_sub_skip_reason"
		;;
	*)
		ktap_fail "$desc" "${_sub_diag[@]}" "(exit $rc after $(($(now_ms) - t0)) ms)"
		;;
	esac
	return 0
}

# ------------------------------------------------------------- cleanup ---

_ns_list=()
_bg_pids=()
_defer_cmds=()
_cleanup_done=0

# cleanup: run deferred commands (last registered first), kill background
# processes we started (by PID) and everything left in our namespaces,
# delete our namespaces and the scratch directory. Safe to call twice.
cleanup()
{
	local i pid ns

	[ "$_cleanup_done" = 1 ] && return 0
	_cleanup_done=1
	# Release any sender that still holds a connection open: every
	# transfer ID.in may have a sender waiting for its ID.gate.
	for i in "$KNO_TMP"/*.in; do
		[ -e "$i" ] && touch "${i%.in}.gate"
	done
	for ((i = ${#_defer_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_defer_cmds[$i]}" >/dev/null 2>&1
	done
	for pid in "${_bg_pids[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for ns in "${_ns_list[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill "$pid" 2>/dev/null
		done
	done
	for pid in "${_bg_pids[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for ns in "${_ns_list[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
	done
	# (-force: namespaces deleted earlier by the test are skipped)
	[ "${#_ns_list[@]}" = 0 ] ||
		printf 'netns del %s\n' "${_ns_list[@]}" | ip -force -b - >/dev/null 2>&1
	rm -rf "$KNO_TMP"
	return 0
}

trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM

# defer CMD...: run CMD (a shell string) at cleanup time.
defer()
{
	_defer_cmds+=("$*")
}

# bg_start VAR CMD...: start CMD in the background, record its PID for
# cleanup and store it in VAR.
bg_start()
{
	local var=$1

	shift
	"$@" &
	_bg_pids+=($!)
	printf -v "$var" '%s' "$!"
}

# _ns_nodad: make new namespaces start with IPv6 DAD off. init_net gets
# conf/{all,default}/accept_dad=0 and net.core.devconf_inherit_init_net=1,
# so every namespace created afterwards copies them: one sysctl per script
# instead of an "ip netns exec sysctl" (two programs) per namespace. The old
# values come back at cleanup. Returns 1 if the kernel refused (setup_ns
# then sets the namespace's own sysctls).
_ns_nodad=
_ns_nodad()
{
	local old

	[ -n "$_ns_nodad" ] && { [ "$_ns_nodad" = yes ]; return; }
	_ns_nodad=no
	mapfile -t old < <(sysctl -n net.core.devconf_inherit_init_net \
		net.ipv6.conf.all.accept_dad net.ipv6.conf.default.accept_dad 2>/dev/null)
	[ "${#old[@]}" = 3 ] || return 1
	defer "sysctl -qw net.core.devconf_inherit_init_net=${old[0]} net.ipv6.conf.all.accept_dad=${old[1]} net.ipv6.conf.default.accept_dad=${old[2]}"
	sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.core.devconf_inherit_init_net=1 >/dev/null 2>&1 || return 1
	_ns_nodad=yes
}

# setup_ns VAR...: create one namespace per variable, named
# "<var>-<random>" (lower case, "_" -> "-"), bring lo up, IPv6 DAD off,
# store the name in VAR. All namespaces come from one "ip -batch".
setup_ns()
{
	local var name sfx names=()

	for var in "$@"; do
		name=${var,,}
		printf -v sfx '%08x' "$SRANDOM"
		name=${name//_/-}-$sfx
		names+=("$name")
		printf -v "$var" '%s' "$name"
	done
	_ns_nodad
	# listed first: cleanup deletes whatever part of the batch was made
	_ns_list+=("${names[@]}")
	printf 'netns add %s\n' "${names[@]}" | ip -b - || return 1
	for name in "${names[@]}"; do
		ip -n "$name" link set lo up || return 1
		[ "$_ns_nodad" = yes ] ||
			ip netns exec "$name" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
				net.ipv6.conf.default.accept_dad=0 >/dev/null 2>&1
	done
	return 0
}

# ns_ip NS: run the ip(8) commands read from stdin, one per line, in NS
# with a single "ip -n NS -batch -". Stops at and fails on the first
# command that fails (ip names it).
ns_ip()
{
	ip -n "$1" -b -
}

# ns_host NS DEV A4 A6 GW4 GW6: an end host's interface DEV in NS:
# addresses A4/24 and A6/64 (nodad), up, default routes via GW4 and GW6;
# one ip -batch.
ns_host()
{
	ns_ip "$1" <<-EOF
	addr add $3/24 dev $2
	addr add $4/64 dev $2 nodad
	link set $2 up
	route add default via $5
	route add default via $6
	EOF
}

# ------------------------------------------------------------- polling ---

# now_ms_to VAR: the wall clock in milliseconds into VAR, without forking.
now_ms_to()
{
	local _now_us=${EPOCHREALTIME/./}

	printf -v "$1" '%d' $((_now_us / 1000))
}

now_ms()
{
	local ms

	now_ms_to ms
	echo "$ms"
}

# _poll WANT TIMEOUT_MS INTERVAL_S CMD...: run CMD every INTERVAL_S seconds
# until it succeeds (WANT=ok) or fails (WANT=fail), at most TIMEOUT_MS.
# Returns 0 when it did, 1 on timeout. The locals carry a _poll_ prefix:
# CMD runs in their dynamic scope and may read or set variables of its own.
_poll()
{
	local _poll_want=$1 _poll_ival=$3 _poll_end _poll_now _poll_rc

	now_ms_to _poll_now
	_poll_end=$((_poll_now + $2))
	shift 3
	while :; do
		"$@"
		_poll_rc=$?
		[ "$_poll_want" = ok ] && [ "$_poll_rc" = 0 ] && return 0
		[ "$_poll_want" = fail ] && [ "$_poll_rc" != 0 ] && return 0
		now_ms_to _poll_now
		[ "$_poll_now" -ge "$_poll_end" ] && return 1
		sleep "$_poll_ival"
	done
}

# wait_for TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds or
# TIMEOUT_S seconds pass. Returns 0 on success, 1 on timeout.
wait_for()
{
	_poll ok $(($1 * 1000)) 0.1 "${@:2}"
}

# wait_for_ms TIMEOUT_MS CMD...: wait_for with a millisecond deadline,
# polling every 50 ms.
wait_for_ms()
{
	_poll ok "$1" 0.05 "${@:2}"
}

# wait_while TIMEOUT_S CMD...: poll until CMD fails.
wait_while()
{
	_poll fail $(($1 * 1000)) 0.1 "${@:2}"
}

# wait_pid_timeout TIMEOUT_S PID: wait for a background PID of this shell;
# returns its exit status, or 124 (and kills it) after TIMEOUT_S.
wait_pid_timeout()
{
	local pid=$2

	if ! wait_while "$1" kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

# ----------------------------------------------------------- environment ---

# impl_is ours|intree
impl_is()
{
	[ "$KNO_IMPL" = "$1" ]
}

# kver_series: 6.1 or 6.12 (major.minor of KNO_KVER)
kver_series()
{
	[[ $KNO_KVER =~ ^[0-9]+\.[0-9]+ ]] && echo "${BASH_REMATCH[0]}"
}

# require_cmd CMD...: exit the whole script as SKIP when a tool is missing.
require_cmd()
{
	local c

	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "TAP version 13"
			echo "1..0 # SKIP $c not installed"
			exit $KSFT_SKIP
		fi
	done
}

require_root()
{
	if [ "$(id -u)" != 0 ]; then
		echo "TAP version 13"
		echo "1..0 # SKIP needs root (run it in a VM: scripts/vm.sh)"
		exit $KSFT_SKIP
	fi
}

flowtable_modules_loaded()
{
	[ -d /sys/module/nf_flow_table ] && [ -d /sys/module/nf_flow_table_inet ]
}

# impl_report: print which nf_flow_table is loaded (a "# " comment).
impl_report()
{
	local v

	if [ ! -d /sys/module/nf_flow_table ]; then
		ktap_comment "nf_flow_table not loaded (KNO_IMPL=${KNO_IMPL:-unset})"
	elif [ -r /sys/module/nf_flow_table/version ]; then
		v=$(cat /sys/module/nf_flow_table/version)
		ktap_comment "nf_flow_table: ours, version $v ($(modinfo -n nf_flow_table 2>/dev/null)) KNO_IMPL=${KNO_IMPL:-unset}"
	else
		ktap_comment "nf_flow_table: in-tree ($(modinfo -n nf_flow_table 2>/dev/null)) KNO_IMPL=${KNO_IMPL:-unset}"
	fi
}

# impl_check_ours: with KNO_IMPL=ours the loaded nf_flow_table must be ours
# (it has a MODULE_VERSION, the in-tree one has none). Returns 0 when
# consistent, 1 otherwise (with a message). Requires the module loaded.
impl_check_ours()
{
	[ -d /sys/module/nf_flow_table ] || { echo "nf_flow_table not loaded"; return 1; }
	if impl_is ours; then
		[ -r /sys/module/nf_flow_table/version ] ||
			{ echo "KNO_IMPL=ours but the loaded nf_flow_table has no version (in-tree?)"; return 1; }
		modinfo -n nf_flow_table | grep -q '/updates/' ||
			{ echo "KNO_IMPL=ours but modinfo -n nf_flow_table is $(modinfo -n nf_flow_table)"; return 1; }
	fi
	return 0
}

# ------------------------------------------------------------- topology ---

# Addresses (documentation ranges; they only exist inside our namespaces).
C4=192.0.2.2		# client
R4C=192.0.2.1		# router, client side
R4S=198.51.100.1	# router, server side
S4=198.51.100.2		# server
C6=2001:db8:1::2
R6C=2001:db8:1::1
R6S=2001:db8:2::1
S6=2001:db8:2::2
# With a hop namespace between router and server (topo_router hop):
R4H=203.0.113.1		# router, hop side
H4R=203.0.113.2		# hop, router side
R6H=2001:db8:3::1
H6R=2001:db8:3::2
H4S=198.51.100.1	# hop, server side (same as R4S without a hop)
H6S=2001:db8:2::1
# Router devices: RDEV_C towards the client, RDEV_S towards the server.
RDEV_C=veth0
RDEV_S=veth1

_ns_forwarding()
{
	ip netns exec "$1" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 >/dev/null
}

# topo_router [hop]
#   NS_C eth0 --- veth0 NS_R veth1 --- eth0 NS_S
# or, with "hop", a plain router NS_H between NS_R and NS_S:
#   NS_C eth0 --- veth0 NS_R veth1 --- veth0 NS_H veth1 --- eth0 NS_S
# IPv4 + IPv6 (no DAD), default routes, forwarding on in NS_R (and NS_H).
# Server and client reach each other only through the router.
topo_router()
{
	local hop=${1:-}

	if [ "$hop" = hop ]; then
		setup_ns NS_C NS_R NS_H NS_S || return 1
	else
		setup_ns NS_C NS_R NS_S || return 1
		NS_H=
	fi

	# One ip process per namespace (ns_ip), links first.
	{
		echo "link add veth0 netns $NS_R type veth peer name eth0 netns $NS_C"
		if [ -n "$NS_H" ]; then
			echo "link add veth1 netns $NS_R type veth peer name veth0 netns $NS_H"
			echo "link add veth1 netns $NS_H type veth peer name eth0 netns $NS_S"
		else
			echo "link add veth1 netns $NS_R type veth peer name eth0 netns $NS_S"
		fi
	} | ip -b - || return 1
	ns_host "$NS_C" eth0 "$C4" "$C6" "$R4C" "$R6C" || return 1
	if [ -n "$NS_H" ]; then
		ns_ip "$NS_H" <<-EOF || return 1
		addr add $H4R/24 dev veth0
		addr add $H6R/64 dev veth0 nodad
		addr add $H4S/24 dev veth1
		addr add $H6S/64 dev veth1 nodad
		link set veth0 up
		link set veth1 up
		route add default via $R4H
		route add default via $R6H
		EOF
		_ns_forwarding "$NS_H"
	fi
	{
		echo "addr add $R4C/24 dev veth0"
		echo "addr add $R6C/64 dev veth0 nodad"
		if [ -n "$NS_H" ]; then
			echo "addr add $R4H/24 dev veth1"
			echo "addr add $R6H/64 dev veth1 nodad"
		else
			echo "addr add $R4S/24 dev veth1"
			echo "addr add $R6S/64 dev veth1 nodad"
		fi
		echo "link set veth0 up"
		echo "link set veth1 up"
		if [ -n "$NS_H" ]; then
			echo "route add 198.51.100.0/24 via $H4R"
			echo "route add 2001:db8:2::/64 via $H6R"
		fi
	} | ns_ip "$NS_R" || return 1
	ns_host "$NS_S" eth0 "$S4" "$S6" "$R4S" "$R6S" || return 1
	_ns_forwarding "$NS_R"

	# Connectivity both ways, both families (neighbours resolve here).
	wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$S4" >/dev/null ||
		{ echo "topo_router: client cannot ping $S4"; return 1; }
	wait_for 10 ip netns exec "$NS_C" ping -q -c 1 -W 1 "$S6" >/dev/null ||
		{ echo "topo_router: client cannot ping $S6"; return 1; }
	return 0
}

# ------------------------------------------------------------------ nft ---

# nft_load NS: load the ruleset read from stdin into NS.
nft_load()
{
	local out

	if ! out=$(ip netns exec "$1" nft -f - 2>&1); then
		echo "nft_load into $1 failed: $out"
		return 1
	fi
}

# flow_add_stmt @FT: the forward-chain statement that offloads a flow,
# or nothing under KNO_TEST_BREAK=noflowadd (test validation only).
flow_add_stmt()
{
	if [ "$KNO_TEST_BREAK" = noflowadd ]; then
		echo ""
	else
		echo "flow add $1"
	fi
}

# nft_counter NS FAMILY TABLE NAME: print "PACKETS BYTES" of a named counter.
nft_counter()
{
	local out

	out=$(ip netns exec "$1" nft list counter "$2" "$3" "$4" 2>/dev/null)
	[[ $out =~ packets\ ([0-9]+)\ bytes\ ([0-9]+) ]] &&
		echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
	return 0
}

# nft_counters_to ARRAY NS FAMILY TABLE: every named counter of the table,
# from one "nft list counters", into the associative array ARRAY (declared
# by the caller with local -A): ARRAY[NAME]="PACKETS BYTES".
nft_counters_to()
{
	local -n _nc_out=$1
	local line name= re='^[[:space:]]*counter ([^ ]+) [{]' re2='packets ([0-9]+) bytes ([0-9]+)'

	_nc_out=()
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			name=${BASH_REMATCH[1]}
		elif [ -n "$name" ] && [[ $line =~ $re2 ]]; then
			_nc_out[$name]="${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
			name=
		fi
	done < <(ip netns exec "$2" nft list counters table "$3" "$4" 2>/dev/null)
}

nft_counter_bytes()
{
	local c

	c=$(nft_counter "$@")
	echo "${c#* }"
}

nft_counter_packets()
{
	local c

	c=$(nft_counter "$@")
	echo "${c% *}"
}

nft_counter_reset()
{
	ip netns exec "$1" nft reset counter "$2" "$3" "$4" >/dev/null
}

# ------------------------------------------------------------ conntrack ---

# ct_get NS FAMILY(ipv4|ipv6) PROTO SPORT DPORT: print the conntrack line(s)
# whose original tuple has these ports.
ct_get()
{
	ip netns exec "$1" conntrack -L -f "$2" -p "$3" --sport "$4" --dport "$5" 2>/dev/null
}

# ct_is_offloaded NS FAMILY PROTO SPORT DPORT: the entry exists with [OFFLOAD]
ct_is_offloaded()
{
	[[ $(ct_get "$@") == *"[OFFLOAD]"* ]]
}

ct_is_hw_offloaded()
{
	[[ $(ct_get "$@") == *"[HW_OFFLOAD]"* ]]
}

# ct_not_offloaded ...: the entry is gone or has no [OFFLOAD]/[HW_OFFLOAD].
ct_not_offloaded()
{
	local ct

	ct=$(ct_get "$@")
	[[ $ct != *"[OFFLOAD]"* && $ct != *"[HW_OFFLOAD]"* ]]
}

# ct_id NS FAMILY PROTO SPORT DPORT: print the conntrack id of the entry.
ct_id()
{
	local out

	out=$(ip netns exec "$1" conntrack -L -o id -f "$2" -p "$3" --sport "$4" \
		--dport "$5" 2>/dev/null)
	[[ $out =~ id=([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
	return 0
}

# ct_bytes NS FAMILY PROTO SPORT DPORT: print "ORIG_BYTES REPLY_BYTES"
# (needs net.netfilter.nf_conntrack_acct=1 in NS).
ct_bytes()
{
	local line out= re='bytes=([0-9]+)(.*)'

	line=$(ct_get "$@")
	line=${line%%$'\n'*}
	while [[ $line =~ $re ]]; do
		out+=" ${BASH_REMATCH[1]}"
		line=${BASH_REMATCH[2]}
	done
	echo "${out# }"
}

# --------------------------------------------------------------- transfers ---

# random_port: a port in 20000..59999
random_port()
{
	echo $((20000 + (RANDOM * 32768 + RANDOM) % 40000))
}

# make_file PATH SIZE: SIZE random bytes
make_file()
{
	head -c "$2" /dev/urandom >"$1"
}

file_size()
{
	if [ "$KNO_FINFO" = 1 ]; then
		finfo -s "$1" 2>/dev/null || echo 0
	else
		stat -c %s "$1" 2>/dev/null || echo 0
	fi
}

_addr_family_opt()
{
	case "$1" in
	*:*) echo 6 ;;
	*) echo 4 ;;
	esac
}

_gate_wait()
{
	local gate=$1 deadline now

	now_ms_to now
	deadline=$((now + $2 * 1000))
	while [ ! -e "$gate" ] && [ "$now" -lt "$deadline" ]; do
		sleep 0.1
		now_ms_to now
	done
}

# tcp_start ID SRCNS DSTNS DADDR DPORT SIZE [SPORT [TIMEOUT_S]]
# Start a socat receiver in DSTNS (writing $KNO_TMP/ID.out) and a socat
# sender in SRCNS that connects from SPORT (default: random) to DADDR:DPORT,
# sends SIZE random bytes ($KNO_TMP/ID.in) and then keeps the connection
# open until tcp_finish, so the flow can be inspected while it is live.
# DPORT may be CPORT/LPORT: connect to CPORT, listen on LPORT (for DNAT).
# Sets XFER_SPORT. Everything is bounded by TIMEOUT_S (default 120).
tcp_start()
{
	local id=$1 srcns=$2 dstns=$3 daddr=$4 cport=${5%/*} lport=${5#*/} size=$6
	local sport=${7:-$(random_port)} t=${8:-120} fam pid laddr

	fam=$(_addr_family_opt "$daddr")
	XFER_SPORT=$sport
	make_file "$KNO_TMP/$id.in" "$size"
	rm -f "$KNO_TMP/$id.out" "$KNO_TMP/$id.gate"
	echo "$t" >"$KNO_TMP/$id.timeout"
	bg_start pid timeout "$t" ip netns exec "$dstns" \
		socat -u "TCP$fam-LISTEN:$lport,reuseaddr" "OPEN:$KNO_TMP/$id.out,creat,trunc"
	echo "$pid" >"$KNO_TMP/$id.rpid"
	if ! wait_for 10 _tcp_listening "$dstns" "$lport"; then
		echo "tcp_start $id: no listener on port $lport in $dstns"
		return 1
	fi
	[ "$fam" = 6 ] && laddr="[$daddr]" || laddr=$daddr
	bg_start pid _tcp_sender "$id" "$srcns" "$laddr" "$cport" "$sport" "$fam" "$t"
	echo "$pid" >"$KNO_TMP/$id.spid"
	return 0
}

_tcp_listening()
{
	[ -n "$(ss -N "$1" -Hltn "sport = :$2" 2>/dev/null)" ]
}

_tcp_sender()
{
	local id=$1 ns=$2 addr=$3 dport=$4 sport=$5 fam=$6 t=$7

	{ cat "$KNO_TMP/$id.in"; _gate_wait "$KNO_TMP/$id.gate" "$t"; } |
		timeout "$t" ip netns exec "$ns" \
			socat -u - "TCP$fam:$addr:$dport,sourceport=$sport,reuseaddr"
}

_xfer_received()
{
	[ "$(file_size "$KNO_TMP/$1.out")" -ge "$2" ]
}

# done when everything arrived or when the sender or receiver has exited
_tcp_done_or_dead()
{
	_xfer_received "$1" "$2" && return 0
	kill -0 "$(<"$KNO_TMP/$1.spid")" 2>/dev/null || return 0
	kill -0 "$(<"$KNO_TMP/$1.rpid")" 2>/dev/null || return 0
	return 1
}

# tcp_wait_received ID [TIMEOUT_S]: wait until the receiver has all bytes.
tcp_wait_received()
{
	local id=$1 t=${2:-$(<"$KNO_TMP/$1.timeout")} size

	size=$(file_size "$KNO_TMP/$id.in")
	wait_for "$t" _tcp_done_or_dead "$id" "$size"
	if ! _xfer_received "$id" "$size"; then
		echo "tcp $id: received $(file_size "$KNO_TMP/$id.out") of $size bytes (timeout ${t}s)"
		return 1
	fi
}

# tcp_finish ID [TIMEOUT_S]: let the sender close the connection, wait for
# both ends to exit and compare the data. 0 only if both exited 0 and the
# received file equals the sent one.
tcp_finish()
{
	local id=$1 t=${2:-$(<"$KNO_TMP/$1.timeout")} rc=0 src dst

	touch "$KNO_TMP/$id.gate"
	wait_pid_timeout "$t" "$(<"$KNO_TMP/$id.spid")" || { src=$?; rc=1; }
	wait_pid_timeout "$t" "$(<"$KNO_TMP/$id.rpid")" || { dst=$?; rc=1; }
	[ "$rc" = 0 ] || echo "tcp $id: sender rc ${src:-0}, receiver rc ${dst:-0}"
	if ! cmp -s "$KNO_TMP/$id.in" "$KNO_TMP/$id.out"; then
		echo "tcp $id: received data differs: sent $(file_size "$KNO_TMP/$id.in")," \
			"received $(file_size "$KNO_TMP/$id.out") bytes"
		cmp "$KNO_TMP/$id.in" "$KNO_TMP/$id.out" 2>&1 | head -n 1
		rc=1
	fi
	return $rc
}

# tcp_transfer ID SRCNS DSTNS DADDR DPORT SIZE [SPORT [TIMEOUT_S]]: the whole
# thing in one go (start, wait, finish).
tcp_transfer()
{
	tcp_start "$@" && tcp_wait_received "$1" && tcp_finish "$1"
}

# The UDP transfer tool: stop-and-wait, sequence numbered datagrams (each
# acknowledged by the receiver, retransmitted on timeout), so the transfer is
# paced by the round trip and survives losses; the receiver writes what it got
# in order, so the result can be compared with cmp.
_udp_tool()
{
	local py=$KNO_TMP/kno_udp.py

	[ -r "$py" ] || cat >"$py" <<'EOF'
# SPDX-License-Identifier: GPL-2.0
import argparse, os, socket, struct, sys, time

HDR = struct.Struct("!II")  # sequence number, total number of chunks
SO_NO_CHECK = 11
IP_MTU_DISCOVER = 10
IP_PMTUDISC_DONT = 0
IPV6_MTU_DISCOVER = 23
IPV6_PMTUDISC_DONT = 0

def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

def recv(a):
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind((a.addr, a.port))
    open(a.ready, "w").close()
    chunks = {}
    total = None
    deadline = time.monotonic() + a.timeout
    s.settimeout(0.5)
    done_at = None
    last = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - last < a.stall:
        if done_at is not None and time.monotonic() - done_at > a.linger:
            break
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            continue
        if len(data) < HDR.size:
            continue
        seq, total = HDR.unpack_from(data)
        last = time.monotonic()
        if seq not in chunks:
            chunks[seq] = data[HDR.size:]
        s.sendto(HDR.pack(seq, total), peer)
        if done_at is None and len(chunks) == total:
            with open(a.out, "wb") as f:
                for i in range(total):
                    f.write(chunks[i])
            done_at = time.monotonic()
    if done_at is None:
        with open(a.out, "wb") as f:
            i = 0
            while i in chunks:
                f.write(chunks[i])
                i += 1
        print("udp recv: got %d of %s chunks" % (len(chunks), total))
        return 1
    return 0

def send(a):
    data = open(a.inp, "rb").read()
    n = (len(data) + a.chunk - 1) // a.chunk
    s = socket.socket(family(a.addr), socket.SOCK_DGRAM)
    if a.sport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::" if family(a.addr) == socket.AF_INET6 else "0.0.0.0", a.sport))
    if a.no_check:
        s.setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
    if a.no_df:
        if family(a.addr) == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DONT)
    s.connect((a.addr, a.port))
    s.settimeout(a.rto)
    deadline = time.monotonic() + a.timeout
    retrans = 0
    for seq in range(n):
        stall = time.monotonic() + a.stall
        pkt = HDR.pack(seq, n) + data[seq * a.chunk:(seq + 1) * a.chunk]
        while True:
            if time.monotonic() > min(deadline, stall):
                print("udp send: no progress at chunk %d of %d (%d retransmits)" % (seq, n, retrans))
                return 1
            try:
                s.send(pkt)
            except OSError as e:
                print("udp send: chunk %d: %s" % (seq, e))
                retrans += 1
                time.sleep(a.rto)
                continue
            try:
                while True:
                    ack = s.recv(64)
                    if len(ack) >= HDR.size and HDR.unpack_from(ack)[0] == seq:
                        break
                break
            except socket.timeout:
                retrans += 1
            except OSError as e:
                retrans += 1
                time.sleep(a.rto)
    print("udp send: %d chunks, %d retransmits" % (n, retrans))
    if a.stats:
        with open(a.stats, "w") as f:
            f.write("%d %d\n" % (n, retrans))
    return 0

p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
r = sub.add_parser("recv")
r.add_argument("addr"); r.add_argument("port", type=int)
r.add_argument("out"); r.add_argument("ready")
r.add_argument("--timeout", type=float, default=240)
r.add_argument("--linger", type=float, default=1.0)
r.add_argument("--stall", type=float, default=30)
t = sub.add_parser("send")
t.add_argument("addr"); t.add_argument("port", type=int); t.add_argument("inp")
t.add_argument("--sport", type=int, default=0)
t.add_argument("--chunk", type=int, default=1200)
t.add_argument("--rto", type=float, default=0.2)
t.add_argument("--timeout", type=float, default=240)
t.add_argument("--stall", type=float, default=20)
t.add_argument("--no-check", action="store_true")
t.add_argument("--no-df", action="store_true")
t.add_argument("--stats", default="")
a = p.parse_args()
sys.exit(recv(a) if a.cmd == "recv" else send(a))
EOF
	echo "$py"
}

# udp_transfer ID SRCNS DSTNS DADDR DPORT SIZE [SPORT [OPTS...]]
# Reliable UDP transfer of SIZE random bytes from SRCNS to DADDR:DPORT in
# DSTNS (receiver binds the wildcard address). DPORT may be CPORT/LPORT as
# for tcp_start. An empty SPORT means random. The sender gives up after
# --stall S (default 20) seconds without progress. OPTS go to the sender:
# --chunk N (payload bytes per datagram, default 1200), --no-check (IPv4 UDP
# checksum 0), --no-df (no DF bit / allow fragmentation), --timeout S.
# Returns 0 only if the data compare equal. Sets XFER_SPORT; the sender's
# "chunks retransmits" are in $KNO_TMP/ID.stats.
udp_transfer()
{
	local id=$1 srcns=$2 dstns=$3 daddr=$4 cport=${5%/*} lport=${5#*/} size=$6
	local sport=${7:-$(random_port)} py rpid rc=0 bind=0.0.0.0

	shift 7 2>/dev/null || shift $#
	py=$(_udp_tool)
	XFER_SPORT=$sport
	make_file "$KNO_TMP/$id.in" "$size"
	rm -f "$KNO_TMP/$id.out" "$KNO_TMP/$id.ready"
	[ "$(_addr_family_opt "$daddr")" = 6 ] && bind=::
	bg_start rpid timeout 300 ip netns exec "$dstns" python3 -S "$py" recv "$bind" "$lport" \
		"$KNO_TMP/$id.out" "$KNO_TMP/$id.ready"
	if ! wait_for 10 test -e "$KNO_TMP/$id.ready"; then
		echo "udp $id: receiver did not start"
		return 1
	fi
	if ! timeout 300 ip netns exec "$srcns" python3 -S "$py" send "$daddr" "$cport" \
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

# ------------------------------------------------------ common assertions ---

# assert_below NAME VALUE LIMIT: VALUE < LIMIT (integers), else message + 1
assert_below()
{
	if [ "$2" -lt "$3" ]; then
		echo "ok: $1 = $2 < $3"
		return 0
	fi
	echo "FAIL: $1 = $2, expected < $3"
	return 1
}

# assert_atleast NAME VALUE MIN
# assert_eq NAME VALUE WANT: VALUE is exactly WANT.
assert_eq()
{
	if [ "$2" = "$3" ]; then
		echo "ok: $1 = $2"
		return 0
	fi
	echo "FAIL: $1 = ${2:-missing}, expected $3"
	return 1
}

assert_atleast()
{
	if [ "$2" -ge "$3" ]; then
		echo "ok: $1 = $2 >= $3"
		return 0
	fi
	echo "FAIL: $1 = $2, expected >= $3"
	return 1
}

# --------------------------------------------- standard flowtable router ---

FT_TABLE=kno_ft
FT_FAMILY=

# ft_router_ruleset FAMILY [FLOWTABLE_EXTRA [FORWARD_EXTRA]]: (re)load in
# NS_R the table FAMILY $FT_TABLE with flowtable ft (hook ingress priority 0,
# devices $RDEV_C and $RDEV_S, plus FLOWTABLE_EXTRA lines such as
# "counter"), and a forward chain that runs FORWARD_EXTRA first, then
# "meta l4proto { tcp, udp } flow add @ft" and counts every forwarded
# tcp/udp packet in the named counter "routed" (read it with
# ft_routed_counter). The chain also counts ct state invalid (counter
# "invalid"), which keeps conntrack on even under KNO_TEST_BREAK=noflowadd.
ft_router_ruleset()
{
	local del=

	# The previous table goes in the same transaction (one nft run).
	[ -n "$FT_FAMILY" ] &&
		del="add table $FT_FAMILY $FT_TABLE"$'\n'"delete table $FT_FAMILY $FT_TABLE"
	FT_FAMILY=$1
	nft_load "$NS_R" <<EOF
$del
table $FT_FAMILY $FT_TABLE {
	flowtable ft {
		hook ingress priority 0
		devices = { $RDEV_C, $RDEV_S }
		${2:-}
	}

	counter routed { }
	counter invalid { }

	chain forward {
		type filter hook forward priority 0; policy accept;
		${3:-}
		ct state invalid counter name invalid
		meta l4proto { tcp, udp } $(flow_add_stmt @ft)
		meta l4proto { tcp, udp } counter name routed
	}
}
EOF
}

# ft_routed_counter: print "PACKETS BYTES" of the router's routed counter.
ft_routed_counter()
{
	nft_counter "$NS_R" "$FT_FAMILY" "$FT_TABLE" routed
}

ft_routed_reset()
{
	nft_counter_reset "$NS_R" "$FT_FAMILY" "$FT_TABLE" routed
}

# ft_check_offload PROTO IPVER SPORT DPORT SIZE: after a transfer of SIZE
# bytes, the router's forward chain saw at least one packet of the flow but
# fewer than SIZE/4 bytes, and conntrack on the router shows [OFFLOAD] for
# the flow (original tuple ports SPORT -> DPORT).
ft_check_offload()
{
	local proto=$1 fam=ipv$2 sport=$3 dport=$4 size=$5 rc=0 pk by ct

	read -r pk by <<<"$(ft_routed_counter)"
	echo "forward chain: ${pk:-?} packets, ${by:-?} bytes for $size bytes transferred"
	assert_below "forward-chain bytes" "${by:-999999999}" $((size / 4)) || rc=1
	assert_atleast "forward-chain packets (flow seen before offload)" "${pk:-0}" 1 || rc=1
	ct=$(ct_get "$NS_R" "$fam" "$proto" "$sport" "$dport")
	if [[ $ct == *"[OFFLOAD]"* ]]; then
		echo "ok: [OFFLOAD] while live: $ct"
	else
		echo "FAIL: no [OFFLOAD] on the live flow: $ct"
		rc=1
	fi
	return $rc
}

# snmp_counter NS NAME: absolute value of a /proc/net/snmp{,6} or netstat
# counter (e.g. TcpInCsumErrors, UdpInCsumErrors, Udp6InCsumErrors).
snmp_counter()
{
	local name v

	while read -r name v _; do
		[ "$name" = "$2" ] && { echo "${v:-0}"; return; }
	done < <(ip netns exec "$1" nstat -asz "$2" 2>/dev/null)
	echo 0
}
