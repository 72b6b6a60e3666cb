// SPDX-License-Identifier: GPL-2.0
/*
 * kno_simnic: the hardware datapath.
 *
 * A frame arriving on a port is parsed (Ethernet, up to two VLAN tags,
 * IPv4/IPv6, TCP/UDP), run through the port's ingress ACL and then looked
 * up in its flowtable rules. A hit is rewritten as the rule says and sent
 * straight out of the rule's egress port: it arrives on that port's peer
 * as if it came from the wire, and never enters the host stack of the
 * port it arrived on. Misses go to the host stack.
 *
 * Context: BH disabled, under RCU (called from ndo_start_xmit of the
 * peer). No locks; rules and ports stay valid for the RCU read section.
 */

#include <linux/etherdevice.h>
#include <linux/if_vlan.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/jhash.h>
#include <linux/ppp_defs.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <net/checksum.h>
#include <net/ip.h>

#include "kno_simnic.h"

#define KNO_SIM_TCP_FIN_RST	htons(0x0005)
/* PPPoE session header (6 bytes) and PPP protocol (2 bytes). */
#define KNO_SIM_PPPOE_HLEN	8

/* Forwarding depth through chained simulated hardware, per CPU (BH off). */
static DEFINE_PER_CPU(unsigned int, kno_sim_depth);

static void kno_sim_parse_l4(struct sk_buff *skb, struct kno_sim_pkt *pkt)
{
	unsigned int hlen;

	if (pkt->key.ip_proto == IPPROTO_TCP)
		hlen = sizeof(struct tcphdr);
	else if (pkt->key.ip_proto == IPPROTO_UDP)
		hlen = sizeof(struct udphdr);
	else
		return;

	if (pkt->thoff + hlen > pkt->nhoff + pkt->l3len ||
	    !pskb_may_pull(skb, pkt->thoff + hlen))
		return;

	if (pkt->key.ip_proto == IPPROTO_TCP) {
		const struct tcphdr *th = (void *)(skb->data + pkt->thoff);

		pkt->key.sport = th->source;
		pkt->key.dport = th->dest;
		/* Bytes 12-13 (data offset and flags), as the dissector. */
		pkt->tcp_flags = *(const __be16 *)((const u8 *)th + 12) &
				 htons(0x0fff);
	} else {
		const struct udphdr *uh = (void *)(skb->data + pkt->thoff);

		pkt->key.sport = uh->source;
		pkt->key.dport = uh->dest;
	}
	pkt->l4_ok = true;
}

/* Parse the frame at skb->data (the MAC header). */
void kno_sim_parse(struct sk_buff *skb, struct kno_sim_pkt *pkt)
{
	const struct ethhdr *eth;
	unsigned int off = ETH_HLEN;
	__be16 proto;

	memset(pkt, 0, sizeof(*pkt));
	if (!pskb_may_pull(skb, ETH_HLEN))
		return;
	eth = (const struct ethhdr *)skb->data;
	ether_addr_copy(pkt->dmac, eth->h_dest);
	ether_addr_copy(pkt->smac, eth->h_source);
	proto = eth->h_proto;
	pkt->etype[0] = proto;

	while (proto == htons(ETH_P_8021Q) || proto == htons(ETH_P_8021AD)) {
		const struct vlan_hdr *vh;
		u8 n = pkt->key.n_vlans;
		u16 tci;

		if (n == ARRAY_SIZE(pkt->key.vlan_id) ||
		    !pskb_may_pull(skb, off + VLAN_HLEN))
			return;
		vh = (const void *)(skb->data + off);
		tci = ntohs(vh->h_vlan_TCI);
		pkt->key.vlan_tpid[n] = proto;
		pkt->key.vlan_id[n] = tci & VLAN_VID_MASK;
		pkt->vlan_prio[n] = tci >> VLAN_PRIO_SHIFT;
		pkt->key.n_vlans++;
		proto = vh->h_vlan_encapsulated_proto;
		pkt->etype[n + 1] = proto;
		off += VLAN_HLEN;
	}
	pkt->key.n_proto = proto;
	pkt->nhoff = off;

	if (proto == htons(ETH_P_PPP_SES)) {
		pkt->pppoe = true;
		return;
	}

	if (proto == htons(ETH_P_IP)) {
		const struct iphdr *iph;
		unsigned int len;

		if (!pskb_may_pull(skb, off + sizeof(*iph)))
			return;
		iph = (const void *)(skb->data + off);
		len = ntohs(iph->tot_len);
		if (iph->version != 4 || iph->ihl < 5 ||
		    len < iph->ihl * 4 || off + len > skb->len)
			return;
		pkt->key.addr.v4.src = iph->saddr;
		pkt->key.addr.v4.dst = iph->daddr;
		pkt->key.ip_proto = iph->protocol;
		pkt->ttl = iph->ttl;
		pkt->l3len = len;
		pkt->thoff = off + iph->ihl * 4;
		/* Options and fragments are left to software. */
		pkt->frag = ip_is_fragment(iph) || iph->ihl != 5;
		pkt->l3_ok = true;
	} else if (proto == htons(ETH_P_IPV6)) {
		const struct ipv6hdr *ip6h;
		unsigned int len;

		if (!pskb_may_pull(skb, off + sizeof(*ip6h)))
			return;
		ip6h = (const void *)(skb->data + off);
		len = sizeof(*ip6h) + ntohs(ip6h->payload_len);
		if (ip6h->version != 6 || off + len > skb->len)
			return;
		pkt->key.addr.v6.src = ip6h->saddr;
		pkt->key.addr.v6.dst = ip6h->daddr;
		pkt->key.ip_proto = ip6h->nexthdr;
		pkt->ttl = ip6h->hop_limit;
		pkt->l3len = len;
		pkt->thoff = off + sizeof(*ip6h);
		pkt->l3_ok = true;
	} else {
		return;
	}
	if (!pkt->frag)
		kno_sim_parse_l4(skb, pkt);
}

static __sum16 *kno_sim_l4_check(struct sk_buff *skb,
				 const struct kno_sim_pkt *pkt)
{
	if (pkt->key.ip_proto == IPPROTO_TCP)
		return &((struct tcphdr *)(skb->data + pkt->thoff))->check;
	return &((struct udphdr *)(skb->data + pkt->thoff))->check;
}

static void kno_sim_fix_udp0(const struct kno_sim_pkt *pkt, __sum16 *check)
{
	if (pkt->key.ip_proto == IPPROTO_UDP && !*check)
		*check = CSUM_MANGLED_0;
}

/* NAT, TTL and checksums; the L3/L4 headers are writable. */
static void kno_sim_rewrite_l3(struct sk_buff *skb,
			       const struct kno_sim_pkt *pkt,
			       const struct kno_sim_ft_act *a)
{
	__sum16 *check = kno_sim_l4_check(skb, pkt);
	/* IPv4 UDP without checksum stays without one. */
	bool l4csum = pkt->key.ip_proto == IPPROTO_TCP || *check ||
		      pkt->key.n_proto == htons(ETH_P_IPV6);
	__be16 *ports = (__be16 *)(skb->data + pkt->thoff);

	if (pkt->key.n_proto == htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(skb->data + pkt->nhoff);

		if (a->nat_src) {
			if (l4csum)
				inet_proto_csum_replace4(check, skb, iph->saddr,
							 a->addr.v4.src, true);
			csum_replace4(&iph->check, iph->saddr, a->addr.v4.src);
			iph->saddr = a->addr.v4.src;
		}
		if (a->nat_dst) {
			if (l4csum)
				inet_proto_csum_replace4(check, skb, iph->daddr,
							 a->addr.v4.dst, true);
			csum_replace4(&iph->check, iph->daddr, a->addr.v4.dst);
			iph->daddr = a->addr.v4.dst;
		}
		ip_decrease_ttl(iph);
	} else {
		struct ipv6hdr *ip6h = (void *)(skb->data + pkt->nhoff);

		if (a->nat_src) {
			inet_proto_csum_replace16(check, skb,
						  ip6h->saddr.s6_addr32,
						  a->addr.v6.src.s6_addr32, true);
			ip6h->saddr = a->addr.v6.src;
		}
		if (a->nat_dst) {
			inet_proto_csum_replace16(check, skb,
						  ip6h->daddr.s6_addr32,
						  a->addr.v6.dst.s6_addr32, true);
			ip6h->daddr = a->addr.v6.dst;
		}
		ip6h->hop_limit--;
	}

	if (a->nat_sport) {
		if (l4csum)
			inet_proto_csum_replace2(check, skb, ports[0], a->sport,
						 false);
		ports[0] = a->sport;
	}
	if (a->nat_dport) {
		if (l4csum)
			inet_proto_csum_replace2(check, skb, ports[1], a->dport,
						 false);
		ports[1] = a->dport;
	}
	if (l4csum)
		kno_sim_fix_udp0(pkt, check);
}

/* Rewrite a matched frame (at skb->data) in place. All allocation happens
 * before the first byte changes, so a failure leaves the frame untouched.
 */
static int kno_sim_rewrite(struct sk_buff *skb, const struct kno_sim_pkt *pkt,
			   const struct kno_sim_ft_act *a)
{
	unsigned int l4len = pkt->key.ip_proto == IPPROTO_TCP ?
			     sizeof(struct tcphdr) : sizeof(struct udphdr);
	unsigned int nhoff = pkt->nhoff;
	int i;

	if (skb_ensure_writable(skb, pkt->thoff + l4len))
		return -ENOMEM;
	if (skb_cow_head(skb, VLAN_HLEN + KNO_SIM_PPPOE_HLEN))
		return -ENOMEM;

	kno_sim_rewrite_l3(skb, pkt, a);

	memcpy(skb->data, a->eth, sizeof(a->eth));

	for (i = 0; i < a->n_pop; i++) {
		kno_sim_vlan_pop(skb);
		nhoff -= VLAN_HLEN;
	}

	if (a->push_pppoe) {
		u8 *ph;
		__be16 *p;

		/* Innermost: between the tags and the L3 header. The L3
		 * ethertype becomes the PPP protocol.
		 */
		__skb_push(skb, KNO_SIM_PPPOE_HLEN);
		memmove(skb->data, skb->data + KNO_SIM_PPPOE_HLEN, nhoff - 2);
		p = (__be16 *)(skb->data + nhoff - 2);
		*p = htons(ETH_P_PPP_SES);
		/* Version 1, type 1, code 0 (session data), SID, length. */
		ph = skb->data + nhoff;
		ph[0] = 0x11;
		ph[1] = 0;
		ph[2] = a->pppoe_sid >> 8;
		ph[3] = a->pppoe_sid & 0xff;
		ph[4] = (pkt->l3len + 2) >> 8;
		ph[5] = (pkt->l3len + 2) & 0xff;
		p = (__be16 *)(ph + 6);
		*p = pkt->key.n_proto == htons(ETH_P_IP) ? htons(PPP_IP) :
							   htons(PPP_IPV6);
		nhoff += KNO_SIM_PPPOE_HLEN;
	}

	if (a->push_vlan)
		kno_sim_vlan_push(skb, htons(ETH_P_8021Q), a->vlan_tci);

	skb_reset_mac_header(skb);
	return 0;
}

/*
 * VLAN tag pop and push on a frame at skb->data. The caller made the
 * header writable and, for a push, reserved VLAN_HLEN of headroom; then
 * they cannot fail. Returns 0 or -ENOMEM.
 */
int kno_sim_vlan_pop(struct sk_buff *skb)
{
	if (skb_ensure_writable(skb, ETH_HLEN + VLAN_HLEN))
		return -ENOMEM;
	memmove(skb->data + VLAN_HLEN, skb->data, 2 * ETH_ALEN);
	__skb_pull(skb, VLAN_HLEN);
	skb_reset_mac_header(skb);
	return 0;
}

/* Push an outermost tag, right after the MAC addresses. */
int kno_sim_vlan_push(struct sk_buff *skb, __be16 tpid, u16 tci)
{
	__be16 *tag;

	if (skb_cow_head(skb, VLAN_HLEN))
		return -ENOMEM;
	__skb_push(skb, VLAN_HLEN);
	memmove(skb->data, skb->data + VLAN_HLEN, 2 * ETH_ALEN);
	tag = (__be16 *)(skb->data + 2 * ETH_ALEN);
	tag[0] = tpid;
	tag[1] = htons(tci);
	skb_reset_mac_header(skb);
	return 0;
}

/* Send a frame (at skb->data) out of @out: it arrives on out's peer. */
void kno_sim_hw_xmit(struct kno_sim_port *out, struct sk_buff *skb)
{
	struct kno_sim_port *peer = rcu_dereference(out->peer);

	kno_sim_count_pkt(out, KNO_SIM_HW_TX_PACKETS, skb->len);
	if (!peer || !netif_running(peer->dev) ||
	    __this_cpu_read(kno_sim_depth) >= KNO_SIM_MAX_DEPTH) {
		kno_sim_count(out, KNO_SIM_HW_DROP, 1);
		kfree_skb(skb);
		return;
	}
	__this_cpu_inc(kno_sim_depth);
	kno_sim_wire_rx(peer, skb);
	__this_cpu_dec(kno_sim_depth);
}

static bool kno_sim_ft_run(struct kno_sim_port *port, struct sk_buff *skb,
			   const struct kno_sim_pkt *pkt)
{
	struct kno_sim_ft_rule *rule;
	struct kno_sim_port *out;
	unsigned int len;
	u32 hash;

	if (!READ_ONCE(port->n_ft_rules) || !pkt->l4_ok ||
	    skb->pkt_type != PACKET_HOST)
		return false;
	/* FIN and RST always go to software. */
	if (pkt->key.ip_proto == IPPROTO_TCP &&
	    (pkt->tcp_flags & KNO_SIM_TCP_FIN_RST))
		return false;

	hash = jhash2((const u32 *)&pkt->key, sizeof(pkt->key) / sizeof(u32),
		      0);
	hlist_for_each_entry_rcu(rule, &port->ft_hash[hash % KNO_SIM_FT_BUCKETS],
				 hnode) {
		if (rule->hash == hash &&
		    !memcmp(&rule->key, &pkt->key, sizeof(pkt->key)))
			break;
	}
	if (!rule || (pkt->tcp_flags & rule->tcp_mask) || pkt->ttl <= 1)
		return false;

	out = rcu_dereference(rule->out);
	if (out) {
		/* Like a router: a frame that does not fit goes to software
		 * (fragmentation, ICMP), and so does a dead route.
		 */
		len = pkt->l3len + (rule->act.push_pppoe ? KNO_SIM_PPPOE_HLEN : 0);
		if (len > READ_ONCE(out->dev->mtu) || !netif_running(out->dev))
			return false;
	}

	atomic64_inc(&rule->packets);
	atomic64_add(pkt->l3len, &rule->bytes);
	WRITE_ONCE(rule->lastused, jiffies);

	if (!out) {
		/* The egress port is gone: the hardware drops. */
		kno_sim_count(port, KNO_SIM_HW_DROP, 1);
		kfree_skb(skb);
		return true;
	}
	if (kno_sim_rewrite(skb, pkt, &rule->act)) {
		kno_sim_count(port, KNO_SIM_HW_ERRORS, 1);
		kfree_skb(skb);
		return true;
	}
	kno_sim_count_pkt(port, KNO_SIM_HW_FWD_PACKETS, pkt->l3len);
	kno_sim_hw_xmit(out, skb);
	return true;
}

/*
 * The hardware's look at a frame that arrived on @port; skb->data is past
 * the Ethernet header (eth_type_trans() ran). Returns true when the
 * hardware consumed the frame, false to hand it to the host stack
 * unchanged.
 */
bool kno_sim_hw_rx(struct kno_sim_port *port, struct sk_buff *skb)
{
	struct kno_sim_pkt pkt;
	int verdict;

	if (!READ_ONCE(port->n_ft_rules) && !READ_ONCE(port->n_acl_rules))
		return false;

	__skb_push(skb, ETH_HLEN);
	kno_sim_parse(skb, &pkt);

	verdict = kno_sim_acl_run(port, skb, &pkt);
	if (verdict > 0)
		return true;
	if (!verdict && kno_sim_ft_run(port, skb, &pkt))
		return true;

	/* Back to what the stack expects; an ACL may have changed tags. */
	skb->protocol = eth_type_trans(skb, port->dev);
	kno_sim_count(port, KNO_SIM_HW_MISS, 1);
	return false;
}
