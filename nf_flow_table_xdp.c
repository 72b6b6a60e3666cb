// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: which software flowtable serves a device, for the XDP
 * flowtable lookup (bpf_xdp_flow_lookup). Software flowtables register each
 * of their devices here when nf_tables binds them.
 *
 * The map is read under RCU from XDP programs and written under
 * kno_xdp_lock from process context; entries are freed after a grace
 * period.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/rhashtable.h>
#include <linux/netdevice.h>
#include <net/flow_offload.h>
#include <net/netfilter/nf_flow_table.h>
#include "nf_flow_table_internal.h"

struct kno_xdp_entry {
	struct hlist_node		node;
	const struct net_device		*dev;
	struct nf_flowtable		*ft;
	struct rcu_head			rcu;
};

#define KNO_XDP_HASH_BITS	6
static DEFINE_HASHTABLE(kno_xdp_map, KNO_XDP_HASH_BITS);
static DEFINE_MUTEX(kno_xdp_lock);

/**
 * nf_flowtable_by_dev - the software flowtable a device belongs to
 * @dev: the device
 *
 * Context: RCU read side.
 * Return: the first flowtable registered for @dev, or NULL.
 */
struct nf_flowtable *nf_flowtable_by_dev(const struct net_device *dev)
{
	struct kno_xdp_entry *e;

	hash_for_each_possible_rcu(kno_xdp_map, e, node, (unsigned long)dev)
		if (e->dev == dev)
			return e->ft;
	return NULL;
}

static int kno_xdp_add(struct nf_flowtable *ft, const struct net_device *dev)
{
	struct kno_xdp_entry *e;

	e = kzalloc(sizeof(*e), GFP_KERNEL_ACCOUNT);
	if (!e)
		return -ENOMEM;
	e->dev = dev;
	e->ft = ft;

	mutex_lock(&kno_xdp_lock);
	hash_add_rcu(kno_xdp_map, &e->node, (unsigned long)dev);
	mutex_unlock(&kno_xdp_lock);
	return 0;
}

/* Remove the entries of @ft, for @dev only unless @dev is NULL. */
static void kno_xdp_del(struct nf_flowtable *ft, const struct net_device *dev)
{
	struct kno_xdp_entry *e;
	struct hlist_node *tmp;
	int bkt;

	mutex_lock(&kno_xdp_lock);
	hash_for_each_safe(kno_xdp_map, bkt, tmp, e, node) {
		if (e->ft != ft || (dev && e->dev != dev))
			continue;
		hash_del_rcu(&e->node);
		kfree_rcu(e, rcu);
	}
	mutex_unlock(&kno_xdp_lock);
}

/**
 * nf_flow_offload_xdp_setup - register a software flowtable device
 * @flowtable: the flowtable
 * @dev: the device
 * @cmd: FLOW_BLOCK_BIND or FLOW_BLOCK_UNBIND
 *
 * Return: 0 or -ENOMEM.
 */
int nf_flow_offload_xdp_setup(struct nf_flowtable *flowtable,
			      struct net_device *dev,
			      enum flow_block_command cmd)
{
	switch (cmd) {
	case FLOW_BLOCK_BIND:
		return kno_xdp_add(flowtable, dev);
	case FLOW_BLOCK_UNBIND:
		kno_xdp_del(flowtable, dev);
		return 0;
	}
	return -EOPNOTSUPP;
}

/* A flowtable is freed: nothing of it may stay reachable from XDP. */
void kno_xdp_flowtable_free(struct nf_flowtable *flow_table)
{
	kno_xdp_del(flow_table, NULL);
}
