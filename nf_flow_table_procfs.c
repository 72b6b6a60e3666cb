// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: what the flowtables hold, per network namespace.
 *
 * /proc/net/stat/nf_flowtable	pending hardware work per CPU, in the
 *				format of the kernel's own file.
 * /proc/net/nf_flowtable	the flow inspector: every flowtable of the
 *				namespace with its flows, their state and
 *				hardware offload progress, and the counters
 *				of the offload engine.
 *
 * The inspector walks kno_flowtables under kno_flowtables_lock and each
 * table under RCU; it lists at most KNO_PROC_MAX_FLOWS flows per table.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/rhashtable.h>
#include <linux/netdevice.h>
#include <net/netfilter/nf_flow_table.h>
#include <net/netfilter/nf_tables.h>
#include <net/netfilter/nf_conntrack.h>
#include "nf_flow_table_internal.h"

#define KNO_PROC_MAX_FLOWS	4096

/* /proc/net/stat/nf_flowtable: one line per possible CPU. */
static void *kno_stat_start(struct seq_file *seq, loff_t *pos)
{
	int cpu;

	if (*pos == 0)
		return SEQ_START_TOKEN;
	for (cpu = *pos - 1; cpu < nr_cpu_ids; ++cpu) {
		if (!cpu_possible(cpu))
			continue;
		*pos = cpu + 1;
		return per_cpu_ptr(seq_file_net(seq)->ft.stat, cpu);
	}
	return NULL;
}

static void *kno_stat_next(struct seq_file *seq, void *v, loff_t *pos)
{
	int cpu;

	for (cpu = *pos; cpu < nr_cpu_ids; ++cpu) {
		if (!cpu_possible(cpu))
			continue;
		*pos = cpu + 1;
		return per_cpu_ptr(seq_file_net(seq)->ft.stat, cpu);
	}
	(*pos)++;
	return NULL;
}

static void kno_stat_stop(struct seq_file *seq, void *v)
{
}

static int kno_stat_show(struct seq_file *seq, void *v)
{
	const struct nf_flow_table_stat *st = v;

	if (v == SEQ_START_TOKEN) {
		seq_puts(seq, "wq_add   wq_del   wq_stats\n");
		return 0;
	}
	seq_printf(seq, "%8d %8d %8d\n", st->count_wq_add, st->count_wq_del,
		   st->count_wq_stats);
	return 0;
}

static const struct seq_operations kno_stat_ops = {
	.start	= kno_stat_start,
	.next	= kno_stat_next,
	.stop	= kno_stat_stop,
	.show	= kno_stat_show,
};

/* ------------------------------------------------------------------ */
/* The inspector                                                       */
/* ------------------------------------------------------------------ */

static const char *kno_xmit_name(u8 type)
{
	switch (type) {
	case FLOW_OFFLOAD_XMIT_NEIGH:
		return "neigh";
	case FLOW_OFFLOAD_XMIT_XFRM:
		return "xfrm";
	case FLOW_OFFLOAD_XMIT_DIRECT:
		return "direct";
	case FLOW_OFFLOAD_XMIT_TC:
		return "tc";
	}
	return "none";
}

static const char *kno_l4_name(u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_GRE:
		return "gre";
	}
	return "other";
}

static void kno_show_endpoint(struct seq_file *seq,
			      const struct flow_offload_tuple *t, bool src)
{
	const struct in6_addr *a6 = src ? &t->src_v6 : &t->dst_v6;
	__be32 a4 = src ? t->src_v4.s_addr : t->dst_v4.s_addr;
	u16 port = ntohs(src ? t->src_port : t->dst_port);

	if (t->l3proto == NFPROTO_IPV4)
		seq_printf(seq, "%pI4:%u", &a4, port);
	else
		seq_printf(seq, "[%pI6c]:%u", a6, port);
}

static void kno_show_tuple(struct seq_file *seq,
			   const struct flow_offload_tuple *t)
{
	int i;

	kno_show_endpoint(seq, t, true);
	seq_puts(seq, "->");
	kno_show_endpoint(seq, t, false);
	seq_printf(seq, " iif %d", t->iifidx);
	for (i = 0; i < t->encap_num; i++)
		seq_printf(seq, "%s%s:%u", i ? "," : " encap ",
			   t->encap[i].proto == htons(ETH_P_PPP_SES) ?
			   "pppoe" : "vlan", t->encap[i].id);
	seq_printf(seq, " xmit %s", kno_xmit_name(t->xmit_type));
	if (t->xmit_type == FLOW_OFFLOAD_XMIT_DIRECT)
		seq_printf(seq, " oif %d", t->out.ifidx);
	seq_printf(seq, " mtu %u", t->mtu);
}

static void kno_show_flags(struct seq_file *seq, struct flow_offload *flow)
{
	static const struct {
		int bit;
		const char *name;
	} names[] = {
		{ NF_FLOW_SNAT, "snat" },
		{ NF_FLOW_DNAT, "dnat" },
		{ NF_FLOW_TEARDOWN, "teardown" },
		{ KNO_FLOW_CLOSING, "closing" },
		{ KNO_FLOW_PENDING, "hw_pending" },
		{ NF_FLOW_HW, "hw" },
		{ NF_FLOW_HW_DYING, "hw_dying" },
		{ NF_FLOW_HW_DEAD, "hw_dead" },
		{ KNO_FLOW_HW_NOSPC, "hw_nospc" },
	};
	bool first = true;
	int i;

	seq_puts(seq, " flags ");
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (!test_bit(names[i].bit, &flow->flags))
			continue;
		seq_printf(seq, "%s%s", first ? "" : ",", names[i].name);
		first = false;
	}
	if (test_bit(IPS_HW_OFFLOAD_BIT, &flow->ct->status)) {
		seq_printf(seq, "%shw_installed", first ? "" : ",");
		first = false;
	}
	if (first)
		seq_puts(seq, "-");
}

static void kno_show_flow(struct seq_file *seq, struct flow_offload *flow)
{
	struct kno_flow *kf = kno_flow(flow);

	seq_printf(seq, "%s ", kno_l4_name(flow->tuplehash[0].tuple.l4proto));
	kno_show_tuple(seq, &flow->tuplehash[0].tuple);
	seq_puts(seq, " | ");
	kno_show_tuple(seq, &flow->tuplehash[1].tuple);
	seq_printf(seq, " | timeout %ds",
		   nf_flow_timeout_delta(READ_ONCE(flow->timeout)) / HZ);
	kno_show_flags(seq, flow);
	if (test_bit(NF_FLOW_HW, &flow->flags))
		seq_printf(seq, " hw_fails %u hw_retry_in %ds", kf->hw_fails,
			   max_t(s32, 0, (s32)(READ_ONCE(kf->hw_next) -
					       nfct_time_stamp)) / HZ);
	seq_putc(seq, '\n');
}

/* nftables flowtables are the ones of our own types. */
static void kno_show_ft_header(struct seq_file *seq, struct nf_flowtable *ft)
{
	seq_printf(seq, "flowtable %p", ft);
	if (ft->type->setup == nf_flow_table_offload_setup) {
		struct nft_flowtable *nft = container_of(ft, struct nft_flowtable,
							 data);

		seq_printf(seq, " nft %s %s", nft->table->name, nft->name);
	} else {
		seq_puts(seq, " tc");
	}
	seq_printf(seq, " family %d priority %d flags %s%s flows %d\n",
		   ft->type->family, ft->priority,
		   nf_flowtable_hw_offload(ft) ? "offload" : "-",
		   ft->flags & NF_FLOWTABLE_COUNTER ? ",counter" : "",
		   atomic_read(&ft->rhashtable.nelems) / 2);
}

static void kno_show_ft(struct seq_file *seq, struct nf_flowtable *ft)
{
	struct flow_offload_tuple_rhash *th;
	struct rhashtable_iter iter;
	int shown = 0, total = 0;

	kno_show_ft_header(seq, ft);
	rhashtable_walk_enter(&ft->rhashtable, &iter);
	rhashtable_walk_start(&iter);
	while ((th = rhashtable_walk_next(&iter))) {
		if (IS_ERR(th)) {
			if (PTR_ERR(th) == -EAGAIN)
				continue;
			break;
		}
		if (th->tuple.dir)
			continue;
		if (++total > KNO_PROC_MAX_FLOWS)
			continue;
		kno_show_flow(seq, container_of(th, struct flow_offload,
						tuplehash[0]));
		shown++;
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
	if (total > shown)
		seq_printf(seq, "... %d more flows not shown\n", total - shown);
}

static int kno_inspect_show(struct seq_file *seq, void *v)
{
	struct net *net = seq_file_single_net(seq);
	struct nf_flowtable *ft;

	seq_printf(seq, "nf_flow_table %s\n", KNO_VERSION);
	kno_offload_show(seq);

	mutex_lock(&kno_flowtables_lock);
	list_for_each_entry(ft, &kno_flowtables, list)
		if (net_eq(read_pnet(&ft->net), net))
			kno_show_ft(seq, ft);
	mutex_unlock(&kno_flowtables_lock);
	return 0;
}

int kno_proc_init(struct net *net)
{
	if (!proc_create_net("nf_flowtable", 0444, net->proc_net_stat,
			     &kno_stat_ops, sizeof(struct seq_net_private)))
		return -ENOMEM;
	if (!proc_create_net_single("nf_flowtable", 0444, net->proc_net,
				    kno_inspect_show, NULL)) {
		remove_proc_entry("nf_flowtable", net->proc_net_stat);
		return -ENOMEM;
	}
	return 0;
}

void kno_proc_fini(struct net *net)
{
	remove_proc_entry("nf_flowtable", net->proc_net);
	remove_proc_entry("nf_flowtable", net->proc_net_stat);
}
