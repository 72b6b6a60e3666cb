// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: the software fast path.
 *
 * nf_flow_offload_ip_hook() and nf_flow_offload_ipv6_hook() run at netdev
 * ingress of every flowtable device, under the RCU read side of the
 * netfilter hook, in softirq context. A packet that belongs to a live flow
 * is rewritten (encapsulation popped, NAT applied, TTL/hop limit
 * decremented) and transmitted directly; anything unusual is handed to the
 * classic path with NF_ACCEPT, which then sends the ICMP errors, reassembles,
 * applies policy, or tears the flow down.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/rhashtable.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/if_ether.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/ip6_route.h>
#include <net/neighbour.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netfilter/nf_conntrack_acct.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include "nf_flow_table_internal.h"

/* What the parser learnt about a packet. */
struct kno_pkt {
	const struct net_device	*in;
	/* bytes of VLAN/PPPoE header between the network header and IP */
	u32			offset;
	/* transport header offset from the network header, incl. @offset */
	u32			thoff;
	/* transport header bytes that must be linear and writable */
	u32			l4len;
};

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

/*
 * Validate a PPPoE session header at the network header and return the
 * Ethernet protocol of its payload, or 0. The header must be complete,
 * version/type 1, code 0 (session data), and its length must fit the
 * packet.
 */
static __be16 kno_pppoe_inner(struct sk_buff *skb)
{
	const struct pppoe_hdr *ph;
	__be16 ppp;

	if (!pskb_may_pull(skb, PPPOE_SES_HLEN))
		return 0;
	ph = (const struct pppoe_hdr *)skb_network_header(skb);
	if (ph->ver != 1 || ph->type != 1 || ph->code != 0 ||
	    ntohs(ph->length) < sizeof(ppp) ||
	    ntohs(ph->length) > skb->len - sizeof(*ph))
		return 0;

	ppp = *(const __be16 *)(ph + 1);
	if (ppp == htons(PPP_IP))
		return htons(ETH_P_IP);
	if (ppp == htons(PPP_IPV6))
		return htons(ETH_P_IPV6);
	return 0;
}

/*
 * The IP protocol of @skb and the bytes of encapsulation in front of it.
 * At netdev ingress an outer VLAN tag is already in the skb metadata; one
 * more 802.1Q tag, or a PPPoE session header, may precede the IP header.
 */
static __be16 kno_inner_proto(struct sk_buff *skb, u32 *offset)
{
	const struct vlan_hdr *vh;

	switch (skb->protocol) {
	case htons(ETH_P_IP):
	case htons(ETH_P_IPV6):
		*offset = 0;
		return skb->protocol;
	case htons(ETH_P_8021Q):
		if (!pskb_may_pull(skb, VLAN_HLEN))
			return 0;
		vh = (const struct vlan_hdr *)skb_network_header(skb);
		*offset = VLAN_HLEN;
		return vh->h_vlan_encapsulated_proto;
	case htons(ETH_P_PPP_SES):
		*offset = PPPOE_SES_HLEN;
		return kno_pppoe_inner(skb);
	}
	return 0;
}

/* The encapsulation part of the lookup key, outermost first. */
static void kno_tuple_encap(const struct sk_buff *skb,
			    struct flow_offload_tuple *t)
{
	int i = 0;

	if (skb_vlan_tag_present(skb)) {
		t->encap[i].id = skb_vlan_tag_get_id(skb);
		t->encap[i].proto = skb->vlan_proto;
		i++;
	}
	if (skb->protocol == htons(ETH_P_8021Q)) {
		const struct vlan_hdr *vh = (const void *)skb_network_header(skb);

		t->encap[i].id = ntohs(vh->h_vlan_TCI) & VLAN_VID_MASK;
		t->encap[i].proto = skb->protocol;
	} else if (skb->protocol == htons(ETH_P_PPP_SES)) {
		const struct pppoe_hdr *ph = (const void *)skb_network_header(skb);

		t->encap[i].id = ntohs(ph->sid);
		t->encap[i].proto = skb->protocol;
	}
}

/* Bytes of transport header we need for @proto, or 0 if not handled. */
static u32 kno_l4_len(u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct tcphdr);
	case IPPROTO_UDP:
		return sizeof(struct udphdr);
	case IPPROTO_GRE:
		return sizeof(struct gre_base_hdr);
	}
	return 0;
}

/*
 * Ports (TCP/UDP) or the GRE version check, once the transport header is
 * linear.
 */
static bool kno_tuple_l4(const struct sk_buff *skb, const struct kno_pkt *p,
			 u8 proto, struct flow_offload_tuple *t)
{
	const void *l4 = skb_network_header(skb) + p->thoff;

	if (proto == IPPROTO_GRE)
		return (((const struct gre_base_hdr *)l4)->flags &
			GRE_VERSION) == GRE_VERSION_0;

	t->src_port = ((const struct flow_ports *)l4)->source;
	t->dst_port = ((const struct flow_ports *)l4)->dest;
	return true;
}

/*
 * Drop Ethernet padding beyond the IP datagram, as ip_rcv() would, so that
 * it is not forwarded (or encapsulated) as payload.
 */
static bool kno_trim(struct sk_buff *skb, u32 len)
{
	if (likely(skb->len == len))
		return true;
	return !pskb_trim_rcsum(skb, len);
}

static int kno_parse_ipv4(struct sk_buff *skb, struct kno_pkt *p,
			  struct flow_offload_tuple *t)
{
	const struct iphdr *iph;
	u32 len;

	if (!pskb_may_pull(skb, p->offset + sizeof(*iph)))
		return -1;
	iph = (const struct iphdr *)(skb_network_header(skb) + p->offset);

	/* Options, fragments and expiring TTLs belong to the classic path. */
	if (iph->version != 4 || iph->ihl != 5 || ip_is_fragment(iph) ||
	    iph->ttl <= 1)
		return -1;
	len = ntohs(iph->tot_len);
	if (len < sizeof(*iph) || len > skb->len - p->offset ||
	    unlikely(ip_fast_csum(iph, iph->ihl)))
		return -1;

	p->l4len = kno_l4_len(iph->protocol);
	if (!p->l4len)
		return -1;
	p->thoff = p->offset + sizeof(*iph);
	if (!kno_trim(skb, p->offset + len) ||
	    !pskb_may_pull(skb, p->thoff + p->l4len))
		return -1;

	iph = (const struct iphdr *)(skb_network_header(skb) + p->offset);
	if (!kno_tuple_l4(skb, p, iph->protocol, t))
		return -1;

	t->src_v4.s_addr = iph->saddr;
	t->dst_v4.s_addr = iph->daddr;
	t->l3proto = NFPROTO_IPV4;
	t->l4proto = iph->protocol;
	t->iifidx = p->in->ifindex;
	kno_tuple_encap(skb, t);
	return 0;
}

static int kno_parse_ipv6(struct sk_buff *skb, struct kno_pkt *p,
			  struct flow_offload_tuple *t)
{
	const struct ipv6hdr *ip6h;
	u32 len;

	if (!pskb_may_pull(skb, p->offset + sizeof(*ip6h)))
		return -1;
	ip6h = (const struct ipv6hdr *)(skb_network_header(skb) + p->offset);

	/* Extension headers, jumbograms and expiring hop limits: classic. */
	len = ntohs(ip6h->payload_len);
	if (ip6h->version != 6 || ip6h->hop_limit <= 1 || !len ||
	    len > skb->len - p->offset - sizeof(*ip6h))
		return -1;

	p->l4len = kno_l4_len(ip6h->nexthdr);
	if (!p->l4len)
		return -1;
	p->thoff = p->offset + sizeof(*ip6h);
	if (!kno_trim(skb, p->thoff + len) ||
	    !pskb_may_pull(skb, p->thoff + p->l4len))
		return -1;

	ip6h = (const struct ipv6hdr *)(skb_network_header(skb) + p->offset);
	if (!kno_tuple_l4(skb, p, ip6h->nexthdr, t))
		return -1;

	t->src_v6 = ip6h->saddr;
	t->dst_v6 = ip6h->daddr;
	t->l3proto = NFPROTO_IPV6;
	t->l4proto = ip6h->nexthdr;
	t->iifidx = p->in->ifindex;
	kno_tuple_encap(skb, t);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Checks before forwarding                                            */
/* ------------------------------------------------------------------ */

/* Too big for the egress MTU? GSO packets are judged by their segments. */
static bool kno_exceeds_mtu(const struct sk_buff *skb, unsigned int mtu)
{
	if (skb->len <= mtu)
		return false;
	return !(skb_is_gso(skb) && skb_gso_validate_network_len(skb, mtu));
}

/* Is the cached route still valid? Direct transmission caches none. */
static bool kno_route_valid(const struct flow_offload_tuple *t)
{
	if (t->xmit_type != FLOW_OFFLOAD_XMIT_NEIGH &&
	    t->xmit_type != FLOW_OFFLOAD_XMIT_XFRM)
		return true;
	return dst_check(t->dst_cache, t->dst_cookie);
}

/*
 * TCP control flags. FIN or RST: the flow enters CLOSING and the packet is
 * still forwarded here. SYN on a CLOSING flow is a new connection reusing
 * the tuple: tear down, conntrack decides.
 * Return: false if the packet must take the classic path.
 */
static bool kno_tcp_state(struct nf_flowtable *ft, struct flow_offload *flow,
			  const struct sk_buff *skb, const struct kno_pkt *p)
{
	const struct tcphdr *th;

	th = (const struct tcphdr *)(skb_network_header(skb) + p->thoff);
	if (likely(!(tcp_flag_word(th) &
		     (TCP_FLAG_SYN | TCP_FLAG_FIN | TCP_FLAG_RST))))
		return true;

	if (th->syn) {
		if (test_bit(KNO_FLOW_CLOSING, &flow->flags)) {
			flow_offload_teardown(flow);
			return false;
		}
		return true;
	}
	kno_flow_closing(ft, flow);
	return true;
}

/*
 * Common checks and bookkeeping of both families.
 * Return: 1 to forward, 0 for the classic path, -1 to drop.
 */
static int kno_prepare(struct nf_flowtable *ft,
		       struct flow_offload_tuple_rhash *th,
		       struct sk_buff *skb, const struct kno_pkt *p)
{
	struct flow_offload *flow;

	flow = container_of(th, struct flow_offload, tuplehash[th->tuple.dir]);

	if (unlikely(kno_exceeds_mtu(skb, th->tuple.mtu + p->offset)))
		return 0;
	if (th->tuple.l4proto == IPPROTO_TCP && !kno_tcp_state(ft, flow, skb, p))
		return 0;
	if (unlikely(!kno_route_valid(&th->tuple))) {
		flow_offload_teardown(flow);
		return 0;
	}
	if (skb_try_make_writable(skb, p->thoff + p->l4len))
		return -1;

	flow_offload_refresh(ft, flow, false);
	return 1;
}

/*
 * Remove the encapsulation the flow was learnt with: the VLAN tag in the
 * skb metadata and/or the 802.1Q or PPPoE header in front of IP.
 */
static void kno_encap_pop(struct sk_buff *skb, const struct kno_pkt *p,
			  __be16 proto)
{
	if (skb_vlan_tag_present(skb))
		__vlan_hwaccel_clear_tag(skb);
	if (p->offset) {
		skb_pull_rcsum(skb, p->offset);
		skb_reset_network_header(skb);
		skb->protocol = proto;
	}
}

static void kno_account(struct nf_flowtable *ft, struct flow_offload *flow,
			enum flow_offload_tuple_dir dir, struct sk_buff *skb)
{
	skb_clear_tstamp(skb);
	if (ft->flags & NF_FLOWTABLE_COUNTER)
		nf_ct_acct_update(flow->ct, dir, skb->len);
}

/* ------------------------------------------------------------------ */
/* NAT                                                                 */
/* ------------------------------------------------------------------ */

/* Fix the transport checksum for an address change (pseudo header). */
static void kno_l4_csum_addr(struct sk_buff *skb, unsigned int thoff, u8 proto,
			     const __be32 *from, const __be32 *to, int words)
{
	__sum16 *check;
	int i;

	if (proto == IPPROTO_TCP) {
		check = &((struct tcphdr *)(skb_network_header(skb) + thoff))->check;
	} else if (proto == IPPROTO_UDP) {
		check = &((struct udphdr *)(skb_network_header(skb) + thoff))->check;
		if (!*check && skb->ip_summed != CHECKSUM_PARTIAL)
			return;
	} else {
		return;
	}

	for (i = 0; i < words; i++)
		inet_proto_csum_replace4(check, skb, from[i], to[i], true);
	if (proto == IPPROTO_UDP && !*check)
		*check = CSUM_MANGLED_0;
}

static void kno_nat_ipv4(const struct flow_offload *flow, struct sk_buff *skb,
			 enum flow_offload_tuple_dir dir)
{
	const struct flow_offload_tuple *orig, *reply;
	struct iphdr *iph = ip_hdr(skb);
	const unsigned int thoff = sizeof(*iph);
	__be32 old, new;

	orig = &flow->tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple;
	reply = &flow->tuplehash[FLOW_OFFLOAD_DIR_REPLY].tuple;

	if (test_bit(NF_FLOW_SNAT, &flow->flags)) {
		nf_flow_snat_port(flow, skb, thoff, iph->protocol, dir);
		if (dir == FLOW_OFFLOAD_DIR_ORIGINAL) {
			old = iph->saddr;
			new = reply->dst_v4.s_addr;
			iph->saddr = new;
		} else {
			old = iph->daddr;
			new = orig->src_v4.s_addr;
			iph->daddr = new;
		}
		csum_replace4(&iph->check, old, new);
		kno_l4_csum_addr(skb, thoff, iph->protocol, &old, &new, 1);
	}
	if (test_bit(NF_FLOW_DNAT, &flow->flags)) {
		nf_flow_dnat_port(flow, skb, thoff, iph->protocol, dir);
		if (dir == FLOW_OFFLOAD_DIR_ORIGINAL) {
			old = iph->daddr;
			new = reply->src_v4.s_addr;
			iph->daddr = new;
		} else {
			old = iph->saddr;
			new = orig->dst_v4.s_addr;
			iph->saddr = new;
		}
		csum_replace4(&iph->check, old, new);
		kno_l4_csum_addr(skb, thoff, iph->protocol, &old, &new, 1);
	}
}

static void kno_nat_ipv6(const struct flow_offload *flow, struct sk_buff *skb,
			 enum flow_offload_tuple_dir dir)
{
	const struct flow_offload_tuple *orig, *reply;
	struct ipv6hdr *ip6h = ipv6_hdr(skb);
	const unsigned int thoff = sizeof(*ip6h);
	struct in6_addr old;
	const struct in6_addr *new;

	orig = &flow->tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple;
	reply = &flow->tuplehash[FLOW_OFFLOAD_DIR_REPLY].tuple;

	if (test_bit(NF_FLOW_SNAT, &flow->flags)) {
		nf_flow_snat_port(flow, skb, thoff, ip6h->nexthdr, dir);
		if (dir == FLOW_OFFLOAD_DIR_ORIGINAL) {
			old = ip6h->saddr;
			new = &reply->dst_v6;
			ip6h->saddr = *new;
		} else {
			old = ip6h->daddr;
			new = &orig->src_v6;
			ip6h->daddr = *new;
		}
		kno_l4_csum_addr(skb, thoff, ip6h->nexthdr, old.s6_addr32,
				 new->s6_addr32, 4);
	}
	if (test_bit(NF_FLOW_DNAT, &flow->flags)) {
		nf_flow_dnat_port(flow, skb, thoff, ip6h->nexthdr, dir);
		if (dir == FLOW_OFFLOAD_DIR_ORIGINAL) {
			old = ip6h->daddr;
			new = &reply->src_v6;
			ip6h->daddr = *new;
		} else {
			old = ip6h->saddr;
			new = &orig->dst_v6;
			ip6h->saddr = *new;
		}
		kno_l4_csum_addr(skb, thoff, ip6h->nexthdr, old.s6_addr32,
				 new->s6_addr32, 4);
	}
}

/* ------------------------------------------------------------------ */
/* Transmission                                                        */
/* ------------------------------------------------------------------ */

/* Hand the packet to the xfrm bundle of the cached route. */
static unsigned int kno_xmit_xfrm(struct sk_buff *skb,
				  const struct nf_hook_state *state,
				  struct dst_entry *dst)
{
	skb_orphan(skb);
	skb_dst_drop(skb);
	skb_dst_set_noref(skb, dst);
	dst_output(state->net, state->sk, skb);
	return NF_STOLEN;
}

/*
 * Bridge, VLAN, PPPoE and hardware-offload flows: the Ethernet header was
 * resolved when the flow was created; transmit on the top device of the
 * egress stack, which adds its own encapsulation.
 */
static unsigned int kno_xmit_direct(struct net *net, struct sk_buff *skb,
				    struct flow_offload *flow,
				    const struct flow_offload_tuple *t,
				    unsigned short type)
{
	struct net_device *dev;

	dev = dev_get_by_index_rcu(net, t->out.ifidx);
	if (unlikely(!dev)) {
		flow_offload_teardown(flow);
		return NF_DROP;
	}
	skb->dev = dev;
	if (dev_hard_header(skb, dev, type, t->out.h_dest, t->out.h_source,
			    skb->len) < 0) {
		kfree_skb(skb);
		return NF_STOLEN;
	}
	dev_queue_xmit(skb);
	return NF_STOLEN;
}

/* Transmit through the neighbour entry, using its cached header. */
static unsigned int kno_xmit_neigh(struct sk_buff *skb, struct neighbour *n,
				   bool skip_cache)
{
	if (IS_ERR_OR_NULL(n)) {
		kfree_skb(skb);
		return NF_STOLEN;
	}
	neigh_output(n, skb, skip_cache);
	return NF_STOLEN;
}

/* ------------------------------------------------------------------ */
/* Hooks                                                               */
/* ------------------------------------------------------------------ */

static struct flow_offload_tuple_rhash *
kno_lookup(struct nf_flowtable *ft, struct sk_buff *skb, struct kno_pkt *p,
	   __be16 family)
{
	struct flow_offload_tuple t = {};
	__be16 proto;
	int err;

	/* Decrypted IPsec traffic must meet the forward policy check. */
	if (unlikely(skb_sec_path(skb)))
		return NULL;

	proto = kno_inner_proto(skb, &p->offset);
	if (proto != family)
		return NULL;

	if (family == htons(ETH_P_IP))
		err = kno_parse_ipv4(skb, p, &t);
	else
		err = kno_parse_ipv6(skb, p, &t);
	if (err < 0)
		return NULL;

	return flow_offload_lookup(ft, &t);
}

/**
 * nf_flow_offload_ip_hook - IPv4 fast path
 * @priv: the flowtable
 * @skb: packet at netdev ingress
 * @state: hook state
 *
 * Return: NF_STOLEN if forwarded, NF_ACCEPT for the classic path, NF_DROP.
 */
unsigned int nf_flow_offload_ip_hook(void *priv, struct sk_buff *skb,
				     const struct nf_hook_state *state)
{
	struct flow_offload_tuple_rhash *th;
	struct nf_flowtable *ft = priv;
	struct kno_pkt p = { .in = state->in };
	const struct flow_offload_tuple *t;
	enum flow_offload_tuple_dir dir;
	struct flow_offload *flow;
	struct rtable *rt;
	bool v6gw = false;
	int ret;

	th = kno_lookup(ft, skb, &p, htons(ETH_P_IP));
	if (!th)
		return NF_ACCEPT;

	ret = kno_prepare(ft, th, skb, &p);
	if (ret <= 0)
		return ret < 0 ? NF_DROP : NF_ACCEPT;

	t = &th->tuple;
	dir = t->dir;
	flow = container_of(th, struct flow_offload, tuplehash[dir]);

	kno_encap_pop(skb, &p, htons(ETH_P_IP));
	kno_nat_ipv4(flow, skb, dir);
	ip_decrease_ttl(ip_hdr(skb));
	kno_account(ft, flow, dir, skb);

	switch (t->xmit_type) {
	case FLOW_OFFLOAD_XMIT_NEIGH:
		rt = dst_rtable(t->dst_cache);
		skb->dev = rt->dst.dev;
		skb_dst_drop(skb);
		skb_dst_set_noref(skb, &rt->dst);
		return kno_xmit_neigh(skb, ip_neigh_for_gw(rt, skb, &v6gw), v6gw);
	case FLOW_OFFLOAD_XMIT_DIRECT:
		return kno_xmit_direct(state->net, skb, flow, t, ETH_P_IP);
	case FLOW_OFFLOAD_XMIT_XFRM:
		memset(skb->cb, 0, sizeof(struct inet_skb_parm));
		IPCB(skb)->iif = skb->dev->ifindex;
		IPCB(skb)->flags = IPSKB_FORWARDED;
		return kno_xmit_xfrm(skb, state, t->dst_cache);
	}
	/* Tuples only ever get one of the types above. */
	kfree_skb(skb);
	return NF_STOLEN;
}
EXPORT_SYMBOL_GPL(nf_flow_offload_ip_hook);

/**
 * nf_flow_offload_ipv6_hook - IPv6 fast path
 * @priv: the flowtable
 * @skb: packet at netdev ingress
 * @state: hook state
 *
 * Return: NF_STOLEN if forwarded, NF_ACCEPT for the classic path, NF_DROP.
 */
unsigned int nf_flow_offload_ipv6_hook(void *priv, struct sk_buff *skb,
				       const struct nf_hook_state *state)
{
	struct flow_offload_tuple_rhash *th;
	struct nf_flowtable *ft = priv;
	struct kno_pkt p = { .in = state->in };
	const struct flow_offload_tuple *t;
	enum flow_offload_tuple_dir dir;
	const struct in6_addr *nexthop;
	struct flow_offload *flow;
	struct rt6_info *rt;
	int ret;

	th = kno_lookup(ft, skb, &p, htons(ETH_P_IPV6));
	if (!th)
		return NF_ACCEPT;

	ret = kno_prepare(ft, th, skb, &p);
	if (ret <= 0)
		return ret < 0 ? NF_DROP : NF_ACCEPT;

	t = &th->tuple;
	dir = t->dir;
	flow = container_of(th, struct flow_offload, tuplehash[dir]);

	kno_encap_pop(skb, &p, htons(ETH_P_IPV6));
	kno_nat_ipv6(flow, skb, dir);
	ipv6_hdr(skb)->hop_limit--;
	kno_account(ft, flow, dir, skb);

	switch (t->xmit_type) {
	case FLOW_OFFLOAD_XMIT_NEIGH:
		rt = dst_rt6_info(t->dst_cache);
		skb->dev = rt->dst.dev;
		nexthop = rt6_nexthop(rt, &flow->tuplehash[!dir].tuple.src_v6);
		skb_dst_drop(skb);
		skb_dst_set_noref(skb, &rt->dst);
		return kno_xmit_neigh(skb, ip_neigh_gw6(skb->dev, nexthop),
				      false);
	case FLOW_OFFLOAD_XMIT_DIRECT:
		return kno_xmit_direct(state->net, skb, flow, t, ETH_P_IPV6);
	case FLOW_OFFLOAD_XMIT_XFRM:
		memset(skb->cb, 0, sizeof(struct inet6_skb_parm));
		IP6CB(skb)->iif = skb->dev->ifindex;
		IP6CB(skb)->flags = IP6SKB_FORWARDED;
		return kno_xmit_xfrm(skb, state, t->dst_cache);
	}
	kfree_skb(skb);
	return NF_STOLEN;
}
EXPORT_SYMBOL_GPL(nf_flow_offload_ipv6_hook);
