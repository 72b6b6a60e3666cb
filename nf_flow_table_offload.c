// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: hardware offload of flowtable entries.
 *
 * A flowtable with NF_FLOWTABLE_HW_OFFLOAD binds to the flow_block of each
 * of its devices (TC_SETUP_FT, directly or through indirect blocks). Each
 * flow is then described to the drivers as one flow_rule per direction
 * (match on the ingress tuple, actions to rewrite and redirect) with
 * FLOW_CLS_REPLACE, queried with FLOW_CLS_STATS and removed with
 * FLOW_CLS_DESTROY.
 *
 * Requests are queued on three lists (replace, destroy, stats), each
 * drained in batches by one work item on an unbound workqueue; a flow has at
 * most one request in flight, marked by KNO_FLOW_PENDING, which also keeps
 * the GC from freeing it. The replace queue is bounded: when it is full the
 * flow stays in software and is retried later. Failed REPLACEs back off
 * exponentially per flow; a full hardware table (-ENOSPC) backs off longer.
 * Hardware statistics keep idle-looking hardware flows alive and feed
 * conntrack accounting.
 *
 * Unbinding a block (flowtable deleted, device removed from it or
 * unregistered, netns exit) first removes every installed rule with
 * DESTROY, so that drivers which do not flush on unbind keep nothing stale.
 *
 * Locking:
 *  - kno_offload_rwsem: the workers hold it for reading while they talk to
 *    drivers, an unbind holds it for writing, so no request can slip in
 *    between the final DESTROYs and the unbind.
 *  - flowtable->flow_block_lock (rwsem): guards the flowtable's callback
 *    list; read around driver calls, write to change the list.
 *  - queue->lock (spinlock, BH): the request lists.
 * Order: kno_offload_rwsem -> flow_block_lock -> driver locks.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/rhashtable.h>
#include <linux/netdevice.h>
#include <linux/tc_act/tc_csum.h>
#include <net/flow_offload.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netfilter/nf_tables.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_acct.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include <linux/seq_file.h>
#include "nf_flow_table_internal.h"

/* Upper bound of actions per rule: IPv6 + SNAT + DNAT + QinQ needs 17. */
#define KNO_ACTIONS_MAX		24

/* Re-push an installed entry at most this often when software sees it. */
#define KNO_HW_REPUSH		(10 * HZ)
/*
 * Backoff after failed REPLACEs: base, doubling, cap. The cap bounds how
 * long a flow stays in software after the driver recovers, so it is short.
 */
#define KNO_HW_RETRY_BASE	HZ
#define KNO_HW_RETRY_MAX	(8 * HZ)
/* ... and when the hardware table was full: slots free up more slowly. */
#define KNO_HW_NOSPC_BASE	(2 * HZ)
#define KNO_HW_NOSPC_MAX	(32 * HZ)

static unsigned int hw_queue_max = 8192;
module_param(hw_queue_max, uint, 0644);
MODULE_PARM_DESC(hw_queue_max,
		 "Most REPLACE requests queued at once (default 8192)");

/* ------------------------------------------------------------------ */
/* Rule construction                                                   */
/* ------------------------------------------------------------------ */

/*
 * The match key of our rules: the kernel's nf_flow_key plus the PPPoE
 * session key, at the same offset in key and mask.
 */
struct kno_match_key {
	struct nf_flow_key			base;
	struct flow_dissector_key_pppoe		pppoe;
} __aligned(BITS_PER_LONG / 8);

struct kno_rule {
	struct nf_flow_rule	nfr;	/* what flowtable types fill */
	struct kno_match_key	key;
	struct kno_match_key	mask;
};

#define KNO_KEY(d, id, member)						\
	((d)->offset[id] = offsetof(struct kno_match_key, member))

static void kno_match_vlan(struct flow_dissector_key_vlan *key,
			   struct flow_dissector_key_vlan *mask,
			   u16 id, __be16 proto)
{
	key->vlan_id = id;
	mask->vlan_id = VLAN_VID_MASK;
	key->vlan_tpid = proto;
	mask->vlan_tpid = htons(0xffff);
}

static bool kno_is_vlan(__be16 proto)
{
	return proto == htons(ETH_P_8021Q) || proto == htons(ETH_P_8021AD);
}

/* Encapsulated ingress: VLAN/QinQ tags and the PPPoE session. */
static u64 kno_match_encap(struct flow_dissector *d, struct kno_match_key *key,
			   struct kno_match_key *mask,
			   const struct flow_offload_tuple *t)
{
	bool vlan = false;
	u64 keys = 0;
	int i;

	for (i = 0; i < t->encap_num; i++) {
		if (t->in_vlan_ingress & BIT(i))
			continue;
		if (kno_is_vlan(t->encap[i].proto) && !vlan) {
			KNO_KEY(d, FLOW_DISSECTOR_KEY_VLAN, base.vlan);
			kno_match_vlan(&key->base.vlan, &mask->base.vlan,
				       t->encap[i].id, t->encap[i].proto);
			keys |= BIT_ULL(FLOW_DISSECTOR_KEY_VLAN);
			vlan = true;
		} else if (kno_is_vlan(t->encap[i].proto)) {
			KNO_KEY(d, FLOW_DISSECTOR_KEY_CVLAN, base.cvlan);
			kno_match_vlan(&key->base.cvlan, &mask->base.cvlan,
				       t->encap[i].id, t->encap[i].proto);
			keys |= BIT_ULL(FLOW_DISSECTOR_KEY_CVLAN);
		} else if (t->encap[i].proto == htons(ETH_P_PPP_SES)) {
			KNO_KEY(d, FLOW_DISSECTOR_KEY_PPPOE, pppoe);
			key->pppoe.session_id = htons(t->encap[i].id);
			mask->pppoe.session_id = htons(0xffff);
			key->pppoe.ppp_proto = htons(t->l3proto == NFPROTO_IPV4 ?
						     PPP_IP : PPP_IPV6);
			mask->pppoe.ppp_proto = htons(0xffff);
			key->pppoe.type = htons(ETH_P_PPP_SES);
			mask->pppoe.type = htons(0xffff);
			keys |= BIT_ULL(FLOW_DISSECTOR_KEY_PPPOE);
		}
	}
	return keys;
}

/* Traffic that left through a route with a TX tunnel comes back through it. */
static u64 kno_match_tunnel(struct flow_dissector *d, struct kno_match_key *key,
			    struct kno_match_key *mask,
			    const struct dst_entry *other_dst)
{
	struct ip_tunnel_info *tun;
	u64 keys;

	if (!other_dst || !other_dst->lwtstate)
		return 0;
	tun = lwt_tun_info(other_dst->lwtstate);
	if (!tun || !(tun->mode & IP_TUNNEL_INFO_TX))
		return 0;

	KNO_KEY(d, FLOW_DISSECTOR_KEY_ENC_CONTROL, base.enc_control);
	KNO_KEY(d, FLOW_DISSECTOR_KEY_ENC_KEYID, base.enc_key_id);
	key->base.enc_key_id.keyid = tunnel_id_to_key32(tun->key.tun_id);
	mask->base.enc_key_id.keyid = htonl(0xffffffff);
	keys = BIT_ULL(FLOW_DISSECTOR_KEY_ENC_KEYID) |
	       BIT_ULL(FLOW_DISSECTOR_KEY_ENC_CONTROL);

	/* The return traffic's outer source is our outer destination. */
	if (ip_tunnel_info_af(tun) == AF_INET) {
		KNO_KEY(d, FLOW_DISSECTOR_KEY_ENC_IPV4_ADDRS, base.enc_ipv4);
		key->base.enc_ipv4.src = tun->key.u.ipv4.dst;
		key->base.enc_ipv4.dst = tun->key.u.ipv4.src;
		if (key->base.enc_ipv4.src)
			mask->base.enc_ipv4.src = htonl(0xffffffff);
		if (key->base.enc_ipv4.dst)
			mask->base.enc_ipv4.dst = htonl(0xffffffff);
		key->base.enc_control.addr_type = FLOW_DISSECTOR_KEY_IPV4_ADDRS;
		keys |= BIT_ULL(FLOW_DISSECTOR_KEY_ENC_IPV4_ADDRS);
	} else {
		KNO_KEY(d, FLOW_DISSECTOR_KEY_ENC_IPV6_ADDRS, base.enc_ipv6);
		key->base.enc_ipv6.src = tun->key.u.ipv6.dst;
		key->base.enc_ipv6.dst = tun->key.u.ipv6.src;
		if (!ipv6_addr_any(&key->base.enc_ipv6.src))
			memset(&mask->base.enc_ipv6.src, 0xff,
			       sizeof(struct in6_addr));
		if (!ipv6_addr_any(&key->base.enc_ipv6.dst))
			memset(&mask->base.enc_ipv6.dst, 0xff,
			       sizeof(struct in6_addr));
		key->base.enc_control.addr_type = FLOW_DISSECTOR_KEY_IPV6_ADDRS;
		keys |= BIT_ULL(FLOW_DISSECTOR_KEY_ENC_IPV6_ADDRS);
	}
	return keys;
}

/* Match on everything that identifies one direction of the flow. */
static int kno_rule_match(struct kno_rule *r, const struct flow_offload_tuple *t,
			  const struct dst_entry *other_dst)
{
	struct flow_dissector *d = &r->nfr.match.dissector;
	struct kno_match_key *key = &r->key, *mask = &r->mask;
	u64 keys;

	KNO_KEY(d, FLOW_DISSECTOR_KEY_META, base.meta);
	KNO_KEY(d, FLOW_DISSECTOR_KEY_CONTROL, base.control);
	KNO_KEY(d, FLOW_DISSECTOR_KEY_BASIC, base.basic);
	keys = BIT_ULL(FLOW_DISSECTOR_KEY_META) |
	       BIT_ULL(FLOW_DISSECTOR_KEY_CONTROL) |
	       BIT_ULL(FLOW_DISSECTOR_KEY_BASIC);

	key->base.meta.ingress_ifindex = t->xmit_type == FLOW_OFFLOAD_XMIT_TC ?
					 t->tc.iifidx : t->iifidx;
	mask->base.meta.ingress_ifindex = 0xffffffff;

	keys |= kno_match_tunnel(d, key, mask, other_dst);
	keys |= kno_match_encap(d, key, mask, t);

	switch (t->l3proto) {
	case NFPROTO_IPV4:
		KNO_KEY(d, FLOW_DISSECTOR_KEY_IPV4_ADDRS, base.ipv4);
		key->base.control.addr_type = FLOW_DISSECTOR_KEY_IPV4_ADDRS;
		key->base.basic.n_proto = htons(ETH_P_IP);
		key->base.ipv4.src = t->src_v4.s_addr;
		key->base.ipv4.dst = t->dst_v4.s_addr;
		mask->base.ipv4.src = htonl(0xffffffff);
		mask->base.ipv4.dst = htonl(0xffffffff);
		keys |= BIT_ULL(FLOW_DISSECTOR_KEY_IPV4_ADDRS);
		break;
	case NFPROTO_IPV6:
		KNO_KEY(d, FLOW_DISSECTOR_KEY_IPV6_ADDRS, base.ipv6);
		key->base.control.addr_type = FLOW_DISSECTOR_KEY_IPV6_ADDRS;
		key->base.basic.n_proto = htons(ETH_P_IPV6);
		key->base.ipv6.src = t->src_v6;
		key->base.ipv6.dst = t->dst_v6;
		memset(&mask->base.ipv6.src, 0xff, sizeof(struct in6_addr));
		memset(&mask->base.ipv6.dst, 0xff, sizeof(struct in6_addr));
		keys |= BIT_ULL(FLOW_DISSECTOR_KEY_IPV6_ADDRS);
		break;
	default:
		return -EOPNOTSUPP;
	}
	mask->base.control.addr_type = 0xffff;
	mask->base.basic.n_proto = htons(0xffff);
	key->base.basic.ip_proto = t->l4proto;
	mask->base.basic.ip_proto = 0xff;

	switch (t->l4proto) {
	case IPPROTO_TCP:
		/* FIN and RST must reach software: match them as zero. */
		KNO_KEY(d, FLOW_DISSECTOR_KEY_TCP, base.tcp);
		key->base.tcp.flags = 0;
		mask->base.tcp.flags =
			htons(be32_to_cpu(TCP_FLAG_FIN | TCP_FLAG_RST) >> 16);
		keys |= BIT_ULL(FLOW_DISSECTOR_KEY_TCP);
		fallthrough;
	case IPPROTO_UDP:
		KNO_KEY(d, FLOW_DISSECTOR_KEY_PORTS, base.tp);
		key->base.tp.src = t->src_port;
		key->base.tp.dst = t->dst_port;
		mask->base.tp.src = htons(0xffff);
		mask->base.tp.dst = htons(0xffff);
		keys |= BIT_ULL(FLOW_DISSECTOR_KEY_PORTS);
		break;
	case IPPROTO_GRE:
		break;
	default:
		return -EOPNOTSUPP;
	}

	d->used_keys = keys;
	return 0;
}

/* The next free action slot, or NULL once KNO_ACTIONS_MAX are used. */
static struct flow_action_entry *kno_action(struct nf_flow_rule *r)
{
	struct flow_action *a = &r->rule->action;

	if (a->num_entries >= KNO_ACTIONS_MAX)
		return NULL;
	return &a->entries[a->num_entries++];
}

/*
 * Packet edit of one 32-bit word, pedit style: bits set in @keep keep
 * their old value, the others take @val.
 */
static int kno_mangle(struct nf_flow_rule *r, enum flow_action_mangle_base base,
		      u32 offset, u32 val, u32 keep)
{
	struct flow_action_entry *e = kno_action(r);

	if (!e)
		return -E2BIG;
	e->id = FLOW_ACTION_MANGLE;
	e->mangle.htype = base;
	e->mangle.offset = offset;
	e->mangle.mask = keep;
	e->mangle.val = val;
	return 0;
}

/* Rewrite a MAC address at byte 0 (destination) or 6 (source). */
static int kno_mangle_mac(struct nf_flow_rule *r, unsigned int at,
			  const u8 *addr)
{
	u32 lo = 0, hi = 0;
	int err;

	if (at == 0) {
		memcpy(&lo, addr, 4);
		memcpy(&hi, addr + 4, 2);
		err = kno_mangle(r, FLOW_ACT_MANGLE_HDR_TYPE_ETH, 0, lo, 0);
		if (!err)
			err = kno_mangle(r, FLOW_ACT_MANGLE_HDR_TYPE_ETH, 4, hi,
					 ~0x0000ffff);
		return err;
	}
	memcpy((u8 *)&lo + 2, addr, 2);
	memcpy(&hi, addr + 2, 4);
	err = kno_mangle(r, FLOW_ACT_MANGLE_HDR_TYPE_ETH, 4, lo, 0x0000ffff);
	if (!err)
		err = kno_mangle(r, FLOW_ACT_MANGLE_HDR_TYPE_ETH, 8, hi, 0);
	return err;
}

/* The Ethernet header of packets leaving in direction @dir. */
static int kno_actions_eth(struct net *net, const struct flow_offload *flow,
			   enum flow_offload_tuple_dir dir,
			   struct nf_flow_rule *r)
{
	const struct flow_offload_tuple *t = &flow->tuplehash[dir].tuple;
	const struct flow_offload_tuple *other = &flow->tuplehash[!dir].tuple;
	u8 src[ETH_ALEN], dst[ETH_ALEN];
	struct net_device *dev;
	struct neighbour *n;
	u8 nud;
	int err;

	switch (t->xmit_type) {
	case FLOW_OFFLOAD_XMIT_DIRECT:
		ether_addr_copy(src, t->out.h_source);
		ether_addr_copy(dst, t->out.h_dest);
		break;
	case FLOW_OFFLOAD_XMIT_NEIGH:
		dev = dev_get_by_index(net, other->iifidx);
		if (!dev)
			return -ENOENT;
		ether_addr_copy(src, dev->dev_addr);
		dev_put(dev);

		n = dst_neigh_lookup(t->dst_cache, &other->src_v6);
		if (!n)
			return -ENOENT;
		read_lock_bh(&n->lock);
		nud = n->nud_state;
		ether_addr_copy(dst, n->ha);
		read_unlock_bh(&n->lock);
		neigh_release(n);
		if (!(nud & NUD_VALID))
			return -ENOENT;
		break;
	default:
		return -EOPNOTSUPP;
	}

	err = kno_mangle_mac(r, 6, src);
	if (!err)
		err = kno_mangle_mac(r, 0, dst);
	return err;
}

/* Pop the ingress encapsulation, push the egress one (innermost first). */
static int kno_actions_encap(const struct flow_offload *flow,
			     enum flow_offload_tuple_dir dir,
			     struct nf_flow_rule *r)
{
	const struct flow_offload_tuple *t = &flow->tuplehash[dir].tuple;
	const struct flow_offload_tuple *other = &flow->tuplehash[!dir].tuple;
	struct flow_action_entry *e;
	int i;

	for (i = 0; i < t->encap_num; i++) {
		if (t->in_vlan_ingress & BIT(i) || !kno_is_vlan(t->encap[i].proto))
			continue;
		e = kno_action(r);
		if (!e)
			return -E2BIG;
		e->id = FLOW_ACTION_VLAN_POP;
	}

	for (i = other->encap_num - 1; i >= 0; i--) {
		if (other->in_vlan_ingress & BIT(i))
			continue;
		e = kno_action(r);
		if (!e)
			return -E2BIG;
		if (other->encap[i].proto == htons(ETH_P_PPP_SES)) {
			e->id = FLOW_ACTION_PPPOE_PUSH;
			e->pppoe.sid = other->encap[i].id;
		} else {
			e->id = FLOW_ACTION_VLAN_PUSH;
			e->vlan.vid = other->encap[i].id;
			e->vlan.proto = other->encap[i].proto;
		}
	}
	return 0;
}

/* Lightweight tunnels: decap what came in through one, encap what leaves. */
static int kno_actions_tunnel(const struct flow_offload *flow,
			      enum flow_offload_tuple_dir dir,
			      struct nf_flow_rule *r)
{
	const struct flow_offload_tuple *t = &flow->tuplehash[dir].tuple;
	const struct flow_offload_tuple *other = &flow->tuplehash[!dir].tuple;
	struct ip_tunnel_info *tun;
	struct flow_action_entry *e;

	if (other->xmit_type != FLOW_OFFLOAD_XMIT_DIRECT &&
	    other->dst_cache && other->dst_cache->lwtstate) {
		tun = lwt_tun_info(other->dst_cache->lwtstate);
		if (tun && (tun->mode & IP_TUNNEL_INFO_TX)) {
			e = kno_action(r);
			if (!e)
				return -E2BIG;
			e->id = FLOW_ACTION_TUNNEL_DECAP;
		}
	}
	if (t->xmit_type != FLOW_OFFLOAD_XMIT_DIRECT &&
	    t->dst_cache && t->dst_cache->lwtstate) {
		tun = lwt_tun_info(t->dst_cache->lwtstate);
		if (tun && (tun->mode & IP_TUNNEL_INFO_TX)) {
			e = kno_action(r);
			if (!e)
				return -E2BIG;
			e->id = FLOW_ACTION_TUNNEL_ENCAP;
			e->tunnel = tun;
		}
	}
	return 0;
}

static int kno_actions_common(struct net *net, const struct flow_offload *flow,
			      enum flow_offload_tuple_dir dir,
			      struct nf_flow_rule *r)
{
	int err;

	err = kno_actions_tunnel(flow, dir, r);
	if (!err)
		err = kno_actions_eth(net, flow, dir, r);
	if (!err)
		err = kno_actions_encap(flow, dir, r);
	return err;
}

static enum flow_action_mangle_base kno_l4_base(const struct flow_offload *flow)
{
	switch (flow->tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple.l4proto) {
	case IPPROTO_TCP:
		return FLOW_ACT_MANGLE_HDR_TYPE_TCP;
	case IPPROTO_UDP:
		return FLOW_ACT_MANGLE_HDR_TYPE_UDP;
	}
	return FLOW_ACT_MANGLE_UNSPEC;
}

/*
 * Port rewrites: the source port is the upper half of the first 32-bit
 * word of the TCP/UDP header, the destination port the lower half.
 */
static int kno_mangle_port(struct nf_flow_rule *r,
			   const struct flow_offload *flow, bool source,
			   __be16 port)
{
	u32 val, keep;

	if (source) {
		val = (__force u32)htonl((u32)ntohs(port) << 16);
		keep = (__force u32)~htonl(0xffff0000);
	} else {
		val = (__force u32)htonl(ntohs(port));
		keep = (__force u32)~htonl(0x0000ffff);
	}
	return kno_mangle(r, kno_l4_base(flow), 0, val, keep);
}

/*
 * NAT rewrites of direction @dir for IPv4 (@words 1) or IPv6 (@words 4).
 * The original direction gets the reply tuple's view and vice versa.
 */
static int kno_actions_nat(const struct flow_offload *flow,
			   enum flow_offload_tuple_dir dir,
			   struct nf_flow_rule *r, bool ipv6)
{
	const struct flow_offload_tuple *orig, *reply;
	enum flow_action_mangle_base base;
	const __be32 *saddr, *daddr;
	u32 soff, doff, words;
	bool snat, dnat;
	int err = 0;
	u32 i;

	orig = &flow->tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple;
	reply = &flow->tuplehash[FLOW_OFFLOAD_DIR_REPLY].tuple;
	snat = test_bit(NF_FLOW_SNAT, &flow->flags);
	dnat = test_bit(NF_FLOW_DNAT, &flow->flags);

	if (ipv6) {
		base = FLOW_ACT_MANGLE_HDR_TYPE_IP6;
		soff = offsetof(struct ipv6hdr, saddr);
		doff = offsetof(struct ipv6hdr, daddr);
		words = 4;
	} else {
		base = FLOW_ACT_MANGLE_HDR_TYPE_IP4;
		soff = offsetof(struct iphdr, saddr);
		doff = offsetof(struct iphdr, daddr);
		words = 1;
	}

	if (dir == FLOW_OFFLOAD_DIR_ORIGINAL) {
		/* SNAT changes our source, DNAT our destination. */
		saddr = reply->dst_v6.s6_addr32;
		daddr = reply->src_v6.s6_addr32;
	} else {
		/* SNAT changes our destination, DNAT our source. */
		saddr = orig->dst_v6.s6_addr32;
		daddr = orig->src_v6.s6_addr32;
	}

	if (snat) {
		u32 off = dir == FLOW_OFFLOAD_DIR_ORIGINAL ? soff : doff;
		const __be32 *a = dir == FLOW_OFFLOAD_DIR_ORIGINAL ? saddr : daddr;

		for (i = 0; i < words && !err; i++)
			err = kno_mangle(r, base, off + 4 * i,
					 (__force u32)a[i], 0);
		if (!err)
			err = kno_mangle_port(r, flow,
					      dir == FLOW_OFFLOAD_DIR_ORIGINAL,
					      dir == FLOW_OFFLOAD_DIR_ORIGINAL ?
					      reply->dst_port : orig->src_port);
	}
	if (dnat && !err) {
		u32 off = dir == FLOW_OFFLOAD_DIR_ORIGINAL ? doff : soff;
		const __be32 *a = dir == FLOW_OFFLOAD_DIR_ORIGINAL ? daddr : saddr;

		for (i = 0; i < words && !err; i++)
			err = kno_mangle(r, base, off + 4 * i,
					 (__force u32)a[i], 0);
		if (!err)
			err = kno_mangle_port(r, flow,
					      dir != FLOW_OFFLOAD_DIR_ORIGINAL,
					      dir == FLOW_OFFLOAD_DIR_ORIGINAL ?
					      reply->src_port : orig->dst_port);
	}
	return err;
}

static int kno_action_csum(const struct flow_offload *flow,
			   struct nf_flow_rule *r)
{
	struct flow_action_entry *e = kno_action(r);

	if (!e)
		return -E2BIG;
	e->id = FLOW_ACTION_CSUM;
	e->csum_flags = TCA_CSUM_UPDATE_FLAG_IPV4HDR;
	switch (flow->tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple.l4proto) {
	case IPPROTO_TCP:
		e->csum_flags |= TCA_CSUM_UPDATE_FLAG_TCP;
		break;
	case IPPROTO_UDP:
		e->csum_flags |= TCA_CSUM_UPDATE_FLAG_UDP;
		break;
	}
	return 0;
}

/* Out through the lowest device of the egress path. Holds a reference. */
static int kno_action_redirect(struct net *net, const struct flow_offload *flow,
			       enum flow_offload_tuple_dir dir,
			       struct nf_flow_rule *r)
{
	const struct flow_offload_tuple *t = &flow->tuplehash[dir].tuple;
	struct flow_action_entry *e;
	struct net_device *dev;
	int ifindex;

	switch (t->xmit_type) {
	case FLOW_OFFLOAD_XMIT_DIRECT:
		ifindex = t->out.hw_ifidx;
		break;
	case FLOW_OFFLOAD_XMIT_NEIGH:
		ifindex = flow->tuplehash[!dir].tuple.iifidx;
		break;
	default:
		return -EOPNOTSUPP;
	}

	e = kno_action(r);
	if (!e)
		return -E2BIG;
	dev = dev_get_by_index(net, ifindex);
	if (!dev) {
		r->rule->action.num_entries--;
		return -ENODEV;
	}
	e->id = FLOW_ACTION_REDIRECT;
	e->dev = dev;
	return 0;
}

static int kno_rule_route(struct net *net, struct flow_offload *flow,
			  enum flow_offload_tuple_dir dir,
			  struct nf_flow_rule *r, bool ipv6)
{
	bool nat = test_bit(NF_FLOW_SNAT, &flow->flags) ||
		   test_bit(NF_FLOW_DNAT, &flow->flags);
	int err;

	err = kno_actions_common(net, flow, dir, r);
	if (!err)
		err = kno_actions_nat(flow, dir, r, ipv6);
	/* IPv6 has no header checksum; L4 is fixed up by the mangles. */
	if (!err && nat && !ipv6)
		err = kno_action_csum(flow, r);
	if (!err)
		err = kno_action_redirect(net, flow, dir, r);
	return err;
}

/**
 * nf_flow_rule_route_ipv4 - fill the actions of an IPv4 flow direction
 * @net: network namespace of the flowtable
 * @flow: the flow
 * @dir: direction
 * @flow_rule: rule whose actions are appended
 *
 * Return: 0, or a negative errno (-E2BIG past KNO_ACTIONS_MAX actions).
 */
int nf_flow_rule_route_ipv4(struct net *net, struct flow_offload *flow,
			    enum flow_offload_tuple_dir dir,
			    struct nf_flow_rule *flow_rule)
{
	return kno_rule_route(net, flow, dir, flow_rule, false);
}
EXPORT_SYMBOL_GPL(nf_flow_rule_route_ipv4);

/**
 * nf_flow_rule_route_ipv6 - fill the actions of an IPv6 flow direction
 * @net: network namespace of the flowtable
 * @flow: the flow
 * @dir: direction
 * @flow_rule: rule whose actions are appended
 *
 * Return: 0, or a negative errno (-E2BIG past KNO_ACTIONS_MAX actions).
 */
int nf_flow_rule_route_ipv6(struct net *net, struct flow_offload *flow,
			    enum flow_offload_tuple_dir dir,
			    struct nf_flow_rule *flow_rule)
{
	return kno_rule_route(net, flow, dir, flow_rule, true);
}
EXPORT_SYMBOL_GPL(nf_flow_rule_route_ipv6);

/* Drop the device references the actions hold and forget them. */
static void kno_rule_release(struct kno_rule *r)
{
	struct flow_action *a = &r->nfr.rule->action;
	int i;

	for (i = 0; i < a->num_entries; i++)
		if (a->entries[i].id == FLOW_ACTION_REDIRECT)
			dev_put(a->entries[i].dev);
	a->num_entries = 0;
}

static struct kno_rule *kno_rule_alloc(void)
{
	struct kno_rule *r;

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return NULL;
	r->nfr.rule = flow_rule_alloc(KNO_ACTIONS_MAX);
	if (!r->nfr.rule) {
		kfree(r);
		return NULL;
	}
	r->nfr.rule->match.dissector = &r->nfr.match.dissector;
	r->nfr.rule->match.key = &r->key;
	r->nfr.rule->match.mask = &r->mask;
	return r;
}

static void kno_rule_free(struct kno_rule *r)
{
	if (!r)
		return;
	kfree(r->nfr.rule);
	kfree(r);
}

/* Describe direction @dir of @flow in @r (reused between flows). */
static int kno_rule_build(struct nf_flowtable *ft, struct flow_offload *flow,
			  enum flow_offload_tuple_dir dir, struct kno_rule *r)
{
	const struct flow_offload_tuple *other = &flow->tuplehash[!dir].tuple;
	struct flow_action *a = &r->nfr.rule->action;
	int i, err;

	memset(&r->nfr.match.dissector, 0, sizeof(r->nfr.match.dissector));
	memset(&r->key, 0, sizeof(r->key));
	memset(&r->mask, 0, sizeof(r->mask));
	memset(a->entries, 0, KNO_ACTIONS_MAX * sizeof(a->entries[0]));
	for (i = 0; i < KNO_ACTIONS_MAX; i++)
		a->entries[i].hw_stats = FLOW_ACTION_HW_STATS_DONT_CARE;
	a->num_entries = 0;

	err = kno_rule_match(r, &flow->tuplehash[dir].tuple,
			     other->xmit_type == FLOW_OFFLOAD_XMIT_NEIGH ?
			     other->dst_cache : NULL);
	if (!err)
		err = ft->type->action(read_pnet(&ft->net), flow, dir, &r->nfr);
	if (err > 0)
		err = -EINVAL;
	if (err)
		kno_rule_release(r);
	return err;
}

/* ------------------------------------------------------------------ */
/* Talking to drivers                                                  */
/* ------------------------------------------------------------------ */

/*
 * Send one command for one direction to every callback of the flowtable.
 * Return: how many callbacks accepted it, or the most telling error
 * (-ENOSPC wins) if none did.
 */
static int kno_hw_cmd(struct nf_flowtable *ft, struct flow_offload *flow,
		      enum flow_offload_tuple_dir dir,
		      enum flow_cls_command cmd, struct flow_rule *rule,
		      struct flow_stats *stats)
{
	struct netlink_ext_ack extack = {};
	struct flow_cls_offload cls = {
		.common.protocol = htons(ETH_P_ALL),
		.common.prio	= ft->priority,
		.common.extack	= &extack,
		.command	= cmd,
		.cookie		= (unsigned long)&flow->tuplehash[dir].tuple,
		.rule		= rule,
	};
	struct flow_block_cb *cb;
	int ok = 0, err = -ENOENT;

	down_read(&ft->flow_block_lock);
	list_for_each_entry(cb, &ft->flow_block.cb_list, list) {
		int ret = cb->cb(TC_SETUP_CLSFLOWER, &cls, cb->cb_priv);

		if (ret >= 0)
			ok++;
		else if (err != -ENOSPC)
			err = ret;
	}
	up_read(&ft->flow_block_lock);

	if (stats)
		*stats = cls.stats;
	return ok ? ok : err;
}

static bool kno_hw_bidir(const struct flow_offload *flow)
{
	return test_bit(NF_FLOW_HW_BIDIRECTIONAL, &flow->flags);
}

static bool kno_hw_installed(const struct flow_offload *flow)
{
	return test_bit(IPS_HW_OFFLOAD_BIT, &flow->ct->status);
}

/* Remove the rules of both directions, synchronously. */
static void kno_hw_destroy(struct nf_flowtable *ft, struct flow_offload *flow)
{
	kno_hw_cmd(ft, flow, FLOW_OFFLOAD_DIR_ORIGINAL, FLOW_CLS_DESTROY,
		   NULL, NULL);
	if (kno_hw_bidir(flow))
		kno_hw_cmd(ft, flow, FLOW_OFFLOAD_DIR_REPLY, FLOW_CLS_DESTROY,
			   NULL, NULL);
	clear_bit(IPS_HW_OFFLOAD_BIT, &flow->ct->status);
}

/* Counters of the offload engine, for /proc/net/nf_flowtable. */
struct kno_hw_counters {
	atomic64_t	replace_ok;
	atomic64_t	replace_fail;
	atomic64_t	replace_nospc;
	atomic64_t	replace_busy;
	atomic64_t	destroy;
	atomic64_t	stats;
};

static struct kno_hw_counters kno_hw_count;

/* For the flow inspector. */
void kno_offload_show(struct seq_file *seq)
{
	seq_printf(seq,
		   "hw replace_ok %lld replace_fail %lld replace_nospc %lld replace_busy %lld destroy %lld stats %lld\n",
		   (s64)atomic64_read(&kno_hw_count.replace_ok),
		   (s64)atomic64_read(&kno_hw_count.replace_fail),
		   (s64)atomic64_read(&kno_hw_count.replace_nospc),
		   (s64)atomic64_read(&kno_hw_count.replace_busy),
		   (s64)atomic64_read(&kno_hw_count.destroy),
		   (s64)atomic64_read(&kno_hw_count.stats));
}

static void kno_hw_backoff(struct flow_offload *flow, int err)
{
	struct kno_flow *kf = kno_flow(flow);
	unsigned long base = KNO_HW_RETRY_BASE, cap = KNO_HW_RETRY_MAX;
	unsigned int shift;

	if (err == -ENOSPC) {
		set_bit(KNO_FLOW_HW_NOSPC, &flow->flags);
		base = KNO_HW_NOSPC_BASE;
		cap = KNO_HW_NOSPC_MAX;
		atomic64_inc(&kno_hw_count.replace_nospc);
	} else {
		atomic64_inc(&kno_hw_count.replace_fail);
	}
	if (kf->hw_fails < U8_MAX)
		kf->hw_fails++;
	shift = min_t(unsigned int, kf->hw_fails - 1, 8);
	WRITE_ONCE(kf->hw_next,
		   nfct_time_stamp + (u32)min(base << shift, cap));
}

/*
 * REPLACE both directions (one if the flowtable type offloads only the
 * original direction): all or nothing, so a half-installed flow never
 * occupies hardware.
 */
static void kno_hw_replace(struct nf_flowtable *ft, struct flow_offload *flow,
			   struct kno_rule *rules[FLOW_OFFLOAD_DIR_MAX])
{
	struct kno_flow *kf = kno_flow(flow);
	int dirs = kno_hw_bidir(flow) ? 2 : 1;
	int dir, built = 0, err = 0;

	if (test_bit(NF_FLOW_TEARDOWN, &flow->flags) ||
	    test_bit(KNO_FLOW_CLOSING, &flow->flags) ||
	    test_bit(NF_FLOW_HW_DYING, &flow->flags))
		return;

	if (list_empty(&ft->flow_block.cb_list)) {
		err = -ENOENT;
		goto fail;
	}
	for (dir = 0; dir < dirs && !err; dir++, built++)
		err = kno_rule_build(ft, flow, dir, rules[dir]);
	if (err) {
		built--;
		goto release;
	}

	for (dir = 0; dir < dirs; dir++) {
		err = kno_hw_cmd(ft, flow, dir, FLOW_CLS_REPLACE,
				 rules[dir]->nfr.rule, NULL);
		if (err < 0)
			break;
	}
	if (err < 0) {
		/* Roll back the directions that made it. */
		while (--dir >= 0)
			kno_hw_cmd(ft, flow, dir, FLOW_CLS_DESTROY, NULL, NULL);
		goto release;
	}

	set_bit(IPS_HW_OFFLOAD_BIT, &flow->ct->status);
	clear_bit(KNO_FLOW_HW_NOSPC, &flow->flags);
	kf->hw_fails = 0;
	WRITE_ONCE(kf->hw_next, nfct_time_stamp + KNO_HW_REPUSH);
	atomic64_inc(&kno_hw_count.replace_ok);
	err = 0;
release:
	while (--built >= 0)
		kno_rule_release(rules[built]);
	if (!err)
		return;
fail:
	kno_hw_backoff(flow, err);
}

/* Ask hardware for counters this long before the flow would expire. */
#define KNO_HW_STATS_MARGIN	(3 * HZ)

/*
 * A quarter of the idle timeout, at least KNO_HW_STATS_MARGIN (a GC period
 * and a queued request).
 */
static s32 kno_hw_stats_margin(struct flow_offload *flow)
{
	return max_t(s32, flow_offload_get_timeout(flow) / 4,
		     KNO_HW_STATS_MARGIN);
}

/*
 * Would a flow last used at @lastused (jiffies, 0: never) get out of the
 * STATS window? Then the other direction need not be asked.
 */
static bool kno_hw_stats_enough(struct flow_offload *flow, u32 lastused)
{
	u32 timeout = lastused + flow_offload_get_timeout(flow);

	return lastused &&
	       nf_flow_timeout_delta(timeout) > kno_hw_stats_margin(flow);
}

/*
 * Fold hardware counters into the flow: activity pushes the software
 * timeout, bytes and packets go to conntrack accounting. STATS go per
 * direction; without a counting flowtable only the last use matters, so the
 * reply direction is asked only if the original one's use would not keep
 * the flow alive: half the driver calls for flows with traffic in the
 * original direction.
 */
static void kno_hw_stats(struct nf_flowtable *ft, struct flow_offload *flow)
{
	struct flow_stats st[FLOW_OFFLOAD_DIR_MAX] = {};
	bool count = ft->flags & NF_FLOWTABLE_COUNTER;
	u32 lastused, timeout;
	int dir;

	if (!kno_hw_installed(flow))
		return;

	for (dir = 0; dir < (kno_hw_bidir(flow) ? 2 : 1); dir++) {
		kno_hw_cmd(ft, flow, dir, FLOW_CLS_STATS, NULL, &st[dir]);
		if (!count && kno_hw_stats_enough(flow, (u32)st[dir].lastused))
			break;
	}
	atomic64_inc(&kno_hw_count.stats);

	lastused = (u32)max(st[0].lastused, st[1].lastused);
	if (lastused && !test_bit(KNO_FLOW_CLOSING, &flow->flags)) {
		timeout = lastused + flow_offload_get_timeout(flow);
		if ((s32)(timeout - READ_ONCE(flow->timeout)) > 0)
			WRITE_ONCE(flow->timeout, timeout);
	}

	if (!(ft->flags & NF_FLOWTABLE_COUNTER))
		return;
	for (dir = 0; dir < FLOW_OFFLOAD_DIR_MAX; dir++)
		if (st[dir].pkts)
			nf_ct_acct_add(flow->ct, dir, st[dir].pkts,
				       st[dir].bytes);
}

static void kno_hw_del(struct nf_flowtable *ft, struct flow_offload *flow)
{
	/* Last counters first, or they are lost with the rule. */
	if (ft->flags & NF_FLOWTABLE_COUNTER)
		kno_hw_stats(ft, flow);
	if (kno_hw_installed(flow)) {
		kno_hw_destroy(ft, flow);
		atomic64_inc(&kno_hw_count.destroy);
	}
	set_bit(NF_FLOW_HW_DEAD, &flow->flags);
}

/* ------------------------------------------------------------------ */
/* Request queues                                                      */
/* ------------------------------------------------------------------ */

enum kno_queue_id {
	KNO_Q_REPLACE,
	KNO_Q_DESTROY,
	KNO_Q_STATS,
	KNO_Q_MAX,
};

struct kno_queue {
	spinlock_t		lock;		/* protects list and len */
	struct list_head	list;		/* of kno_flow::hw_node */
	unsigned int		len;
	struct work_struct	work;
	struct kno_rule		*rules[FLOW_OFFLOAD_DIR_MAX]; /* worker only */
};

static struct kno_queue kno_queues[KNO_Q_MAX];
static struct workqueue_struct *kno_offload_wq;
static DECLARE_RWSEM(kno_offload_rwsem);

/*
 * Count pending work in the flowtable's netns. A netns on its way out may
 * have released its counters already (its flowtables can be destroyed
 * after our pernet exit ran): then there is nothing to count. The pointer
 * is cleared before an RCU grace period and freed after it.
 */
static void kno_stat_add(struct nf_flowtable *ft, enum kno_queue_id q, int d)
{
	struct nf_flow_table_stat __percpu *stat;

	rcu_read_lock();
	stat = READ_ONCE(read_pnet(&ft->net)->ft.stat);
	if (!stat)
		goto out;
	switch (q) {
	case KNO_Q_REPLACE:
		this_cpu_add(stat->count_wq_add, d);
		break;
	case KNO_Q_DESTROY:
		this_cpu_add(stat->count_wq_del, d);
		break;
	default:
		this_cpu_add(stat->count_wq_stats, d);
		break;
	}
out:
	rcu_read_unlock();
}

/*
 * Queue a request for @flow. Only one request per flow can be in flight;
 * the replace queue refuses new work when full.
 * Return: true if queued.
 */
static bool kno_queue_flow(struct nf_flowtable *ft, struct flow_offload *flow,
			   enum kno_queue_id qid)
{
	struct kno_queue *q = &kno_queues[qid];
	struct kno_flow *kf = kno_flow(flow);

	if (test_and_set_bit(KNO_FLOW_PENDING, &flow->flags))
		return false;

	spin_lock_bh(&q->lock);
	if (qid == KNO_Q_REPLACE && q->len >= READ_ONCE(hw_queue_max)) {
		spin_unlock_bh(&q->lock);
		clear_bit(KNO_FLOW_PENDING, &flow->flags);
		atomic64_inc(&kno_hw_count.replace_busy);
		WRITE_ONCE(kf->hw_next, nfct_time_stamp + KNO_HW_RETRY_BASE);
		return false;
	}
	kf->hw_cmd = qid;
	list_add_tail(&kf->hw_node, &q->list);
	q->len++;
	spin_unlock_bh(&q->lock);

	kno_stat_add(ft, qid, 1);
	queue_work(kno_offload_wq, &q->work);
	return true;
}

static void kno_queue_work(struct work_struct *work)
{
	struct kno_queue *q = container_of(work, struct kno_queue, work);
	enum kno_queue_id qid = q - kno_queues;
	struct kno_flow *kf, *next;
	LIST_HEAD(batch);

	spin_lock_bh(&q->lock);
	list_splice_init(&q->list, &batch);
	q->len = 0;
	spin_unlock_bh(&q->lock);

	down_read(&kno_offload_rwsem);
	list_for_each_entry_safe(kf, next, &batch, hw_node) {
		struct flow_offload *flow = &kf->flow;
		struct nf_flowtable *ft = kf->ft;

		list_del_init(&kf->hw_node);
		switch (qid) {
		case KNO_Q_REPLACE:
			kno_hw_replace(ft, flow, q->rules);
			break;
		case KNO_Q_DESTROY:
			kno_hw_del(ft, flow);
			break;
		default:
			kno_hw_stats(ft, flow);
			break;
		}
		kno_stat_add(ft, qid, -1);
		/* The flow may be freed by the GC as soon as this is clear. */
		smp_mb__before_atomic();
		clear_bit(KNO_FLOW_PENDING, &flow->flags);
		cond_resched();
	}
	up_read(&kno_offload_rwsem);
}

/* ------------------------------------------------------------------ */
/* Entry points from the core                                          */
/* ------------------------------------------------------------------ */

static bool kno_replace_due(struct flow_offload *flow)
{
	return (s32)(nfct_time_stamp - READ_ONCE(kno_flow(flow)->hw_next)) >= 0;
}

/**
 * nf_flow_offload_add - ask for the flow to be put into hardware
 * @flowtable: the flowtable
 * @flow: the flow, NF_FLOW_HW set
 */
void nf_flow_offload_add(struct nf_flowtable *flowtable,
			 struct flow_offload *flow)
{
	kno_queue_flow(flowtable, flow, KNO_Q_REPLACE);
}

/**
 * nf_flow_offload_del - ask for the flow's hardware rules to be removed
 * @flowtable: the flowtable
 * @flow: the flow
 *
 * A flow that never made it into hardware is marked dead at once.
 */
void nf_flow_offload_del(struct nf_flowtable *flowtable,
			 struct flow_offload *flow)
{
	if (test_bit(KNO_FLOW_PENDING, &flow->flags))
		return;
	set_bit(NF_FLOW_HW_DYING, &flow->flags);
	if (!kno_hw_installed(flow)) {
		set_bit(NF_FLOW_HW_DEAD, &flow->flags);
		return;
	}
	kno_queue_flow(flowtable, flow, KNO_Q_DESTROY);
}

/**
 * nf_flow_offload_stats - refresh the flow from hardware counters if due
 * @flowtable: the flowtable
 * @flow: the flow
 *
 * Queried once the flow is within kno_hw_stats_margin() of its timeout, so
 * active hardware flows stay alive with few driver calls.
 */
void nf_flow_offload_stats(struct nf_flowtable *flowtable,
			   struct flow_offload *flow)
{
	if (nf_flow_timeout_delta(READ_ONCE(flow->timeout)) >
	    kno_hw_stats_margin(flow))
		return;
	kno_queue_flow(flowtable, flow, KNO_Q_STATS);
}

/* GC, for live hardware flows (not torn down, no request in flight). */
void kno_offload_gc_step(struct nf_flowtable *flow_table,
			 struct flow_offload *flow)
{
	if (test_bit(NF_FLOW_HW_DYING, &flow->flags))
		return;

	if (test_bit(KNO_FLOW_CLOSING, &flow->flags)) {
		/* FIN/RST: hardware lets go, software finishes the flow. */
		nf_flow_offload_del(flow_table, flow);
		return;
	}
	if (kno_hw_installed(flow))
		nf_flow_offload_stats(flow_table, flow);
	else if (kno_replace_due(flow))
		nf_flow_offload_add(flow_table, flow);
}

/* Packet path: software saw a packet of a hardware flow. */
void kno_offload_refresh(struct nf_flowtable *flow_table,
			 struct flow_offload *flow, bool force)
{
	if (!test_bit(NF_FLOW_HW, &flow->flags) ||
	    test_bit(NF_FLOW_HW_DYING, &flow->flags))
		return;
	if (force || kno_replace_due(flow))
		nf_flow_offload_add(flow_table, flow);
}

/**
 * nf_flow_table_offload_flush - wait for every queued request
 * @flowtable: the flowtable (requests of all flowtables are waited for)
 */
void nf_flow_table_offload_flush(struct nf_flowtable *flowtable)
{
	if (nf_flowtable_hw_offload(flowtable))
		flush_workqueue(kno_offload_wq);
}

/**
 * nf_flow_table_offload_flush_cleanup - final drain of a dying flowtable
 * @flowtable: the flowtable, without GC and hooks
 *
 * Waits for the DESTROYs queued by the last GC run, then unlinks the
 * flows they released.
 */
void nf_flow_table_offload_flush_cleanup(struct nf_flowtable *flowtable)
{
	if (nf_flowtable_hw_offload(flowtable)) {
		flush_workqueue(kno_offload_wq);
		nf_flow_table_gc_run(flowtable);
	}
}

/* ------------------------------------------------------------------ */
/* Binding to devices                                                  */
/* ------------------------------------------------------------------ */

static void kno_block_offload_init(struct flow_block_offload *bo,
				   struct net *net,
				   enum flow_block_command cmd,
				   struct nf_flowtable *ft,
				   struct netlink_ext_ack *extack)
{
	memset(bo, 0, sizeof(*bo));
	bo->net = net;
	bo->block = &ft->flow_block;
	bo->command = cmd;
	bo->binder_type = FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS;
	bo->extack = extack;
	bo->cb_list_head = &ft->flow_block.cb_list;
	INIT_LIST_HEAD(&bo->cb_list);
}

/* Forget the callbacks an unbind handed back. Caller holds the lock. */
static void kno_block_cbs_free(struct list_head *cbs)
{
	struct flow_block_cb *cb, *next;

	list_for_each_entry_safe(cb, next, cbs, list) {
		list_del(&cb->list);
		flow_block_cb_free(cb);
	}
}

/*
 * A driver with indirect blocks went away: its flows go back to software
 * and its callback leaves the flowtable. No flush here: the caller holds
 * the indirect block lock, which our unbind path takes too.
 */
static void kno_indr_cleanup(struct flow_block_cb *cb)
{
	struct nf_flowtable *ft = cb->indr.data;
	struct net_device *dev = cb->indr.dev;
	struct flow_offload_tuple_rhash *th;
	struct rhashtable_iter iter;

	rhashtable_walk_enter(&ft->rhashtable, &iter);
	rhashtable_walk_start(&iter);
	while ((th = rhashtable_walk_next(&iter))) {
		struct flow_offload *flow;

		if (IS_ERR(th) || th->tuple.dir)
			continue;
		flow = container_of(th, struct flow_offload, tuplehash[0]);
		if (flow->tuplehash[0].tuple.iifidx == dev->ifindex ||
		    flow->tuplehash[1].tuple.iifidx == dev->ifindex)
			flow_offload_teardown(flow);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);

	down_write(&ft->flow_block_lock);
	list_del(&cb->list);
	list_del(&cb->driver_list);
	flow_block_cb_free(cb);
	up_write(&ft->flow_block_lock);
}

static int kno_block_bind(struct nf_flowtable *ft, struct net_device *dev)
{
	struct netlink_ext_ack extack = {};
	struct flow_block_offload bo;
	int err;

	kno_block_offload_init(&bo, dev_net(dev), FLOW_BLOCK_BIND, ft, &extack);
	if (dev->netdev_ops->ndo_setup_tc) {
		down_write(&ft->flow_block_lock);
		err = dev->netdev_ops->ndo_setup_tc(dev, TC_SETUP_FT, &bo);
		if (!err)
			list_splice(&bo.cb_list, &ft->flow_block.cb_list);
		up_write(&ft->flow_block_lock);
		return err;
	}

	err = flow_indr_dev_setup_offload(dev, NULL, TC_SETUP_FT, ft, &bo,
					  kno_indr_cleanup);
	if (err < 0)
		return err;
	down_write(&ft->flow_block_lock);
	list_splice(&bo.cb_list, &ft->flow_block.cb_list);
	up_write(&ft->flow_block_lock);
	return 0;
}

/*
 * DESTROY every installed rule of @ft, synchronously. The caller stopped
 * the GC and holds kno_offload_rwsem for writing, so no flow is freed and
 * no request is processed meanwhile; the walk may therefore sleep between
 * flows. The flows are retried by the GC once the unbind is over.
 */
static void kno_destroy_all(struct nf_flowtable *ft)
{
	struct flow_offload_tuple_rhash *th;
	struct rhashtable_iter iter;

	rhashtable_walk_enter(&ft->rhashtable, &iter);
	rhashtable_walk_start(&iter);
	while ((th = rhashtable_walk_next(&iter))) {
		struct flow_offload *flow;

		if (IS_ERR(th)) {
			if (PTR_ERR(th) == -EAGAIN)
				continue;
			break;
		}
		if (th->tuple.dir)
			continue;
		flow = container_of(th, struct flow_offload, tuplehash[0]);
		if (!kno_hw_installed(flow))
			continue;

		rhashtable_walk_stop(&iter);
		kno_hw_destroy(ft, flow);
		atomic64_inc(&kno_hw_count.destroy);
		kno_flow(flow)->hw_fails = 0;
		WRITE_ONCE(kno_flow(flow)->hw_next, nfct_time_stamp);
		rhashtable_walk_start(&iter);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
}

static void kno_block_unbind(struct nf_flowtable *ft, struct net_device *dev)
{
	struct netlink_ext_ack extack = {};
	struct flow_block_offload bo;

	cancel_delayed_work_sync(&ft->gc_work);
	flush_workqueue(kno_offload_wq);
	down_write(&kno_offload_rwsem);

	kno_destroy_all(ft);

	kno_block_offload_init(&bo, dev_net(dev), FLOW_BLOCK_UNBIND, ft,
			       &extack);
	if (dev->netdev_ops->ndo_setup_tc) {
		down_write(&ft->flow_block_lock);
		dev->netdev_ops->ndo_setup_tc(dev, TC_SETUP_FT, &bo);
		kno_block_cbs_free(&bo.cb_list);
		up_write(&ft->flow_block_lock);
	} else {
		flow_indr_dev_setup_offload(dev, NULL, TC_SETUP_FT, ft, &bo,
					    kno_indr_cleanup);
		down_write(&ft->flow_block_lock);
		kno_block_cbs_free(&bo.cb_list);
		up_write(&ft->flow_block_lock);
	}

	up_write(&kno_offload_rwsem);
	queue_delayed_work(system_power_efficient_wq, &ft->gc_work, HZ);
}

/**
 * nf_flow_table_offload_setup - bind or unbind a flowtable device
 * @flowtable: the flowtable
 * @dev: one of its devices
 * @cmd: FLOW_BLOCK_BIND or FLOW_BLOCK_UNBIND
 *
 * Context: process, from nf_tables (commit mutex) or device unregistration.
 * Return: 0, or -EOPNOTSUPP if @dev can offload neither directly nor
 * through an indirect block; nothing is left bound on error.
 */
int nf_flow_table_offload_setup(struct nf_flowtable *flowtable,
				struct net_device *dev,
				enum flow_block_command cmd)
{
	if (!nf_flowtable_hw_offload(flowtable))
		return nf_flow_offload_xdp_setup(flowtable, dev, cmd);

	switch (cmd) {
	case FLOW_BLOCK_BIND:
		return kno_block_bind(flowtable, dev);
	case FLOW_BLOCK_UNBIND:
		kno_block_unbind(flowtable, dev);
		return 0;
	}
	return -EOPNOTSUPP;
}
EXPORT_SYMBOL_GPL(nf_flow_table_offload_setup);

/* ------------------------------------------------------------------ */
/* Module                                                              */
/* ------------------------------------------------------------------ */

int nf_flow_table_offload_init(void)
{
	int i;

	kno_offload_wq = alloc_workqueue("kno_ft_offload",
					 WQ_UNBOUND | WQ_SYSFS, 0);
	if (!kno_offload_wq)
		return -ENOMEM;

	for (i = 0; i < KNO_Q_MAX; i++) {
		struct kno_queue *q = &kno_queues[i];

		spin_lock_init(&q->lock);
		INIT_LIST_HEAD(&q->list);
		INIT_WORK(&q->work, kno_queue_work);
	}
	for (i = 0; i < FLOW_OFFLOAD_DIR_MAX; i++) {
		kno_queues[KNO_Q_REPLACE].rules[i] = kno_rule_alloc();
		if (!kno_queues[KNO_Q_REPLACE].rules[i])
			goto err_rules;
	}
	return 0;

err_rules:
	for (i = 0; i < FLOW_OFFLOAD_DIR_MAX; i++)
		kno_rule_free(kno_queues[KNO_Q_REPLACE].rules[i]);
	destroy_workqueue(kno_offload_wq);
	return -ENOMEM;
}

void nf_flow_table_offload_exit(void)
{
	int i;

	destroy_workqueue(kno_offload_wq);
	for (i = 0; i < FLOW_OFFLOAD_DIR_MAX; i++)
		kno_rule_free(kno_queues[KNO_Q_REPLACE].rules[i]);
}
