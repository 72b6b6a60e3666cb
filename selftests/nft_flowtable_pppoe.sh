#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A router whose WAN is PPPoE, with its flows on the software fast path:
#   client eth0 --- veth0 NS_R [ppp0 over veth1] --- eth0 [pppoe-server] NS_S
# The ISP side runs pppoe-server (rp-pppoe) on its eth0; the router runs
# pppd with the rp-pppoe plugin (kernel PPPoE) on veth1 and masquerades on
# ppp0. The flowtable lists the LAN device and the Ethernet device under
# ppp0 (veth0, veth1), so the fast path must pop the PPPoE session header on
# ingress and push it on egress (the device path through ppp0,
# dev_fill_forward_path).
#   - TCP and UDP (IPv4) client -> server: proven offloaded by
#     lib_encap.sh's enc_check: cmp; forward-chain bytes < 1/4 of the data
#     and, per direction, forward-chain packets < 1/4 of the packets the
#     receiver got; ppp0 received < 1/4 of the server->client packets (the
#     fast path took them at veth1, before the PPPoE driver); [OFFLOAD] while
#     live; with our module /proc/net/nf_flowtable shows the reply tuple
#     with "encap pppoe:<session id>".
#   - Malformed PPPoE session frames (crafted with a packet socket on the
#     ISP side) carrying a UDP packet of an offloaded flow must not be
#     forwarded by the fast path: a marked packet that reaches the client
#     without passing the router's forward chain was fast-pathed. A correct
#     frame (control) is fast-pathed; a truncated PPPoE header, a frame that
#     ends inside the IP header, a bad version, type or code, or a PPPoE
#     length that is too small or larger than the frame are not. The first
#     two are required of both implementations; the in-tree stack only
#     checks that the PPPoE header is present, so the header field checks
#     are skipped there (the log shows what it did).
# Needs pppd (Debian ppp) and pppoe-server (Debian pppoe). pppd reads the
# system /etc/ppp/options; everything else comes from the command line and
# files in the test's scratch directory (no /etc changes).
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_encap.sh"

require_root
require_cmd nft socat conntrack python3 ss pppd pppoe-server

PROC_RE=
SID=
MASQ4=$R4S	# the router's ppp0 address (assigned by the server)
MARK_ID=19278	# 0x4b4e: IP ID of the injected packets

if ! modprobe pppoe 2>/dev/null; then
	echo "TAP version 13"
	echo "1..0 # SKIP no pppoe kernel module"
	exit "$KSFT_SKIP"
fi

ktap_begin 4

ppp_up()
{
	ip -n "$NS_R" -4 addr show dev ppp0 2>/dev/null | grep -q "inet $MASQ4 "
}

setup()
{
	local pid opts=$KNO_TMP/pppoe-server-options

	enc_topo || return 1
	enc_addrs "$NS_C" eth0 "$C4" "$C6" || return 1
	enc_addrs "$NS_R" veth0 "$R4C" "$R6C" || return 1
	ip -n "$NS_C" route add default via "$R4C" || return 1

	# The ISP: pppd options for the sessions pppoe-server spawns.
	cat >"$opts" <<EOF
noauth
lcp-echo-interval 0
ip-up-script $KNO_TMP/no-such-script
ip-down-script $KNO_TMP/no-such-script
mtu 1492
mru 1492
EOF
	bg_start pid ip netns exec "$NS_S" pppoe-server -F -I eth0 -N 1 \
		-L "$S4" -R "$MASQ4" -O "$opts" || return 1
	bg_start pid ip netns exec "$NS_R" pppd plugin rp-pppoe.so veth1 \
		nodetach noauth ifname ppp0 noipdefault defaultroute \
		lcp-echo-interval 0 mtu 1492 mru 1492 \
		nodeflate nobsdcomp noccp novj noaccomp nopcomp \
		ip-up-script "$KNO_TMP/no-such-script" \
		ip-down-script "$KNO_TMP/no-such-script" \
		debug logfile "$KNO_TMP/pppd.log" || return 1
	if ! wait_for 60 ppp_up; then
		echo "PPPoE session did not come up:"
		cat "$KNO_TMP/pppd.log"
		return 1
	fi
	SID=$(sed -n 's/.*PPP session is \([0-9]*\).*/\1/p' "$KNO_TMP/pppd.log" | tail -n 1)
	echo "PPPoE session $SID; router:"
	ip -n "$NS_R" addr show dev ppp0
	ip -n "$NS_R" route

	enc_ruleset "veth0, veth1" "tcp flags syn tcp option maxseg size set rt mtu" || return 1
	nft_load "$NS_R" <<EOF || return 1
table ip kno_nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "ppp0" masquerade
	}
}
EOF
	enc_endpoints || return 1
	# The malformed-frame subtests keep one idle UDP flow offloaded for a
	# while; do not let the flowtable's UDP timeout end it meanwhile.
	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_flowtable_udp_timeout=600 \
		net.netfilter.nf_conntrack_udp_timeout_stream=600 2>/dev/null
	enc_quiet "$NS_R" ppp0 reply
	PROC_RE="^[a-z]+ [^|]* iif $(enc_ifindex "$NS_R" veth0) xmit [^|]*\\| [^|]* iif $(enc_ifindex "$NS_R" veth1) encap pppoe:$SID xmit "
	enc_ping "$NS_C" "$S4" || return 1
}

t_tcp4() { enc_tcp 4 "$S4" "$1" "$PROC_RE"; }
t_udp4() { enc_udp 4 "$S4" "$1" "$PROC_RE"; }

# --------------------------------------------------------- malformed ---

# The injector: sends PPPoE session frames from the ISP side's eth0, each
# carrying an IPv4 UDP packet server:SPORT -> router:DPORT (the reply
# direction of an offloaded, masqueraded flow) with IP ID MARK_ID, altered
# as the case says.
_inject_tool()
{
	local py=$KNO_TMP/pppoe_inject.py

	[ -r "$py" ] || cat >"$py" <<'EOF'
# SPDX-License-Identifier: GPL-2.0
import socket, struct, sys

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))

dev, dmac, smac, sid, saddr, daddr, sport, dport, ipid, case, count = sys.argv[1:12]
payload = b"KNO-malformed-pppoe-" + case.encode() + b"\0" * 24
udp = struct.pack("!HHHH", int(sport), int(dport), 8 + len(payload), 0) + payload
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), int(ipid), 0x4000, 64, 17, 0,
                 socket.inet_aton(saddr), socket.inet_aton(daddr))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
ppp = struct.pack("!H", 0x0021) + ip + udp
vertype, code, length = 0x11, 0, len(ppp)
if case == "ver":
    vertype = 0x21
elif case == "type":
    vertype = 0x12
elif case == "code":
    code = 0x09
elif case == "longlen":
    length = len(ppp) + 64
elif case == "shortlen":
    length = 1
hdr = struct.pack("!BBHH", vertype, code, int(sid), length)
frame = mac(dmac) + mac(smac) + struct.pack("!H", 0x8864)
if case == "trunchdr":
    frame += hdr[:4]
elif case == "truncip":
    frame += struct.pack("!BBHH", 0x11, 0, int(sid), 2 + 12) + ppp[:14]
else:
    frame += hdr + ppp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
for _ in range(int(count)):
    s.send(frame)
EOF
	echo "$py"
}

mac_of()
{
	ip netns exec "$1" cat "/sys/class/net/$2/address"
}

# Counters for marked packets: client input, router forward chain.
setup_marks()
{
	nft_load "$NS_C" <<EOF || return 1
table inet kno_mark {
	counter rx { }
	chain input {
		type filter hook input priority -10; policy accept;
		ip id $MARK_ID udp sport $MAL_DPORT counter name rx
	}
}
EOF
	nft_load "$NS_R" <<EOF || return 1
table inet kno_mark {
	counter fwdmark { }
	chain forward {
		type filter hook forward priority -10; policy accept;
		ip id $MARK_ID counter name fwdmark
	}
}
EOF
}

MAL_DPORT=5203
MAL_COUNT=5
MAL_SPORT=
MAL_MASQPORT=

# inject CASE: send MAL_COUNT frames; print "CLIENT FWD" deltas.
inject()
{
	local c0 f0 c1 f1 case=$1

	c0=$(nft_counter_packets "$NS_C" inet kno_mark rx)
	f0=$(nft_counter_packets "$NS_R" inet kno_mark fwdmark)
	ip netns exec "$NS_S" python3 -S "$(_inject_tool)" eth0 \
		"$(mac_of "$NS_R" veth1)" "$(mac_of "$NS_S" eth0)" "$SID" \
		"$S4" "$MASQ4" "$MAL_DPORT" "$MAL_MASQPORT" "$MARK_ID" "$case" "$MAL_COUNT" ||
		{ echo "injector failed"; return 1; }
	# The frames are processed synchronously by the receiving veth's
	# softirq; a ping round trip over the same path flushes them through.
	ip netns exec "$NS_C" ping -q -c 1 -W 2 "$S4" >/dev/null
	c1=$(nft_counter_packets "$NS_C" inet kno_mark rx)
	f1=$(nft_counter_packets "$NS_R" inet kno_mark fwdmark)
	echo "$((c1 - c0)) $((f1 - f0))"
}

# An offloaded UDP flow client:MAL_SPORT -> server:MAL_DPORT, masqueraded
# to router:MAL_MASQPORT; its reply direction is what the frames imitate.
mal_flow()
{
	local line

	udp_transfer mal "$NS_C" "$NS_S" "$S4" "$MAL_DPORT" 65536 || return 1
	MAL_SPORT=$XFER_SPORT
	ct_is_offloaded "$NS_R" ipv4 udp "$MAL_SPORT" "$MAL_DPORT" ||
		fail "flow not offloaded: $(ct_get "$NS_R" ipv4 udp "$MAL_SPORT" "$MAL_DPORT")" ||
		return
	line=$(ct_get "$NS_R" ipv4 udp "$MAL_SPORT" "$MAL_DPORT" | head -n 1)
	MAL_MASQPORT=$(echo "$line" | grep -o 'dport=[0-9]*' | sed -n '2s/dport=//p')
	echo "flow: $line"
	[ -n "$MAL_MASQPORT" ] || fail "cannot parse the masqueraded port" || return
	setup_marks
}

# run_cases EXPECT_FASTPATH CASE...: print per case; count mismatches in
# MAL_BAD (a list of case names).
run_cases()
{
	local want=$1 case c f fast

	shift
	MAL_BAD=
	for case in "$@"; do
		read -r c f <<<"$(inject "$case")"
		fast=$((c - f))
		echo "case $case: $MAL_COUNT frames -> client got ${c}, forward chain saw ${f}," \
			"fast path forwarded $fast (expected $want)"
		[ "$fast" = "$want" ] || MAL_BAD="$MAL_BAD $case"
	done
}

# t_malformed_trunc: truncated frames; needs the valid control first.
t_malformed_trunc()
{
	local rc=0

	mal_flow || return 1
	run_cases "$MAL_COUNT" valid
	[ -z "$MAL_BAD" ] || { echo "FAIL: the control frames were not fast-pathed"; return 1; }
	run_cases 0 trunchdr truncip
	[ -z "$MAL_BAD" ] || { echo "FAIL: fast path forwarded:$MAL_BAD"; rc=1; }
	ct_is_offloaded "$NS_R" ipv4 udp "$MAL_SPORT" "$MAL_DPORT" ||
		{ echo "FAIL: the flow left the flowtable"; rc=1; }
	return $rc
}

t_malformed_fields()
{
	local rc=0

	[ -n "$MAL_MASQPORT" ] || mal_flow || return 1
	run_cases "$MAL_COUNT" valid
	[ -z "$MAL_BAD" ] || { echo "FAIL: the control frames were not fast-pathed"; return 1; }
	run_cases 0 ver type code shortlen longlen
	if [ -n "$MAL_BAD" ]; then
		if impl_is intree; then
			skip "the in-tree stack does not validate the PPPoE header fields (fast-pathed:$MAL_BAD)"
			return
		fi
		echo "FAIL: fast path forwarded:$MAL_BAD"
		rc=1
	fi
	run_cases "$MAL_COUNT" valid
	[ -z "$MAL_BAD" ] || { echo "FAIL: valid frames no longer fast-pathed"; rc=1; }
	return $rc
}

if setup >"$KNO_TMP/setup.log" 2>&1; then
	impl_report
	run_test "PPPoE WAN: IPv4 TCP offloaded (PPPoE pop/push on the fast path, masquerade)" t_tcp4 5201
	run_test "PPPoE WAN: IPv4 UDP offloaded, both directions" t_udp4 5202
	run_test "malformed PPPoE: truncated header / IP not forwarded by the fast path" t_malformed_trunc
	run_test "malformed PPPoE: bad version/type/code/length not forwarded by the fast path" \
		t_malformed_fields
else
	ktap_bail "PPPoE setup failed: $(<"$KNO_TMP/setup.log")"
fi
ktap_end
