// SPDX-License-Identifier: GPL-2.0
/*
 * kmod-nft-offload: the XDP flowtable lookup kfunc, bpf_xdp_flow_lookup().
 *
 * An XDP program passes the packet's tuple in a struct bpf_fib_lookup and
 * gets the matching flowtable entry of the receiving device, or NULL with
 * opts->error set. Like every kfunc this interface is unstable; it follows
 * the kernel's own (6.11+) so that existing programs keep working.
 */
#include <linux/kernel.h>
#include <linux/init.h>
#include <linux/module.h>
#include <net/netfilter/nf_flow_table.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <net/xdp.h>

/**
 * struct bpf_flowtable_opts - options of the flowtable kfuncs
 * @error: out: 0, or a negative errno when no entry is returned
 */
struct bpf_flowtable_opts {
	s32 error;
};

enum {
	NF_BPF_FLOWTABLE_OPTS_SZ = sizeof(struct bpf_flowtable_opts),
};

static int kno_bpf_tuple(const struct bpf_fib_lookup *fib,
			 struct flow_offload_tuple *t)
{
	t->iifidx = fib->ifindex;
	t->l3proto = fib->family;
	t->l4proto = fib->l4_protocol;
	t->src_port = fib->sport;
	t->dst_port = fib->dport;

	switch (fib->family) {
	case AF_INET:
		t->src_v4.s_addr = fib->ipv4_src;
		t->dst_v4.s_addr = fib->ipv4_dst;
		return 0;
	case AF_INET6:
		memcpy(&t->src_v6, fib->ipv6_src, sizeof(t->src_v6));
		memcpy(&t->dst_v6, fib->ipv6_dst, sizeof(t->dst_v6));
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Called from BPF programs only; declared for the checkers. */
struct flow_offload_tuple_rhash *
bpf_xdp_flow_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib_tuple,
		    struct bpf_flowtable_opts *opts, u32 opts_len);

__bpf_kfunc_start_defs();

/**
 * bpf_xdp_flow_lookup - look a packet up in its device's flowtable
 * @ctx: XDP context; its receiving device selects the flowtable
 * @fib_tuple: ifindex, family, l4_protocol, ports and addresses
 * @opts: out: error code
 * @opts_len: sizeof(*opts), must be NF_BPF_FLOWTABLE_OPTS_SZ
 *
 * Return: the tuple entry (the flow is refreshed), or NULL.
 */
__bpf_kfunc struct flow_offload_tuple_rhash *
bpf_xdp_flow_lookup(struct xdp_md *ctx, struct bpf_fib_lookup *fib_tuple,
		    struct bpf_flowtable_opts *opts, u32 opts_len)
{
	struct xdp_buff *xdp = (struct xdp_buff *)ctx;
	struct flow_offload_tuple tuple = {};
	struct flow_offload_tuple_rhash *th;
	struct nf_flowtable *ft;
	int err;

	if (opts_len != NF_BPF_FLOWTABLE_OPTS_SZ) {
		opts->error = -EINVAL;
		return NULL;
	}
	err = kno_bpf_tuple(fib_tuple, &tuple);
	if (err) {
		opts->error = err;
		return NULL;
	}

	ft = nf_flowtable_by_dev(xdp->rxq->dev);
	th = ft ? flow_offload_lookup(ft, &tuple) : NULL;
	if (!th) {
		opts->error = -ENOENT;
		return NULL;
	}
	flow_offload_refresh(ft, container_of(th, struct flow_offload,
					      tuplehash[th->tuple.dir]),
			     false);
	return th;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(kno_flow_kfunc_ids)
BTF_ID_FLAGS(func, bpf_xdp_flow_lookup, KF_TRUSTED_ARGS | KF_RET_NULL)
BTF_KFUNCS_END(kno_flow_kfunc_ids)

static const struct btf_kfunc_id_set kno_flow_kfunc_set = {
	.owner	= THIS_MODULE,
	.set	= &kno_flow_kfunc_ids,
};

/**
 * nf_flow_register_bpf - make bpf_xdp_flow_lookup() available to XDP
 *
 * Return: 0 or a negative errno.
 */
int nf_flow_register_bpf(void)
{
	return register_btf_kfunc_id_set(BPF_PROG_TYPE_XDP,
					 &kno_flow_kfunc_set);
}
EXPORT_SYMBOL_GPL(nf_flow_register_bpf);
