// SPDX-License-Identifier: GPL-2.0
/*
 * kno_simnic: port pairs, the "wire" between them, module life cycle.
 *
 * Locking: kno_sim_lock (a mutex) protects the port list, every port's
 * rule tables and bindings, the command counters and the knobs. It nests
 * inside rtnl_lock and inside the flowtable's and tc's block locks (the
 * block callbacks take it); nothing takes those locks while holding it.
 * The datapath runs with BH disabled under RCU and takes no locks.
 *
 * Lifetime: a port is the private area of its net_device. Ports are created
 * in pairs and always unregistered together (dellink takes the peer along).
 * ndo_uninit unlinks the port and frees its rules under kno_sim_lock; the
 * net_device (and the port) is freed after the synchronize_net() that
 * follows ndo_uninit, so datapath readers never see a freed port.
 */

#include <linux/ethtool.h>
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/random.h>
#include <linux/rtnetlink.h>
#include <net/net_namespace.h>
#include <net/rtnetlink.h>

#include "kno_simnic.h"

/* Control path: ports, tables, bindings, knobs. See above. */
DEFINE_MUTEX(kno_sim_lock);
LIST_HEAD(kno_sim_ports);
atomic_t kno_sim_rule_objs = ATOMIC_INIT(0);

struct kno_sim_config kno_sim_cfg = {
	.ft_capacity = KNO_SIM_DEF_CAPACITY,
	.acl_capacity = KNO_SIM_DEF_CAPACITY,
	.ipv6_nat = true,
	.fault = {
		[KNO_SIM_CMD_REPLACE] = { .err = -EIO },
		[KNO_SIM_CMD_DESTROY] = { .err = -EIO },
		[KNO_SIM_CMD_STATS] = { .err = -EIO },
		[KNO_SIM_CMD_BIND] = { .err = -EIO },
	},
};

static u32 kno_sim_port_seq;
static struct rtnl_link_ops kno_sim_link_ops;

/* Caller holds kno_sim_lock. Returns the errno to fail with, or 0. */
int kno_sim_fault_check(enum kno_sim_cmd cmd)
{
	struct kno_sim_fault *ft = &kno_sim_cfg.fault[cmd];

	lockdep_assert_held(&kno_sim_lock);
	if (ft->next) {
		ft->next--;
		return ft->err;
	}
	if (!ft->percent || get_random_u32() % 100 >= ft->percent)
		return 0;
	if (ft->limited) {
		if (!ft->times)
			return 0;
		ft->times--;
	}
	return ft->err;
}

/*
 * The start of a DESTROY or STATS of an installed rule, kno_sim_lock held:
 * count the call, fail with ENOENT when @rule is NULL (no such rule, or the
 * port is gone) and with the injected errno when a fault is due.
 */
int kno_sim_cmd_start(struct kno_sim_cmd_stats *st, const void *rule,
		      enum kno_sim_cmd cmd)
{
	int err;

	st->calls++;
	if (!rule) {
		st->enoent++;
		return -ENOENT;
	}
	err = kno_sim_fault_check(cmd);
	if (err)
		st->injected++;
	return err;
}

/* Simulated command latency; called without kno_sim_lock. */
void kno_sim_delay(void)
{
	unsigned int ms = READ_ONCE(kno_sim_cfg.delay_ms);

	if (ms)
		msleep(ms);
}

void kno_sim_stats_read(struct kno_sim_port *port, u64 *sum)
{
	int cpu, i;

	memset(sum, 0, sizeof(*sum) * KNO_SIM_NCTR);
	for_each_possible_cpu(cpu) {
		const struct kno_sim_pcpu *s = per_cpu_ptr(port->pcpu, cpu);
		u64 t[KNO_SIM_NCTR];
		unsigned int start;

		do {
			start = u64_stats_fetch_begin(&s->syncp);
			for (i = 0; i < KNO_SIM_NCTR; i++)
				t[i] = u64_stats_read(&s->c[i]);
		} while (u64_stats_fetch_retry(&s->syncp, start));
		for (i = 0; i < KNO_SIM_NCTR; i++)
			sum[i] += t[i];
	}
}

/*
 * A frame arrives on @port from the wire (its peer transmitted it, or the
 * hardware forwarded it out of the peer). BH disabled, RCU held. The
 * hardware tables see it first; what they do not consume goes to the host
 * stack of @port's namespace.
 */
void kno_sim_wire_rx(struct kno_sim_port *port, struct sk_buff *skb)
{
	/* Scrubs the skb when it crosses namespaces, checks MTU and IFF_UP,
	 * and runs eth_type_trans(); frees the skb on failure.
	 */
	if (__dev_forward_skb(port->dev, skb) != NET_RX_SUCCESS)
		return;

	/* No receive checksum offload: the stack verifies everything. */
	skb->ip_summed = CHECKSUM_NONE;

	if (kno_sim_hw_rx(port, skb))
		return;

	kno_sim_count_pkt(port, KNO_SIM_RX_PACKETS, skb->len + ETH_HLEN);
	netif_rx(skb);
}

static netdev_tx_t kno_sim_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct kno_sim_port *port = netdev_priv(dev);
	struct kno_sim_port *peer;

	rcu_read_lock();
	peer = rcu_dereference(port->peer);
	if (unlikely(!peer || !netif_running(peer->dev))) {
		kno_sim_count(port, KNO_SIM_TX_DROPPED, 1);
		dev_kfree_skb_any(skb);
	} else {
		kno_sim_count_pkt(port, KNO_SIM_TX_PACKETS, skb->len);
		kno_sim_wire_rx(peer, skb);
	}
	rcu_read_unlock();
	return NETDEV_TX_OK;
}

static int kno_sim_open(struct net_device *dev)
{
	struct kno_sim_port *port = netdev_priv(dev);
	struct kno_sim_port *peer = rtnl_dereference(port->peer);

	if (peer && netif_running(peer->dev)) {
		netif_carrier_on(dev);
		netif_carrier_on(peer->dev);
	}
	return 0;
}

static int kno_sim_stop(struct net_device *dev)
{
	struct kno_sim_port *port = netdev_priv(dev);
	struct kno_sim_port *peer = rtnl_dereference(port->peer);

	netif_carrier_off(dev);
	if (peer)
		netif_carrier_off(peer->dev);
	return 0;
}

static void kno_sim_get_stats64(struct net_device *dev,
				struct rtnl_link_stats64 *stats)
{
	struct kno_sim_port *port = netdev_priv(dev);
	u64 sum[KNO_SIM_NCTR];

	kno_sim_stats_read(port, sum);
	stats->rx_packets = sum[KNO_SIM_RX_PACKETS];
	stats->rx_bytes = sum[KNO_SIM_RX_BYTES];
	stats->tx_packets = sum[KNO_SIM_TX_PACKETS];
	stats->tx_bytes = sum[KNO_SIM_TX_BYTES];
	stats->tx_dropped = sum[KNO_SIM_TX_DROPPED];
}

static int kno_sim_get_iflink(const struct net_device *dev)
{
	struct kno_sim_port *port = netdev_priv(dev);
	struct kno_sim_port *peer;
	int iflink = 0;

	rcu_read_lock();
	peer = rcu_dereference(port->peer);
	if (peer)
		iflink = peer->dev->ifindex;
	rcu_read_unlock();
	return iflink;
}

/*
 * Under RTNL, after the NETDEV_UNREGISTER notifiers and before the
 * net_device is freed. Owners normally unbound their blocks by now; the
 * bindings they did not are detached from the port (kno_sim_port_flush()).
 */
static void kno_sim_uninit(struct net_device *dev)
{
	struct kno_sim_port *port = netdev_priv(dev);
	struct kno_sim_port *peer = rtnl_dereference(port->peer);

	if (peer) {
		RCU_INIT_POINTER(peer->peer, NULL);
		RCU_INIT_POINTER(port->peer, NULL);
	}

	mutex_lock(&kno_sim_lock);
	if (port->live) {
		port->live = false;
		list_del(&port->node);
		kno_sim_port_flush(port);
	}
	mutex_unlock(&kno_sim_lock);
}

const struct net_device_ops kno_sim_netdev_ops = {
	.ndo_uninit		= kno_sim_uninit,
	.ndo_open		= kno_sim_open,
	.ndo_stop		= kno_sim_stop,
	.ndo_start_xmit		= kno_sim_xmit,
	.ndo_get_stats64	= kno_sim_get_stats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
	.ndo_get_iflink		= kno_sim_get_iflink,
	.ndo_setup_tc		= kno_sim_setup_tc,
};

static void kno_sim_get_drvinfo(struct net_device *dev,
				struct ethtool_drvinfo *info)
{
	strscpy(info->driver, KNO_SIM_NAME, sizeof(info->driver));
	strscpy(info->version, KNO_VERSION, sizeof(info->version));
}

static const struct ethtool_ops kno_sim_ethtool_ops = {
	.get_drvinfo	= kno_sim_get_drvinfo,
	.get_link	= ethtool_op_get_link,
};

/* Called by free_netdev's owner (needs_free_netdev) and on a failed
 * register_netdevice(); the port is unlinked by then.
 */
static void kno_sim_destructor(struct net_device *dev)
{
	struct kno_sim_port *port = netdev_priv(dev);

	free_percpu(port->pcpu);
	port->pcpu = NULL;
}

static void kno_sim_setup(struct net_device *dev)
{
	struct kno_sim_port *port = netdev_priv(dev);
	int i;

	ether_setup(dev);
	dev->netdev_ops = &kno_sim_netdev_ops;
	dev->ethtool_ops = &kno_sim_ethtool_ops;
	dev->rtnl_link_ops = &kno_sim_link_ops;
	dev->priv_flags |= IFF_NO_QUEUE;
	/* The hardware rewrites frames in place. */
	dev->priv_flags &= ~IFF_TX_SKB_SHARING;
	/* No checksum, scatter-gather or segmentation offload: frames on
	 * the wire are complete and linear, like on a real one.
	 */
	dev->hw_features = NETIF_F_HW_TC;
	dev->features = NETIF_F_HW_TC;
	dev->max_mtu = ETH_MAX_MTU;
	dev->needs_free_netdev = true;
	dev->priv_destructor = kno_sim_destructor;
	eth_hw_addr_random(dev);

	port->dev = dev;
	INIT_LIST_HEAD(&port->node);
	INIT_LIST_HEAD(&port->ft_rules);
	INIT_LIST_HEAD(&port->acl_rules);
	INIT_LIST_HEAD(&port->bindings);
	for (i = 0; i < KNO_SIM_FT_BUCKETS; i++) {
		INIT_HLIST_HEAD(&port->ft_hash[i]);
		INIT_HLIST_HEAD(&port->ft_cookies[i]);
	}
}

/* RTNL held. Like veth: deleting one end deletes the pair. */
static void kno_sim_dellink(struct net_device *dev, struct list_head *head)
{
	struct kno_sim_port *port = netdev_priv(dev);
	struct kno_sim_port *peer = rtnl_dereference(port->peer);

	RCU_INIT_POINTER(port->peer, NULL);
	unregister_netdevice_queue(dev, head);
	if (peer) {
		RCU_INIT_POINTER(peer->peer, NULL);
		unregister_netdevice_queue(peer->dev, head);
	}
}

static int kno_sim_validate(struct nlattr *tb[], struct nlattr *data[],
			    struct netlink_ext_ack *extack)
{
	NL_SET_ERR_MSG_MOD(extack,
			   "create kno_simnic pairs through debugfs kno_simnic/new_pair");
	return -EOPNOTSUPP;
}

static struct rtnl_link_ops kno_sim_link_ops = {
	.kind		= KNO_SIM_NAME,
	.priv_size	= sizeof(struct kno_sim_port),
	.validate	= kno_sim_validate,
	.dellink	= kno_sim_dellink,
};

/* Free a device that never got (or failed) registration. register_netdevice
 * runs the destructor only on some of its error paths; it clears ->pcpu.
 */
static void kno_sim_free_unregistered(struct net_device *dev)
{
	kno_sim_destructor(dev);
	free_netdev(dev);
}

static struct net_device *kno_sim_alloc(struct net *net, const char *name)
{
	struct net_device *dev;
	struct kno_sim_port *port;

	dev = alloc_netdev(sizeof(*port), name, NET_NAME_USER, kno_sim_setup);
	if (!dev)
		return NULL;
	port = netdev_priv(dev);
	port->pcpu = netdev_alloc_pcpu_stats(struct kno_sim_pcpu);
	if (!port->pcpu) {
		free_netdev(dev);
		return NULL;
	}
	dev_net_set(dev, net);
	return dev;
}

/* Create a linked pair in @net. Process context, takes RTNL. */
int kno_sim_pair_new(struct net *net, const char *name_a, const char *name_b)
{
	struct net_device *a, *b;
	struct kno_sim_port *pa, *pb;
	int err;

	if (!dev_valid_name(name_a) || !dev_valid_name(name_b) ||
	    !strcmp(name_a, name_b) || strchr(name_a, '%') ||
	    strchr(name_b, '%'))
		return -EINVAL;

	a = kno_sim_alloc(net, name_a);
	b = kno_sim_alloc(net, name_b);
	if (!a || !b) {
		if (a)
			kno_sim_free_unregistered(a);
		if (b)
			kno_sim_free_unregistered(b);
		return -ENOMEM;
	}
	pa = netdev_priv(a);
	pb = netdev_priv(b);

	rtnl_lock();
	err = register_netdevice(a);
	if (err) {
		rtnl_unlock();
		kno_sim_free_unregistered(a);
		kno_sim_free_unregistered(b);
		return err;
	}
	err = register_netdevice(b);
	if (err) {
		unregister_netdevice(a);
		rtnl_unlock();
		kno_sim_free_unregistered(b);
		return err;
	}
	netif_carrier_off(a);
	netif_carrier_off(b);
	rcu_assign_pointer(pa->peer, pb);
	rcu_assign_pointer(pb->peer, pa);

	mutex_lock(&kno_sim_lock);
	pa->id = ++kno_sim_port_seq;
	pb->id = ++kno_sim_port_seq;
	pa->live = true;
	pb->live = true;
	list_add_tail(&pa->node, &kno_sim_ports);
	list_add_tail(&pb->node, &kno_sim_ports);
	mutex_unlock(&kno_sim_lock);
	rtnl_unlock();
	return 0;
}

/* Delete the port called @name in @net together with its peer. */
int kno_sim_pair_del(struct net *net, const char *name)
{
	struct net_device *dev;
	LIST_HEAD(list);

	rtnl_lock();
	dev = __dev_get_by_name(net, name);
	if (!kno_sim_is_port(dev)) {
		rtnl_unlock();
		return -ENODEV;
	}
	kno_sim_dellink(dev, &list);
	unregister_netdevice_many(&list);
	rtnl_unlock();
	return 0;
}

static int __init kno_sim_init(void)
{
	int err;

	err = rtnl_link_register(&kno_sim_link_ops);
	if (err)
		return err;
	err = kno_sim_debugfs_init();
	if (err) {
		rtnl_link_unregister(&kno_sim_link_ops);
		return err;
	}
	pr_info("%s %s loaded\n", KNO_SIM_NAME, KNO_VERSION);
	return 0;
}

static void __exit kno_sim_exit(void)
{
	/* No new pairs or knob writes after this. */
	kno_sim_debugfs_exit();
	kno_sim_log_exit();
	/* Deletes every port in every namespace (dellink); their owners
	 * unbind all blocks from the NETDEV_UNREGISTER notifiers.
	 */
	rtnl_link_unregister(&kno_sim_link_ops);
	/* Rules are freed by RCU callbacks. */
	rcu_barrier();
	WARN_ON(!list_empty(&kno_sim_ports));
	WARN_ON(atomic_read(&kno_sim_rule_objs));
}

module_init(kno_sim_init);
module_exit(kno_sim_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION(KNO_VERSION);
MODULE_DESCRIPTION("Simulated NIC pairs with flowtable and tc offload (test only)");
MODULE_AUTHOR("kmod-nft-offload developers");
MODULE_ALIAS_RTNL_LINK(KNO_SIM_NAME);
