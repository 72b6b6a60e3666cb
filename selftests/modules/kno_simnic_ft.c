// SPDX-License-Identifier: GPL-2.0
/*
 * kno_simnic: flow_block binding and the flowtable (TC_SETUP_FT) rule table.
 *
 * The rules accepted here are the ones the MediaTek PPE accepts: exact
 * matches on ingress port, L3/L4 addresses and ports, VLAN tags and "TCP
 * FIN/RST clear"; actions Ethernet/IPv4/port mangles, CSUM, one REDIRECT to
 * another simnic port, VLAN pop, at most one VLAN push and at most one
 * PPPoE push. IPv6 address mangles are accepted unless ipv6_nat is off.
 *
 * Locking: every command runs under kno_sim_lock (sleeping is allowed:
 * the flowtable calls from a workqueue, tc and nf_tables from process
 * context). Rules are published with RCU for the datapath.
 */

#include <linux/error-injection.h>
#include <linux/etherdevice.h>
#include <linux/hash.h>
#include <linux/if_vlan.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/jhash.h>
#include <linux/slab.h>
#include <linux/tc_act/tc_csum.h>
#include <linux/tcp.h>
#include <net/flow_offload.h>
#include <net/pkt_cls.h>

#include "kno_simnic.h"

#define KNO_SIM_FT_KEYS	(BIT_ULL(FLOW_DISSECTOR_KEY_META) |		\
			 BIT_ULL(FLOW_DISSECTOR_KEY_CONTROL) |		\
			 BIT_ULL(FLOW_DISSECTOR_KEY_BASIC) |		\
			 BIT_ULL(FLOW_DISSECTOR_KEY_IPV4_ADDRS) |	\
			 BIT_ULL(FLOW_DISSECTOR_KEY_IPV6_ADDRS) |	\
			 BIT_ULL(FLOW_DISSECTOR_KEY_PORTS) |		\
			 BIT_ULL(FLOW_DISSECTOR_KEY_TCP) |		\
			 BIT_ULL(FLOW_DISSECTOR_KEY_VLAN) |		\
			 BIT_ULL(FLOW_DISSECTOR_KEY_CVLAN))

#define KNO_SIM_FT_REQUIRED (BIT_ULL(FLOW_DISSECTOR_KEY_META) |		\
			     BIT_ULL(FLOW_DISSECTOR_KEY_CONTROL) |	\
			     BIT_ULL(FLOW_DISSECTOR_KEY_BASIC) |	\
			     BIT_ULL(FLOW_DISSECTOR_KEY_PORTS))

/* TCP FIN and RST in the flow dissector's flags layout. */
#define KNO_SIM_TCP_FIN_RST	htons(0x0005)

static u64 kno_sim_binding_seq;	/* kno_sim_lock */
static u64 kno_sim_rule_seq;	/* kno_sim_lock */
unsigned int kno_sim_ft_total;
unsigned int kno_sim_ft_total_max;

static u32 kno_sim_key_hash(const struct kno_sim_key *key)
{
	BUILD_BUG_ON(sizeof(*key) % sizeof(u32));
	return jhash2((const u32 *)key, sizeof(*key) / sizeof(u32), 0);
}

static struct hlist_head *
kno_sim_ft_cookie_head(struct kno_sim_port *port, unsigned long cookie)
{
	return &port->ft_cookies[hash_long(cookie, ilog2(KNO_SIM_FT_BUCKETS))];
}

static void kno_sim_ft_rule_rcu_free(struct rcu_head *head)
{
	struct kno_sim_ft_rule *rule;

	rule = container_of(head, struct kno_sim_ft_rule, rcu);
	kfree(rule);
	atomic_dec(&kno_sim_rule_objs);
}

/* Unlink a rule from its port and free it after a grace period. */
void kno_sim_ft_rule_free(struct kno_sim_ft_rule *rule)
{
	lockdep_assert_held(&kno_sim_lock);
	hlist_del_rcu(&rule->hnode);
	hlist_del(&rule->cnode);
	list_del(&rule->list);
	rule->port->n_ft_rules--;
	kno_sim_ft_total--;
	call_rcu(&rule->rcu, kno_sim_ft_rule_rcu_free);
}

static struct kno_sim_ft_rule *
kno_sim_ft_find_cookie(struct kno_sim_port *port, unsigned long cookie)
{
	struct kno_sim_ft_rule *rule;

	hlist_for_each_entry(rule, kno_sim_ft_cookie_head(port, cookie), cnode)
		if (rule->cookie == cookie)
			return rule;
	return NULL;
}

static struct kno_sim_ft_rule *
kno_sim_ft_find_key(struct kno_sim_port *port, const struct kno_sim_key *key,
		    u32 hash)
{
	struct kno_sim_ft_rule *rule;

	hlist_for_each_entry(rule, &port->ft_hash[hash % KNO_SIM_FT_BUCKETS],
			     hnode)
		if (rule->hash == hash && !memcmp(&rule->key, key, sizeof(*key)))
			return rule;
	return NULL;
}

/*
 * Apply one 32-bit mangle to an image of a header. Mask bits that are set
 * keep the old value; the simulated hardware rewrites whole bytes only.
 * @set records which bytes the rule writes.
 */
static int kno_sim_mangle_img(u8 *img, u8 *set, unsigned int size,
			      const struct flow_action_entry *act)
{
	u32 mask = act->mangle.mask, val = act->mangle.val;
	const u8 *m = (const u8 *)&mask, *v = (const u8 *)&val;
	unsigned int j, pos;

	for (j = 0; j < sizeof(u32); j++) {
		pos = act->mangle.offset + j;
		if (m[j] == 0xff)
			continue;
		if (m[j] != 0 || pos >= size)
			return -EOPNOTSUPP;
		img[pos] = v[j];
		set[pos] = 1;
	}
	return 0;
}

/* All or none of set[from, from + len) */
static int kno_sim_img_range(const u8 *set, unsigned int from,
			     unsigned int len, bool *all)
{
	unsigned int i, n = 0;

	for (i = from; i < from + len; i++)
		n += set[i];
	*all = n == len;
	return n && n != len ? -EOPNOTSUPP : 0;
}

struct kno_sim_ft_imgs {
	u8 eth[12], eth_set[12];
	u8 ip[40], ip_set[40];		/* IPv4 or IPv6 header */
	u8 l4[4], l4_set[4];		/* source and destination port */
	bool ip_used, l4_used;
};

/*
 * nf_flow_table_offload.c (6.1 and 6.12) fills the VLAN and CVLAN keys and
 * their dissector offsets but does not set their bits in used_keys. Unless
 * strict_keys is on, a key whose offset is set counts as present.
 */
static bool kno_sim_ft_vlan_key(struct kno_sim_port *port,
				struct flow_rule *fr,
				enum flow_dissector_key_id id)
{
	if (flow_rule_match_key(fr, id))
		return true;
	if (READ_ONCE(kno_sim_cfg.strict_keys) || !fr->match.dissector->offset[id])
		return false;
	port->vlan_unflagged++;
	return true;
}

static int kno_sim_ft_parse_match(struct kno_sim_port *port,
				  struct flow_rule *fr,
				  struct kno_sim_ft_rule *rule,
				  struct netlink_ext_ack *extack)
{
	u64 used = fr->match.dissector->used_keys;
	struct kno_sim_key *key = &rule->key;
	struct flow_match_control control;
	struct flow_match_basic basic;
	struct flow_match_ports ports;
	bool vlan, cvlan;
	u16 addr_type;

	if (used & ~KNO_SIM_FT_KEYS) {
		NL_SET_ERR_MSG_MOD(extack, "unsupported match key");
		return -EOPNOTSUPP;
	}
	if ((used & KNO_SIM_FT_REQUIRED) != KNO_SIM_FT_REQUIRED) {
		NL_SET_ERR_MSG_MOD(extack,
				   "META, CONTROL, BASIC and PORTS keys are required");
		return -EOPNOTSUPP;
	}

	flow_rule_match_control(fr, &control);
	addr_type = control.key->addr_type;
	if (control.mask->flags || control.mask->addr_type != 0xffff) {
		NL_SET_ERR_MSG_MOD(extack, "unsupported control match");
		return -EOPNOTSUPP;
	}

	flow_rule_match_basic(fr, &basic);
	if (basic.mask->n_proto != htons(0xffff) ||
	    basic.mask->ip_proto != 0xff) {
		NL_SET_ERR_MSG_MOD(extack, "basic key must be an exact match");
		return -EOPNOTSUPP;
	}
	key->n_proto = basic.key->n_proto;
	key->ip_proto = basic.key->ip_proto;
	if (key->ip_proto != IPPROTO_TCP && key->ip_proto != IPPROTO_UDP) {
		NL_SET_ERR_MSG_MOD(extack, "only TCP and UDP flows");
		return -EOPNOTSUPP;
	}

	if (addr_type == FLOW_DISSECTOR_KEY_IPV4_ADDRS &&
	    key->n_proto == htons(ETH_P_IP) &&
	    flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_IPV4_ADDRS)) {
		struct flow_match_ipv4_addrs m;

		flow_rule_match_ipv4_addrs(fr, &m);
		if (m.mask->src != htonl(0xffffffff) ||
		    m.mask->dst != htonl(0xffffffff)) {
			NL_SET_ERR_MSG_MOD(extack, "addresses must be exact");
			return -EOPNOTSUPP;
		}
		key->addr.v4.src = m.key->src;
		key->addr.v4.dst = m.key->dst;
	} else if (addr_type == FLOW_DISSECTOR_KEY_IPV6_ADDRS &&
		   key->n_proto == htons(ETH_P_IPV6) &&
		   flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_IPV6_ADDRS)) {
		struct flow_match_ipv6_addrs m;
		struct in6_addr ones;

		memset(&ones, 0xff, sizeof(ones));
		flow_rule_match_ipv6_addrs(fr, &m);
		if (memcmp(&m.mask->src, &ones, sizeof(ones)) ||
		    memcmp(&m.mask->dst, &ones, sizeof(ones))) {
			NL_SET_ERR_MSG_MOD(extack, "addresses must be exact");
			return -EOPNOTSUPP;
		}
		key->addr.v6.src = m.key->src;
		key->addr.v6.dst = m.key->dst;
	} else {
		NL_SET_ERR_MSG_MOD(extack, "need IPv4 or IPv6 addresses");
		return -EOPNOTSUPP;
	}

	flow_rule_match_ports(fr, &ports);
	if (ports.mask->src != htons(0xffff) ||
	    ports.mask->dst != htons(0xffff)) {
		NL_SET_ERR_MSG_MOD(extack, "ports must be exact");
		return -EOPNOTSUPP;
	}
	key->sport = ports.key->src;
	key->dport = ports.key->dst;

	if (flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_TCP)) {
		struct flow_match_tcp m;

		flow_rule_match_tcp(fr, &m);
		if (key->ip_proto != IPPROTO_TCP ||
		    (m.mask->flags & KNO_SIM_TCP_FIN_RST) !=
		    KNO_SIM_TCP_FIN_RST || (m.key->flags & m.mask->flags)) {
			NL_SET_ERR_MSG_MOD(extack,
					   "TCP flags: only 'FIN/RST clear' matches");
			return -EOPNOTSUPP;
		}
		rule->tcp_mask = m.mask->flags;
	} else if (key->ip_proto == IPPROTO_TCP) {
		NL_SET_ERR_MSG_MOD(extack,
				   "TCP rules must send FIN/RST to software");
		return -EOPNOTSUPP;
	}

	vlan = kno_sim_ft_vlan_key(port, fr, FLOW_DISSECTOR_KEY_VLAN);
	cvlan = kno_sim_ft_vlan_key(port, fr, FLOW_DISSECTOR_KEY_CVLAN);
	if (cvlan && !vlan) {
		NL_SET_ERR_MSG_MOD(extack, "CVLAN without VLAN");
		return -EOPNOTSUPP;
	}
	if (vlan) {
		struct flow_dissector_key_vlan want = {};
		struct flow_match_vlan m[2];
		int i;

		want.vlan_id = VLAN_VID_MASK;
		want.vlan_tpid = htons(0xffff);
		flow_rule_match_vlan(fr, &m[0]);
		if (cvlan)
			flow_rule_match_cvlan(fr, &m[1]);
		key->n_vlans = cvlan ? 2 : 1;
		for (i = 0; i < key->n_vlans; i++) {
			if (memcmp(m[i].mask, &want, sizeof(want)) ||
			    (m[i].key->vlan_tpid != htons(ETH_P_8021Q) &&
			     m[i].key->vlan_tpid != htons(ETH_P_8021AD))) {
				NL_SET_ERR_MSG_MOD(extack,
						   "VLAN: exact VID and TPID only");
				return -EOPNOTSUPP;
			}
			key->vlan_tpid[i] = m[i].key->vlan_tpid;
			key->vlan_id[i] = m[i].key->vlan_id;
		}
	}
	return 0;
}

static int kno_sim_ft_mangle(struct kno_sim_ft_rule *rule,
			     struct kno_sim_ft_imgs *img,
			     const struct flow_action_entry *act,
			     struct netlink_ext_ack *extack)
{
	bool v4 = rule->key.n_proto == htons(ETH_P_IP);
	int err = -EOPNOTSUPP;
	bool is_tcp;

	switch (act->mangle.htype) {
	case FLOW_ACT_MANGLE_HDR_TYPE_ETH:
		err = kno_sim_mangle_img(img->eth, img->eth_set,
					 sizeof(img->eth), act);
		break;
	case FLOW_ACT_MANGLE_HDR_TYPE_IP4:
		if (!v4)
			break;
		/* Addresses only: bytes 12..19 of the header. */
		if (act->mangle.offset < offsetof(struct iphdr, saddr))
			break;
		img->ip_used = true;
		err = kno_sim_mangle_img(img->ip, img->ip_set,
					 sizeof(struct iphdr), act);
		break;
	case FLOW_ACT_MANGLE_HDR_TYPE_IP6:
		if (v4 || !READ_ONCE(kno_sim_cfg.ipv6_nat))
			break;
		if (act->mangle.offset < offsetof(struct ipv6hdr, saddr))
			break;
		img->ip_used = true;
		err = kno_sim_mangle_img(img->ip, img->ip_set,
					 sizeof(struct ipv6hdr), act);
		break;
	case FLOW_ACT_MANGLE_HDR_TYPE_TCP:
	case FLOW_ACT_MANGLE_HDR_TYPE_UDP:
		is_tcp = rule->key.ip_proto == IPPROTO_TCP;
		if (act->mangle.htype != (is_tcp ? FLOW_ACT_MANGLE_HDR_TYPE_TCP :
					   FLOW_ACT_MANGLE_HDR_TYPE_UDP))
			break;
		img->l4_used = true;
		err = kno_sim_mangle_img(img->l4, img->l4_set,
					 sizeof(img->l4), act);
		break;
	default:
		break;
	}
	if (err)
		NL_SET_ERR_MSG_MOD(extack, "unsupported mangle");
	return err;
}

/* Turn the header images into the rule's rewrite description. */
static int kno_sim_ft_compile(struct kno_sim_ft_rule *rule,
			      struct kno_sim_ft_imgs *img,
			      struct netlink_ext_ack *extack)
{
	struct kno_sim_ft_act *a = &rule->act;
	bool all;
	int err = 0;

	err |= kno_sim_img_range(img->eth_set, 0, 12, &all);
	if (err || !all || !is_valid_ether_addr(img->eth) ||
	    !is_valid_ether_addr(img->eth + ETH_ALEN)) {
		NL_SET_ERR_MSG_MOD(extack,
				   "rule must set valid destination and source MAC");
		return -EINVAL;
	}
	memcpy(a->eth, img->eth, sizeof(a->eth));

	if (img->ip_used && rule->key.n_proto == htons(ETH_P_IP)) {
		err |= kno_sim_img_range(img->ip_set, 12, 4, &a->nat_src);
		err |= kno_sim_img_range(img->ip_set, 16, 4, &a->nat_dst);
		memcpy(&a->addr.v4.src, img->ip + 12, 4);
		memcpy(&a->addr.v4.dst, img->ip + 16, 4);
	} else if (img->ip_used) {
		err |= kno_sim_img_range(img->ip_set, 8, 16, &a->nat_src);
		err |= kno_sim_img_range(img->ip_set, 24, 16, &a->nat_dst);
		memcpy(&a->addr.v6.src, img->ip + 8, 16);
		memcpy(&a->addr.v6.dst, img->ip + 24, 16);
	}
	if (img->l4_used) {
		err |= kno_sim_img_range(img->l4_set, 0, 2, &a->nat_sport);
		err |= kno_sim_img_range(img->l4_set, 2, 2, &a->nat_dport);
		memcpy(&a->sport, img->l4, 2);
		memcpy(&a->dport, img->l4 + 2, 2);
	}
	if (err) {
		NL_SET_ERR_MSG_MOD(extack, "partial address or port rewrite");
		return -EOPNOTSUPP;
	}
	return 0;
}

static int kno_sim_ft_parse_actions(struct kno_sim_port *port,
				    struct flow_rule *fr,
				    struct kno_sim_ft_rule *rule,
				    struct netlink_ext_ack *extack)
{
	struct kno_sim_ft_act *a = &rule->act;
	struct kno_sim_port *out = NULL;
	const struct flow_action_entry *act;
	struct kno_sim_ft_imgs *img;
	int i, err = 0;

	img = kzalloc(sizeof(*img), GFP_KERNEL);
	if (!img)
		return -ENOMEM;

	flow_action_for_each(i, act, &fr->action) {
		switch (act->id) {
		case FLOW_ACTION_MANGLE:
			err = kno_sim_ft_mangle(rule, img, act, extack);
			break;
		case FLOW_ACTION_CSUM:
			if (act->csum_flags & ~(TCA_CSUM_UPDATE_FLAG_IPV4HDR |
						TCA_CSUM_UPDATE_FLAG_TCP |
						TCA_CSUM_UPDATE_FLAG_UDP)) {
				NL_SET_ERR_MSG_MOD(extack,
						   "unsupported checksum update");
				err = -EOPNOTSUPP;
			}
			a->csum_flags |= act->csum_flags;
			break;
		case FLOW_ACTION_REDIRECT:
			if (out || !kno_sim_is_port(act->dev) ||
			    !net_eq(dev_net(act->dev), dev_net(port->dev))) {
				NL_SET_ERR_MSG_MOD(extack,
						   "redirect: one simnic port in the same netns");
				err = -EOPNOTSUPP;
				break;
			}
			out = netdev_priv(act->dev);
			if (!out->live)
				err = -ENODEV;
			break;
		case FLOW_ACTION_VLAN_POP:
			if (a->push_vlan || a->push_pppoe ||
			    a->n_pop >= rule->key.n_vlans) {
				NL_SET_ERR_MSG_MOD(extack,
						   "VLAN pop needs a matched tag");
				err = -EOPNOTSUPP;
				break;
			}
			a->n_pop++;
			break;
		case FLOW_ACTION_VLAN_PUSH:
			if (a->push_vlan ||
			    act->vlan.proto != htons(ETH_P_8021Q)) {
				NL_SET_ERR_MSG_MOD(extack,
						   "one 802.1Q VLAN push only");
				err = -EOPNOTSUPP;
				break;
			}
			a->push_vlan = true;
			a->vlan_tci = (act->vlan.vid & VLAN_VID_MASK) |
				      (act->vlan.prio << VLAN_PRIO_SHIFT);
			break;
		case FLOW_ACTION_PPPOE_PUSH:
			if (a->push_pppoe) {
				NL_SET_ERR_MSG_MOD(extack, "one PPPoE push only");
				err = -EOPNOTSUPP;
				break;
			}
			a->push_pppoe = true;
			a->pppoe_sid = act->pppoe.sid;
			break;
		default:
			NL_SET_ERR_MSG_MOD(extack, "unsupported action");
			err = -EOPNOTSUPP;
			break;
		}
		if (err)
			goto out;
		a->n_actions++;
	}
	if (!out) {
		NL_SET_ERR_MSG_MOD(extack, "rule must redirect to a port");
		err = -EOPNOTSUPP;
		goto out;
	}
	err = kno_sim_ft_compile(rule, img, extack);
	if (!err)
		RCU_INIT_POINTER(rule->out, out);
out:
	kfree(img);
	return err;
}

/* The ingress port a rule is for, or NULL when META is missing. */
static bool kno_sim_ft_meta(struct flow_rule *fr, int *ifindex)
{
	struct flow_dissector_key_meta want = {};
	struct flow_match_meta m;

	if (!flow_rule_match_key(fr, FLOW_DISSECTOR_KEY_META))
		return false;
	flow_rule_match_meta(fr, &m);
	want.ingress_ifindex = 0xffffffff;
	if (memcmp(m.mask, &want, sizeof(want)))
		return false;
	*ifindex = m.key->ingress_ifindex;
	return true;
}

static noinline int kno_sim_ft_replace(struct kno_sim_binding *b,
				       struct flow_cls_offload *f)
{
	struct netlink_ext_ack *extack = f->common.extack;
	struct flow_rule *fr = flow_cls_offload_flow_rule(f);
	struct kno_sim_port *port;
	struct kno_sim_ft_rule *rule, *old, *dup;
	struct kno_sim_cmd_stats *st;
	int ifindex, err;

	kno_sim_delay();
	rule = kzalloc(sizeof(*rule), GFP_KERNEL);

	mutex_lock(&kno_sim_lock);
	port = b->port;
	st = &port->ft_cmd[KNO_SIM_CMD_REPLACE];
	if (!port->live) {
		err = -ENODEV;
		goto out;
	}
	/* The flowtable offers every rule to every bound port; a port
	 * takes the rules whose ingress is itself.
	 */
	if (kno_sim_ft_meta(fr, &ifindex) && ifindex != port->dev->ifindex) {
		st->foreign++;
		err = -EOPNOTSUPP;
		goto out;
	}
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
	if (!kno_sim_ft_meta(fr, &ifindex)) {
		NL_SET_ERR_MSG_MOD(extack, "exact META ingress_ifindex needed");
		goto fail;
	}
	if (!tc_can_offload(port->dev)) {
		NL_SET_ERR_MSG_MOD(extack, "hw-tc-offload is off");
		goto fail;
	}
	err = kno_sim_ft_parse_match(port, fr, rule, extack);
	if (err)
		goto fail;
	err = kno_sim_ft_parse_actions(port, fr, rule, extack);
	if (err)
		goto fail;

	rule->hash = kno_sim_key_hash(&rule->key);
	old = kno_sim_ft_find_cookie(port, f->cookie);
	dup = kno_sim_ft_find_key(port, &rule->key, rule->hash);
	if (dup && dup != old) {
		NL_SET_ERR_MSG_MOD(extack,
				   "another rule with the same key is installed");
		err = -EEXIST;
		goto fail;
	}
	if (!old && port->n_ft_rules >= READ_ONCE(kno_sim_cfg.ft_capacity)) {
		NL_SET_ERR_MSG_MOD(extack, "hardware flow table full");
		err = -ENOSPC;
		goto fail;
	}

	rule->port = port;
	rule->cookie = f->cookie;
	rule->binding = b->id;
	if (old) {
		/* Replace in place: same identity, counters carry over. */
		rule->id = old->id;
		rule->installed = old->installed;
		rule->replaced = old->replaced + 1;
		atomic64_set(&rule->packets, atomic64_read(&old->packets));
		atomic64_set(&rule->bytes, atomic64_read(&old->bytes));
		rule->lastused = READ_ONCE(old->lastused);
		rule->rep_packets = old->rep_packets;
		rule->rep_bytes = old->rep_bytes;
	} else {
		rule->id = ++kno_sim_rule_seq;
		rule->installed = jiffies;
		rule->lastused = rule->installed;
		kno_sim_log_replace(f->cookie);
	}
	/* Publish the new rule before the old one goes: the datapath
	 * always finds one of them.
	 */
	list_add_tail(&rule->list, &port->ft_rules);
	hlist_add_head_rcu(&rule->hnode,
			   &port->ft_hash[rule->hash % KNO_SIM_FT_BUCKETS]);
	hlist_add_head(&rule->cnode, kno_sim_ft_cookie_head(port, rule->cookie));
	port->n_ft_rules++;
	if (++kno_sim_ft_total > kno_sim_ft_total_max)
		kno_sim_ft_total_max = kno_sim_ft_total;
	if (old)
		kno_sim_ft_rule_free(old);
	if (port->n_ft_rules > port->max_ft_rules)
		port->max_ft_rules = port->n_ft_rules;
	atomic_inc(&kno_sim_rule_objs);
	st->ok++;
	rule = NULL;
	goto out;
fail:
	st->failed++;
	port->ft_last_err = err;
	/* extack messages are string literals of this module. */
	port->ft_last_msg = extack && extack->_msg ? extack->_msg : NULL;
out:
	mutex_unlock(&kno_sim_lock);
	kfree(rule);
	return err;
}
ALLOW_ERROR_INJECTION(kno_sim_ft_replace, ERRNO);

static noinline int kno_sim_ft_destroy(struct kno_sim_binding *b,
				       struct flow_cls_offload *f)
{
	struct kno_sim_port *port;
	struct kno_sim_ft_rule *rule;
	struct kno_sim_cmd_stats *st;
	int err = 0;

	kno_sim_delay();
	mutex_lock(&kno_sim_lock);
	port = b->port;
	st = &port->ft_cmd[KNO_SIM_CMD_DESTROY];
	rule = port->live ? kno_sim_ft_find_cookie(port, f->cookie) : NULL;
	err = kno_sim_cmd_start(st, rule, KNO_SIM_CMD_DESTROY);
	if (err)
		goto out;
	kno_sim_ft_rule_free(rule);
	st->ok++;
out:
	mutex_unlock(&kno_sim_lock);
	return err;
}
ALLOW_ERROR_INJECTION(kno_sim_ft_destroy, ERRNO);

static noinline int kno_sim_ft_stats(struct kno_sim_binding *b,
				     struct flow_cls_offload *f)
{
	struct kno_sim_port *port;
	struct kno_sim_ft_rule *rule;
	struct kno_sim_cmd_stats *st;
	u64 pkts, bytes;
	int err = 0;

	kno_sim_delay();
	mutex_lock(&kno_sim_lock);
	port = b->port;
	st = &port->ft_cmd[KNO_SIM_CMD_STATS];
	rule = port->live ? kno_sim_ft_find_cookie(port, f->cookie) : NULL;
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
			  pkts - rule->rep_packets, 0,
			  READ_ONCE(rule->lastused),
			  FLOW_ACTION_HW_STATS_DELAYED);
	rule->rep_packets = pkts;
	rule->rep_bytes = bytes;
out:
	mutex_unlock(&kno_sim_lock);
	return err;
}
ALLOW_ERROR_INJECTION(kno_sim_ft_stats, ERRNO);

static int kno_sim_ft_cb(enum tc_setup_type type, void *type_data,
			 void *cb_priv)
{
	struct flow_cls_offload *f = type_data;
	struct kno_sim_binding *b = cb_priv;

	if (type != TC_SETUP_CLSFLOWER)
		return -EOPNOTSUPP;

	switch (f->command) {
	case FLOW_CLS_REPLACE:
		return kno_sim_ft_replace(b, f);
	case FLOW_CLS_DESTROY:
		return kno_sim_ft_destroy(b, f);
	case FLOW_CLS_STATS:
		return kno_sim_ft_stats(b, f);
	default:
		return -EOPNOTSUPP;
	}
}

static int kno_sim_tc_cb(enum tc_setup_type type, void *type_data,
			 void *cb_priv)
{
	if (type != TC_SETUP_CLSFLOWER)
		return -EOPNOTSUPP;
	return kno_sim_acl_cmd(cb_priv, type_data);
}

static flow_setup_cb_t *const kno_sim_block_cbs[KNO_SIM_BLOCK_NUM] = {
	[KNO_SIM_BLOCK_FT] = kno_sim_ft_cb,
	[KNO_SIM_BLOCK_TC] = kno_sim_tc_cb,
};

/* Flush the flowtable rules one binding installed. kno_sim_lock held. */
static void kno_sim_ft_flush_binding(struct kno_sim_port *port, u64 id)
{
	struct kno_sim_ft_rule *rule, *tmp;

	list_for_each_entry_safe(rule, tmp, &port->ft_rules, list) {
		if (rule->binding != id)
			continue;
		kno_sim_ft_rule_free(rule);
		port->flushed++;
	}
}

/*
 * Bindings whose port is gone. nf_tables does not unbind an offloaded
 * netdev chain from a device that leaves a multi-device hook list, so a
 * binding can outlive its port; it then points here (never live, so every
 * command fails with ENODEV or ENOENT) until the block core releases it.
 */
static struct kno_sim_port kno_sim_gone_port = {
	.bindings = LIST_HEAD_INIT(kno_sim_gone_port.bindings),
};

/*
 * The block core frees the flow_block_cb after UNBIND (or after a failed
 * BIND further up); this is the binding's end of life.
 */
static void kno_sim_binding_release(void *cb_priv)
{
	struct kno_sim_binding *b = cb_priv;
	struct kno_sim_port *port;

	mutex_lock(&kno_sim_lock);
	port = b->port;
	list_del(&b->node);
	port->unbinds[b->type]++;
	if (port->live && READ_ONCE(kno_sim_cfg.flush_on_unbind)) {
		if (b->type == KNO_SIM_BLOCK_FT)
			kno_sim_ft_flush_binding(port, b->id);
		else
			kno_sim_acl_flush(port, b->id);
	}
	mutex_unlock(&kno_sim_lock);
	kfree(b);
}

static int kno_sim_bind(struct kno_sim_port *port, struct flow_block_offload *f,
			enum kno_sim_btype type)
{
	flow_setup_cb_t *cb = kno_sim_block_cbs[type];
	struct flow_block_cb *block_cb;
	struct kno_sim_binding *b;
	int err;

	block_cb = flow_block_cb_lookup(f->block, cb, port);
	if (block_cb) {
		flow_block_cb_incref(block_cb);
		return 0;
	}

	kno_sim_delay();
	b = kzalloc(sizeof(*b), GFP_KERNEL);
	mutex_lock(&kno_sim_lock);
	err = port->live ? 0 : -ENODEV;
	/* Like a NIC with offload disabled: nothing to bind to. */
	if (!err && !tc_can_offload(port->dev))
		err = -EOPNOTSUPP;
	if (!err)
		err = kno_sim_fault_check(KNO_SIM_CMD_BIND);
	if (!err && !b)
		err = -ENOMEM;
	if (err) {
		port->bind_failed[type]++;
		mutex_unlock(&kno_sim_lock);
		kfree(b);
		NL_SET_ERR_MSG_MOD(f->extack, "simnic refused the block");
		return err;
	}
	block_cb = flow_block_cb_alloc(cb, port, b, kno_sim_binding_release);
	if (IS_ERR(block_cb)) {
		port->bind_failed[type]++;
		mutex_unlock(&kno_sim_lock);
		kfree(b);
		return PTR_ERR(block_cb);
	}
	b->port = port;
	b->type = type;
	b->id = ++kno_sim_binding_seq;
	list_add_tail(&b->node, &port->bindings);
	port->binds[type]++;
	mutex_unlock(&kno_sim_lock);

	flow_block_cb_incref(block_cb);
	flow_block_cb_add(block_cb, f);
	return 0;
}

static int kno_sim_unbind(struct kno_sim_port *port,
			  struct flow_block_offload *f, enum kno_sim_btype type)
{
	struct flow_block_cb *block_cb;

	block_cb = flow_block_cb_lookup(f->block, kno_sim_block_cbs[type],
					port);
	if (!block_cb)
		return -ENOENT;
	if (!flow_block_cb_decref(block_cb))
		flow_block_cb_remove(block_cb, f);
	return 0;
}

static int kno_sim_setup_block(struct kno_sim_port *port,
			       struct flow_block_offload *f,
			       enum kno_sim_btype type)
{
	if (f->binder_type != FLOW_BLOCK_BINDER_TYPE_CLSACT_INGRESS)
		return -EOPNOTSUPP;

	/* Our callbacks take their own lock, tc need not hold RTNL. */
	f->unlocked_driver_cb = true;

	switch (f->command) {
	case FLOW_BLOCK_BIND:
		return kno_sim_bind(port, f, type);
	case FLOW_BLOCK_UNBIND:
		return kno_sim_unbind(port, f, type);
	default:
		return -EOPNOTSUPP;
	}
}

int kno_sim_setup_tc(struct net_device *dev, enum tc_setup_type type,
		     void *type_data)
{
	struct kno_sim_port *port = netdev_priv(dev);

	switch (type) {
	case TC_SETUP_FT:
		return kno_sim_setup_block(port, type_data, KNO_SIM_BLOCK_FT);
	case TC_SETUP_BLOCK:
		return kno_sim_setup_block(port, type_data, KNO_SIM_BLOCK_TC);
	default:
		return -EOPNOTSUPP;
	}
}

/*
 * The port is going away (ndo_uninit, kno_sim_lock held): its own tables
 * go with it; rules of other ports that forward out of it stay installed
 * but lose their egress, so the datapath drops what they match.
 */
void kno_sim_port_flush(struct kno_sim_port *port)
{
	struct kno_sim_binding *b, *btmp;
	struct kno_sim_ft_rule *rule, *tmp;
	struct kno_sim_port *other;

	lockdep_assert_held(&kno_sim_lock);
	list_for_each_entry_safe(rule, tmp, &port->ft_rules, list)
		kno_sim_ft_rule_free(rule);
	kno_sim_acl_flush(port, 0);

	list_for_each_entry(other, &kno_sim_ports, node) {
		list_for_each_entry(rule, &other->ft_rules, list) {
			if (rcu_access_pointer(rule->out) != port)
				continue;
			RCU_INIT_POINTER(rule->out, NULL);
			other->orphaned++;
		}
	}
	kno_sim_acl_unlink_port(port);

	/* Bindings the stack did not release yet outlive the port. */
	list_for_each_entry_safe(b, btmp, &port->bindings, node) {
		b->port = &kno_sim_gone_port;
		list_move_tail(&b->node, &kno_sim_gone_port.bindings);
	}
}
