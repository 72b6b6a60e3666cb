/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmod-nft-offload: declarations shared by the files of nf_flow_table.ko.
 *
 * Include after the kernel headers of the including file. This header must
 * not define or pull in any type that an exported prototype can reach (see
 * include/compat.h): it only adds our own types.
 */
#ifndef _KNO_NF_FLOW_TABLE_INTERNAL_H
#define _KNO_NF_FLOW_TABLE_INTERNAL_H

#include "compat.h"

/*
 * Every flow_offload handed out by flow_offload_alloc() is embedded in a
 * kno_flow. Users of the exported API (nft_flow_offload, act_ct) only see the
 * flow_offload; the rest is private to nf_flow_table.ko.
 *
 * Lifetime: allocated by flow_offload_alloc(), freed after an RCU grace
 * period by flow_offload_free(). While linked in a flowtable it is only
 * freed by that flowtable's GC, which skips flows with KNO_FLOW_PENDING set:
 * a queued hardware request therefore keeps the flow (and ->ft) alive.
 */
struct kno_flow {
	struct flow_offload	flow;
	/* Set by flow_offload_add(); the flowtable outlives its flows. */
	struct nf_flowtable	*ft;
	union {
		/*
		 * Hardware flowtables: offload request queue linkage, owned
		 * by whoever set PENDING.
		 */
		struct list_head	hw_node;
		/*
		 * Software flowtables: slot of the GC wheel
		 * (nf_flow_table_core.c), under the wheel's lock.
		 */
		struct list_head	gc_node;
	};
	/* jiffies before which no hardware REPLACE is attempted */
	u32			hw_next;
	/* enum flow_cls_command of the queued request */
	u8			hw_cmd;
	/* consecutive failed REPLACE attempts, drives the backoff */
	u8			hw_fails;
	/* enum kno_gc_state, under the wheel's lock */
	u8			gc_state;
};

static inline struct kno_flow *kno_flow(struct flow_offload *flow)
{
	return container_of(flow, struct kno_flow, flow);
}

/*
 * Private bits of flow_offload::flags, above the kernel's enum nf_flow_flags
 * (which ends below 16 on every supported kernel).
 *
 * KNO_FLOW_CLOSING: a TCP FIN or RST went through the fast path. The
 *	hardware entry is removed, the software entry is kept for a short
 *	grace period so that in-flight segments and the final ACKs are still
 *	forwarded; a SYN in this state tears the flow down at once.
 * KNO_FLOW_HW_NOSPC: the last REPLACE failed because the hardware table
 *	was full; the flow stays in software and retries slowly.
 */
enum kno_flow_flags {
	KNO_FLOW_CLOSING	= 16,
	KNO_FLOW_HW_NOSPC,
};

/* Grace period of a CLOSING flow before it is torn down, in jiffies. */
#define KNO_FLOW_CLOSING_GRACE	(2 * HZ)

struct seq_file;

/* nf_flow_table_core.c: every initialised flowtable, process context */
extern struct mutex kno_flowtables_lock;
extern struct list_head kno_flowtables;
bool kno_flow_refresh_needed(const struct flow_offload *flow, u32 timeout);
void kno_flow_closing(struct nf_flowtable *flow_table,
		      struct flow_offload *flow);

/* nf_flow_table_offload.c */
void kno_offload_gc_step(struct nf_flowtable *flow_table,
			 struct flow_offload *flow);
void kno_offload_refresh(struct nf_flowtable *flow_table,
			 struct flow_offload *flow, bool force);
void kno_offload_show(struct seq_file *seq);

/* nf_flow_table_procfs.c */
int kno_proc_init(struct net *net);
void kno_proc_fini(struct net *net);

/* nf_flow_table_xdp.c (kernels with the XDP flowtable lookup) */
#ifdef KNO_HAVE_FLOWTABLE_XDP
void kno_xdp_flowtable_free(struct nf_flowtable *flow_table);
#else
static inline void kno_xdp_flowtable_free(struct nf_flowtable *flow_table)
{
}
#endif

#endif /* _KNO_NF_FLOW_TABLE_INTERNAL_H */
