/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmod-nft-offload: the one place where kernel version differences live.
 *
 * Everything here is driven by what the target kernel's headers contain:
 * macros are tested directly, and facts that the preprocessor cannot see
 * (enumerators, prototypes, whole headers) are probed by Kbuild, which passes
 * KNO_HAVE_* defines. Only macros and static inlines over types the including
 * file already sees may live here: a new type definition could change the
 * modversion CRC of an exported symbol.
 */
#ifndef _KNO_COMPAT_H
#define _KNO_COMPAT_H

#ifndef KNO_VERSION
#define KNO_VERSION "unknown"
#endif

/*
 * The "offload request in flight" bit of flow_offload::flags. 6.1 calls it
 * NF_FLOW_HW_PENDING, 6.12 renamed it NF_FLOW_PENDING. act_ct reads it, so
 * we must use the kernel's own bit.
 */
#ifdef KNO_HAVE_NF_FLOW_HW_PENDING
#define KNO_FLOW_PENDING	NF_FLOW_HW_PENDING
#else
#define KNO_FLOW_PENDING	NF_FLOW_PENDING
#endif

/* skb_gso_validate_network_len() moved from linux/skbuff.h to net/gso.h. */
#ifdef KNO_HAVE_NET_GSO_H
#include <net/gso.h>
#endif

/* 6.1 has no dst_rtable() helper. */
#ifndef dst_rtable
#define dst_rtable(_ptr)	container_of(_ptr, struct rtable, dst)
#endif

/*
 * Route lookups for the reverse direction use the packet's TOS: 6.12 masks
 * with INET_DSCP_MASK (net/inet_dscp.h), 6.1 with RT_TOS().
 */
#ifdef KNO_HAVE_INET_DSCP_H
#include <net/inet_dscp.h>
#define kno_flowi_tos(tos)	((tos) & INET_DSCP_MASK)
#else
#define kno_flowi_tos(tos)	RT_TOS(tos)
#endif

/*
 * nft_expr_ops::reduce exists on 6.1 only; a read-only expression says so
 * with NFT_REDUCE_READONLY there.
 */
#ifdef NFT_REDUCE_READONLY
#define KNO_NFT_EXPR_REDUCE_READONLY	.reduce = NFT_REDUCE_READONLY,
#else
#define KNO_NFT_EXPR_REDUCE_READONLY
#endif

/*
 * The XDP flowtable lookup (bpf_xdp_flow_lookup kfunc and its dev ->
 * flowtable map) exists since 6.11; elsewhere binding a software
 * flowtable has nothing to register.
 */
#ifndef KNO_HAVE_FLOWTABLE_XDP
static inline int nf_flow_offload_xdp_setup(struct nf_flowtable *flowtable,
					    struct net_device *dev,
					    enum flow_block_command cmd)
{
	return 0;
}

static inline int nf_flow_register_bpf(void)
{
	return 0;
}
#endif

#endif /* _KNO_COMPAT_H */
