// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: the nftables "flow add @ft" expression.
 *
 * Evaluated in the forward hook, it moves an established conntrack entry
 * into a flowtable: it computes the route of both directions, resolves the
 * device path below the egress devices (VLAN, QinQ, bridge, PPPoE, DSA) so
 * that the fast path can transmit directly and hardware can be told about
 * the encapsulation, and adds the flow.
 *
 * Every reason for not offloading a packet's connection is counted per
 * network namespace and shown in /proc/net/nft_flow_offload.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/init.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/workqueue.h>
#include <linux/spinlock.h>
#include <linux/if_bridge.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <net/ip.h>
#include <net/netns/generic.h>
#include <net/netfilter/nf_tables.h>
#include <net/netfilter/nf_tables_core.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_extend.h>
#include <net/netfilter/nf_conntrack_helper.h>
#include <net/netfilter/nf_flow_table.h>
#include "compat.h"

struct nft_flow_offload {
	struct nft_flowtable	*flowtable;
};

/* Why a connection was not (or not yet) moved into the flowtable. */
enum nft_fo_reason {
	NFT_FO_OFFLOADED,	/* added (not a failure) */
	NFT_FO_SECPATH,		/* IPsec-decapsulated packet */
	NFT_FO_IP_OPTIONS,	/* IPv4 options */
	NFT_FO_NO_CT,		/* untracked or invalid */
	NFT_FO_L4PROTO,		/* not TCP, UDP or plain GRE */
	NFT_FO_TCP_STATE,	/* TCP not established, or FIN/RST */
	NFT_FO_HELPER,		/* helper, sequence adjustment or NAT clash */
	NFT_FO_UNCONFIRMED,	/* conntrack entry not confirmed yet */
	NFT_FO_NO_ROUTE,	/* no route back to the sender */
	NFT_FO_ISOLATED,	/* between isolated bridge ports */
	NFT_FO_NO_MEMORY,	/* allocation failed */
	NFT_FO_ADD_FAILED,	/* the flowtable refused the flow */
	NFT_FO_MAX,
};

static const char * const nft_fo_reason_names[NFT_FO_MAX] = {
	[NFT_FO_OFFLOADED]	= "offloaded",
	[NFT_FO_SECPATH]	= "skip_ipsec",
	[NFT_FO_IP_OPTIONS]	= "skip_ip_options",
	[NFT_FO_NO_CT]		= "skip_no_conntrack",
	[NFT_FO_L4PROTO]	= "skip_l4proto",
	[NFT_FO_TCP_STATE]	= "skip_tcp_state",
	[NFT_FO_HELPER]		= "skip_helper_seqadj",
	[NFT_FO_UNCONFIRMED]	= "skip_unconfirmed",
	[NFT_FO_NO_ROUTE]	= "fail_no_route",
	[NFT_FO_ISOLATED]	= "skip_isolated_bridge_ports",
	[NFT_FO_NO_MEMORY]	= "fail_no_memory",
	[NFT_FO_ADD_FAILED]	= "fail_flowtable_add",
};

struct nft_fo_net {
	u64 __percpu	*count;		/* NFT_FO_MAX counters per cpu */
};

static unsigned int nft_fo_net_id __read_mostly;

static void nft_fo_count(const struct net *net, enum nft_fo_reason reason)
{
	struct nft_fo_net *fn = net_generic(net, nft_fo_net_id);

	this_cpu_inc(fn->count[reason]);
}

/* ------------------------------------------------------------------ */
/* Device path below the egress device                                 */
/* ------------------------------------------------------------------ */

/* What the device path tells about one direction of the flow. */
struct nft_fo_path {
	const struct net_device	*indev;		/* lowest device; NULL: unusable */
	const struct net_device	*outdev;	/* top device to transmit on */
	const struct net_device	*bridge;	/* bridge crossed, if any */
	struct {
		u16	id;
		__be16	proto;
	} encap[NF_FLOW_TABLE_ENCAP_MAX];
	u8			num_encaps;
	u8			ingress_vlans;
	u8			h_source[ETH_ALEN];
	u8			h_dest[ETH_ALEN];
	enum flow_offload_xmit_type xmit_type;
};

static bool nft_fo_ether_dev(const struct net_device *dev)
{
	return dev && !(dev->flags & IFF_LOOPBACK) &&
	       dev->type == ARPHRD_ETHER && dev->addr_len == ETH_ALEN &&
	       is_valid_ether_addr(dev->dev_addr);
}

/*
 * Resolve the layer 2 destination of @dst for the packet's peer and let the
 * device stack describe the path down to a real device.
 */
static int nft_fo_fill_path(const struct dst_entry *dst, const void *daddr,
			    u8 *ha, struct net_device_path_stack *stack)
{
	struct net_device *dev = dst->dev;
	struct neighbour *n;
	u8 nud_state;

	eth_zero_addr(ha);
	if (nft_fo_ether_dev(dev)) {
		n = dst_neigh_lookup(dst, daddr);
		if (!n)
			return -ENOENT;
		read_lock_bh(&n->lock);
		nud_state = n->nud_state;
		ether_addr_copy(ha, n->ha);
		read_unlock_bh(&n->lock);
		neigh_release(n);
		if (!(nud_state & NUD_VALID))
			return -ENOENT;
	}
	return dev_fill_forward_path(dev, ha, stack);
}

static bool nft_fo_push_encap(struct nft_fo_path *info, u16 id, __be16 proto)
{
	if (info->num_encaps >= NF_FLOW_TABLE_ENCAP_MAX)
		return false;
	info->encap[info->num_encaps].id = id;
	info->encap[info->num_encaps].proto = proto;
	info->num_encaps++;
	return true;
}

static void nft_fo_set_source(struct nft_fo_path *info,
			      const struct net_device *dev)
{
	if (is_zero_ether_addr(info->h_source))
		ether_addr_copy(info->h_source, dev->dev_addr);
}

/* Fold the path stack, from the top device down, into @info. */
static void nft_fo_walk_path(const struct net_device_path_stack *stack,
			     struct nft_fo_path *info, bool hw_offload)
{
	int i;

	for (i = 0; i < stack->num_paths && info->indev; i++) {
		const struct net_device_path *path = &stack->path[i];

		switch (path->type) {
		case DEV_PATH_ETHERNET:
		case DEV_PATH_DSA:
		case DEV_PATH_VLAN:
		case DEV_PATH_PPPOE:
			info->indev = path->dev;
			nft_fo_set_source(info, path->dev);
			if (path->type == DEV_PATH_DSA)
				i = stack->num_paths;
			if (path->type != DEV_PATH_VLAN &&
			    path->type != DEV_PATH_PPPOE)
				break;
			if (!info->outdev)
				info->outdev = path->dev;
			if (!nft_fo_push_encap(info, path->encap.id,
					       path->encap.proto))
				info->indev = NULL;
			if (path->type == DEV_PATH_PPPOE)
				ether_addr_copy(info->h_dest, path->encap.h_dest);
			break;
		case DEV_PATH_BRIDGE:
			nft_fo_set_source(info, path->dev);
			info->bridge = path->dev;
			info->xmit_type = FLOW_OFFLOAD_XMIT_DIRECT;
			switch (path->bridge.vlan_mode) {
			case DEV_PATH_BR_VLAN_UNTAG_HW:
				if (info->num_encaps)
					info->ingress_vlans |= BIT(info->num_encaps - 1);
				break;
			case DEV_PATH_BR_VLAN_TAG:
				if (!nft_fo_push_encap(info, path->bridge.vlan_id,
						       path->bridge.vlan_proto))
					info->indev = NULL;
				break;
			case DEV_PATH_BR_VLAN_UNTAG:
				if (!info->num_encaps)
					info->indev = NULL;
				else
					info->num_encaps--;
				break;
			case DEV_PATH_BR_VLAN_KEEP:
				break;
			}
			break;
		default:
			/* e.g. wireless DMA paths: not ours to drive */
			info->indev = NULL;
			break;
		}
	}

	if (!info->indev)
		return;
	if (!info->outdev)
		info->outdev = info->indev;
	if (hw_offload && nft_fo_ether_dev(info->indev))
		info->xmit_type = FLOW_OFFLOAD_XMIT_DIRECT;
}

static bool nft_fo_flowtable_has_dev(const struct nft_flowtable *ft,
				     const struct net_device *dev)
{
	const struct nft_hook *hook;

	list_for_each_entry_rcu(hook, &ft->hook_list, list)
		if (hook->ops.dev == dev)
			return true;
	return false;
}

/*
 * Resolve the device path of direction @dir (transmitted via its route's
 * dst) into the flow route. Only paths whose lowest device belongs to the
 * flowtable are used; otherwise the plain routed defaults stay.
 */
static void nft_fo_resolve_dir(struct nf_flow_route *route,
			       const struct nf_conn *ct,
			       enum ip_conntrack_dir dir,
			       const struct nft_flowtable *ft,
			       struct nft_fo_path *info)
{
	struct net_device_path_stack stack;
	u8 ha[ETH_ALEN];
	int i;

	memset(info, 0, sizeof(*info));
	info->indev = route->tuple[dir].dst->dev;
	if (nft_fo_fill_path(route->tuple[dir].dst,
			     &ct->tuplehash[!dir].tuple.src.u3, ha, &stack) < 0) {
		info->indev = NULL;
		return;
	}
	ether_addr_copy(info->h_dest, ha);
	nft_fo_walk_path(&stack, info, ft->data.flags & NF_FLOWTABLE_HW_OFFLOAD);

	if (!info->indev || !nft_fo_flowtable_has_dev(ft, info->indev)) {
		info->indev = NULL;
		return;
	}

	route->tuple[!dir].in.ifindex = info->indev->ifindex;
	for (i = 0; i < info->num_encaps; i++) {
		route->tuple[!dir].in.encap[i].id = info->encap[i].id;
		route->tuple[!dir].in.encap[i].proto = info->encap[i].proto;
	}
	route->tuple[!dir].in.num_encaps = info->num_encaps;
	route->tuple[!dir].in.ingress_vlans = info->ingress_vlans;

	if (info->xmit_type != FLOW_OFFLOAD_XMIT_DIRECT)
		return;
	ether_addr_copy(route->tuple[dir].out.h_source, info->h_source);
	ether_addr_copy(route->tuple[dir].out.h_dest, info->h_dest);
	route->tuple[dir].out.ifindex = info->outdev->ifindex;
	route->tuple[dir].out.hw_ifindex = info->indev->ifindex;
	route->tuple[dir].xmit_type = FLOW_OFFLOAD_XMIT_DIRECT;
}

/*
 * A flow between two isolated ports of one bridge must stay with the
 * bridge, which enforces the isolation; the fast path would bypass it.
 * The bridge module is only asked if both ends are bridge ports (then it
 * is loaded), without making this module depend on it.
 */
static bool nft_fo_isolated(const struct nft_fo_path *a,
			    const struct nft_fo_path *b)
{
	bool (*flag_is_set)(const struct net_device *dev, unsigned long flag);
	bool isolated;

	if (!a->bridge || a->bridge != b->bridge || !a->indev || !b->indev ||
	    !netif_is_bridge_port(a->indev) || !netif_is_bridge_port(b->indev))
		return false;

	flag_is_set = symbol_get(br_port_flag_is_set);
	if (!flag_is_set)
		return false;
	isolated = flag_is_set(a->indev, BR_ISOLATED) &&
		   flag_is_set(b->indev, BR_ISOLATED);
	symbol_put(br_port_flag_is_set);
	return isolated;
}

/* ------------------------------------------------------------------ */
/* Routes                                                              */
/* ------------------------------------------------------------------ */

static void nft_fo_default_path(struct nf_flow_route *route,
				struct dst_entry *dst, enum ip_conntrack_dir dir)
{
	route->tuple[!dir].in.ifindex = dst->dev->ifindex;
	route->tuple[dir].dst = dst;
	route->tuple[dir].xmit_type = dst_xfrm(dst) ? FLOW_OFFLOAD_XMIT_XFRM :
						      FLOW_OFFLOAD_XMIT_NEIGH;
}

/*
 * Both directions' routes: the packet's own for @dir, a lookup back to the
 * sender for the other. On success @route holds a reference on both dsts.
 */
static enum nft_fo_reason nft_fo_route(const struct nft_pktinfo *pkt,
				       const struct nf_conn *ct,
				       struct nf_flow_route *route,
				       enum ip_conntrack_dir dir,
				       const struct nft_flowtable *ft)
{
	struct dst_entry *this_dst = skb_dst(pkt->skb);
	struct dst_entry *other_dst = NULL;
	struct nft_fo_path fwd, rev;
	struct flowi fl = {};

	switch (nft_pf(pkt)) {
	case NFPROTO_IPV4:
		fl.u.ip4.daddr = ct->tuplehash[dir].tuple.src.u3.ip;
		fl.u.ip4.saddr = ct->tuplehash[!dir].tuple.src.u3.ip;
		fl.u.ip4.flowi4_oif = nft_in(pkt)->ifindex;
		fl.u.ip4.flowi4_iif = this_dst->dev->ifindex;
		fl.u.ip4.flowi4_tos = kno_flowi_tos(ip_hdr(pkt->skb)->tos);
		fl.u.ip4.flowi4_mark = pkt->skb->mark;
		fl.u.ip4.flowi4_flags = FLOWI_FLAG_ANYSRC;
		break;
	case NFPROTO_IPV6:
		fl.u.ip6.daddr = ct->tuplehash[dir].tuple.src.u3.in6;
		fl.u.ip6.saddr = ct->tuplehash[!dir].tuple.src.u3.in6;
		fl.u.ip6.flowi6_oif = nft_in(pkt)->ifindex;
		fl.u.ip6.flowi6_iif = this_dst->dev->ifindex;
		fl.u.ip6.flowlabel = ip6_flowinfo(ipv6_hdr(pkt->skb));
		fl.u.ip6.flowi6_mark = pkt->skb->mark;
		fl.u.ip6.flowi6_flags = FLOWI_FLAG_ANYSRC;
		break;
	default:
		return NFT_FO_L4PROTO;
	}

	if (!dst_hold_safe(this_dst))
		return NFT_FO_NO_ROUTE;
	nf_route(nft_net(pkt), &other_dst, &fl, false, nft_pf(pkt));
	if (!other_dst) {
		dst_release(this_dst);
		return NFT_FO_NO_ROUTE;
	}

	nft_fo_default_path(route, this_dst, dir);
	nft_fo_default_path(route, other_dst, !dir);

	if (route->tuple[dir].xmit_type != FLOW_OFFLOAD_XMIT_NEIGH ||
	    route->tuple[!dir].xmit_type != FLOW_OFFLOAD_XMIT_NEIGH)
		return NFT_FO_OFFLOADED;

	nft_fo_resolve_dir(route, ct, dir, ft, &fwd);
	nft_fo_resolve_dir(route, ct, !dir, ft, &rev);
	if (nft_fo_isolated(&fwd, &rev)) {
		dst_release(route->tuple[dir].dst);
		dst_release(route->tuple[!dir].dst);
		return NFT_FO_ISOLATED;
	}
	return NFT_FO_OFFLOADED;
}

/* ------------------------------------------------------------------ */
/* Expression                                                          */
/* ------------------------------------------------------------------ */

/* Which connections can live in a flowtable at all. */
static enum nft_fo_reason nft_fo_eligible(const struct nft_pktinfo *pkt,
					  struct nf_conn *ct)
{
	const struct nf_conntrack_tuple *tuple;
	struct tcphdr _tcph;
	const struct tcphdr *tcph;

	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
		tcph = skb_header_pointer(pkt->skb, nft_thoff(pkt),
					  sizeof(_tcph), &_tcph);
		if (!tcph || tcph->fin || tcph->rst ||
		    !nf_conntrack_tcp_established(ct))
			return NFT_FO_TCP_STATE;
		break;
	case IPPROTO_UDP:
		break;
	case IPPROTO_GRE:
		/* GREv0 without keys and without NAT only. */
		tuple = &ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple;
		if (ct->status & IPS_NAT_MASK ||
		    tuple->src.u.gre.key || tuple->dst.u.gre.key)
			return NFT_FO_L4PROTO;
		break;
	default:
		return NFT_FO_L4PROTO;
	}

	if (nf_ct_ext_exist(ct, NF_CT_EXT_HELPER) ||
	    ct->status & (IPS_SEQ_ADJUST | IPS_NAT_CLASH))
		return NFT_FO_HELPER;
	if (!nf_ct_is_confirmed(ct))
		return NFT_FO_UNCONFIRMED;
	return NFT_FO_OFFLOADED;
}

/* The flowtable forwards what conntrack will not see: relax its TCP checks. */
static void nft_fo_tcp_liberal(struct nf_conn *ct)
{
	spin_lock_bh(&ct->lock);
	ct->proto.tcp.seen[0].flags |= IP_CT_TCP_FLAG_BE_LIBERAL;
	ct->proto.tcp.seen[1].flags |= IP_CT_TCP_FLAG_BE_LIBERAL;
	spin_unlock_bh(&ct->lock);
}

static enum nft_fo_reason nft_fo_offload(const struct nft_pktinfo *pkt,
					 struct nft_flowtable *ft,
					 struct nf_conn *ct,
					 enum ip_conntrack_info ctinfo)
{
	enum ip_conntrack_dir dir = CTINFO2DIR(ctinfo);
	struct nf_flow_route route = {};
	enum nft_fo_reason reason;
	struct flow_offload *flow;

	reason = nft_fo_eligible(pkt, ct);
	if (reason != NFT_FO_OFFLOADED)
		return reason;

	/* One flowtable entry per connection; the owner clears the bit. */
	if (test_and_set_bit(IPS_OFFLOAD_BIT, &ct->status))
		return NFT_FO_MAX;

	reason = nft_fo_route(pkt, ct, &route, dir, ft);
	if (reason != NFT_FO_OFFLOADED)
		goto err_clear;

	flow = flow_offload_alloc(ct);
	if (!flow) {
		dst_release(route.tuple[dir].dst);
		dst_release(route.tuple[!dir].dst);
		reason = NFT_FO_NO_MEMORY;
		goto err_clear;
	}
	flow_offload_route_init(flow, &route);
	if (nf_ct_protonum(ct) == IPPROTO_TCP)
		nft_fo_tcp_liberal(ct);

	/* nftables offloads both directions to hardware at once. */
	__set_bit(NF_FLOW_HW_BIDIRECTIONAL, &flow->flags);
	if (flow_offload_add(&ft->data, flow) < 0) {
		flow_offload_free(flow);
		reason = NFT_FO_ADD_FAILED;
		goto err_clear;
	}
	return NFT_FO_OFFLOADED;

err_clear:
	clear_bit(IPS_OFFLOAD_BIT, &ct->status);
	return reason;
}

static void nft_flow_offload_eval(const struct nft_expr *expr,
				  struct nft_regs *regs,
				  const struct nft_pktinfo *pkt)
{
	struct nft_flow_offload *priv = nft_expr_priv(expr);
	enum ip_conntrack_info ctinfo;
	enum nft_fo_reason reason;
	struct nf_conn *ct;

	regs->verdict.code = NFT_BREAK;

	ct = nf_ct_get(pkt->skb, &ctinfo);
	/* Already in a flowtable: the common case, nothing to count. */
	if (ct && test_bit(IPS_OFFLOAD_BIT, &ct->status))
		return;

	if (skb_sec_path(pkt->skb))
		reason = NFT_FO_SECPATH;
	else if (nft_pf(pkt) == NFPROTO_IPV4 &&
		 unlikely(IPCB(pkt->skb)->opt.optlen))
		reason = NFT_FO_IP_OPTIONS;
	else if (!ct)
		reason = NFT_FO_NO_CT;
	else
		reason = nft_fo_offload(pkt, priv->flowtable, ct, ctinfo);

	if (reason < NFT_FO_MAX)
		nft_fo_count(nft_net(pkt), reason);
}

static int nft_flow_offload_validate(const struct nft_ctx *ctx,
				     const struct nft_expr *expr)
{
	if (ctx->family != NFPROTO_IPV4 && ctx->family != NFPROTO_IPV6 &&
	    ctx->family != NFPROTO_INET)
		return -EOPNOTSUPP;

	return nft_chain_validate_hooks(ctx->chain, 1 << NF_INET_FORWARD);
}

static const struct nla_policy nft_flow_offload_policy[NFTA_FLOW_MAX + 1] = {
	[NFTA_FLOW_TABLE_NAME]	= { .type = NLA_STRING,
				    .len = NFT_NAME_MAXLEN - 1 },
};

static int nft_flow_offload_init(const struct nft_ctx *ctx,
				 const struct nft_expr *expr,
				 const struct nlattr * const tb[])
{
	struct nft_flow_offload *priv = nft_expr_priv(expr);
	struct nft_flowtable *ft;
	int err;

	if (!tb[NFTA_FLOW_TABLE_NAME])
		return -EINVAL;

	ft = nft_flowtable_lookup(ctx->table, tb[NFTA_FLOW_TABLE_NAME],
				  nft_genmask_next(ctx->net));
	if (IS_ERR(ft))
		return PTR_ERR(ft);

	if (!nft_use_inc(&ft->use))
		return -EMFILE;

	err = nf_ct_netns_get(ctx->net, ctx->family);
	if (err < 0) {
		nft_use_dec(&ft->use);
		return err;
	}
	priv->flowtable = ft;
	return 0;
}

static void nft_flow_offload_activate(const struct nft_ctx *ctx,
				      const struct nft_expr *expr)
{
	struct nft_flow_offload *priv = nft_expr_priv(expr);

	nft_use_inc_restore(&priv->flowtable->use);
}

static void nft_flow_offload_deactivate(const struct nft_ctx *ctx,
					const struct nft_expr *expr,
					enum nft_trans_phase phase)
{
	struct nft_flow_offload *priv = nft_expr_priv(expr);

	nf_tables_deactivate_flowtable(ctx, priv->flowtable, phase);
}

static void nft_flow_offload_destroy(const struct nft_ctx *ctx,
				     const struct nft_expr *expr)
{
	nf_ct_netns_put(ctx->net, ctx->family);
}

static int nft_flow_offload_dump(struct sk_buff *skb,
				 const struct nft_expr *expr, bool reset)
{
	struct nft_flow_offload *priv = nft_expr_priv(expr);

	return nla_put_string(skb, NFTA_FLOW_TABLE_NAME,
			      priv->flowtable->name) ? -1 : 0;
}

static struct nft_expr_type nft_flow_offload_type;

static const struct nft_expr_ops nft_flow_offload_ops = {
	.type		= &nft_flow_offload_type,
	.size		= NFT_EXPR_SIZE(sizeof(struct nft_flow_offload)),
	.eval		= nft_flow_offload_eval,
	.init		= nft_flow_offload_init,
	.activate	= nft_flow_offload_activate,
	.deactivate	= nft_flow_offload_deactivate,
	.destroy	= nft_flow_offload_destroy,
	.validate	= nft_flow_offload_validate,
	.dump		= nft_flow_offload_dump,
	KNO_NFT_EXPR_REDUCE_READONLY
};

static struct nft_expr_type nft_flow_offload_type __read_mostly = {
	.name		= "flow_offload",
	.ops		= &nft_flow_offload_ops,
	.policy		= nft_flow_offload_policy,
	.maxattr	= NFTA_FLOW_MAX,
	.owner		= THIS_MODULE,
};

/* ------------------------------------------------------------------ */
/* /proc/net/nft_flow_offload                                          */
/* ------------------------------------------------------------------ */

static int nft_fo_proc_show(struct seq_file *seq, void *v)
{
	struct nft_fo_net *fn = net_generic(seq_file_single_net(seq), nft_fo_net_id);
	int cpu, i;

	for (i = 0; i < NFT_FO_MAX; i++) {
		u64 sum = 0;

		for_each_possible_cpu(cpu)
			sum += *per_cpu_ptr(&fn->count[i], cpu);
		seq_printf(seq, "%-28s %llu\n", nft_fo_reason_names[i], sum);
	}
	return 0;
}

static int __net_init nft_fo_net_init(struct net *net)
{
	struct nft_fo_net *fn = net_generic(net, nft_fo_net_id);

	fn->count = __alloc_percpu(sizeof(u64) * NFT_FO_MAX, sizeof(u64));
	if (!fn->count)
		return -ENOMEM;
	if (!proc_create_net_single("nft_flow_offload", 0444, net->proc_net,
				    nft_fo_proc_show, NULL)) {
		free_percpu(fn->count);
		return -ENOMEM;
	}
	return 0;
}

static void __net_exit nft_fo_net_exit(struct net *net)
{
	struct nft_fo_net *fn = net_generic(net, nft_fo_net_id);

	remove_proc_entry("nft_flow_offload", net->proc_net);
	free_percpu(fn->count);
}

static struct pernet_operations nft_fo_net_ops = {
	.init	= nft_fo_net_init,
	.exit	= nft_fo_net_exit,
	.id	= &nft_fo_net_id,
	.size	= sizeof(struct nft_fo_net),
};

/* ------------------------------------------------------------------ */
/* Module                                                              */
/* ------------------------------------------------------------------ */

/* A device going down takes the flows through it back to the slow path. */
static int nft_fo_netdev_event(struct notifier_block *nb, unsigned long event,
			       void *ptr)
{
	if (event == NETDEV_DOWN)
		nf_flow_table_cleanup(netdev_notifier_info_to_dev(ptr));
	return NOTIFY_DONE;
}

static struct notifier_block nft_fo_netdev_notifier = {
	.notifier_call	= nft_fo_netdev_event,
};

static int __init nft_flow_offload_module_init(void)
{
	int err;

	err = register_pernet_subsys(&nft_fo_net_ops);
	if (err < 0)
		return err;

	err = register_netdevice_notifier(&nft_fo_netdev_notifier);
	if (err < 0)
		goto err_pernet;

	err = nft_register_expr(&nft_flow_offload_type);
	if (err < 0)
		goto err_notifier;
	return 0;

err_notifier:
	unregister_netdevice_notifier(&nft_fo_netdev_notifier);
err_pernet:
	unregister_pernet_subsys(&nft_fo_net_ops);
	return err;
}

static void __exit nft_flow_offload_module_exit(void)
{
	nft_unregister_expr(&nft_flow_offload_type);
	unregister_netdevice_notifier(&nft_fo_netdev_notifier);
	unregister_pernet_subsys(&nft_fo_net_ops);
}

module_init(nft_flow_offload_module_init);
module_exit(nft_flow_offload_module_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION(KNO_VERSION);
MODULE_ALIAS_NFT_EXPR("flow_offload");
MODULE_DESCRIPTION("nftables flow offload expression (kmod-nft-offload)");
