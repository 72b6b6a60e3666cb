// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: flow table core.
 *
 * A flowtable holds established conntrack entries as two tuples, one per
 * direction, in an rhashtable. The ingress fast path (nf_flow_table_ip.c)
 * looks packets up here; the GC below expires idle flows, hands flows back
 * to conntrack and drives the hardware offload state machine
 * (nf_flow_table_offload.c).
 *
 * Locking and lifetimes:
 *  - The rhashtable is RCU-protected; readers are the packet path (RCU read
 *    side of the netfilter hook) and act_ct.
 *  - A flow is unlinked and freed only by the GC of its flowtable (the
 *    flowtable's gc_work or nf_flow_table_free()), never concurrently with
 *    itself, and the memory is released after an RCU grace period.
 *  - flow->flags is updated with atomic bitops; flow->timeout with
 *    READ_ONCE/WRITE_ONCE (u32 jiffies, compared as signed deltas).
 *  - kno_flowtables (every initialised flowtable) is protected by
 *    kno_flowtables_lock, a mutex: it is walked from process context only.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/rhashtable.h>
#include <linux/hashtable.h>
#include <linux/netdevice.h>
#include <net/ip.h>
#include <net/ip6_route.h>
#include <net/netfilter/nf_tables.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_l4proto.h>
#include <net/netfilter/nf_conntrack_tuple.h>
#include "nf_flow_table_internal.h"

/* Protects kno_flowtables, walked from process context only. */
DEFINE_MUTEX(kno_flowtables_lock);
LIST_HEAD(kno_flowtables);
static struct kmem_cache *kno_flow_cache __read_mostly;

/* How often the GC visits every flow of a flowtable. */
#define KNO_GC_INTERVAL		HZ

/* Lower bound of the conntrack timeout of an offloaded entry (see GC). */
#define KNO_CT_MIN_TIMEOUT	(5 * 60 * HZ)

/* ------------------------------------------------------------------ */
/* Allocation and route setup                                          */
/* ------------------------------------------------------------------ */

static void kno_tuple_from_ct(struct flow_offload *flow,
			      enum flow_offload_tuple_dir dir)
{
	const struct nf_conntrack_tuple *ctt = &flow->ct->tuplehash[dir].tuple;
	struct flow_offload_tuple *t = &flow->tuplehash[dir].tuple;

	t->dir = dir;
	t->l3proto = ctt->src.l3num;
	t->l4proto = ctt->dst.protonum;

	if (t->l3proto == NFPROTO_IPV4) {
		t->src_v4 = ctt->src.u3.in;
		t->dst_v4 = ctt->dst.u3.in;
	} else if (t->l3proto == NFPROTO_IPV6) {
		t->src_v6 = ctt->src.u3.in6;
		t->dst_v6 = ctt->dst.u3.in6;
	}

	/* GRE and others have no ports in the flow key. */
	if (t->l4proto == IPPROTO_TCP || t->l4proto == IPPROTO_UDP) {
		t->src_port = ctt->src.u.all;
		t->dst_port = ctt->dst.u.all;
	}
}

/**
 * flow_offload_alloc - allocate a flow for a confirmed conntrack entry
 * @ct: the conntrack entry; a reference is taken and dropped on free
 *
 * Context: any; allocates with GFP_ATOMIC.
 * Return: the flow, or NULL if @ct is dying or memory is short.
 */
struct flow_offload *flow_offload_alloc(struct nf_conn *ct)
{
	struct kno_flow *kflow;
	struct flow_offload *flow;

	if (unlikely(nf_ct_is_dying(ct)))
		return NULL;

	kflow = kmem_cache_zalloc(kno_flow_cache, GFP_ATOMIC);
	if (!kflow)
		return NULL;

	INIT_LIST_HEAD(&kflow->hw_node);
	flow = &kflow->flow;
	nf_conntrack_get(&ct->ct_general);
	flow->ct = ct;

	kno_tuple_from_ct(flow, FLOW_OFFLOAD_DIR_ORIGINAL);
	kno_tuple_from_ct(flow, FLOW_OFFLOAD_DIR_REPLY);

	if (ct->status & IPS_SRC_NAT)
		__set_bit(NF_FLOW_SNAT, &flow->flags);
	if (ct->status & IPS_DST_NAT)
		__set_bit(NF_FLOW_DNAT, &flow->flags);

	return flow;
}
EXPORT_SYMBOL_GPL(flow_offload_alloc);

static bool kno_xmit_uses_dst(enum flow_offload_xmit_type type)
{
	return type == FLOW_OFFLOAD_XMIT_NEIGH || type == FLOW_OFFLOAD_XMIT_XFRM;
}

/*
 * Move one direction of @route into the flow. The route's dst reference is
 * consumed: kept in the tuple for neighbour/xfrm transmission, dropped for
 * direct transmission, which only needs the precomputed Ethernet header.
 */
static void kno_tuple_set_route(struct flow_offload *flow,
				struct nf_flow_route *route,
				enum flow_offload_tuple_dir dir)
{
	struct flow_offload_tuple *t = &flow->tuplehash[dir].tuple;
	struct dst_entry *dst = route->tuple[dir].dst;
	int n = route->tuple[dir].in.num_encaps;
	int i;

	route->tuple[dir].dst = NULL;

	if (t->l3proto == NFPROTO_IPV4)
		t->mtu = ip_dst_mtu_maybe_forward(dst, true);
	else
		t->mtu = ip6_dst_mtu_maybe_forward(dst, true);

	t->iifidx = route->tuple[dir].in.ifindex;

	/*
	 * The route lists encapsulations from the innermost (the device
	 * closest to IP) outwards; packets are parsed outermost first.
	 */
	for (i = 0; i < n; i++) {
		t->encap[i].id = route->tuple[dir].in.encap[n - 1 - i].id;
		t->encap[i].proto = route->tuple[dir].in.encap[n - 1 - i].proto;
		if (route->tuple[dir].in.ingress_vlans & BIT(n - 1 - i))
			t->in_vlan_ingress |= BIT(i);
	}
	t->encap_num = n;
	t->xmit_type = route->tuple[dir].xmit_type;

	if (kno_xmit_uses_dst(t->xmit_type)) {
		t->dst_cache = dst;
		t->dst_cookie = 0;
		if (t->l3proto == NFPROTO_IPV6)
			t->dst_cookie = rt6_get_cookie(dst_rt6_info(dst));
		return;
	}

	ether_addr_copy(t->out.h_dest, route->tuple[dir].out.h_dest);
	ether_addr_copy(t->out.h_source, route->tuple[dir].out.h_source);
	t->out.ifidx = route->tuple[dir].out.ifindex;
	t->out.hw_ifidx = route->tuple[dir].out.hw_ifindex;
	dst_release(dst);
}

/**
 * flow_offload_route_init - attach the routing decisions to a flow
 * @flow: flow from flow_offload_alloc()
 * @route: both directions; the dst references are consumed
 */
void flow_offload_route_init(struct flow_offload *flow,
			     struct nf_flow_route *route)
{
	kno_tuple_set_route(flow, route, FLOW_OFFLOAD_DIR_ORIGINAL);
	kno_tuple_set_route(flow, route, FLOW_OFFLOAD_DIR_REPLY);
	flow->type = NF_FLOW_OFFLOAD_ROUTE;
}
EXPORT_SYMBOL_GPL(flow_offload_route_init);

static void kno_flow_free_rcu(struct rcu_head *head)
{
	struct flow_offload *flow = container_of(head, struct flow_offload,
						 rcu_head);

	nf_ct_put(flow->ct);
	kmem_cache_free(kno_flow_cache, kno_flow(flow));
}

/**
 * flow_offload_free - release a flow that is not (or no longer) linked
 * @flow: the flow
 *
 * Drops the cached routes now and the conntrack reference and memory after
 * an RCU grace period, as lookups may still hold the flow.
 */
void flow_offload_free(struct flow_offload *flow)
{
	int dir;

	if (flow->type == NF_FLOW_OFFLOAD_ROUTE) {
		for (dir = 0; dir < FLOW_OFFLOAD_DIR_MAX; dir++) {
			struct flow_offload_tuple *t = &flow->tuplehash[dir].tuple;

			if (kno_xmit_uses_dst(t->xmit_type))
				dst_release(t->dst_cache);
		}
	}
	call_rcu(&flow->rcu_head, kno_flow_free_rcu);
}
EXPORT_SYMBOL_GPL(flow_offload_free);

/* ------------------------------------------------------------------ */
/* Hash table                                                          */
/* ------------------------------------------------------------------ */

/*
 * Every member before __hash is part of the key; the rest is payload. The
 * key is 50 bytes on every supported kernel: six 64-bit words and one
 * 16-bit tail (encap[1].proto). Hashing and comparing it word by word
 * costs a fraction of jhash()/memcmp() over bytes; the packet path does
 * both for every packet.
 */
#define KNO_TUPLE_KEYLEN	offsetof(struct flow_offload_tuple, __hash)
#define KNO_TUPLE_KEY_U64	6

static const u16 *kno_key_tail(const struct flow_offload_tuple *t)
{
	return (const u16 *)((const u8 *)t + KNO_TUPLE_KEY_U64 * sizeof(u64));
}

/*
 * IPv4 keys leave 24 bytes of the address unions zero; hash the words that
 * carry information. Equal keys hash equally, which is all rhashtable
 * needs.
 */
static u32 kno_key_hash(const struct flow_offload_tuple *t, u32 seed)
{
	const u32 *w = (const u32 *)t;

	BUILD_BUG_ON(offsetof(struct flow_offload_tuple, __hash) !=
		     KNO_TUPLE_KEY_U64 * sizeof(u64) + 2);
	BUILD_BUG_ON(offsetof(struct flow_offload_tuple, src_port) != 32);

	/* w[8]: ports, w[9]: iifidx, w[10..11]: protos and encapsulation */
	seed ^= w[9] ^ w[10] ^ jhash_2words(w[11], *kno_key_tail(t), 0);
	if (t->l3proto == NFPROTO_IPV4)
		return jhash_3words(w[0], w[4], w[8], seed);
	return jhash2(w, 9, seed);
}

static bool kno_key_equal(const struct flow_offload_tuple *a,
			  const struct flow_offload_tuple *b)
{
	const u64 *x = (const u64 *)a, *y = (const u64 *)b;
	u64 diff = 0;
	int i;

	for (i = 0; i < KNO_TUPLE_KEY_U64; i++)
		diff |= x[i] ^ y[i];
	return !diff && *kno_key_tail(a) == *kno_key_tail(b);
}

static u32 kno_tuple_hash(const void *data, u32 len, u32 seed)
{
	return kno_key_hash(data, seed);
}

static u32 kno_tuple_obj_hash(const void *data, u32 len, u32 seed)
{
	const struct flow_offload_tuple_rhash *th = data;

	return kno_key_hash(&th->tuple, seed);
}

static int kno_tuple_cmp(struct rhashtable_compare_arg *arg, const void *obj)
{
	const struct flow_offload_tuple_rhash *th = obj;

	return kno_key_equal(&th->tuple, arg->key) ? 0 : 1;
}

static const struct rhashtable_params kno_rht_params = {
	.head_offset		= offsetof(struct flow_offload_tuple_rhash, node),
	.hashfn			= kno_tuple_hash,
	.obj_hashfn		= kno_tuple_obj_hash,
	.obj_cmpfn		= kno_tuple_cmp,
	.automatic_shrinking	= true,
};

/* ------------------------------------------------------------------ */
/* Timeouts                                                            */
/* ------------------------------------------------------------------ */

/**
 * flow_offload_get_timeout - idle timeout of a flow in the flowtable
 * @flow: the flow
 *
 * The per-netns sysctls net.netfilter.nf_flowtable_{tcp,udp}_timeout.
 */
unsigned long flow_offload_get_timeout(struct flow_offload *flow)
{
	const struct net *net = nf_ct_net(flow->ct);

	switch (nf_ct_protonum(flow->ct)) {
	case IPPROTO_TCP:
		return READ_ONCE(net->ct.nf_ct_proto.tcp.offload_timeout);
	case IPPROTO_UDP:
		return READ_ONCE(net->ct.nf_ct_proto.udp.offload_timeout);
	}
	return NF_FLOW_TIMEOUT;
}

static bool kno_flow_expired(const struct flow_offload *flow)
{
	return nf_flow_timeout_delta(READ_ONCE(flow->timeout)) <= 0;
}

/*
 * Raise the conntrack timeout of an offloaded entry far enough that
 * conntrack never expires it while the flowtable owns it. Conntrack may
 * lower it concurrently (it is authoritative); only the value we read is
 * replaced.
 */
static void kno_ct_extend_timeout(struct nf_conn *ct, u32 extra)
{
	u32 old = READ_ONCE(ct->timeout);
	s32 left = (s32)(old - nfct_time_stamp);

	if (left >= (s32)extra)
		return;
	cmpxchg(&ct->timeout, old, nfct_time_stamp + extra);
}

/*
 * GC side: keep the conntrack entry of a live flow from expiring. TCP
 * entries only get a long timeout while established; in the other states
 * conntrack's own (short) timeouts stay in charge.
 */
static void kno_ct_keepalive(struct nf_conn *ct)
{
	u32 extra;

	if ((s32)(READ_ONCE(ct->timeout) - nfct_time_stamp) >= KNO_CT_MIN_TIMEOUT)
		return;

	if (!refcount_inc_not_zero(&ct->ct_general.use))
		return;
	/* Read the status only once we own a reference. */
	smp_acquire__after_ctrl_dep();

	if (!nf_ct_is_confirmed(ct) || !test_bit(IPS_OFFLOAD_BIT, &ct->status))
		goto out;

	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP:
		switch (READ_ONCE(ct->proto.tcp.state)) {
		case TCP_CONNTRACK_ESTABLISHED:
			extra = NF_CT_DAY;
			break;
		case TCP_CONNTRACK_FIN_WAIT:
		case TCP_CONNTRACK_CLOSE_WAIT:
		case TCP_CONNTRACK_LAST_ACK:
		case TCP_CONNTRACK_TIME_WAIT:
			extra = KNO_CT_MIN_TIMEOUT;
			break;
		default:
			goto out;
		}
		break;
	case IPPROTO_UDP:
		extra = NF_CT_DAY;
		break;
	default:
		/* GRE: conntrack's stream timeout applies. */
		extra = KNO_CT_MIN_TIMEOUT;
		break;
	}
	kno_ct_extend_timeout(ct, extra);
out:
	nf_ct_put(ct);
}

/*
 * Conntrack saw none of the packets the flowtable forwarded. Before it
 * takes the entry back, make its TCP window tracking accept whatever comes
 * next (reset td_maxwin, forget MAXACK) and move the state forward when a
 * FIN/RST was seen, under ct->lock as conntrack itself does.
 */
static void kno_ct_fixup_tcp(struct nf_conn *ct, bool closing)
{
	struct ip_ct_tcp *tcp = &ct->proto.tcp;
	int i;

	spin_lock_bh(&ct->lock);
	if (closing && tcp->state != TCP_CONNTRACK_CLOSE) {
		tcp->state = TCP_CONNTRACK_CLOSE;
		/* A new SYN on this tuple is then a legal reopen. */
		tcp->seen[0].flags |= IP_CT_TCP_FLAG_CLOSE_INIT;
	}
	for (i = 0; i < 2; i++) {
		tcp->seen[i].td_maxwin = 0;
		tcp->seen[i].flags &= ~IP_CT_TCP_FLAG_MAXACK_SET;
	}
	spin_unlock_bh(&ct->lock);
}

/*
 * Hand the conntrack entry back to the classic path with a timeout that
 * fits its state: the state's own timeout, minus the time the flow already
 * sat idle in the flowtable when it expired there.
 */
static void kno_ct_fixup(struct flow_offload *flow)
{
	struct nf_conn *ct = flow->ct;
	const struct net *net = nf_ct_net(ct);
	bool closing = test_bit(KNO_FLOW_CLOSING, &flow->flags);
	u32 idle = 0;
	s32 timeout;

	switch (nf_ct_protonum(ct)) {
	case IPPROTO_TCP: {
		const struct nf_tcp_net *tn = &net->ct.nf_ct_proto.tcp;

		kno_ct_fixup_tcp(ct, closing);
		timeout = READ_ONCE(tn->timeouts[READ_ONCE(ct->proto.tcp.state)]);
		if (!closing && kno_flow_expired(flow))
			idle = READ_ONCE(tn->offload_timeout);
		break;
	}
	case IPPROTO_UDP: {
		const struct nf_udp_net *un = &net->ct.nf_ct_proto.udp;
		int state = test_bit(IPS_SEEN_REPLY_BIT, &ct->status) ?
			    UDP_CT_REPLIED : UDP_CT_UNREPLIED;

		timeout = READ_ONCE(un->timeouts[state]);
		if (kno_flow_expired(flow))
			idle = READ_ONCE(un->offload_timeout);
		break;
	}
	default:
		return;
	}

	timeout = max_t(s32, timeout - (s32)idle, 0);
	if (closing ||
	    nf_flow_timeout_delta(READ_ONCE(ct->timeout)) > timeout)
		WRITE_ONCE(ct->timeout, nfct_time_stamp + timeout);
}

/* ------------------------------------------------------------------ */
/* GC wheel of software flowtables                                     */
/* ------------------------------------------------------------------ */

/*
 * The GC of a software flowtable (no hardware offload, no gc() callback of
 * its type, i.e. nftables without "flags offload") does not walk every flow
 * every second. Each flow waits in the slot of the second in which it is
 * due: its deadline (flow->timeout), but at most KNO_GC_SLOTS - 1 seconds
 * ahead, so the conntrack keepalive below still runs about once a minute.
 * A GC run takes the slots whose second is over plus the urgent list,
 * expires or tears down what is due and files the other flows again at
 * their current deadline. The packet path only moves flow->timeout, never
 * a flow between slots: a refreshed flow is filed again when its old slot
 * comes up. Whatever makes a flow due early (teardown, a FIN/RST, a dying
 * conntrack entry) moves it to its new slot or to the urgent list at once
 * (kno_gc_kick()). A run therefore costs the flows that are due in it, not
 * the size of the table.
 *
 * Flowtables with hardware offload or a type gc() (act_ct) keep the full
 * walk of nf_flow_table_gc_run(): their GC also drives STATS, retries and
 * the type's checks for every flow.
 *
 * Locking and lifetimes:
 *  - wheel->lock protects the cursor, the lists and every kno_flow::gc_node
 *    and ::gc_state of the flowtable. It is taken with interrupts off:
 *    flow_offload_teardown() may be called from any context. gc_node shares
 *    its memory with hw_node, which only hardware flowtables use.
 *  - A flow the GC took off the wheel is in state BATCH; only the GC
 *    touches its gc_node until it files it again. Before the GC unlinks and
 *    frees a flow it marks it DEAD, so a late kick (an RCU reader of the
 *    packet path) leaves it alone.
 *  - A wheel lives from nf_flow_table_init() to nf_flow_table_free() and is
 *    freed after an RCU grace period. kno_wheels finds it by flowtable (RCU
 *    readers, written under kno_flowtables_lock); flows keep no pointer to
 *    it, so a flow of a wheel costs no memory beyond gc_state.
 */
#define KNO_GC_SLOTS		64
#define KNO_GC_SLOT_LEN		KNO_GC_INTERVAL

enum kno_gc_state {
	KNO_GC_UNLISTED,	/* not (yet) in the wheel */
	KNO_GC_LISTED,		/* in a slot or the urgent list */
	KNO_GC_BATCH,		/* taken by the running GC */
	KNO_GC_DEAD,		/* unlinked, waiting for RCU */
};

struct kno_gc_wheel {
	struct hlist_node		hnode;
	const struct nf_flowtable	*ft;
	struct rcu_head			rcu;
	/* cursor, idx, the lists, kno_flow::gc_node and ::gc_state */
	spinlock_t			lock;
	/* jiffies at which slot[idx] starts */
	u32				cursor;
	unsigned int			idx;
	struct list_head		urgent;
	struct list_head		slot[KNO_GC_SLOTS];
};

static DEFINE_HASHTABLE(kno_wheels, 6);

static bool kno_wheel_wanted(struct nf_flowtable *flow_table)
{
	return !nf_flowtable_hw_offload(flow_table) && !flow_table->type->gc;
}

/* Context: RCU read side, or kno_flowtables_lock held. */
static struct kno_gc_wheel *kno_wheel_find(const struct nf_flowtable *ft)
{
	struct kno_gc_wheel *w;

	hash_for_each_possible_rcu(kno_wheels, w, hnode, (unsigned long)ft,
				   lockdep_is_held(&kno_flowtables_lock))
		if (w->ft == ft)
			return w;
	return NULL;
}

static struct kno_gc_wheel *kno_wheel_get(const struct nf_flowtable *ft)
{
	struct kno_gc_wheel *w;

	rcu_read_lock();
	w = kno_wheel_find(ft);
	rcu_read_unlock();
	return w;
}

/* The list a flow belongs on now. Context: w->lock held. */
static struct list_head *kno_wheel_slot(struct kno_gc_wheel *w,
					const struct flow_offload *flow)
{
	s32 delta;

	if (test_bit(NF_FLOW_TEARDOWN, &flow->flags) ||
	    nf_ct_is_dying(flow->ct))
		return &w->urgent;

	delta = (s32)(READ_ONCE(flow->timeout) - w->cursor);
	delta = clamp_t(s32, delta / KNO_GC_SLOT_LEN, 0, KNO_GC_SLOTS - 1);
	return &w->slot[(w->idx + delta) % KNO_GC_SLOTS];
}

/* Context: w->lock held; @kf is on no list. */
static void kno_wheel_file(struct kno_gc_wheel *w, struct kno_flow *kf)
{
	list_add_tail(&kf->gc_node, kno_wheel_slot(w, &kf->flow));
	kf->gc_state = KNO_GC_LISTED;
}

/*
 * File the flow where it is due now, if it is in state @from and its
 * flowtable has a wheel. Context: any.
 */
static void kno_wheel_place(struct kno_flow *kf, enum kno_gc_state from)
{
	struct kno_gc_wheel *w;
	unsigned long flags;

	rcu_read_lock();
	w = kno_wheel_find(kf->ft);
	if (w) {
		spin_lock_irqsave(&w->lock, flags);
		if (kf->gc_state == from) {
			if (from == KNO_GC_LISTED)
				list_del(&kf->gc_node);
			kno_wheel_file(w, kf);
		}
		spin_unlock_irqrestore(&w->lock, flags);
	}
	rcu_read_unlock();
}

/* A newly linked flow joins the wheel of its flowtable, if it has one. */
static void kno_wheel_add(struct kno_flow *kf)
{
	kno_wheel_place(kf, KNO_GC_UNLISTED);
}

/*
 * The flow may be due earlier than the slot it waits in: move it. A flow
 * that is not listed yet stays so (flow_offload_add() may still fail and
 * free it); kno_wheel_add() reads the flags under the lock, after ours,
 * and files it where it is due then. A flow the GC holds is filed by the
 * GC, which also reads the flags under the lock. Context: any; the caller
 * holds the flow (RCU read side or the GC).
 */
static void kno_gc_kick(struct flow_offload *flow)
{
	kno_wheel_place(kno_flow(flow), KNO_GC_LISTED);
}

/* The flow is about to be unlinked and freed. Context: process. */
static void kno_wheel_forget(struct kno_flow *kf)
{
	struct kno_gc_wheel *w = kno_wheel_get(kf->ft);

	if (!w)
		return;
	spin_lock_irq(&w->lock);
	if (kf->gc_state == KNO_GC_LISTED)
		list_del(&kf->gc_node);
	kf->gc_state = KNO_GC_DEAD;
	spin_unlock_irq(&w->lock);
}

static int kno_wheel_create(struct nf_flowtable *flow_table)
{
	struct kno_gc_wheel *w;
	int i;

	if (!kno_wheel_wanted(flow_table))
		return 0;
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		return -ENOMEM;
	w->ft = flow_table;
	spin_lock_init(&w->lock);
	w->cursor = (u32)jiffies;
	INIT_LIST_HEAD(&w->urgent);
	for (i = 0; i < KNO_GC_SLOTS; i++)
		INIT_LIST_HEAD(&w->slot[i]);

	mutex_lock(&kno_flowtables_lock);
	hash_add_rcu(kno_wheels, &w->hnode, (unsigned long)flow_table);
	mutex_unlock(&kno_flowtables_lock);
	return 0;
}

/* Context: process; no flow of @flow_table is left in the wheel. */
static void kno_wheel_destroy(struct nf_flowtable *flow_table)
{
	struct kno_gc_wheel *w;

	mutex_lock(&kno_flowtables_lock);
	w = kno_wheel_find(flow_table);
	if (w)
		hash_del_rcu(&w->hnode);
	mutex_unlock(&kno_flowtables_lock);
	/* Late kicks of RCU readers may still take the lock. */
	if (w)
		kfree_rcu(w, rcu);
}

/* ------------------------------------------------------------------ */
/* Add, refresh, lookup, teardown                                      */
/* ------------------------------------------------------------------ */

/**
 * flow_offload_add - link a flow into a flowtable
 * @flow_table: the flowtable
 * @flow: flow with both routes set
 *
 * Context: softirq or process; the caller holds the conntrack entry, whose
 * IPS_OFFLOAD bit it has set.
 * Return: 0 or a negative errno (-EEXIST if a tuple is already present);
 * on error the caller still owns @flow.
 */
int flow_offload_add(struct nf_flowtable *flow_table, struct flow_offload *flow)
{
	struct rhashtable *ht = &flow_table->rhashtable;
	struct kno_flow *kf = kno_flow(flow);
	int err;

	kf->ft = flow_table;
	WRITE_ONCE(flow->timeout,
		   nf_flowtable_time_stamp + flow_offload_get_timeout(flow));

	err = rhashtable_insert_fast(ht, &flow->tuplehash[1].node,
				     kno_rht_params);
	if (err < 0)
		return err;
	/* The GC walks original-direction entries: publish that one last. */
	err = rhashtable_insert_fast(ht, &flow->tuplehash[0].node,
				     kno_rht_params);
	if (err < 0) {
		rhashtable_remove_fast(ht, &flow->tuplehash[1].node,
				       kno_rht_params);
		return err;
	}

	/* From now on the flowtable keeps the conntrack entry alive. */
	kno_ct_extend_timeout(flow->ct, NF_CT_DAY);
	kno_wheel_add(kf);

	if (nf_flowtable_hw_offload(flow_table)) {
		__set_bit(NF_FLOW_HW, &flow->flags);
		nf_flow_offload_add(flow_table, flow);
	}
	return 0;
}
EXPORT_SYMBOL_GPL(flow_offload_add);

/*
 * Whether a packet should push the flow's timeout: only once the deadline
 * moved by more than a second, to keep the cache line mostly read-only.
 */
bool kno_flow_refresh_needed(const struct flow_offload *flow, u32 timeout)
{
	return (s32)(timeout - READ_ONCE(flow->timeout)) > HZ;
}

/**
 * flow_offload_refresh - a packet of the flow was seen in software
 * @flow_table: the flowtable
 * @flow: the flow
 * @force: (act_ct) re-push the hardware entry even if nothing changed
 */
void flow_offload_refresh(struct nf_flowtable *flow_table,
			  struct flow_offload *flow, bool force)
{
	u32 timeout;

	if (unlikely(test_bit(KNO_FLOW_CLOSING, &flow->flags)))
		return;

	timeout = nf_flowtable_time_stamp + flow_offload_get_timeout(flow);
	if (!force && !kno_flow_refresh_needed(flow, timeout))
		return;
	WRITE_ONCE(flow->timeout, timeout);

	if (unlikely(nf_flowtable_hw_offload(flow_table)))
		kno_offload_refresh(flow_table, flow, force);
}
EXPORT_SYMBOL_GPL(flow_offload_refresh);

/**
 * flow_offload_lookup - find the tuple of a live flow
 * @flow_table: the flowtable
 * @tuple: key; every member before __hash must be set, the rest zeroed
 *
 * Context: RCU read side.
 * Return: the tuple entry, or NULL if absent, torn down or its conntrack
 * entry is dying.
 */
struct flow_offload_tuple_rhash *
flow_offload_lookup(struct nf_flowtable *flow_table,
		    struct flow_offload_tuple *tuple)
{
	struct flow_offload_tuple_rhash *th;
	struct flow_offload *flow;

	th = rhashtable_lookup(&flow_table->rhashtable, tuple, kno_rht_params);
	if (!th)
		return NULL;

	flow = container_of(th, struct flow_offload, tuplehash[th->tuple.dir]);
	if (test_bit(NF_FLOW_TEARDOWN, &flow->flags))
		return NULL;
	if (unlikely(nf_ct_is_dying(flow->ct))) {
		/* Free the tuple soon: a new connection may want it. */
		kno_gc_kick(flow);
		return NULL;
	}
	return th;
}
EXPORT_SYMBOL_GPL(flow_offload_lookup);

/**
 * flow_offload_teardown - send a flow back to the classic path
 * @flow: the flow
 *
 * Lookups stop matching at once; the GC unlinks and frees the flow (after
 * removing its hardware entry). Safe to call more than once, from any
 * context.
 */
void flow_offload_teardown(struct flow_offload *flow)
{
	clear_bit(IPS_OFFLOAD_BIT, &flow->ct->status);
	if (!test_and_set_bit(NF_FLOW_TEARDOWN, &flow->flags)) {
		kno_ct_fixup(flow);
		kno_gc_kick(flow);
	}
}
EXPORT_SYMBOL_GPL(flow_offload_teardown);

/*
 * A FIN or RST went through the fast path: the hardware entry goes (the GC
 * issues the DESTROY), the software one lives on for a short grace period.
 */
void kno_flow_closing(struct nf_flowtable *flow_table,
		      struct flow_offload *flow)
{
	u32 deadline = nf_flowtable_time_stamp + KNO_FLOW_CLOSING_GRACE;

	if (test_and_set_bit(KNO_FLOW_CLOSING, &flow->flags))
		return;
	if (nf_flow_timeout_delta(READ_ONCE(flow->timeout)) >
	    KNO_FLOW_CLOSING_GRACE) {
		WRITE_ONCE(flow->timeout, deadline);
		kno_gc_kick(flow);
	}
}

/* ------------------------------------------------------------------ */
/* Garbage collection                                                  */
/* ------------------------------------------------------------------ */

static void kno_flow_unlink(struct nf_flowtable *flow_table,
			    struct flow_offload *flow)
{
	kno_wheel_forget(kno_flow(flow));
	rhashtable_remove_fast(&flow_table->rhashtable,
			       &flow->tuplehash[0].node, kno_rht_params);
	rhashtable_remove_fast(&flow_table->rhashtable,
			       &flow->tuplehash[1].node, kno_rht_params);
	flow_offload_free(flow);
}

/*
 * Call @fn on every flow of @flow_table, once, in process context. Flows
 * are visited through their original-direction tuple.
 */
static void kno_flowtable_walk(struct nf_flowtable *flow_table,
			       void (*fn)(struct nf_flowtable *flow_table,
					  struct flow_offload *flow, void *data),
			       void *data)
{
	struct flow_offload_tuple_rhash *th;
	struct rhashtable_iter iter;

	rhashtable_walk_enter(&flow_table->rhashtable, &iter);
	rhashtable_walk_start(&iter);
	while ((th = rhashtable_walk_next(&iter))) {
		if (IS_ERR(th)) {
			if (PTR_ERR(th) == -EAGAIN)
				continue;
			break;
		}
		if (th->tuple.dir != FLOW_OFFLOAD_DIR_ORIGINAL)
			continue;
		fn(flow_table, container_of(th, struct flow_offload,
					    tuplehash[0]), data);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
}

static bool kno_flow_type_gc(const struct nf_flowtable *flow_table,
			     const struct flow_offload *flow)
{
	return flow_table->type->gc && flow_table->type->gc(flow);
}

/* Return: true if the flow was unlinked (and is freed after RCU). */
static bool kno_gc_step(struct nf_flowtable *flow_table,
			struct flow_offload *flow)
{
	/* A queued hardware request owns the flow for now. */
	if (test_bit(KNO_FLOW_PENDING, &flow->flags))
		return false;

	if (!test_bit(NF_FLOW_TEARDOWN, &flow->flags)) {
		if (kno_flow_expired(flow) || nf_ct_is_dying(flow->ct) ||
		    kno_flow_type_gc(flow_table, flow))
			flow_offload_teardown(flow);
		else
			kno_ct_keepalive(flow->ct);
	}

	if (test_bit(NF_FLOW_TEARDOWN, &flow->flags)) {
		/*
		 * Hardware entries go first; unlink once they are gone and
		 * the worker has let go of the flow (it may finish at once
		 * when nothing was installed).
		 */
		if (test_bit(NF_FLOW_HW, &flow->flags) &&
		    !test_bit(NF_FLOW_HW_DEAD, &flow->flags)) {
			nf_flow_offload_del(flow_table, flow);
			if (!test_bit(NF_FLOW_HW_DEAD, &flow->flags) ||
			    test_bit(KNO_FLOW_PENDING, &flow->flags))
				return false;
		}
		kno_flow_unlink(flow_table, flow);
		return true;
	}

	if (test_bit(NF_FLOW_HW, &flow->flags))
		kno_offload_gc_step(flow_table, flow);
	return false;
}

static void kno_gc_walk_step(struct nf_flowtable *flow_table,
			     struct flow_offload *flow, void *data)
{
	kno_gc_step(flow_table, flow);
}

/* A full GC run: every flow of @flow_table. Context: process. */
void nf_flow_table_gc_run(struct nf_flowtable *flow_table)
{
	kno_flowtable_walk(flow_table, kno_gc_walk_step, NULL);
}

/* Take the flows of @list for this run. Context: w->lock held. */
static void kno_wheel_take(struct list_head *list, struct list_head *batch)
{
	struct kno_flow *kf;

	list_for_each_entry(kf, list, gc_node)
		kf->gc_state = KNO_GC_BATCH;
	list_splice_tail_init(list, batch);
}

/*
 * One GC run of a software flowtable: the urgent list and every slot whose
 * second is over. Context: the flowtable's gc_work.
 */
static void kno_wheel_run(struct nf_flowtable *flow_table,
			  struct kno_gc_wheel *w)
{
	struct kno_flow *kf, *next;
	LIST_HEAD(batch);
	LIST_HEAD(keep);
	int n;

	spin_lock_irq(&w->lock);
	kno_wheel_take(&w->urgent, &batch);
	for (n = 0; n < KNO_GC_SLOTS; n++) {
		if ((s32)((u32)jiffies - (w->cursor + KNO_GC_SLOT_LEN)) < 0)
			break;
		kno_wheel_take(&w->slot[w->idx], &batch);
		w->idx = (w->idx + 1) % KNO_GC_SLOTS;
		w->cursor += KNO_GC_SLOT_LEN;
	}
	/* Every slot was over (the GC was held up): restart the clock. */
	if (n == KNO_GC_SLOTS)
		w->cursor = (u32)jiffies;
	spin_unlock_irq(&w->lock);

	list_for_each_entry_safe(kf, next, &batch, gc_node) {
		list_del(&kf->gc_node);
		if (!kno_gc_step(flow_table, &kf->flow))
			list_add_tail(&kf->gc_node, &keep);
		cond_resched();
	}

	spin_lock_irq(&w->lock);
	list_for_each_entry_safe(kf, next, &keep, gc_node) {
		list_del(&kf->gc_node);
		kno_wheel_file(w, kf);
	}
	spin_unlock_irq(&w->lock);
}

static void kno_gc_work(struct work_struct *work)
{
	struct nf_flowtable *flow_table;
	struct kno_gc_wheel *w;

	flow_table = container_of(to_delayed_work(work), struct nf_flowtable,
				  gc_work);
	w = kno_wheel_get(flow_table);
	if (w && kno_wheel_wanted(flow_table))
		kno_wheel_run(flow_table, w);
	else
		nf_flow_table_gc_run(flow_table);
	queue_delayed_work(system_power_efficient_wq, &flow_table->gc_work,
			   KNO_GC_INTERVAL);
}

/* ------------------------------------------------------------------ */
/* NAT helpers (exported: act_ct uses them)                            */
/* ------------------------------------------------------------------ */

static void kno_l4_csum_port(struct sk_buff *skb, unsigned int thoff,
			     u8 protocol, __be16 from, __be16 to)
{
	struct udphdr *uh;
	struct tcphdr *th;

	switch (protocol) {
	case IPPROTO_TCP:
		th = (struct tcphdr *)(skb_network_header(skb) + thoff);
		inet_proto_csum_replace2(&th->check, skb, from, to, false);
		break;
	case IPPROTO_UDP:
		uh = (struct udphdr *)(skb_network_header(skb) + thoff);
		/* A zero UDP checksum means "none" and stays so. */
		if (!uh->check && skb->ip_summed != CHECKSUM_PARTIAL)
			break;
		inet_proto_csum_replace2(&uh->check, skb, from, to, false);
		if (!uh->check)
			uh->check = CSUM_MANGLED_0;
		break;
	}
}

/**
 * nf_flow_snat_port - rewrite the source-NATed port of a packet
 * @flow: the flow
 * @skb: writable packet, network header set
 * @thoff: transport header offset from the network header
 * @protocol: IPPROTO_TCP or IPPROTO_UDP
 * @dir: direction of the packet
 */
void nf_flow_snat_port(const struct flow_offload *flow,
		       struct sk_buff *skb, unsigned int thoff,
		       u8 protocol, enum flow_offload_tuple_dir dir)
{
	struct flow_ports *ports;
	__be16 old, new;

	ports = (struct flow_ports *)(skb_network_header(skb) + thoff);
	if (dir == FLOW_OFFLOAD_DIR_ORIGINAL) {
		old = ports->source;
		new = flow->tuplehash[FLOW_OFFLOAD_DIR_REPLY].tuple.dst_port;
		ports->source = new;
	} else {
		old = ports->dest;
		new = flow->tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple.src_port;
		ports->dest = new;
	}
	kno_l4_csum_port(skb, thoff, protocol, old, new);
}
EXPORT_SYMBOL_GPL(nf_flow_snat_port);

/**
 * nf_flow_dnat_port - rewrite the destination-NATed port of a packet
 * @flow: the flow
 * @skb: writable packet, network header set
 * @thoff: transport header offset from the network header
 * @protocol: IPPROTO_TCP or IPPROTO_UDP
 * @dir: direction of the packet
 */
void nf_flow_dnat_port(const struct flow_offload *flow, struct sk_buff *skb,
		       unsigned int thoff, u8 protocol,
		       enum flow_offload_tuple_dir dir)
{
	struct flow_ports *ports;
	__be16 old, new;

	ports = (struct flow_ports *)(skb_network_header(skb) + thoff);
	if (dir == FLOW_OFFLOAD_DIR_ORIGINAL) {
		old = ports->dest;
		new = flow->tuplehash[FLOW_OFFLOAD_DIR_REPLY].tuple.src_port;
		ports->dest = new;
	} else {
		old = ports->source;
		new = flow->tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple.dst_port;
		ports->source = new;
	}
	kno_l4_csum_port(skb, thoff, protocol, old, new);
}
EXPORT_SYMBOL_GPL(nf_flow_dnat_port);

/* ------------------------------------------------------------------ */
/* Flowtable life cycle                                                */
/* ------------------------------------------------------------------ */

/**
 * nf_flow_table_init - initialise a flowtable
 * @flowtable: zeroed except for type, flags and net
 *
 * Context: process.
 * Return: 0 or a negative errno.
 */
int nf_flow_table_init(struct nf_flowtable *flowtable)
{
	int err;

	INIT_DELAYED_WORK(&flowtable->gc_work, kno_gc_work);
	flow_block_init(&flowtable->flow_block);
	init_rwsem(&flowtable->flow_block_lock);

	err = rhashtable_init(&flowtable->rhashtable, &kno_rht_params);
	if (err < 0)
		return err;
	err = kno_wheel_create(flowtable);
	if (err < 0) {
		rhashtable_destroy(&flowtable->rhashtable);
		return err;
	}

	mutex_lock(&kno_flowtables_lock);
	list_add(&flowtable->list, &kno_flowtables);
	mutex_unlock(&kno_flowtables_lock);

	queue_delayed_work(system_power_efficient_wq, &flowtable->gc_work,
			   KNO_GC_INTERVAL);
	return 0;
}
EXPORT_SYMBOL_GPL(nf_flow_table_init);

static void kno_teardown_dev(struct nf_flowtable *flow_table,
			     struct flow_offload *flow, void *data)
{
	const struct net_device *dev = data;

	if (dev && (!net_eq(nf_ct_net(flow->ct), dev_net(dev)) ||
		    (flow->tuplehash[0].tuple.iifidx != dev->ifindex &&
		     flow->tuplehash[1].tuple.iifidx != dev->ifindex)))
		return;
	flow_offload_teardown(flow);
}

/**
 * nf_flow_table_gc_cleanup - tear down the flows through @dev (or all)
 * @flowtable: the flowtable
 * @dev: device going away, or NULL for every flow
 *
 * Context: process. Returns once queued hardware work has completed.
 */
void nf_flow_table_gc_cleanup(struct nf_flowtable *flowtable,
			      struct net_device *dev)
{
	kno_flowtable_walk(flowtable, kno_teardown_dev, dev);
	flush_delayed_work(&flowtable->gc_work);
	nf_flow_table_offload_flush(flowtable);
}

/**
 * nf_flow_table_cleanup - a device went down: drop every flow using it
 * @dev: the device
 *
 * Context: process (netdevice notifier).
 */
void nf_flow_table_cleanup(struct net_device *dev)
{
	struct nf_flowtable *flowtable;

	mutex_lock(&kno_flowtables_lock);
	list_for_each_entry(flowtable, &kno_flowtables, list)
		nf_flow_table_gc_cleanup(flowtable, dev);
	mutex_unlock(&kno_flowtables_lock);
}
EXPORT_SYMBOL_GPL(nf_flow_table_cleanup);

/**
 * nf_flow_table_free - release every flow and the flowtable's resources
 * @flow_table: the flowtable; its hooks are gone, no packet can reach it
 *
 * Context: process.
 */
void nf_flow_table_free(struct nf_flowtable *flow_table)
{
	int i;

	mutex_lock(&kno_flowtables_lock);
	list_del(&flow_table->list);
	mutex_unlock(&kno_flowtables_lock);

	cancel_delayed_work_sync(&flow_table->gc_work);
	kno_xdp_flowtable_free(flow_table);

	/*
	 * No GC runs from here on: finish queued work, tear everything down,
	 * then drain until the hardware let go of the last flow.
	 */
	nf_flow_table_offload_flush(flow_table);
	kno_flowtable_walk(flow_table, kno_teardown_dev, NULL);
	nf_flow_table_gc_run(flow_table);
	for (i = 0; i < 16 && atomic_read(&flow_table->rhashtable.nelems); i++)
		nf_flow_table_offload_flush_cleanup(flow_table);
	if (atomic_read(&flow_table->rhashtable.nelems))
		pr_err("nf_flow_table: %d flow entries leaked on free\n",
		       atomic_read(&flow_table->rhashtable.nelems));
	rhashtable_destroy(&flow_table->rhashtable);
	kno_wheel_destroy(flow_table);
}
EXPORT_SYMBOL_GPL(nf_flow_table_free);

/* ------------------------------------------------------------------ */
/* Module                                                              */
/* ------------------------------------------------------------------ */

/*
 * Per netns: the pending-work counters (net->ft.stat) and the proc files.
 * The counters outlive the exit of this pernet subsystem by an RCU grace
 * period, see kno_stat_add(): flowtables of the dying netns may be torn
 * down by nf_tables after us. kno_net::stat keeps the pointer meanwhile.
 */
struct kno_net {
	struct nf_flow_table_stat __percpu *stat;
};

static unsigned int kno_net_id __read_mostly;

static int __net_init kno_net_init(struct net *net)
{
	struct nf_flow_table_stat __percpu *stat;
	int err;

	stat = alloc_percpu(struct nf_flow_table_stat);
	if (!stat)
		return -ENOMEM;
	err = kno_proc_init(net);
	if (err < 0) {
		free_percpu(stat);
		return err;
	}
	net->ft.stat = stat;
	return 0;
}

static void __net_exit kno_net_exit_batch(struct list_head *net_list)
{
	struct kno_net *kn;
	struct net *net;

	list_for_each_entry(net, net_list, exit_list) {
		kno_proc_fini(net);
		kn = net_generic(net, kno_net_id);
		kn->stat = net->ft.stat;
		WRITE_ONCE(net->ft.stat, NULL);
	}
	synchronize_rcu();
	list_for_each_entry(net, net_list, exit_list) {
		kn = net_generic(net, kno_net_id);
		free_percpu(kn->stat);
	}
}

static struct pernet_operations kno_net_ops = {
	.init		= kno_net_init,
	.exit_batch	= kno_net_exit_batch,
	.id		= &kno_net_id,
	.size		= sizeof(struct kno_net),
};

static int __init nf_flow_table_module_init(void)
{
	int err;

	kno_flow_cache = KMEM_CACHE(kno_flow, SLAB_HWCACHE_ALIGN);
	if (!kno_flow_cache)
		return -ENOMEM;

	err = register_pernet_subsys(&kno_net_ops);
	if (err < 0)
		goto err_cache;

	err = nf_flow_table_offload_init();
	if (err < 0)
		goto err_pernet;

	err = nf_flow_register_bpf();
	if (err < 0)
		goto err_offload;

	pr_debug("kmod-nft-offload " KNO_VERSION " loaded\n");
	return 0;

err_offload:
	nf_flow_table_offload_exit();
err_pernet:
	unregister_pernet_subsys(&kno_net_ops);
err_cache:
	kmem_cache_destroy(kno_flow_cache);
	return err;
}

static void __exit nf_flow_table_module_exit(void)
{
	nf_flow_table_offload_exit();
	unregister_pernet_subsys(&kno_net_ops);
	/* Flows freed by the last flowtable may still wait for RCU. */
	rcu_barrier();
	kmem_cache_destroy(kno_flow_cache);
}

module_init(nf_flow_table_module_init);
module_exit(nf_flow_table_module_exit);

MODULE_LICENSE("GPL");
MODULE_VERSION(KNO_VERSION);
MODULE_DESCRIPTION("Netfilter flow table (kmod-nft-offload)");
