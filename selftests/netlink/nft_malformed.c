// SPDX-License-Identifier: GPL-2.0
/*
 * nft_malformed - send nf_tables flowtable and flow_offload messages that the
 * nft CLI never sends, and check the exact errno the kernel answers with.
 *
 * Every case is one nfnetlink batch (or, for GETFLOWTABLE, one plain
 * request). Every message asks for an ACK and carries its own sequence
 * number; after each exchange a GETGEN request serves as a barrier, so the
 * program knows that all answers to the case have arrived, and the
 * generation id it returns proves whether the case committed anything.
 * The socket has a receive timeout, so a missing answer cannot hang the test.
 *
 * The program runs in a network namespace prepared by nft_malformed.sh:
 * dummy devices kd0..kd299 and kdlongname12345 must exist. It creates its
 * own base ruleset, runs the cases and removes the ruleset again.
 *
 * Output is KTAP, one subtest per case; exit 0 (pass), 1 (fail), 4 (skip).
 *
 *   nft_malformed [-n ITER] [-q] [-v] [-k SERIES] [-c]
 *     -n ITER    run the case list ITER times (KTAP only for the first run)
 *     -q         no KTAP, only a summary comment (for leak loops)
 *     -v         print the errno and extack message of every case
 *     -k SERIES  use the expectations of kernel series 6.1 or 6.12 instead
 *                of the running kernel's
 *     -c         print the number of cases and exit
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/utsname.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/flowtable.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>

/* Not in the 6.1 uapi headers of this host; value from 6.12's nf_tables.h. */
#define KNO_NFT_MSG_DESTROYFLOWTABLE	32

#define BATCH_LIMIT	(256 * 1024)
#define RX_SIZE		(256 * 1024)
#define MAX_MSGS	32
#define RCV_TIMEOUT_S	5

/* Devices created by nft_malformed.sh in the test namespace. */
#define DEV_PREFIX	"kd"
#define DEV_COUNT	300
#define DEV_LONG	"kdlongname12345"	/* IFNAMSIZ - 1 characters */

#define TBL		"kno"	/* inet table of the base ruleset */
#define TBL4		"kno4"	/* ip table */
#define FT		"ft"	/* flowtable in TBL, device kd0, used by a rule */
#define FT4		"ft4"	/* flowtable in TBL4, no devices */

/* Outcome of a case that got no answer at all (the kernel drops some). */
#define NORESP		(-1)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

enum kser { K61, K612, NKSER };

struct msgres {
	uint32_t seq;
	bool got;
	bool dump;		/* a dump: answered by NLMSG_DONE, maybe late */
	int err;		/* positive errno, 0 for an ACK */
	char extack[160];
};

struct ctx {
	struct mnl_socket *nl;
	unsigned int portid;
	uint32_t seq;
	char *txbuf;
	char *rxbuf;
	struct mnl_nlmsg_batch *b;
	bool in_batch;
	uint32_t begin_seq;
	/* results of the last exchange */
	int nres;
	struct msgres res[MAX_MSGS];
	struct msgres begin;	/* an error pointing at the batch header */
	uint32_t genid;		/* generation id returned by the barrier */
	bool verbose;
};

/* ----------------------------------------------------------------------- */
/* message construction                                                     */

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct nlmsghdr *msg_begin(struct ctx *c, uint16_t cmd, uint16_t family,
				  uint16_t flags)
{
	struct nlmsghdr *nlh;

	if (c->nres >= MAX_MSGS) {
		errno = E2BIG;
		die("too many messages in one case");
	}
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(c->b), cmd, family,
				    flags | NLM_F_ACK, c->seq);
	c->res[c->nres].seq = c->seq;
	c->res[c->nres].got = false;
	c->res[c->nres].dump = flags & NLM_F_DUMP;
	c->res[c->nres].err = 0;
	c->res[c->nres].extack[0] = '\0';
	c->nres++;
	c->seq++;
	return nlh;
}

static void msg_end(struct ctx *c)
{
	if (!mnl_nlmsg_batch_next(c->b)) {
		errno = EMSGSIZE;
		die("batch buffer full");
	}
}

static void batch_open(struct ctx *c)
{
	mnl_nlmsg_batch_reset(c->b);
	c->nres = 0;
	c->begin_seq = c->seq++;
	nftnl_batch_begin(mnl_nlmsg_batch_current(c->b), c->begin_seq);
	msg_end(c);
	c->in_batch = true;
}

static void plain_open(struct ctx *c)
{
	mnl_nlmsg_batch_reset(c->b);
	c->nres = 0;
	c->begin_seq = 0;
	c->in_batch = false;
}

/* A string attribute of exactly len characters plus the terminating NUL. */
static void put_str_len(struct nlmsghdr *nlh, uint16_t type, char fill, int len)
{
	char *s = malloc(len + 1);

	if (!s)
		die("malloc");
	memset(s, fill, len);
	s[len] = '\0';
	mnl_attr_put_strz(nlh, type, s);
	free(s);
}

/* ----------------------------------------------------------------------- */
/* exchange                                                                 */

static struct msgres *res_by_seq(struct ctx *c, uint32_t seq)
{
	int i;

	if (c->in_batch && seq == c->begin_seq)
		return &c->begin;
	for (i = 0; i < c->nres; i++)
		if (c->res[i].seq == seq)
			return &c->res[i];
	return NULL;
}

static void parse_error(const struct nlmsghdr *nlh, struct msgres *r)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *attr;
	size_t off = sizeof(*e);

	r->got = true;
	r->err = -e->error;
	r->extack[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	mnl_attr_for_each(attr, nlh, off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			snprintf(r->extack, sizeof(r->extack), "%s",
				 mnl_attr_get_str(attr));
	}
}

static void parse_gen(const struct nlmsghdr *nlh, struct ctx *c)
{
	const struct nlattr *attr;

	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(attr) == NFTA_GEN_ID &&
		    mnl_attr_get_payload_len(attr) == sizeof(uint32_t))
			c->genid = ntohl(mnl_attr_get_u32(attr));
	}
}

static bool dumps_done(const struct ctx *c)
{
	int i;

	for (i = 0; i < c->nres; i++)
		if (c->res[i].dump && !c->res[i].got)
			return false;
	return true;
}

/*
 * Read answers until the barrier's ACK has arrived (and the NLMSG_DONE of
 * a dump, which the kernel may send only once the socket is read). Returns
 * 0, or a negative errno if the socket failed or timed out.
 */
static int collect(struct ctx *c, uint32_t barrier)
{
	bool barrier_seen = false;

	for (;;) {
		struct nlmsghdr *nlh;
		struct msgres *r;
		int len;

		len = mnl_socket_recvfrom(c->nl, c->rxbuf, RX_SIZE);
		if (len < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;

		for (nlh = (struct nlmsghdr *)c->rxbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			uint16_t type = nlh->nlmsg_type;

			if (nlh->nlmsg_seq == barrier) {
				if (type == NLMSG_ERROR)
					barrier_seen = true;
				if ((type & 0xff) == NFT_MSG_NEWGEN)
					parse_gen(nlh, c);
				continue;
			}
			r = res_by_seq(c, nlh->nlmsg_seq);
			if (!r)
				continue;	/* late answer of an older case */
			if (type == NLMSG_ERROR) {
				parse_error(nlh, r);
			} else if (type == NLMSG_DONE) {
				r->got = true;
				if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int))
					r->err = -*(int *)mnl_nlmsg_get_payload(nlh);
			}
			/* other messages are GET/dump replies: ignored */
		}
		if (barrier_seen && dumps_done(c))
			return 0;
	}
}

/* Send what was built, then the barrier; fill c->res. */
static int run_exchange(struct ctx *c)
{
	char gbuf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint32_t barrier;

	if (c->in_batch) {
		nftnl_batch_end(mnl_nlmsg_batch_current(c->b), c->seq++);
		msg_end(c);
	}
	memset(&c->begin, 0, sizeof(c->begin));

	if (!mnl_nlmsg_batch_is_empty(c->b) &&
	    mnl_socket_sendto(c->nl, mnl_nlmsg_batch_head(c->b),
			      mnl_nlmsg_batch_size(c->b)) < 0)
		return -errno;

	barrier = c->seq++;
	nlh = nftnl_nlmsg_build_hdr(gbuf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK,
				    barrier);
	if (mnl_socket_sendto(c->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	c->genid = 0;
	return collect(c, barrier);
}

/*
 * The outcome of a case: an error on the batch header (commit failure,
 * bad batch), else the first error of any message, else NORESP if a message
 * got no answer, else 0.
 */
static int outcome(const struct ctx *c, const char **extack)
{
	int i;

	*extack = "";
	if (c->begin.got && c->begin.err) {
		*extack = c->begin.extack;
		return c->begin.err;
	}
	for (i = 0; i < c->nres; i++) {
		if (c->res[i].got && c->res[i].err) {
			*extack = c->res[i].extack;
			return c->res[i].err;
		}
	}
	for (i = 0; i < c->nres; i++)
		if (!c->res[i].got)
			return NORESP;
	return 0;
}

static uint32_t get_genid(struct ctx *c)
{
	plain_open(c);
	if (run_exchange(c) < 0)
		die("GETGEN");
	return c->genid;
}

/* ----------------------------------------------------------------------- */
/* well-formed objects (libnftnl)                                           */

static void add_table(struct ctx *c, uint16_t family, const char *name)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nlh = msg_begin(c, NFT_MSG_NEWTABLE, family, NLM_F_CREATE);
	nftnl_table_nlmsg_build_payload(nlh, t);
	msg_end(c);
	nftnl_table_free(t);
}

static void del_table(struct ctx *c, uint16_t family, const char *name)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	nlh = msg_begin(c, NFT_MSG_DELTABLE, family, 0);
	nftnl_table_nlmsg_build_payload(nlh, t);
	msg_end(c);
	nftnl_table_free(t);
}

/* hook < 0: regular chain */
static void add_chain(struct ctx *c, uint16_t family, const char *table,
		      const char *name, int hook)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name);
	if (hook >= 0) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, hook);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, 0);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
	}
	nlh = msg_begin(c, NFT_MSG_NEWCHAIN, family, NLM_F_CREATE);
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	msg_end(c);
	nftnl_chain_free(ch);
}

static void add_flowtable(struct ctx *c, uint16_t family, const char *table,
			  const char *name, const char **devs)
{
	struct nftnl_flowtable *ft = nftnl_flowtable_alloc();
	struct nlmsghdr *nlh;

	nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_TABLE, table);
	nftnl_flowtable_set_str(ft, NFTNL_FLOWTABLE_NAME, name);
	nftnl_flowtable_set_u32(ft, NFTNL_FLOWTABLE_HOOKNUM, NF_NETDEV_INGRESS);
	nftnl_flowtable_set_s32(ft, NFTNL_FLOWTABLE_PRIO, 0);
	if (devs)
		nftnl_flowtable_set_array(ft, NFTNL_FLOWTABLE_DEVICES, devs);
	nlh = msg_begin(c, NFT_MSG_NEWFLOWTABLE, family, NLM_F_CREATE);
	nftnl_flowtable_nlmsg_build_payload(nlh, ft);
	msg_end(c);
	nftnl_flowtable_free(ft);
}

static void add_flow_rule(struct ctx *c, uint16_t family, const char *table,
			  const char *chain, const char *ftname)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e = nftnl_expr_alloc("flow_offload");
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_expr_set_str(e, NFTNL_EXPR_FLOW_TABLE_NAME, ftname);
	nftnl_rule_add_expr(r, e);
	nlh = msg_begin(c, NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	msg_end(c);
	nftnl_rule_free(r);
}

static void add_jump_rule(struct ctx *c, uint16_t family, const char *table,
			  const char *chain, const char *target)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");
	struct nlmsghdr *nlh;

	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_JUMP);
	nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, target);
	nftnl_rule_add_expr(r, e);
	nlh = msg_begin(c, NFT_MSG_NEWRULE, family, NLM_F_CREATE | NLM_F_APPEND);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	msg_end(c);
	nftnl_rule_free(r);
}

/*
 * The base ruleset every case runs against:
 *   inet kno: flowtable ft (kd0), forward chain fwd with "flow add @ft",
 *             forward chain fwdc (empty), input/output/prerouting/
 *             postrouting chains, regular chain reg
 *   ip kno4: flowtable ft4 (no devices), forward chain fwd
 *   netdev kno, bridge kno, arp kno: regular chain c
 */
static void base_add(struct ctx *c)
{
	static const char *devs[] = { DEV_PREFIX "0", NULL };	/* libnftnl API */

	add_table(c, NFPROTO_INET, TBL);
	add_flowtable(c, NFPROTO_INET, TBL, FT, devs);
	add_chain(c, NFPROTO_INET, TBL, "fwd", NF_INET_FORWARD);
	add_chain(c, NFPROTO_INET, TBL, "fwdc", NF_INET_FORWARD);
	add_chain(c, NFPROTO_INET, TBL, "in", NF_INET_LOCAL_IN);
	add_chain(c, NFPROTO_INET, TBL, "out", NF_INET_LOCAL_OUT);
	add_chain(c, NFPROTO_INET, TBL, "pre", NF_INET_PRE_ROUTING);
	add_chain(c, NFPROTO_INET, TBL, "post", NF_INET_POST_ROUTING);
	add_chain(c, NFPROTO_INET, TBL, "reg", -1);
	add_flow_rule(c, NFPROTO_INET, TBL, "fwd", FT);
	add_table(c, NFPROTO_IPV4, TBL4);
	add_flowtable(c, NFPROTO_IPV4, TBL4, FT4, NULL);
	add_chain(c, NFPROTO_IPV4, TBL4, "fwd", NF_INET_FORWARD);
	add_table(c, NFPROTO_NETDEV, TBL);
	add_chain(c, NFPROTO_NETDEV, TBL, "c", -1);
	add_table(c, NFPROTO_BRIDGE, TBL);
	add_chain(c, NFPROTO_BRIDGE, TBL, "c", -1);
	add_table(c, NFPROTO_ARP, TBL);
	add_chain(c, NFPROTO_ARP, TBL, "c", -1);
}

static const struct { uint16_t family; const char *name; } base_tables[] = {
	{ NFPROTO_INET, TBL }, { NFPROTO_IPV4, TBL4 }, { NFPROTO_NETDEV, TBL },
	{ NFPROTO_BRIDGE, TBL }, { NFPROTO_ARP, TBL },
};

static void base_del(struct ctx *c)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(base_tables); i++)
		del_table(c, base_tables[i].family, base_tables[i].name);
}

/* Remove whatever is left of the base tables, one batch per table. */
static void base_flush_quiet(struct ctx *c)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(base_tables); i++) {
		batch_open(c);
		del_table(c, base_tables[i].family, base_tables[i].name);
		run_exchange(c);
	}
}

/* Recreate the base ruleset from scratch; returns 0 or the errno. */
static int base_reset(struct ctx *c)
{
	const char *ext;
	int rc;

	base_flush_quiet(c);
	batch_open(c);
	base_add(c);
	rc = run_exchange(c);
	if (rc < 0)
		return -rc;
	rc = outcome(c, &ext);
	if (rc && c->verbose)
		printf("# base ruleset: %s (%s)\n", strerror(rc > 0 ? rc : ETIMEDOUT), ext);
	return rc;
}

/* ----------------------------------------------------------------------- */
/* case descriptions                                                        */

#define FAM_DEFAULT	0	/* NFPROTO_INET */
#define FAM(x)		((x) + 1000)
#define HOOK_DEFAULT	0	/* present for NEW, absent for DEL/GET */
#define HOOK_YES	1
#define HOOK_NO		2
#define HOOK_U32	3	/* NFTA_FLOWTABLE_HOOK as a flat u32 */

struct devspec {
	const char *const *list;	/* explicit names */
	const char *prefix;		/* or generated: prefix<from..from+n-1> */
	int from, n;
	int attr_type;			/* 0: NFTA_DEVICE_NAME */
};

struct ftspec {
	uint16_t cmd;			/* 0: NFT_MSG_NEWFLOWTABLE */
	int fam;
	const char *table;		/* NULL: TBL; "" with no_table: omitted */
	const char *name;		/* NULL: a fresh name */
	bool no_table, no_name;
	int table_len, name_len;	/* >0: a name of this many characters */
	const void *raw_name;		/* name bytes used verbatim */
	int raw_name_len;
	uint16_t nlflags;
	int hook;
	bool no_num, no_prio;
	uint32_t num, prio;
	int num_len;			/* 0: 4 bytes */
	struct devspec devs;
	bool flags_set;
	uint32_t flags;
	int flags_len;			/* 0: 4 bytes */
	bool handle_set;
	uint64_t handle;
	int handle_len;			/* 0: 8 bytes */
	uint16_t extra_attr;		/* an attribute type beyond the policy */
};

#define FO_OK		0	/* NFTA_FLOW_TABLE_NAME as a string */
#define FO_NONAME	1	/* NFTA_EXPR_DATA without NFTA_FLOW_TABLE_NAME */
#define FO_NODATA	2	/* no NFTA_EXPR_DATA at all */
#define FO_U32NAME	3	/* table name as a binary u32 */
#define FO_EXTRA	4	/* extra unknown attribute in the data nest */
#define FO_FLAT		5	/* NFTA_EXPR_DATA not nested: a plain string */

struct rulespec {
	int fam;
	const char *table;		/* NULL: TBL */
	const char *chain;		/* NULL: fwdc */
	int mode;
	const char *ftname;		/* NULL: FT */
	int ftname_len;
	const char *expr;		/* NULL: "flow_offload" */
};

struct tcase;
typedef void (*build_fn)(struct ctx *c, const struct tcase *t);

#define T_PLAIN		0x1	/* not a batch: a plain request */
#define T_RAW		0x2	/* builder writes the whole exchange itself */

struct tcase {
	const char *desc;
	build_fn build;
	const struct ftspec *ft;
	const struct rulespec *rule;
	int want[NKSER];
	unsigned int flags;
};

static uint16_t fam_of(int fam)
{
	return fam == FAM_DEFAULT ? NFPROTO_INET : fam - 1000;
}

static void put_devs(struct nlmsghdr *nlh, const struct devspec *d)
{
	uint16_t type = d->attr_type ? d->attr_type : NFTA_DEVICE_NAME;
	struct nlattr *nest;
	char name[64];
	int i;

	nest = mnl_attr_nest_start(nlh, NFTA_FLOWTABLE_HOOK_DEVS);
	for (i = 0; d->list && d->list[i]; i++)
		mnl_attr_put_strz(nlh, type, d->list[i]);
	for (i = 0; i < d->n; i++) {
		snprintf(name, sizeof(name), "%s%d", d->prefix, d->from + i);
		mnl_attr_put_strz(nlh, type, name);
	}
	mnl_attr_nest_end(nlh, nest);
}

static void put_u32_len(struct nlmsghdr *nlh, uint16_t type, uint32_t v,
			int len)
{
	char buf[16] = { 0 };
	uint32_t be = htonl(v);

	if (!len)
		len = sizeof(be);
	memcpy(buf, &be, sizeof(be));
	mnl_attr_put(nlh, type, len, buf);
}

static void put_ft_msg(struct ctx *c, const struct ftspec *s)
{
	uint16_t cmd = s->cmd ? s->cmd : NFT_MSG_NEWFLOWTABLE;
	int hook = s->hook;
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	uint16_t flags = s->nlflags;
	char fresh[32];

	if (cmd == NFT_MSG_NEWFLOWTABLE)
		flags |= NLM_F_CREATE;
	nlh = msg_begin(c, cmd, fam_of(s->fam), flags);

	if (!s->no_table) {
		if (s->table_len)
			put_str_len(nlh, NFTA_FLOWTABLE_TABLE, 't', s->table_len);
		else
			mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_TABLE,
					  s->table ? s->table : TBL);
	}
	if (!s->no_name) {
		if (s->name_len) {
			put_str_len(nlh, NFTA_FLOWTABLE_NAME, 'n', s->name_len);
		} else if (s->raw_name) {
			mnl_attr_put(nlh, NFTA_FLOWTABLE_NAME, s->raw_name_len,
				     s->raw_name);
		} else {
			snprintf(fresh, sizeof(fresh), "x%u", c->seq);
			mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_NAME,
					  s->name ? s->name : fresh);
		}
	}
	if (s->handle_set) {
		uint64_t be = htobe64(s->handle);

		mnl_attr_put(nlh, NFTA_FLOWTABLE_HANDLE,
			     s->handle_len ? s->handle_len : 8, &be);
	}
	if (s->flags_set)
		put_u32_len(nlh, NFTA_FLOWTABLE_FLAGS, s->flags, s->flags_len);
	if (s->extra_attr)
		mnl_attr_put_u32(nlh, s->extra_attr, 0);

	if (hook == HOOK_DEFAULT)
		hook = cmd == NFT_MSG_NEWFLOWTABLE ? HOOK_YES : HOOK_NO;
	if (hook == HOOK_U32) {
		mnl_attr_put_u32(nlh, NFTA_FLOWTABLE_HOOK, 0);
	} else if (hook == HOOK_YES) {
		nest = mnl_attr_nest_start(nlh, NFTA_FLOWTABLE_HOOK);
		if (!s->no_num)
			put_u32_len(nlh, NFTA_FLOWTABLE_HOOK_NUM, s->num,
				    s->num_len);
		if (!s->no_prio)
			put_u32_len(nlh, NFTA_FLOWTABLE_HOOK_PRIORITY, s->prio, 0);
		if (s->devs.list || s->devs.n)
			put_devs(nlh, &s->devs);
		mnl_attr_nest_end(nlh, nest);
	}
	msg_end(c);
}

static void put_rule_msg(struct ctx *c, const struct rulespec *s)
{
	struct nlattr *list, *elem, *data;
	struct nlmsghdr *nlh;

	nlh = msg_begin(c, NFT_MSG_NEWRULE, fam_of(s->fam),
			NLM_F_CREATE | NLM_F_APPEND);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, s->table ? s->table : TBL);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, s->chain ? s->chain : "fwdc");
	list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	mnl_attr_put_strz(nlh, NFTA_EXPR_NAME,
			  s->expr ? s->expr : "flow_offload");
	switch (s->mode) {
	case FO_NODATA:
		break;
	case FO_FLAT:
		mnl_attr_put_strz(nlh, NFTA_EXPR_DATA, FT);
		break;
	default:
		data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
		if (s->mode == FO_U32NAME)
			mnl_attr_put_u32(nlh, NFTA_FLOW_TABLE_NAME, 0xdeadbeef);
		else if (s->mode != FO_NONAME && s->ftname_len)
			put_str_len(nlh, NFTA_FLOW_TABLE_NAME, 'f',
				    s->ftname_len);
		else if (s->mode != FO_NONAME)
			mnl_attr_put_strz(nlh, NFTA_FLOW_TABLE_NAME,
					  s->ftname ? s->ftname : FT);
		if (s->mode == FO_EXTRA)
			mnl_attr_put_u32(nlh, NFTA_FLOW_MAX + 1, 0);
		mnl_attr_nest_end(nlh, data);
	}
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	msg_end(c);
}

static void b_ft(struct ctx *c, const struct tcase *t)
{
	put_ft_msg(c, t->ft);
}

static void b_rule(struct ctx *c, const struct tcase *t)
{
	put_rule_msg(c, t->rule);
}

/* ----------------------------------------------------------------------- */
/* builders for cases that need more than one message or odd framing        */

/* The flowtable is deleted, then a rule in the same batch refers to it. */
static void b_del_then_ref(struct ctx *c, const struct tcase *t)
{
	static const struct ftspec del = {
		.cmd = NFT_MSG_DELFLOWTABLE, .table = TBL4, .name = FT4,
		.fam = FAM(NFPROTO_IPV4),
	};
	static const struct rulespec ref = {
		.fam = FAM(NFPROTO_IPV4), .table = TBL4, .chain = "fwd",
		.ftname = FT4,
	};

	(void)t;
	put_ft_msg(c, &del);
	put_rule_msg(c, &ref);
}

/* A rule takes a reference, then the same batch deletes the flowtable. */
static void b_ref_then_del(struct ctx *c, const struct tcase *t)
{
	static const struct rulespec ref = {
		.fam = FAM(NFPROTO_IPV4), .table = TBL4, .chain = "fwd",
		.ftname = FT4,
	};
	static const struct ftspec del = {
		.cmd = NFT_MSG_DELFLOWTABLE, .table = TBL4, .name = FT4,
		.fam = FAM(NFPROTO_IPV4),
	};

	(void)t;
	put_rule_msg(c, &ref);
	put_ft_msg(c, &del);
}

/* A new flowtable and a rule using it in one batch (accepted). */
static void b_new_and_ref(struct ctx *c, const struct tcase *t)
{
	static const char *const devs[] = { DEV_PREFIX "1", NULL };
	static const struct ftspec add = {
		.name = "ftnew", .devs = { .list = devs },
	};
	static const struct rulespec ref = { .ftname = "ftnew" };

	(void)t;
	put_ft_msg(c, &add);
	put_rule_msg(c, &ref);
}

/* flow_offload in a regular chain that the input chain jumps to. */
static void b_jump_from_input(struct ctx *c, const struct tcase *t)
{
	(void)t;
	add_flow_rule(c, NFPROTO_INET, TBL, "reg", FT);
	add_jump_rule(c, NFPROTO_INET, TBL, "in", "reg");
}

/* The same, but the regular chain is reached from the forward chain. */
static void b_jump_from_forward(struct ctx *c, const struct tcase *t)
{
	(void)t;
	add_flow_rule(c, NFPROTO_INET, TBL, "reg", FT);
	add_jump_rule(c, NFPROTO_INET, TBL, "fwdc", "reg");
}

/* Two flowtables of one table claim the same device in one batch. */
static void b_two_ft_same_dev(struct ctx *c, const struct tcase *t)
{
	static const char *const devs[] = { DEV_PREFIX "2", NULL };
	static const struct ftspec a = { .name = "fa", .devs = { .list = devs } };
	static const struct ftspec b = { .name = "fb", .devs = { .list = devs } };

	(void)t;
	put_ft_msg(c, &a);
	put_ft_msg(c, &b);
}

/* An update adds a device, a second update of the same batch deletes it. */
static void b_add_then_del_dev(struct ctx *c, const struct tcase *t)
{
	static const char *const devs[] = { DEV_PREFIX "3", NULL };
	static const struct ftspec add = {
		.name = FT, .devs = { .list = devs },
	};
	static const struct ftspec del = {
		.cmd = NFT_MSG_DELFLOWTABLE, .name = FT, .hook = HOOK_YES,
		.no_num = true, .no_prio = true, .devs = { .list = devs },
	};

	(void)t;
	put_ft_msg(c, &add);
	put_ft_msg(c, &del);
}

/* GETFLOWTABLE is not a batch command. */
static void b_get_in_batch(struct ctx *c, const struct tcase *t)
{
	static const struct ftspec get = { .cmd = NFT_MSG_GETFLOWTABLE,
					   .name = FT };

	(void)t;
	put_ft_msg(c, &get);
}

/* A NEWFLOWTABLE without NLM_F_REQUEST. */
static void b_no_request_flag(struct ctx *c, const struct tcase *t)
{
	struct nlmsghdr *nlh = mnl_nlmsg_batch_current(c->b);

	put_ft_msg(c, t->ft);
	nlh->nlmsg_flags &= ~NLM_F_REQUEST;
}

/* A ctnetlink message inside an nf_tables batch. */
static void b_other_subsys(struct ctx *c, const struct tcase *t)
{
	struct nlmsghdr *nlh = mnl_nlmsg_batch_current(c->b);

	put_ft_msg(c, t->ft);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | 0;
}

/* nlmsg_len too short to hold the nfgenmsg: the batch is dropped silently. */
static void b_short_header(struct ctx *c, const struct tcase *t)
{
	struct nlmsghdr *nlh;

	(void)t;
	nlh = msg_begin(c, NFT_MSG_NEWFLOWTABLE, NFPROTO_INET, NLM_F_CREATE);
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	/* keep the 4-byte aligned stride the kernel will use */
	mnl_nlmsg_batch_next(c->b);
}

/* An attribute whose nla_len runs past the end of the message. */
static void b_overlong_attr(struct ctx *c, const struct tcase *t)
{
	struct nlmsghdr *nlh;
	struct nlattr *a;

	(void)t;
	nlh = msg_begin(c, NFT_MSG_NEWFLOWTABLE, NFPROTO_INET, NLM_F_CREATE);
	mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_TABLE, TBL);
	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put_strz(nlh, NFTA_FLOWTABLE_NAME, "overlong");
	a->nla_len = 200;
	msg_end(c);
}

/* A second batch begin inside the batch: the batch is dropped silently. */
static void b_nested_begin(struct ctx *c, const struct tcase *t)
{
	(void)t;
	put_ft_msg(c, t->ft);
	nftnl_batch_begin(mnl_nlmsg_batch_current(c->b), c->seq++);
	msg_end(c);
	put_ft_msg(c, t->ft);
}

/* T_RAW: a batch for a subsystem that does not exist. */
static void b_bad_subsys(struct ctx *c, const struct tcase *t)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;

	mnl_nlmsg_batch_reset(c->b);
	c->nres = 0;
	c->in_batch = true;
	c->begin_seq = c->seq++;
	nlh = nftnl_batch_begin(mnl_nlmsg_batch_current(c->b), c->begin_seq);
	nfg = mnl_nlmsg_get_payload(nlh);
	nfg->res_id = htons(NFNL_SUBSYS_COUNT + 10);
	msg_end(c);
	put_ft_msg(c, t->ft);
}

/* T_RAW: a batch that names a generation that is not the current one. */
static void b_stale_genid(struct ctx *c, const struct tcase *t)
{
	uint32_t gen = get_genid(c);
	struct nlmsghdr *nlh;

	mnl_nlmsg_batch_reset(c->b);
	c->nres = 0;
	c->in_batch = true;
	c->begin_seq = c->seq++;
	nlh = nftnl_batch_begin(mnl_nlmsg_batch_current(c->b), c->begin_seq);
	mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(gen + 1000));
	msg_end(c);
	put_ft_msg(c, t->ft);
}

/* ----------------------------------------------------------------------- */
/* the cases                                                                */

#define SAME(e)		{ (e), (e) }
/* per-kernel: DIFF(6.1 value, 6.12 value); arguments are constants */
#define DIFF(a, b)	{ (a), (b) }

#define NEWFT(d, w, ...) \
	{ .desc = d, .build = b_ft, .want = w, \
	  .ft = &(const struct ftspec){ __VA_ARGS__ } }
#define PLAINFT(d, w, ...) \
	{ .desc = d, .build = b_ft, .want = w, .flags = T_PLAIN, \
	  .ft = &(const struct ftspec){ __VA_ARGS__ } }
#define RULE(d, w, ...) \
	{ .desc = d, .build = b_rule, .want = w, \
	  .rule = &(const struct rulespec){ __VA_ARGS__ } }
#define CUSTOM(d, w, fn, f) \
	{ .desc = d, .build = fn, .want = w, .flags = f }
#define CUSTOMFT(d, w, fn, f, ...) \
	{ .desc = d, .build = fn, .want = w, .flags = f, \
	  .ft = &(const struct ftspec){ __VA_ARGS__ } }

#define DEVS(...)	{ .list = (const char *const[]){ __VA_ARGS__, NULL } }
#define DEVGEN(p, f, c)	{ .prefix = (p), .from = (f), .n = (c) }

static const char name_with_nul[] = { 'a', 'b', '\0', 'c', 'd', '\0' };
static const char name_no_nul[] = { 'n', 'o', 'n', 'u', 'l' };

static const struct tcase cases[] = {
	/* --- NEWFLOWTABLE: controls ------------------------------------ */
	NEWFT("newft: valid, one device (control)", SAME(0),
	      .devs = DEVS(DEV_PREFIX "1")),
	NEWFT("newft: no devices at all (control)", SAME(0)),
	NEWFT("newft: name of 255 bytes (control)", SAME(0), .name_len = 255),
	NEWFT("newft: priority INT32_MIN (control)", SAME(0),
	      .prio = 0x80000000u, .devs = DEVS(DEV_PREFIX "1")),
	NEWFT("newft: priority INT32_MAX (control)", SAME(0),
	      .prio = 0x7fffffffu, .devs = DEVS(DEV_PREFIX "1")),
	NEWFT("newft: flags counter (control)", SAME(0),
	      .flags_set = true, .flags = NFT_FLOWTABLE_COUNTER),
	NEWFT("newft: 255 existing devices (control)", SAME(0),
	      .devs = DEVGEN(DEV_PREFIX, 1, 255)),

	/* --- NEWFLOWTABLE: missing attributes -------------------------- */
	NEWFT("newft: no NFTA_FLOWTABLE_TABLE", SAME(EINVAL), .no_table = true),
	NEWFT("newft: no NFTA_FLOWTABLE_NAME", SAME(EINVAL), .no_name = true),
	NEWFT("newft: no NFTA_FLOWTABLE_HOOK", SAME(EINVAL), .hook = HOOK_NO),
	/*
	 * A hook nest without number or priority: 6.1 answers EINVAL; 6.12's
	 * nft_flowtable_parse_hook() was reworked to report the missing
	 * attribute through extack and returns ENOENT.
	 */
	NEWFT("newft: hook without NFTA_FLOWTABLE_HOOK_NUM",
	      DIFF(EINVAL, ENOENT), .no_num = true),
	NEWFT("newft: hook without NFTA_FLOWTABLE_HOOK_PRIORITY",
	      DIFF(EINVAL, ENOENT), .no_prio = true),
	NEWFT("newft: empty hook nest", DIFF(EINVAL, ENOENT),
	      .no_num = true, .no_prio = true),
	NEWFT("newft: hook attribute is a flat u32, not a nest",
	      DIFF(EINVAL, ENOENT), .hook = HOOK_U32),

	/* --- NEWFLOWTABLE: sizes, types, lengths ------------------------ */
	NEWFT("newft: name of 256 bytes", SAME(ERANGE), .name_len = 256),
	NEWFT("newft: name of 4000 bytes", SAME(ERANGE), .name_len = 4000),
	NEWFT("newft: table name of 256 bytes", SAME(ERANGE),
	      .table_len = 256),
	NEWFT("newft: empty name", SAME(0), .name = ""),
	NEWFT("newft: name with an embedded NUL", SAME(0),
	      .raw_name = name_with_nul, .raw_name_len = sizeof(name_with_nul)),
	NEWFT("newft: name without a terminating NUL", SAME(0),
	      .raw_name = name_no_nul, .raw_name_len = sizeof(name_no_nul)),
	NEWFT("newft: table does not exist", SAME(ENOENT), .table = "nosuch"),
	NEWFT("newft: unknown flag bit 0x80000000", SAME(EOPNOTSUPP),
	      .flags_set = true, .flags = 0x80000000u),
	NEWFT("newft: unknown flag bit 0x4", SAME(EOPNOTSUPP),
	      .flags_set = true, .flags = 0x4),
	NEWFT("newft: flags offload on a dummy device", SAME(EOPNOTSUPP),
	      .flags_set = true, .flags = NFT_FLOWTABLE_HW_OFFLOAD,
	      .devs = DEVS(DEV_PREFIX "1")),
	NEWFT("newft: flags attribute of 2 bytes", SAME(ERANGE),
	      .flags_set = true, .flags = 0, .flags_len = 2),
	NEWFT("newft: flags attribute of 8 bytes", SAME(0),
	      .flags_set = true, .flags = 0, .flags_len = 8),
	NEWFT("newft: hook number attribute of 1 byte", SAME(ERANGE),
	      .num_len = 1),
	NEWFT("newft: hook NF_NETDEV_EGRESS", SAME(EOPNOTSUPP), .num = 1),
	NEWFT("newft: hook number 0xffffffff", SAME(EOPNOTSUPP),
	      .num = 0xffffffffu),
	NEWFT("newft: unknown top-level attribute type 100 (ignored)",
	      SAME(0), .extra_attr = 100),
	NEWFT("newft: handle attribute on create (ignored)", SAME(0),
	      .handle_set = true, .handle = 12345),

	/* --- NEWFLOWTABLE: devices ------------------------------------- */
	NEWFT("newft: device does not exist", SAME(ENOENT),
	      .devs = DEVS("nosuchdev0")),
	NEWFT("newft: empty device name", SAME(ENOENT), .devs = DEVS("")),
	NEWFT("newft: device name of 40 characters", SAME(ENOENT),
	      .devs = DEVS("kdxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")),
	/*
	 * The device name is copied into an IFNAMSIZ buffer, so a longer
	 * name whose first 15 characters name an existing device binds to it.
	 */
	NEWFT("newft: over-long name truncated to an existing device",
	      SAME(0), .devs = DEVS(DEV_LONG "-and-more")),
	NEWFT("newft: device attribute of the wrong type", SAME(EINVAL),
	      .devs = { .list = (const char *const[]){ DEV_PREFIX "1", NULL },
			.attr_type = 2 }),
	NEWFT("newft: device listed twice", SAME(EEXIST),
	      .devs = DEVS(DEV_PREFIX "1", DEV_PREFIX "1")),
	NEWFT("newft: device already in another flowtable of the table",
	      SAME(EEXIST), .devs = DEVS(DEV_PREFIX "0")),
	NEWFT("newft: 256 existing devices", SAME(EFBIG),
	      .devs = DEVGEN(DEV_PREFIX, 1, 256)),
	NEWFT("newft: 1024 devices, 299 existing first", SAME(EFBIG),
	      .devs = DEVGEN(DEV_PREFIX, 1, 1024)),
	NEWFT("newft: 256 nonexistent devices", SAME(ENOENT),
	      .devs = DEVGEN("nx", 0, 256)),
	NEWFT("newft: 1024 nonexistent devices", SAME(ENOENT),
	      .devs = DEVGEN("nx", 0, 1024)),
	CUSTOM("newft: two new flowtables claim one device in one batch",
	       SAME(EEXIST), b_two_ft_same_dev, 0),

	/* --- NEWFLOWTABLE: families ------------------------------------ */
	NEWFT("newft: family netdev", SAME(ENOENT), .fam = FAM(NFPROTO_NETDEV)),
	NEWFT("newft: family bridge", SAME(ENOENT), .fam = FAM(NFPROTO_BRIDGE)),
	NEWFT("newft: family arp", SAME(ENOENT), .fam = FAM(NFPROTO_ARP)),
	NEWFT("newft: family unspec", SAME(ENOENT), .fam = FAM(NFPROTO_UNSPEC)),
	NEWFT("newft: family 99", SAME(ENOENT), .fam = FAM(99)),

	/* --- NEWFLOWTABLE on an existing flowtable (update) ------------ */
	NEWFT("update: NLM_F_EXCL on an existing name", SAME(EEXIST),
	      .name = FT, .nlflags = NLM_F_EXCL),
	NEWFT("update: other priority", SAME(EOPNOTSUPP), .name = FT,
	      .prio = 10),
	NEWFT("update: other hook number", SAME(EOPNOTSUPP), .name = FT,
	      .num = 1),
	NEWFT("update: set flags offload", SAME(EOPNOTSUPP), .name = FT,
	      .flags_set = true, .flags = NFT_FLOWTABLE_HW_OFFLOAD),
	NEWFT("update: unknown flag bit", SAME(EOPNOTSUPP), .name = FT,
	      .flags_set = true, .flags = 0x100),
	NEWFT("update: add a nonexistent device", SAME(ENOENT), .name = FT,
	      .devs = DEVS("nosuchdev0")),
	NEWFT("update: add a device twice", SAME(EEXIST), .name = FT,
	      .devs = DEVS(DEV_PREFIX "4", DEV_PREFIX "4")),
	NEWFT("update: add a device (control)", SAME(0), .name = FT,
	      .devs = DEVS(DEV_PREFIX "4")),
	NEWFT("update: re-add its own device (control)", SAME(0), .name = FT,
	      .devs = DEVS(DEV_PREFIX "0")),
	CUSTOM("update: add a device, delete it in the same batch",
	       SAME(ENOENT), b_add_then_del_dev, 0),

	/* --- DELFLOWTABLE ---------------------------------------------- */
	NEWFT("delft: no NFTA_FLOWTABLE_TABLE", SAME(EINVAL),
	      .cmd = NFT_MSG_DELFLOWTABLE, .no_table = true, .name = FT4),
	NEWFT("delft: neither name nor handle", SAME(EINVAL),
	      .cmd = NFT_MSG_DELFLOWTABLE, .no_name = true),
	NEWFT("delft: name does not exist", SAME(ENOENT),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name = "nosuch"),
	NEWFT("delft: handle does not exist", SAME(ENOENT),
	      .cmd = NFT_MSG_DELFLOWTABLE, .no_name = true,
	      .handle_set = true, .handle = 0xdeadbeefULL),
	NEWFT("delft: handle attribute of 4 bytes", SAME(ERANGE),
	      .cmd = NFT_MSG_DELFLOWTABLE, .no_name = true,
	      .handle_set = true, .handle = 1, .handle_len = 4),
	NEWFT("delft: name of 256 bytes", SAME(ERANGE),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name_len = 256),
	NEWFT("delft: still referenced by a rule", SAME(EBUSY),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name = FT),
	NEWFT("delft: hook with a device not in the flowtable", SAME(ENOENT),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name = FT, .hook = HOOK_YES,
	      .no_num = true, .no_prio = true, .devs = DEVS(DEV_PREFIX "5")),
	NEWFT("delft: hook with a nonexistent device", SAME(ENOENT),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name = FT, .hook = HOOK_YES,
	      .no_num = true, .no_prio = true, .devs = DEVS("nosuchdev0")),
	NEWFT("delft: hook with its device listed twice", SAME(EEXIST),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name = FT, .hook = HOOK_YES,
	      .no_num = true, .no_prio = true,
	      .devs = DEVS(DEV_PREFIX "0", DEV_PREFIX "0")),
	NEWFT("delft: hook with another priority", SAME(EOPNOTSUPP),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name = FT, .hook = HOOK_YES,
	      .no_num = true, .prio = 7, .devs = DEVS(DEV_PREFIX "0")),
	NEWFT("delft: its device via the hook (control)", SAME(0),
	      .cmd = NFT_MSG_DELFLOWTABLE, .name = FT, .hook = HOOK_YES,
	      .no_num = true, .no_prio = true, .devs = DEVS(DEV_PREFIX "0")),
	NEWFT("delft: unreferenced flowtable (control)", SAME(0),
	      .cmd = NFT_MSG_DELFLOWTABLE, .fam = FAM(NFPROTO_IPV4),
	      .table = TBL4, .name = FT4),
	/*
	 * NFT_MSG_DESTROYFLOWTABLE appeared in 6.3: 6.1 has no such command
	 * (EINVAL from nfnetlink); on 6.12 destroying a missing flowtable
	 * is not an error.
	 */
	NEWFT("destroyft: name does not exist", DIFF(EINVAL, 0),
	      .cmd = KNO_NFT_MSG_DESTROYFLOWTABLE, .name = "nosuch"),
	CUSTOM("delft: referenced by a rule added in the same batch",
	       SAME(EBUSY), b_ref_then_del, 0),

	/* --- GETFLOWTABLE (plain requests) ----------------------------- */
	PLAINFT("getft: existing (control)", SAME(0),
		.cmd = NFT_MSG_GETFLOWTABLE, .name = FT),
	PLAINFT("getft: no NFTA_FLOWTABLE_NAME", SAME(EINVAL),
		.cmd = NFT_MSG_GETFLOWTABLE, .no_name = true),
	PLAINFT("getft: no NFTA_FLOWTABLE_TABLE", SAME(EINVAL),
		.cmd = NFT_MSG_GETFLOWTABLE, .no_table = true, .name = FT),
	PLAINFT("getft: name does not exist", SAME(ENOENT),
		.cmd = NFT_MSG_GETFLOWTABLE, .name = "nosuch"),
	PLAINFT("getft: table does not exist", SAME(ENOENT),
		.cmd = NFT_MSG_GETFLOWTABLE, .table = "nosuch", .name = FT),
	PLAINFT("getft: name of 256 bytes", SAME(ERANGE),
		.cmd = NFT_MSG_GETFLOWTABLE, .name_len = 256),
	PLAINFT("getft: dump (control)", SAME(0),
		.cmd = NFT_MSG_GETFLOWTABLE, .fam = FAM(NFPROTO_UNSPEC),
		.nlflags = NLM_F_DUMP, .no_name = true, .no_table = true),
	PLAINFT("getft: dump filtered by a 256-byte table name", SAME(ERANGE),
		.cmd = NFT_MSG_GETFLOWTABLE, .nlflags = NLM_F_DUMP,
		.no_name = true, .table_len = 256),
	CUSTOM("getft: inside a batch", SAME(EINVAL), b_get_in_batch, 0),

	/* --- NEWRULE with flow_offload --------------------------------- */
	RULE("rule: forward chain (control)", SAME(0)),
	RULE("rule: ip family forward chain (control)", SAME(0),
	     .fam = FAM(NFPROTO_IPV4), .table = TBL4, .chain = "fwd",
	     .ftname = FT4),
	RULE("rule: no NFTA_FLOW_TABLE_NAME", SAME(EINVAL), .mode = FO_NONAME),
	RULE("rule: no NFTA_EXPR_DATA", SAME(EINVAL), .mode = FO_NODATA),
	RULE("rule: NFTA_EXPR_DATA not nested", SAME(ERANGE), .mode = FO_FLAT),
	RULE("rule: table name is a binary u32", SAME(ENOENT),
	     .mode = FO_U32NAME),
	RULE("rule: unknown attribute in the expression (ignored)", SAME(0),
	     .mode = FO_EXTRA),
	RULE("rule: flowtable does not exist", SAME(ENOENT), .ftname = "nosuch"),
	RULE("rule: empty flowtable name", SAME(ENOENT), .ftname = ""),
	RULE("rule: flowtable name of 256 bytes", SAME(ERANGE),
	     .ftname_len = 256),
	RULE("rule: flowtable name of 255 bytes, no such flowtable",
	     SAME(ENOENT), .ftname_len = 255),
	RULE("rule: flowtable of another table", SAME(ENOENT),
	     .fam = FAM(NFPROTO_IPV4), .table = TBL4, .chain = "fwd"),
	RULE("rule: input chain", SAME(EOPNOTSUPP), .chain = "in"),
	RULE("rule: output chain", SAME(EOPNOTSUPP), .chain = "out"),
	RULE("rule: prerouting chain", SAME(EOPNOTSUPP), .chain = "pre"),
	RULE("rule: postrouting chain", SAME(EOPNOTSUPP), .chain = "post"),
	RULE("rule: netdev family", SAME(ENOENT), .fam = FAM(NFPROTO_NETDEV),
	     .chain = "c"),
	RULE("rule: bridge family", SAME(ENOENT), .fam = FAM(NFPROTO_BRIDGE),
	     .chain = "c"),
	RULE("rule: arp family", SAME(ENOENT), .fam = FAM(NFPROTO_ARP),
	     .chain = "c"),
	RULE("rule: unknown expression name", SAME(ENOENT),
	     .expr = "flow_offloadx"),
	CUSTOM("rule: regular chain reached from input", SAME(EOPNOTSUPP),
	       b_jump_from_input, 0),
	CUSTOM("rule: regular chain reached from forward (control)", SAME(0),
	       b_jump_from_forward, 0),
	CUSTOM("rule: flowtable deleted earlier in the batch", SAME(ENOENT),
	       b_del_then_ref, 0),
	CUSTOM("rule: flowtable created earlier in the batch (control)",
	       SAME(0), b_new_and_ref, 0),

	/* --- nfnetlink batch framing ----------------------------------- */
	CUSTOMFT("batch: message without NLM_F_REQUEST", SAME(EINVAL),
		 b_no_request_flag, 0, .devs = DEVS(DEV_PREFIX "1")),
	CUSTOMFT("batch: ctnetlink message in an nf_tables batch",
		 SAME(EINVAL), b_other_subsys, 0),
	CUSTOM("batch: nlmsg_len shorter than nfgenmsg", SAME(NORESP),
	       b_short_header, 0),
	CUSTOM("batch: attribute length beyond the message", SAME(EINVAL),
	       b_overlong_attr, 0),
	CUSTOMFT("batch: second batch begin inside the batch", SAME(NORESP),
		 b_nested_begin, 0),
	CUSTOMFT("batch: begin for a nonexistent subsystem", SAME(EINVAL),
		 b_bad_subsys, T_RAW),
	CUSTOMFT("batch: stale generation id", SAME(ERESTART),
		 b_stale_genid, T_RAW),
};

#define NCASES	((int)ARRAY_SIZE(cases))

/* ----------------------------------------------------------------------- */

static const char *errname(int e, char *buf, size_t len)
{
	const char *n;

	if (e == NORESP)
		return "no-answer";
	if (e == 0)
		return "accepted";
	n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, len, "errno %d", e);
	return buf;
}

static bool devices_present(void)
{
	char name[IFNAMSIZ];
	int i;

	for (i = 0; i < DEV_COUNT; i++) {
		snprintf(name, sizeof(name), "%s%d", DEV_PREFIX, i);
		if (!if_nametoindex(name))
			return false;
	}
	return if_nametoindex(DEV_LONG) != 0;
}

static int series_of(const char *rel)
{
	int maj, min;

	if (!rel || sscanf(rel, "%d.%d", &maj, &min) != 2)
		return -1;
	if (maj == 6 && min == 1)
		return K61;
	if (maj == 6 && min == 12)
		return K612;
	return -1;
}

static void ctx_init(struct ctx *c)
{
	struct timeval tv = { .tv_sec = RCV_TIMEOUT_S };
	int one = 1, rcvbuf = 4 * 1024 * 1024;

	memset(c, 0, sizeof(*c));
	c->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!c->nl)
		die("mnl_socket_open");
	if (mnl_socket_bind(c->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("mnl_socket_bind");
	c->portid = mnl_socket_get_portid(c->nl);
	mnl_socket_setsockopt(c->nl, NETLINK_CAP_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(c->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVTIMEO,
		       &tv, sizeof(tv)) < 0)
		die("SO_RCVTIMEO");
	setsockopt(mnl_socket_get_fd(c->nl), SOL_SOCKET, SO_RCVBUF,
		   &rcvbuf, sizeof(rcvbuf));
	c->txbuf = malloc(2 * BATCH_LIMIT);
	c->rxbuf = malloc(RX_SIZE);
	if (!c->txbuf || !c->rxbuf)
		die("malloc");
	c->b = mnl_nlmsg_batch_start(c->txbuf, BATCH_LIMIT);
	c->seq = (uint32_t)time(NULL);
}

/*
 * Run one case. Returns 1 if it passed, 0 if it failed; *detail gets a
 * short explanation.
 */
static int run_case(struct ctx *c, const struct tcase *t, int want,
		    char *detail, size_t dlen)
{
	char b1[32], b2[32];
	const char *ext;
	uint32_t gen0, gen1;
	int rc, got;

	gen0 = get_genid(c);
	if (t->flags & T_PLAIN)
		plain_open(c);
	else if (!(t->flags & T_RAW))
		batch_open(c);
	t->build(c, t);
	rc = run_exchange(c);
	if (rc < 0) {
		snprintf(detail, dlen, "exchange failed: %s", strerror(-rc));
		return 0;
	}
	got = outcome(c, &ext);
	gen1 = get_genid(c);

	if (got != want) {
		snprintf(detail, dlen, "expected %s, got %s%s%s%s",
			 errname(want, b1, sizeof(b1)),
			 errname(got, b2, sizeof(b2)),
			 *ext ? " (extack: " : "", ext, *ext ? ")" : "");
		if (got == 0 && !(t->flags & T_PLAIN))
			base_reset(c);
		return 0;
	}
	snprintf(detail, dlen, "%s%s%s%s", errname(got, b2, sizeof(b2)),
		 *ext ? " (extack: " : "", ext, *ext ? ")" : "");

	/* A rejected batch must not have committed anything. */
	if (got != 0 && gen1 != gen0) {
		snprintf(detail, dlen, "%s, but the generation moved %u -> %u",
			 errname(got, b2, sizeof(b2)), gen0, gen1);
		base_reset(c);
		return 0;
	}
	/* An accepted batch changed the ruleset: put the base back. */
	if (got == 0 && !(t->flags & T_PLAIN) && gen1 != gen0) {
		rc = base_reset(c);
		if (rc) {
			snprintf(detail, dlen,
				 "accepted, but restoring the base ruleset failed: %s",
				 errname(rc, b1, sizeof(b1)));
			return 0;
		}
	}
	return 1;
}

int main(int argc, char **argv)
{
	bool quiet = false, verbose = false;
	int iters = 1, series, opt, i, it;
	int failed = 0, passed = 0, skipped = 0;
	const char *kopt = NULL;
	struct utsname u;
	struct ctx c;

	while ((opt = getopt(argc, argv, "n:qvk:ch")) != -1) {
		switch (opt) {
		case 'n':
			iters = atoi(optarg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'k':
			kopt = optarg;
			break;
		case 'c':
			printf("%d\n", NCASES);
			return 0;
		default:
			fprintf(stderr, "usage: %s [-n ITER] [-q] [-v] [-k 6.1|6.12] [-c]\n",
				argv[0]);
			return 2;
		}
	}
	if (iters < 1)
		iters = 1;

	uname(&u);
	series = series_of(kopt ? kopt : u.release);

	if (!quiet) {
		printf("TAP version 13\n1..%d\n", NCASES);
		printf("# kernel %s, expectations of series %s\n", u.release,
		       series == K61 ? "6.1" : series == K612 ? "6.12" :
		       "unknown (cases that differ between 6.1 and 6.12 are skipped)");
	}
	if (!devices_present()) {
		if (!quiet) {
			for (i = 0; i < NCASES; i++) {
				printf("ok %d %s # SKIP devices %s0..%s%d and %s are missing",
				       i + 1, cases[i].desc, DEV_PREFIX,
				       DEV_PREFIX, DEV_COUNT - 1, DEV_LONG);
				printf(" (run via nft_malformed.sh)\n");
			}
		}
		return 4;
	}

	ctx_init(&c);
	c.verbose = verbose;
	base_flush_quiet(&c);
	if (base_reset(&c) != 0) {
		printf("Bail out! cannot create the base ruleset (-v shows why)\n");
		return 1;
	}

	for (it = 0; it < iters; it++) {
		for (i = 0; i < NCASES; i++) {
			const struct tcase *t = &cases[i];
			bool show = !quiet && it == 0;
			char detail[512];
			int want, ok;

			if (series < 0 && t->want[K61] != t->want[K612]) {
				skipped++;
				if (show)
					printf("ok %d %s # SKIP %s\n", i + 1, t->desc,
					       "expectation differs between 6.1 and 6.12, unknown series");
				continue;
			}
			want = t->want[series < 0 ? K612 : series];
			ok = run_case(&c, t, want, detail, sizeof(detail));
			if (ok)
				passed++;
			else
				failed++;
			if (show) {
				if (!ok || verbose)
					printf("# %s: %s\n", t->desc, detail);
				printf("%sok %d %s\n", ok ? "" : "not ", i + 1,
				       t->desc);
			} else if (!ok) {
				printf("# iteration %d: %s: %s\n", it + 1,
				       t->desc, detail);
			}
		}
	}

	batch_open(&c);
	base_del(&c);
	run_exchange(&c);
	{
		const char *ext;
		int rc = outcome(&c, &ext);

		if (rc) {
			printf("# removing the base ruleset failed: %s\n",
			       strerror(rc > 0 ? rc : ETIMEDOUT));
			failed++;
		}
	}

	printf("# %d iteration(s) of %d cases: %d passed, %d failed, %d skipped\n",
	       iters, NCASES, passed, failed, skipped);
	mnl_socket_close(c.nl);
	free(c.txbuf);
	free(c.rxbuf);
	if (failed)
		return 1;
	return passed ? 0 : 4;
}
