// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: the nftables flowtable types of the ip, ip6 and inet
 * families. nf_tables loads this module through the "nf-flowtable-<family>"
 * aliases when a flowtable is created, and holds a reference on it for as
 * long as a flowtable of these types exists.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/rhashtable.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netfilter/nf_tables.h>
#include <linux/if_vlan.h>
#include "compat.h"

/*
 * Mixed-family flowtables: find the IP version behind at most one 802.1Q
 * tag or a PPPoE session header, then run the family's fast path, which
 * validates the encapsulation itself.
 */
static unsigned int nf_flow_inet_hook(void *priv, struct sk_buff *skb,
				      const struct nf_hook_state *state)
{
	__be16 proto = skb->protocol;

	if (proto == htons(ETH_P_8021Q)) {
		if (!pskb_may_pull(skb, VLAN_HLEN))
			return NF_ACCEPT;
		proto = ((struct vlan_hdr *)skb_network_header(skb))->h_vlan_encapsulated_proto;
	} else if (proto == htons(ETH_P_PPP_SES)) {
		if (!pskb_may_pull(skb, PPPOE_SES_HLEN))
			return NF_ACCEPT;
		switch (*(__be16 *)(skb_network_header(skb) +
				    sizeof(struct pppoe_hdr))) {
		case htons(PPP_IP):
			proto = htons(ETH_P_IP);
			break;
		case htons(PPP_IPV6):
			proto = htons(ETH_P_IPV6);
			break;
		default:
			return NF_ACCEPT;
		}
	}

	if (proto == htons(ETH_P_IP))
		return nf_flow_offload_ip_hook(priv, skb, state);
	if (proto == htons(ETH_P_IPV6))
		return nf_flow_offload_ipv6_hook(priv, skb, state);
	return NF_ACCEPT;
}

static int nf_flow_inet_rule_route(struct net *net, struct flow_offload *flow,
				   enum flow_offload_tuple_dir dir,
				   struct nf_flow_rule *flow_rule)
{
	switch (flow->tuplehash[dir].tuple.l3proto) {
	case NFPROTO_IPV4:
		return nf_flow_rule_route_ipv4(net, flow, dir, flow_rule);
	case NFPROTO_IPV6:
		return nf_flow_rule_route_ipv6(net, flow, dir, flow_rule);
	}
	return -EOPNOTSUPP;
}

static struct nf_flowtable_type nf_flow_type_inet = {
	.family	= NFPROTO_INET,
	.init	= nf_flow_table_init,
	.setup	= nf_flow_table_offload_setup,
	.action	= nf_flow_inet_rule_route,
	.free	= nf_flow_table_free,
	.hook	= nf_flow_inet_hook,
	.owner	= THIS_MODULE,
};

static struct nf_flowtable_type nf_flow_type_ipv4 = {
	.family	= NFPROTO_IPV4,
	.init	= nf_flow_table_init,
	.setup	= nf_flow_table_offload_setup,
	.action	= nf_flow_rule_route_ipv4,
	.free	= nf_flow_table_free,
	.hook	= nf_flow_offload_ip_hook,
	.owner	= THIS_MODULE,
};

static struct nf_flowtable_type nf_flow_type_ipv6 = {
	.family	= NFPROTO_IPV6,
	.init	= nf_flow_table_init,
	.setup	= nf_flow_table_offload_setup,
	.action	= nf_flow_rule_route_ipv6,
	.free	= nf_flow_table_free,
	.hook	= nf_flow_offload_ipv6_hook,
	.owner	= THIS_MODULE,
};

static int __init nf_flow_inet_module_init(void)
{
	nft_register_flowtable_type(&nf_flow_type_ipv4);
	nft_register_flowtable_type(&nf_flow_type_ipv6);
	nft_register_flowtable_type(&nf_flow_type_inet);
	return 0;
}

static void __exit nf_flow_inet_module_exit(void)
{
	nft_unregister_flowtable_type(&nf_flow_type_inet);
	nft_unregister_flowtable_type(&nf_flow_type_ipv6);
	nft_unregister_flowtable_type(&nf_flow_type_ipv4);
}

module_init(nf_flow_inet_module_init);
module_exit(nf_flow_inet_module_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION(KNO_VERSION);
MODULE_ALIAS_NF_FLOWTABLE(AF_INET);
MODULE_ALIAS_NF_FLOWTABLE(AF_INET6);
MODULE_ALIAS_NF_FLOWTABLE(1); /* NFPROTO_INET */
MODULE_DESCRIPTION("Netfilter flow table types ip, ip6, inet (kmod-nft-offload)");
