// SPDX-License-Identifier: GPL-2.0
/*
 * kno_simnic: the ingress ACL, programmed through TC_SETUP_BLOCK by tc
 * flower and by nf_tables netdev chains with "flags offload".
 *
 * Each port holds up to acl_capacity rules, ordered by priority and then
 * by insertion, and evaluates them on every frame that arrives, before the
 * flowtable lookup. Matches: ingress port, ethertype, L4 protocol, MAC
 * addresses, outer and inner VLAN (VID, PCP, TPID), IPv4/IPv6 addresses
 * and L4 ports, all under masks. Actions: accept, drop, redirect to a
 * simnic port, VLAN pop and push. The first rule that ends in a verdict
 * decides: drop frees the frame, redirect sends it out of the target port,
 * accept ends the ACL and lets the frame go on to the flowtable and the
 * host stack. A rule without a verdict applies its VLAN actions and the
 * evaluation goes on.
 *
 * Locking and lifetime as for the flowtable rules (kno_simnic_ft.c): rules
 * change under kno_sim_lock, the datapath walks port->acl_rules under RCU
 * and rules are freed after a grace period.
 */

#include <linux/error-injection.h>
#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/if_vlan.h>
#include <linux/ipv6.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <net/flow_offload.h>
#include <net/pkt_cls.h>

#include "kno_simnic.h"

#define KNO_SIM_ACL_KEYS (BIT_ULL(FLOW_DISSECTOR_KEY_META) |		\
			  BIT_ULL(FLOW_DISSECTOR_KEY_CONTROL) |		\
			  BIT_ULL(FLOW_DISSECTOR_KEY_BASIC) |		\
			  BIT_ULL(FLOW_DISSECTOR_KEY_ETH_ADDRS) |	\
			  BIT_ULL(FLOW_DISSECTOR_KEY_VLAN) |		\
			  BIT_ULL(FLOW_DISSECTOR_KEY_CVLAN) |		\
			  BIT_ULL(FLOW_DISSECTOR_KEY_IPV4_ADDRS) |	\
			  BIT_ULL(FLOW_DISSECTOR_KEY_IPV6_ADDRS) |	\
			  BIT_ULL(FLOW_DISSECTOR_KEY_PORTS))

enum {
	KNO_SIM_M_IIF		= BIT(0),
	KNO_SIM_M_NPROTO	= BIT(1),
	KNO_SIM_M_IPPROTO	= BIT(2),
	KNO_SIM_M_ETH		= BIT(3),
	KNO_SIM_M_VLAN		= BIT(4),
	KNO_SIM_M_CVLAN		= BIT(5),
	KNO_SIM_M_V4		= BIT(6),
	KNO_SIM_M_V6		= BIT(7),
	KNO_SIM_M_PORTS		= BIT(8),
};

enum kno_sim_verdict {
	KNO_SIM_V_NONE,
	KNO_SIM_V_ACCEPT,
	KNO_SIM_V_DROP,
	KNO_SIM_V_REDIRECT,
};

static const char *const kno_sim_verdict_names[] = {
	[KNO_SIM_V_NONE] = "none",
	[KNO_SIM_V_ACCEPT] = "accept",
	[KNO_SIM_V_DROP] = "drop",
	[KNO_SIM_V_REDIRECT] = "redirect",
};

struct kno_sim_vmatch {
	u16 vid, vid_m;
	u8 prio, prio_m;
	__be16 tpid, tpid_m;
};

struct kno_sim_acl_match {
	u32 used;		/* KNO_SIM_M_* */
	int ifindex;
	__be16 n_proto, n_proto_m;
	u8 ip_proto, ip_proto_m;
	u8 dmac[ETH_ALEN], dmac_m[ETH_ALEN];
	u8 smac[ETH_ALEN], smac_m[ETH_ALEN];
	struct kno_sim_vmatch vlan[2];
	struct in6_addr src, src_m, dst, dst_m;	/* IPv4 in s6_addr32[0] */
	__be16 sport, sport_m, dport, dport_m;
};

/* One ACL rule; see the file comment for locking and lifetime. */
struct kno_sim_acl_rule {
	struct list_head list;		/* port->acl_rules, RCU */
	struct rcu_head rcu;
	struct kno_sim_port *port;
	struct kno_sim_port __rcu *out;	/* REDIRECT target */
	unsigned long cookie;
	u64 id;
	u64 binding;
	u32 prio;
	struct kno_sim_acl_match m;
	enum kno_sim_verdict verdict;
	u8 n_pop;
	bool push;
	__be16 push_tpid;
	u16 push_tci;
	unsigned long installed;
	atomic64_t packets;
	atomic64_t bytes;
	unsigned long lastused;
	u64 rep_packets;		/* kno_sim_lock */
	u64 rep_bytes;
};

static u64 kno_sim_acl_seq;		/* kno_sim_lock */

static void kno_sim_acl_rcu_free(struct rcu_head *head)
{
	kfree(container_of(head, struct kno_sim_acl_rule, rcu));
	atomic_dec(&kno_sim_rule_objs);
}

static void kno_sim_acl_free(struct kno_sim_acl_rule *rule)
{
	lockdep_assert_held(&kno_sim_lock);
	list_del_rcu(&rule->list);
	rule->port->n_acl_rules--;
	call_rcu(&rule->rcu, kno_sim_acl_rcu_free);
}

static struct kno_sim_acl_rule *
kno_sim_acl_find(struct kno_sim_port *port, unsigned long cookie)
{
	struct kno_sim_acl_rule *rule;

	list_for_each_entry(rule, &port->acl_rules, list)
		if (rule->cookie == cookie)
			return rule;
	return NULL;
}

static int kno_sim_acl_vlan(struct flow_match_vlan *v, struct kno_sim_vmatch *m)
{
	if (v->mask->vlan_dei || v->mask->vlan_eth_type)
		return -EOPNOTSUPP;
	m->vid = v->key->vlan_id;
	m->vid_m = v->mask->vlan_id;
	m->prio = v->key->vlan_priority;
	m->prio_m = v->mask->vlan_priority;
	m->tpid = v->key->vlan_tpid;
	m->tpid_m = v->mask->vlan_tpid;
	return 0;
}

static int kno_sim_acl_parse_match(struct flow_rule *fr,
				   struct kno_sim_acl_match *m,
				   struct netlink_ext_ack *extack)
{
	u64 used = fr->match.dissector->used_keys;
	u16 addr_type = 0;

	if (used & ~KNO_SIM_ACL_KEYS) {
		NL_SET_ERR_MSG_MOD(extack, "unsupported match key");
		return -EOPNOTSUPP;
	}

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_META)) {
		struct flow_dissector_key_meta want = {};
		struct flow_match_meta mm;

		flow_rule_match_meta(fr, &mm);
		/* Exact ingress port and/or "is Ethernet", nothing else. */
		want.ingress_ifindex = mm.mask->ingress_ifindex;
		want.ingress_iftype = mm.mask->ingress_iftype;
		if (memcmp(mm.mask, &want, sizeof(want)) ||
		    (want.ingress_ifindex && want.ingress_ifindex != -1) ||
		    (want.ingress_iftype &&
		     mm.key->ingress_iftype != ARPHRD_ETHER)) {
			NL_SET_ERR_MSG_MOD(extack, "unsupported meta match");
			return -EOPNOTSUPP;
		}
		if (want.ingress_ifindex) {
			m->used |= KNO_SIM_M_IIF;
			m->ifindex = mm.key->ingress_ifindex;
		}
	}

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_CONTROL)) {
		struct flow_match_control mc;

		flow_rule_match_control(fr, &mc);
		if (mc.mask->flags) {
			NL_SET_ERR_MSG_MOD(extack, "no fragment matches");
			return -EOPNOTSUPP;
		}
		addr_type = mc.key->addr_type;
	}

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_BASIC)) {
		struct flow_match_basic mb;

		flow_rule_match_basic(fr, &mb);
		if (mb.mask->n_proto) {
			m->used |= KNO_SIM_M_NPROTO;
			m->n_proto = mb.key->n_proto & mb.mask->n_proto;
			m->n_proto_m = mb.mask->n_proto;
		}
		if (mb.mask->ip_proto) {
			m->used |= KNO_SIM_M_IPPROTO;
			m->ip_proto = mb.key->ip_proto & mb.mask->ip_proto;
			m->ip_proto_m = mb.mask->ip_proto;
		}
	}

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_ETH_ADDRS)) {
		struct flow_match_eth_addrs me;
		int i;

		flow_rule_match_eth_addrs(fr, &me);
		m->used |= KNO_SIM_M_ETH;
		for (i = 0; i < ETH_ALEN; i++) {
			m->dmac_m[i] = me.mask->dst[i];
			m->dmac[i] = me.key->dst[i] & me.mask->dst[i];
			m->smac_m[i] = me.mask->src[i];
			m->smac[i] = me.key->src[i] & me.mask->src[i];
		}
	}

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_VLAN)) {
		struct flow_match_vlan mv;

		flow_rule_match_vlan(fr, &mv);
		if (kno_sim_acl_vlan(&mv, &m->vlan[0]))
			goto bad_vlan;
		m->used |= KNO_SIM_M_VLAN;
	}
	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_CVLAN)) {
		struct flow_match_vlan mv;

		if (!(m->used & KNO_SIM_M_VLAN))
			goto bad_vlan;
		flow_rule_match_cvlan(fr, &mv);
		if (kno_sim_acl_vlan(&mv, &m->vlan[1]))
			goto bad_vlan;
		m->used |= KNO_SIM_M_CVLAN;
	}

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_IPV4_ADDRS) &&
	    addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS) {
		struct flow_match_ipv4_addrs ma;

		flow_rule_match_ipv4_addrs(fr, &ma);
		m->used |= KNO_SIM_M_V4;
		m->src_m.s6_addr32[0] = ma.mask->src;
		m->src.s6_addr32[0] = ma.key->src & ma.mask->src;
		m->dst_m.s6_addr32[0] = ma.mask->dst;
		m->dst.s6_addr32[0] = ma.key->dst & ma.mask->dst;
	} else if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_IPV6_ADDRS) &&
		   addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS) {
		struct flow_match_ipv6_addrs ma;
		int i;

		flow_rule_match_ipv6_addrs(fr, &ma);
		m->used |= KNO_SIM_M_V6;
		for (i = 0; i < 4; i++) {
			m->src_m.s6_addr32[i] = ma.mask->src.s6_addr32[i];
			m->src.s6_addr32[i] = ma.key->src.s6_addr32[i] &
					      ma.mask->src.s6_addr32[i];
			m->dst_m.s6_addr32[i] = ma.mask->dst.s6_addr32[i];
			m->dst.s6_addr32[i] = ma.key->dst.s6_addr32[i] &
					      ma.mask->dst.s6_addr32[i];
		}
	} else if (used & (BIT_ULL(FLOW_DISSECTOR_KEY_IPV4_ADDRS) |
			   BIT_ULL(FLOW_DISSECTOR_KEY_IPV6_ADDRS))) {
		NL_SET_ERR_MSG_MOD(extack, "address key without its address type");
		return -EOPNOTSUPP;
	}

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_PORTS)) {
		struct flow_match_ports mp;

		flow_rule_match_ports(fr, &mp);
		m->used |= KNO_SIM_M_PORTS;
		m->sport_m = mp.mask->src;
		m->sport = mp.key->src & mp.mask->src;
		m->dport_m = mp.mask->dst;
		m->dport = mp.key->dst & mp.mask->dst;
	}
	return 0;

bad_vlan:
	NL_SET_ERR_MSG_MOD(extack, "unsupported VLAN match");
	return -EOPNOTSUPP;
}

static int kno_sim_acl_parse_actions(struct kno_sim_port *port,
				     struct flow_rule *fr,
				     struct kno_sim_acl_rule *rule,
				     struct netlink_ext_ack *extack)
{
	struct kno_sim_port *out = NULL;
	const struct flow_action_entry *act;
	int i;

	if (!flow_action_has_entries(&fr->action)) {
		NL_SET_ERR_MSG_MOD(extack, "rule without action");
		return -EOPNOTSUPP;
	}
	flow_action_for_each(i, act, &fr->action) {
		if (rule->verdict != KNO_SIM_V_NONE) {
			NL_SET_ERR_MSG_MOD(extack, "action after a verdict");
			return -EOPNOTSUPP;
		}
		switch (act->id) {
		case FLOW_ACTION_ACCEPT:
			rule->verdict = KNO_SIM_V_ACCEPT;
			break;
		case FLOW_ACTION_DROP:
			rule->verdict = KNO_SIM_V_DROP;
			break;
		case FLOW_ACTION_REDIRECT:
			if (!kno_sim_is_port(act->dev) ||
			    !net_eq(dev_net(act->dev), dev_net(port->dev))) {
				NL_SET_ERR_MSG_MOD(extack,
						   "redirect: a simnic port in the same netns");
				return -EOPNOTSUPP;
			}
			out = netdev_priv(act->dev);
			if (!out->live)
				return -ENODEV;
			rule->verdict = KNO_SIM_V_REDIRECT;
			break;
		case FLOW_ACTION_VLAN_POP:
			if (rule->push || rule->n_pop == 2) {
				NL_SET_ERR_MSG_MOD(extack, "at most two pops, before a push");
				return -EOPNOTSUPP;
			}
			rule->n_pop++;
			break;
		case FLOW_ACTION_VLAN_PUSH:
			if (rule->push || (act->vlan.proto != htons(ETH_P_8021Q) &&
					   act->vlan.proto != htons(ETH_P_8021AD))) {
				NL_SET_ERR_MSG_MOD(extack, "one 802.1Q/802.1ad push");
				return -EOPNOTSUPP;
			}
			rule->push = true;
			rule->push_tpid = act->vlan.proto;
			rule->push_tci = (act->vlan.vid & VLAN_VID_MASK) |
					 (act->vlan.prio << VLAN_PRIO_SHIFT);
			break;
		default:
			NL_SET_ERR_MSG_MOD(extack, "unsupported action");
			return -EOPNOTSUPP;
		}
	}
	RCU_INIT_POINTER(rule->out, out);
	return 0;
}

static noinline int kno_sim_acl_replace(struct kno_sim_binding *b,
					struct flow_cls_offload *f)
{
	struct netlink_ext_ack *extack = f->common.extack;
	struct flow_rule *fr = flow_cls_offload_flow_rule(f);
	struct kno_sim_port *port;
	struct kno_sim_acl_rule *rule, *old, *pos;
	struct kno_sim_cmd_stats *st;
	struct list_head *at;
	int err;

	kno_sim_delay();
	rule = kzalloc(sizeof(*rule), GFP_KERNEL);

	mutex_lock(&kno_sim_lock);
	port = b->port;
	st = &port->acl_cmd[KNO_SIM_CMD_REPLACE];
	err = -ENODEV;
	if (!port->live)
		goto out;
	st->calls++;
	err = kno_sim_fault_check(KNO_SIM_CMD_REPLACE);
	if (err) {
		st->injected++;
		goto out;
	}
	err = -ENOMEM;
	if (!rule)
		goto fail;
	err = -EOPNOTSUPP;
	if (!tc_can_offload(port->dev)) {
		NL_SET_ERR_MSG_MOD(extack, "hw-tc-offload is off");
		goto fail;
	}
	err = kno_sim_acl_parse_match(fr, &rule->m, extack);
	if (err)
		goto fail;
	err = kno_sim_acl_parse_actions(port, fr, rule, extack);
	if (err)
		goto fail;
	old = kno_sim_acl_find(port, f->cookie);
	if (!old && port->n_acl_rules >= READ_ONCE(kno_sim_cfg.acl_capacity)) {
		NL_SET_ERR_MSG_MOD(extack, "hardware ACL table full");
		err = -ENOSPC;
		goto fail;
	}

	rule->port = port;
	rule->cookie = f->cookie;
	rule->binding = b->id;
	rule->prio = f->common.prio;
	if (old) {
		rule->id = old->id;
		rule->installed = old->installed;
		atomic64_set(&rule->packets, atomic64_read(&old->packets));
		atomic64_set(&rule->bytes, atomic64_read(&old->bytes));
		rule->lastused = READ_ONCE(old->lastused);
		rule->rep_packets = old->rep_packets;
		rule->rep_bytes = old->rep_bytes;
	} else {
		rule->id = ++kno_sim_acl_seq;
		rule->installed = jiffies;
		rule->lastused = rule->installed;
	}
	/* After every rule of lower or equal priority value. */
	at = &port->acl_rules;
	list_for_each_entry(pos, &port->acl_rules, list) {
		if (pos->prio > rule->prio)
			break;
		at = &pos->list;
	}
	list_add_rcu(&rule->list, at);
	port->n_acl_rules++;
	atomic_inc(&kno_sim_rule_objs);
	if (old)
		kno_sim_acl_free(old);
	st->ok++;
	rule = NULL;
	goto out;
fail:
	st->failed++;
	port->acl_last_err = err;
	port->acl_last_msg = extack && extack->_msg ? extack->_msg : NULL;
out:
	mutex_unlock(&kno_sim_lock);
	kfree(rule);
	return err;
}
ALLOW_ERROR_INJECTION(kno_sim_acl_replace, ERRNO);

static noinline int kno_sim_acl_destroy(struct kno_sim_binding *b,
					struct flow_cls_offload *f)
{
	struct kno_sim_port *port;
	struct kno_sim_acl_rule *rule;
	struct kno_sim_cmd_stats *st;
	int err = 0;

	kno_sim_delay();
	mutex_lock(&kno_sim_lock);
	port = b->port;
	st = &port->acl_cmd[KNO_SIM_CMD_DESTROY];
	rule = port->live ? kno_sim_acl_find(port, f->cookie) : NULL;
	err = kno_sim_cmd_start(st, rule, KNO_SIM_CMD_DESTROY);
	if (err)
		goto out;
	kno_sim_acl_free(rule);
	st->ok++;
out:
	mutex_unlock(&kno_sim_lock);
	return err;
}
ALLOW_ERROR_INJECTION(kno_sim_acl_destroy, ERRNO);

static noinline int kno_sim_acl_stats(struct kno_sim_binding *b,
				      struct flow_cls_offload *f)
{
	struct kno_sim_port *port;
	struct kno_sim_acl_rule *rule;
	struct kno_sim_cmd_stats *st;
	u64 pkts, bytes;
	int err = 0;

	kno_sim_delay();
	mutex_lock(&kno_sim_lock);
	port = b->port;
	st = &port->acl_cmd[KNO_SIM_CMD_STATS];
	rule = port->live ? kno_sim_acl_find(port, f->cookie) : NULL;
	err = kno_sim_cmd_start(st, rule, KNO_SIM_CMD_STATS);
	if (err)
		goto out;
	st->ok++;
	if (READ_ONCE(kno_sim_cfg.stats_frozen)) {
		flow_stats_update(&f->stats, 0, 0, 0, rule->installed,
				  FLOW_ACTION_HW_STATS_DELAYED);
		goto out;
	}
	pkts = atomic64_read(&rule->packets);
	bytes = atomic64_read(&rule->bytes);
	flow_stats_update(&f->stats, bytes - rule->rep_bytes,
			  pkts - rule->rep_packets,
			  rule->verdict == KNO_SIM_V_DROP ?
			  pkts - rule->rep_packets : 0,
			  READ_ONCE(rule->lastused),
			  FLOW_ACTION_HW_STATS_DELAYED);
	rule->rep_packets = pkts;
	rule->rep_bytes = bytes;
out:
	mutex_unlock(&kno_sim_lock);
	return err;
}
ALLOW_ERROR_INJECTION(kno_sim_acl_stats, ERRNO);

int kno_sim_acl_cmd(struct kno_sim_binding *b, struct flow_cls_offload *f)
{
	switch (f->command) {
	case FLOW_CLS_REPLACE:
		return kno_sim_acl_replace(b, f);
	case FLOW_CLS_DESTROY:
		return kno_sim_acl_destroy(b, f);
	case FLOW_CLS_STATS:
		return kno_sim_acl_stats(b, f);
	default:
		return -EOPNOTSUPP;
	}
}

/* Rules of one binding, or all (@binding 0). kno_sim_lock held. */
void kno_sim_acl_flush(struct kno_sim_port *port, u64 binding)
{
	struct kno_sim_acl_rule *rule, *tmp;

	lockdep_assert_held(&kno_sim_lock);
	list_for_each_entry_safe(rule, tmp, &port->acl_rules, list) {
		if (binding && rule->binding != binding)
			continue;
		kno_sim_acl_free(rule);
		if (binding)
			port->flushed++;
	}
}

/* @gone is going away: redirects to it now drop. kno_sim_lock held. */
void kno_sim_acl_unlink_port(struct kno_sim_port *gone)
{
	struct kno_sim_acl_rule *rule;
	struct kno_sim_port *port;

	lockdep_assert_held(&kno_sim_lock);
	list_for_each_entry(port, &kno_sim_ports, node) {
		list_for_each_entry(rule, &port->acl_rules, list) {
			if (rcu_access_pointer(rule->out) != gone)
				continue;
			RCU_INIT_POINTER(rule->out, NULL);
			port->orphaned++;
		}
	}
}

static bool kno_sim_vlan_ok(const struct kno_sim_vmatch *v,
			    const struct kno_sim_pkt *pkt, int i)
{
	return !((pkt->key.vlan_id[i] ^ v->vid) & v->vid_m) &&
	       !((pkt->vlan_prio[i] ^ v->prio) & v->prio_m) &&
	       !((pkt->key.vlan_tpid[i] ^ v->tpid) & v->tpid_m);
}

static bool kno_sim_masked_eq(const void *a, const void *b, const void *mask,
			      unsigned int len)
{
	const u8 *x = a, *y = b, *m = mask;
	unsigned int i;

	for (i = 0; i < len; i++)
		if ((x[i] ^ y[i]) & m[i])
			return false;
	return true;
}

static bool kno_sim_acl_match(const struct kno_sim_acl_match *m,
			      const struct kno_sim_port *port,
			      const struct kno_sim_pkt *pkt)
{
	int tags = !!(m->used & KNO_SIM_M_VLAN) + !!(m->used & KNO_SIM_M_CVLAN);
	__be16 etype;

	if ((m->used & KNO_SIM_M_IIF) && m->ifindex != port->dev->ifindex)
		return false;
	if (pkt->key.n_vlans < tags)
		return false;
	if ((m->used & KNO_SIM_M_VLAN) && !kno_sim_vlan_ok(&m->vlan[0], pkt, 0))
		return false;
	if ((m->used & KNO_SIM_M_CVLAN) && !kno_sim_vlan_ok(&m->vlan[1], pkt, 1))
		return false;
	/* The ethertype behind the tags the rule names, like flower. */
	etype = pkt->etype[tags];
	if ((m->used & KNO_SIM_M_NPROTO) && ((etype ^ m->n_proto) & m->n_proto_m))
		return false;
	if ((m->used & KNO_SIM_M_ETH) &&
	    (!kno_sim_masked_eq(pkt->dmac, m->dmac, m->dmac_m, ETH_ALEN) ||
	     !kno_sim_masked_eq(pkt->smac, m->smac, m->smac_m, ETH_ALEN)))
		return false;
	if (!(m->used & (KNO_SIM_M_IPPROTO | KNO_SIM_M_V4 | KNO_SIM_M_V6 |
			 KNO_SIM_M_PORTS)))
		return true;

	/* L3 and L4 fields: the rule's tags must lead to the IP header. */
	if (!pkt->l3_ok || pkt->key.n_vlans != tags)
		return false;
	if ((m->used & KNO_SIM_M_IPPROTO) &&
	    ((pkt->key.ip_proto ^ m->ip_proto) & m->ip_proto_m))
		return false;
	if (m->used & KNO_SIM_M_V4) {
		if (etype != htons(ETH_P_IP) ||
		    !kno_sim_masked_eq(&pkt->key.addr.v4.src, &m->src, &m->src_m, 4) ||
		    !kno_sim_masked_eq(&pkt->key.addr.v4.dst, &m->dst, &m->dst_m, 4))
			return false;
	}
	if (m->used & KNO_SIM_M_V6) {
		if (etype != htons(ETH_P_IPV6) ||
		    !kno_sim_masked_eq(&pkt->key.addr.v6.src, &m->src, &m->src_m, 16) ||
		    !kno_sim_masked_eq(&pkt->key.addr.v6.dst, &m->dst, &m->dst_m, 16))
			return false;
	}
	if (m->used & KNO_SIM_M_PORTS) {
		if (!pkt->l4_ok || ((pkt->key.sport ^ m->sport) & m->sport_m) ||
		    ((pkt->key.dport ^ m->dport) & m->dport_m))
			return false;
	}
	return true;
}

/* Bytes a rule counts: what follows the Ethernet header and the tags. */
static unsigned int kno_sim_acl_len(const struct sk_buff *skb,
				    const struct kno_sim_pkt *pkt)
{
	unsigned int hdr = ETH_HLEN + pkt->key.n_vlans * VLAN_HLEN;

	return skb->len > hdr ? skb->len - hdr : 0;
}

/*
 * Run the ACL of @port on the frame at skb->data (BH off, RCU held).
 * Returns 1 when the hardware consumed the frame (dropped or redirected),
 * 0 when it goes on (to the flowtable and the host stack). VLAN actions
 * change the frame; @pkt is parsed again after them.
 */
int kno_sim_acl_run(struct kno_sim_port *port, struct sk_buff *skb,
		    struct kno_sim_pkt *pkt)
{
	struct kno_sim_acl_rule *rule;
	struct kno_sim_port *out;
	int i, err;

	if (!READ_ONCE(port->n_acl_rules))
		return 0;

	list_for_each_entry_rcu(rule, &port->acl_rules, list) {
		if (!kno_sim_acl_match(&rule->m, port, pkt))
			continue;

		atomic64_inc(&rule->packets);
		atomic64_add(kno_sim_acl_len(skb, pkt), &rule->bytes);
		WRITE_ONCE(rule->lastused, jiffies);

		if (rule->verdict == KNO_SIM_V_DROP)
			goto drop;
		if (rule->verdict == KNO_SIM_V_ACCEPT)
			return 0;

		err = 0;
		for (i = 0; i < rule->n_pop && !err; i++)
			err = pkt->key.n_vlans > i ? kno_sim_vlan_pop(skb) : 0;
		if (!err && rule->push)
			err = kno_sim_vlan_push(skb, rule->push_tpid,
						rule->push_tci);
		if (err) {
			kno_sim_count(port, KNO_SIM_HW_ERRORS, 1);
			kfree_skb(skb);
			return 1;
		}
		if (rule->n_pop || rule->push)
			kno_sim_parse(skb, pkt);

		if (rule->verdict == KNO_SIM_V_REDIRECT) {
			out = rcu_dereference(rule->out);
			if (!out)
				goto drop;
			kno_sim_count_pkt(port, KNO_SIM_HW_FWD_PACKETS,
					  kno_sim_acl_len(skb, pkt));
			kno_sim_hw_xmit(out, skb);
			return 1;
		}
	}
	return 0;

drop:
	kno_sim_count(port, KNO_SIM_HW_DROP, 1);
	kfree_skb(skb);
	return 1;
}

static void kno_sim_acl_show_rule(struct seq_file *m,
				  struct kno_sim_acl_rule *r)
{
	const struct kno_sim_acl_match *k = &r->m;
	struct kno_sim_port *out;
	unsigned long now = jiffies;
	int i;

	seq_printf(m, "port=%s id=%llu cookie=%#lx prio=%u",
		   r->port->dev->name, r->id, r->cookie, r->prio);
	if (k->used & KNO_SIM_M_IIF)
		seq_printf(m, " iif=%d", k->ifindex);
	if (k->used & KNO_SIM_M_NPROTO)
		seq_printf(m, " proto=%#06x/%#x", ntohs(k->n_proto),
			   ntohs(k->n_proto_m));
	if (k->used & KNO_SIM_M_IPPROTO)
		seq_printf(m, " ip_proto=%u/%#x", k->ip_proto, k->ip_proto_m);
	if (k->used & KNO_SIM_M_ETH)
		seq_printf(m, " dmac=%pM/%pM smac=%pM/%pM", k->dmac, k->dmac_m,
			   k->smac, k->smac_m);
	for (i = 0; i < 2; i++) {
		if (!(k->used & (i ? KNO_SIM_M_CVLAN : KNO_SIM_M_VLAN)))
			continue;
		seq_printf(m, " %s=%u/%#x,prio=%u/%#x,tpid=%#06x/%#x",
			   i ? "cvlan" : "vlan", k->vlan[i].vid, k->vlan[i].vid_m,
			   k->vlan[i].prio, k->vlan[i].prio_m,
			   ntohs(k->vlan[i].tpid), ntohs(k->vlan[i].tpid_m));
	}
	if (k->used & KNO_SIM_M_V4)
		seq_printf(m, " src=%pI4/%pI4 dst=%pI4/%pI4",
			   &k->src.s6_addr32[0], &k->src_m.s6_addr32[0],
			   &k->dst.s6_addr32[0], &k->dst_m.s6_addr32[0]);
	if (k->used & KNO_SIM_M_V6)
		seq_printf(m, " src=%pI6c/%pI6c dst=%pI6c/%pI6c",
			   &k->src, &k->src_m, &k->dst, &k->dst_m);
	if (k->used & KNO_SIM_M_PORTS)
		seq_printf(m, " sport=%u/%#x dport=%u/%#x", ntohs(k->sport),
			   ntohs(k->sport_m), ntohs(k->dport), ntohs(k->dport_m));

	out = rcu_dereference_protected(r->out, lockdep_is_held(&kno_sim_lock));
	seq_printf(m, " pop=%u push=", r->n_pop);
	if (r->push)
		seq_printf(m, "%#06x:%u", ntohs(r->push_tpid),
			   r->push_tci & VLAN_VID_MASK);
	else
		seq_puts(m, "-");
	seq_printf(m, " verdict=%s out=%s packets=%lld bytes=%lld lastused_ms=%u age_ms=%u binding=%llu\n",
		   kno_sim_verdict_names[r->verdict],
		   r->verdict == KNO_SIM_V_REDIRECT ?
		   (out ? out->dev->name : "-") : "-",
		   (long long)atomic64_read(&r->packets),
		   (long long)atomic64_read(&r->bytes),
		   jiffies_to_msecs(now - READ_ONCE(r->lastused)),
		   jiffies_to_msecs(now - r->installed), r->binding);
}

void kno_sim_acl_show(struct seq_file *m, struct kno_sim_port *port)
{
	struct kno_sim_acl_rule *rule;

	lockdep_assert_held(&kno_sim_lock);
	list_for_each_entry(rule, &port->acl_rules, list)
		kno_sim_acl_show_rule(m, rule);
}
