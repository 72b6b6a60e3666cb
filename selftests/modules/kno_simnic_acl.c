// SPDX-License-Identifier: GPL-2.0
/*
 * kno_simnic: ingress ACL offload (TC_SETUP_BLOCK), placeholder until the
 * netdev chain offload lands: every rule is refused.
 */

#include <linux/seq_file.h>

#include "kno_simnic.h"

int kno_sim_acl_cmd(struct kno_sim_binding *b, struct flow_cls_offload *f)
{
	return -EOPNOTSUPP;
}

void kno_sim_acl_flush(struct kno_sim_port *port, u64 binding)
{
}

int kno_sim_acl_run(struct kno_sim_port *port, struct sk_buff *skb,
		    const struct kno_sim_pkt *pkt)
{
	return 0;
}

void kno_sim_acl_show(struct seq_file *m, struct kno_sim_port *port)
{
}

void kno_sim_acl_unlink_port(struct kno_sim_port *gone)
{
}
