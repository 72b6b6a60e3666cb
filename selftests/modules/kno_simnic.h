/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kno_simnic: a simulated NIC for testing flowtable hardware offload.
 *
 * Ports come in linked pairs (what one port transmits arrives on its peer).
 * Each port has a small "hardware" flow table programmed through
 * ndo_setup_tc(TC_SETUP_FT) and an ingress ACL programmed through
 * ndo_setup_tc(TC_SETUP_BLOCK); frames arriving on a port are looked up in
 * both before they reach the host stack. See Documentation/simnic.rst.
 */
#ifndef KNO_SIMNIC_H
#define KNO_SIMNIC_H

#include <linux/if_ether.h>
#include <linux/in6.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/netdevice.h>
#include <linux/rculist.h>
#include <linux/types.h>
#include <linux/u64_stats_sync.h>
#include <net/flow_offload.h>

/*
 * Kernel version differences (6.1 and 6.12), decided by the headers.
 * FLOW_DISSECTOR_KEY_* bits: used_keys is 32 bits wide on 6.1 and 64 bits
 * on 6.12; BIT_ULL() masks work with both.
 */
#ifndef KNO_VERSION
#define KNO_VERSION "unknown"
#endif

#define KNO_SIM_NAME		"kno_simnic"
#define KNO_SIM_FT_BUCKETS	1024	/* power of 2 */
#define KNO_SIM_MAX_DEPTH	8
#define KNO_SIM_DEF_CAPACITY	64

enum kno_sim_btype {
	KNO_SIM_BLOCK_FT,	/* TC_SETUP_FT: flowtable offload */
	KNO_SIM_BLOCK_TC,	/* TC_SETUP_BLOCK: clsact/netdev ingress */
	KNO_SIM_BLOCK_NUM,
};

enum kno_sim_cmd {
	KNO_SIM_CMD_REPLACE,
	KNO_SIM_CMD_DESTROY,
	KNO_SIM_CMD_STATS,
	KNO_SIM_CMD_BIND,
	KNO_SIM_CMD_NUM,
};

/*
 * Exact-match key of a flowtable rule and of a parsed frame. Zeroed before
 * it is filled, so it can be hashed and compared as plain memory.
 */
struct kno_sim_key {
	union {
		struct {
			__be32 src;
			__be32 dst;
		} v4;
		struct {
			struct in6_addr src;
			struct in6_addr dst;
		} v6;
	} addr;
	__be16 sport;
	__be16 dport;
	__be16 n_proto;		/* ETH_P_IP or ETH_P_IPV6 */
	u8 ip_proto;
	u8 n_vlans;		/* VLAN tags in front of the L3 header */
	__be16 vlan_tpid[2];	/* [0] is the outer tag */
	u16 vlan_id[2];
};

/* A frame that arrived on a port, as the hardware parser sees it. */
struct kno_sim_pkt {
	struct kno_sim_key key;
	u8 dmac[ETH_ALEN];
	u8 smac[ETH_ALEN];
	__be16 etype[3];	/* ethertype after 0, 1 and 2 VLAN tags */
	u8 vlan_prio[2];
	unsigned int nhoff;	/* L3 header offset from the MAC header */
	unsigned int thoff;	/* L4 header offset from the MAC header */
	unsigned int l3len;	/* IPv4 total length, IPv6 40 + payload */
	__be16 tcp_flags;	/* flow dissector layout, 0 for UDP */
	u8 ttl;			/* IPv4 TTL or IPv6 hop limit */
	bool l3_ok;		/* key.n_proto is IPv4/IPv6 and parsed */
	bool l4_ok;		/* ports are valid */
	bool pppoe;		/* PPPoE session header in front of L3 */
	bool frag;		/* IPv4 fragment or IPv6 with ext headers */
};

/* Compiled actions of a flowtable rule. */
struct kno_sim_ft_act {
	u8 eth[12];		/* destination and source MAC */
	u8 n_pop;		/* VLAN tags to pop (outermost first) */
	bool push_vlan;
	bool push_pppoe;
	u16 vlan_tci;		/* VID and PCP of the pushed tag */
	u16 pppoe_sid;
	bool nat_src;
	bool nat_dst;
	bool nat_sport;
	bool nat_dport;
	union {
		struct {
			__be32 src;
			__be32 dst;
		} v4;
		struct {
			struct in6_addr src;
			struct in6_addr dst;
		} v6;
	} addr;
	__be16 sport;
	__be16 dport;
	u32 csum_flags;		/* TCA_CSUM_UPDATE_FLAG_* as sent */
	unsigned int n_actions;
};

struct kno_sim_port;

/*
 * One flowtable rule in the hardware table of its ingress port.
 * Lifetime: created and destroyed under kno_sim_lock; the datapath finds it
 * through port->ft_hash under RCU, so it is freed after a grace period.
 * @out may become NULL (under kno_sim_lock) when the egress port goes away;
 * the datapath then drops what the rule matches, like hardware would.
 */
struct kno_sim_ft_rule {
	struct hlist_node hnode;	/* port->ft_hash, RCU */
	struct hlist_node cnode;	/* port->ft_cookies, kno_sim_lock */
	struct list_head list;		/* port->ft_rules, kno_sim_lock */
	struct rcu_head rcu;
	struct kno_sim_port *port;	/* ingress port, owns the rule */
	struct kno_sim_port __rcu *out;	/* REDIRECT target */
	unsigned long cookie;
	u64 id;				/* global sequence, for debugfs */
	u64 binding;			/* id of the binding that installed it */
	u32 hash;
	__be16 tcp_mask;		/* packets with these flags miss */
	struct kno_sim_key key;
	struct kno_sim_ft_act act;
	unsigned long installed;	/* jiffies */
	unsigned int replaced;		/* REPLACE of an existing cookie */
	/* Hardware counters, updated by the datapath without locks. */
	atomic64_t packets;
	atomic64_t bytes;
	unsigned long lastused;		/* jiffies, WRITE_ONCE/READ_ONCE */
	/* What STATS already reported, under kno_sim_lock. */
	u64 rep_packets;
	u64 rep_bytes;
};

/*
 * One flow_block binding of a port. It is the block callback's cb_priv and
 * lives from BIND until the block core releases the flow_block_cb. It holds
 * no reference on the net_device: when the port goes first, @port is
 * switched to a placeholder that is never live (kno_sim_port_flush()).
 * @port is read and written under kno_sim_lock.
 */
struct kno_sim_binding {
	struct list_head node;		/* port->bindings, kno_sim_lock */
	struct kno_sim_port *port;
	enum kno_sim_btype type;
	u64 id;
};

/* Per-CPU port counters, datapath side. */
enum kno_sim_ctr {
	KNO_SIM_RX_PACKETS,	/* delivered to the host stack */
	KNO_SIM_RX_BYTES,
	KNO_SIM_TX_PACKETS,	/* sent by the host stack */
	KNO_SIM_TX_BYTES,
	KNO_SIM_TX_DROPPED,	/* no peer or peer down */
	KNO_SIM_HW_FWD_PACKETS,	/* arrived here, forwarded in hw */
	KNO_SIM_HW_FWD_BYTES,
	KNO_SIM_HW_TX_PACKETS,	/* left through here, from hw */
	KNO_SIM_HW_TX_BYTES,
	KNO_SIM_HW_DROP,	/* dropped by hw (ACL, dead egress) */
	KNO_SIM_HW_MISS,	/* looked up, went to the stack */
	KNO_SIM_HW_ERRORS,	/* rewrite failed (no memory) */
	KNO_SIM_NCTR,
};

struct kno_sim_pcpu {
	u64_stats_t c[KNO_SIM_NCTR];
	struct u64_stats_sync syncp;
};

/* Control-path counters of a port, under kno_sim_lock. */
struct kno_sim_cmd_stats {
	u64 calls;		/* calls for rules owned by this port */
	u64 ok;
	u64 failed;		/* validation or capacity errors */
	u64 injected;		/* failed by a fault knob */
	u64 foreign;		/* REPLACE for another port's ingress */
	u64 enoent;		/* DESTROY/STATS of an unknown cookie */
};

struct kno_sim_port {
	struct net_device *dev;
	struct kno_sim_port __rcu *peer;
	struct list_head node;		/* kno_sim_ports, kno_sim_lock */
	u32 id;
	bool live;			/* registered, not uninit (lock) */
	struct kno_sim_pcpu __percpu *pcpu;

	/* Flowtable hardware table, writers hold kno_sim_lock. */
	struct hlist_head ft_hash[KNO_SIM_FT_BUCKETS];
	/* The same rules by cookie (REPLACE, DESTROY, STATS), kno_sim_lock */
	struct hlist_head ft_cookies[KNO_SIM_FT_BUCKETS];
	struct list_head ft_rules;
	unsigned int n_ft_rules;	/* READ_ONCE in the datapath */
	unsigned int max_ft_rules;	/* high-water mark */

	/* Ingress ACL (TC_SETUP_BLOCK), see kno_simnic_acl.c. */
	struct list_head acl_rules;	/* RCU readers, lock writers */
	unsigned int n_acl_rules;

	struct list_head bindings;	/* struct kno_sim_binding */
	u64 binds[KNO_SIM_BLOCK_NUM];	/* totals, for side-effect tests */
	u64 unbinds[KNO_SIM_BLOCK_NUM];
	u64 bind_failed[KNO_SIM_BLOCK_NUM];

	/* Last refusal of a command (errno and extack text), lock. */
	int ft_last_err;
	const char *ft_last_msg;
	int acl_last_err;
	const char *acl_last_msg;

	struct kno_sim_cmd_stats ft_cmd[KNO_SIM_CMD_NUM];
	struct kno_sim_cmd_stats acl_cmd[KNO_SIM_CMD_NUM];
	u64 vlan_unflagged;		/* VLAN keys missing from used_keys */
	u64 orphaned;			/* rules whose egress port vanished */
	u64 flushed;			/* rules flushed at unbind */
};

/* Fault knobs, one per command type; written by debugfs. */
struct kno_sim_fault {
	unsigned int next;	/* fail the next N calls */
	unsigned int percent;	/* fail calls at random, 0..100 */
	unsigned int times;	/* random failures left, 0: no limit */
	bool limited;		/* times counts down */
	int err;		/* negative errno to return */
};

struct kno_sim_config {
	unsigned int ft_capacity;	/* flowtable rules per port */
	unsigned int acl_capacity;	/* ACL rules per port */
	unsigned int delay_ms;		/* sleep in every command */
	bool flush_on_unbind;
	bool ipv6_nat;			/* accept IPv6 address mangles */
	bool stats_frozen;		/* STATS reports nothing new */
	bool strict_keys;		/* trust used_keys only */
	struct kno_sim_fault fault[KNO_SIM_CMD_NUM];
};

extern struct mutex kno_sim_lock;
extern struct list_head kno_sim_ports;
extern struct kno_sim_config kno_sim_cfg;
extern atomic_t kno_sim_rule_objs;
extern unsigned int kno_sim_ft_total;		/* kno_sim_lock */
extern unsigned int kno_sim_ft_total_max;	/* kno_sim_lock */
extern const struct net_device_ops kno_sim_netdev_ops;

/* Count in the per-CPU counters; BH is disabled by the caller. */
static inline void kno_sim_count(struct kno_sim_port *port,
				 enum kno_sim_ctr ctr, unsigned int n)
{
	struct kno_sim_pcpu *s = this_cpu_ptr(port->pcpu);

	u64_stats_update_begin(&s->syncp);
	u64_stats_add(&s->c[ctr], n);
	u64_stats_update_end(&s->syncp);
}

/* A packets counter followed by its bytes counter. */
static inline void kno_sim_count_pkt(struct kno_sim_port *port,
				     enum kno_sim_ctr pkts, unsigned int len)
{
	struct kno_sim_pcpu *s = this_cpu_ptr(port->pcpu);

	u64_stats_update_begin(&s->syncp);
	u64_stats_inc(&s->c[pkts]);
	u64_stats_add(&s->c[pkts + 1], len);
	u64_stats_update_end(&s->syncp);
}

static inline bool kno_sim_is_port(const struct net_device *dev)
{
	return dev && dev->netdev_ops == &kno_sim_netdev_ops;
}

/* kno_simnic_main.c */
int kno_sim_pair_new(struct net *net, const char *name_a, const char *name_b);
int kno_sim_pair_del(struct net *net, const char *name);
void kno_sim_wire_rx(struct kno_sim_port *port, struct sk_buff *skb);
void kno_sim_stats_read(struct kno_sim_port *port, u64 *sum);
int kno_sim_fault_check(enum kno_sim_cmd cmd);
int kno_sim_cmd_start(struct kno_sim_cmd_stats *st, const void *rule,
		      enum kno_sim_cmd cmd);
void kno_sim_delay(void);

/* kno_simnic_ft.c */
int kno_sim_setup_tc(struct net_device *dev, enum tc_setup_type type,
		     void *type_data);
void kno_sim_port_flush(struct kno_sim_port *port);
void kno_sim_ft_rule_free(struct kno_sim_ft_rule *rule);

/* kno_simnic_dp.c */
bool kno_sim_hw_rx(struct kno_sim_port *port, struct sk_buff *skb);
void kno_sim_parse(struct sk_buff *skb, struct kno_sim_pkt *pkt);
void kno_sim_hw_xmit(struct kno_sim_port *out, struct sk_buff *skb);
int kno_sim_vlan_pop(struct sk_buff *skb);
int kno_sim_vlan_push(struct sk_buff *skb, __be16 tpid, u16 tci);

/* kno_simnic_acl.c */
int kno_sim_acl_cmd(struct kno_sim_binding *b, struct flow_cls_offload *f);
void kno_sim_acl_flush(struct kno_sim_port *port, u64 binding);
int kno_sim_acl_run(struct kno_sim_port *port, struct sk_buff *skb,
		    struct kno_sim_pkt *pkt);
void kno_sim_acl_show(struct seq_file *m, struct kno_sim_port *port);
void kno_sim_acl_unlink_port(struct kno_sim_port *gone);

/* kno_simnic_debugfs.c */
int kno_sim_debugfs_init(void);
void kno_sim_debugfs_exit(void);

/*
 * kno_simnic_log.c: the REPLACE log, for latency measurements. When on,
 * every REPLACE that installs a new rule appends (ktime_get_ns(), cookie).
 */
void kno_sim_log_replace(unsigned long cookie);
void kno_sim_log_exit(void);
extern const struct file_operations kno_sim_log_fops;

#endif /* KNO_SIMNIC_H */
