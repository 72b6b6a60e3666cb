#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# VLAN and QinQ encapsulation on the software fast path (the device path
# that nft_flow_offload learns through dev_fill_forward_path):
#   client --- router (flowtable on the physical veths) --- server
# The router's L3 interfaces are VLAN devices on top of its veths; the
# flowtable lists only the lower (physical) devices, as OpenWrt does.
#   - 802.1Q on the LAN side (client eth0.10, router veth0.10),
#   - 802.1Q on the WAN side (server eth0.20, router veth1.20),
#   - 802.1Q on both sides (10 and 20),
#   - QinQ (802.1ad 100 outer + 802.1Q 10 inner) on the LAN side, and on
#     the WAN side.
# Each flow is proven offloaded (lib_encap.sh, enc_check): cmp of the data;
# the forward chain saw < 1/4 of the bytes and, per direction, < 1/4 of the
# packets the receiver got (so both directions, i.e. VLAN pop on ingress
# and the push on egress, run on the fast path); the router's VLAN devices
# received < 1/4 of their direction's packets (the fast path took them at
# the lower device, before VLAN untagging); [OFFLOAD] in conntrack -L while
# live; with our module, /proc/net/nf_flowtable shows the flow with the
# expected ingress device and VLAN encapsulation in each direction.
# The endpoints only listen on their VLAN devices, so a missing or wrong
# tag loses the data and cmp fails.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_encap.sh"

require_root
require_cmd nft socat conntrack python3 ss

PROC_RE=

ktap_begin 10

# proc_re ENCAP_ORIG ENCAP_REPLY: the expected /proc/net/nf_flowtable line:
# original tuple in on veth0 with ENCAP_ORIG, reply tuple in on veth1 with
# ENCAP_REPLY ("-": no encapsulation).
proc_re()
{
	local i0 i1 e0=${1#-} e1=${2#-}

	i0=$(enc_ifindex "$NS_R" veth0)
	i1=$(enc_ifindex "$NS_R" veth1)
	PROC_RE="^[a-z]+ [^|]* iif $i0${e0:+ encap $e0} xmit [^|]*\\| [^|]* iif $i1${e1:+ encap $e1} xmit "
}

# lan_side MODE, wan_side MODE: plain | vlan | qinq
lan_side()
{
	case "$1" in
	plain)
		enc_addrs "$NS_C" eth0 "$C4" "$C6" &&
			enc_addrs "$NS_R" veth0 "$R4C" "$R6C"
		;;
	vlan)
		enc_vlan "$NS_C" eth0 eth0.10 10 &&
			enc_addrs "$NS_C" eth0.10 "$C4" "$C6" &&
			enc_vlan "$NS_R" veth0 veth0.10 10 &&
			enc_addrs "$NS_R" veth0.10 "$R4C" "$R6C" &&
			enc_quiet "$NS_R" veth0.10 orig
		;;
	qinq)
		enc_vlan "$NS_C" eth0 eth0.100 100 802.1ad &&
			enc_vlan "$NS_C" eth0.100 eth0.100.10 10 &&
			enc_addrs "$NS_C" eth0.100.10 "$C4" "$C6" &&
			enc_vlan "$NS_R" veth0 veth0.100 100 802.1ad &&
			enc_vlan "$NS_R" veth0.100 veth0.100.10 10 &&
			enc_addrs "$NS_R" veth0.100.10 "$R4C" "$R6C" &&
			enc_quiet "$NS_R" veth0.100 orig &&
			enc_quiet "$NS_R" veth0.100.10 orig
		;;
	esac
}

wan_side()
{
	case "$1" in
	plain)
		enc_addrs "$NS_S" eth0 "$S4" "$S6" &&
			enc_addrs "$NS_R" veth1 "$R4S" "$R6S"
		;;
	vlan)
		enc_vlan "$NS_S" eth0 eth0.20 20 &&
			enc_addrs "$NS_S" eth0.20 "$S4" "$S6" &&
			enc_vlan "$NS_R" veth1 veth1.20 20 &&
			enc_addrs "$NS_R" veth1.20 "$R4S" "$R6S" &&
			enc_quiet "$NS_R" veth1.20 reply
		;;
	qinq)
		enc_vlan "$NS_S" eth0 eth0.200 200 802.1ad &&
			enc_vlan "$NS_S" eth0.200 eth0.200.20 20 &&
			enc_addrs "$NS_S" eth0.200.20 "$S4" "$S6" &&
			enc_vlan "$NS_R" veth1 veth1.200 200 802.1ad &&
			enc_vlan "$NS_R" veth1.200 veth1.200.20 20 &&
			enc_addrs "$NS_R" veth1.200.20 "$R4S" "$R6S" &&
			enc_quiet "$NS_R" veth1.200 reply &&
			enc_quiet "$NS_R" veth1.200.20 reply
		;;
	esac
}

# setup LAN WAN ENCAP_ORIG ENCAP_REPLY
setup()
{
	enc_topo || return 1
	lan_side "$1" || return 1
	wan_side "$2" || return 1
	enc_routes || return 1
	enc_ruleset "veth0, veth1" || return 1
	enc_endpoints || return 1
	proc_re "$3" "$4"
	enc_ping "$NS_C" "$S4" "$S6" || return 1
	ip -n "$NS_R" -d link show | grep -E 'vlan protocol|^[0-9]+:' || true
}

t_tcp4() { enc_tcp 4 "$S4" "$1" "$PROC_RE"; }
t_tcp6() { enc_tcp 6 "$S6" "$1" "$PROC_RE"; }
t_udp4() { enc_udp 4 "$S4" "$1" "$PROC_RE"; }
t_udp6() { enc_udp 6 "$S6" "$1" "$PROC_RE"; }

modprobe nf_flow_table_inet 2>/dev/null
impl_report

enc_group "setup vlan plain vlan:10 -" \
	"802.1Q on the LAN side: IPv4 TCP offloaded (pop/push on the fast path)" "t_tcp4 5001" \
	"802.1Q on the LAN side: IPv6 TCP offloaded" "t_tcp6 5002" \
	"802.1Q on the LAN side: IPv4 UDP offloaded, both directions" "t_udp4 5003"

enc_group "setup plain vlan - vlan:20" \
	"802.1Q on the WAN side: IPv4 TCP offloaded" "t_tcp4 5011" \
	"802.1Q on the WAN side: IPv6 UDP offloaded, both directions" "t_udp6 5012"

enc_group "setup vlan vlan vlan:10 vlan:20" \
	"802.1Q on both sides (10, 20): IPv4 TCP offloaded" "t_tcp4 5021"

enc_group "setup qinq plain vlan:100,vlan:10 -" \
	"QinQ (802.1ad 100 + 802.1Q 10) on the LAN side: IPv4 TCP offloaded" "t_tcp4 5031" \
	"QinQ on the LAN side: IPv6 TCP offloaded" "t_tcp6 5032" \
	"QinQ on the LAN side: IPv4 UDP offloaded, both directions" "t_udp4 5033"

enc_group "setup plain qinq - vlan:200,vlan:20" \
	"QinQ (802.1ad 200 + 802.1Q 20) on the WAN side: IPv6 TCP offloaded" "t_tcp6 5041"

ktap_end
