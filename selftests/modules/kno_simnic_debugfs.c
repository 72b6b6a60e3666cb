// SPDX-License-Identifier: GPL-2.0
/*
 * kno_simnic: debugfs control and state files (see Documentation/simnic.rst).
 *
 * Every show function takes kno_sim_lock, so a listing is one consistent
 * snapshot of the tables. Writers take RTNL (pair control) or
 * kno_sim_lock (fault knobs).
 */

#include <linux/debugfs.h>
#include <linux/etherdevice.h>
#include <linux/if_ether.h>
#include <linux/if_vlan.h>
#include <linux/jiffies.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <net/net_namespace.h>

#include "kno_simnic.h"

static struct dentry *kno_sim_dir;

static const char *const kno_sim_cmd_names[KNO_SIM_CMD_NUM] = {
	[KNO_SIM_CMD_REPLACE] = "replace",
	[KNO_SIM_CMD_DESTROY] = "destroy",
	[KNO_SIM_CMD_STATS] = "stats",
	[KNO_SIM_CMD_BIND] = "bind",
};

/* Copy a short command from user space into a NUL-terminated buffer. */
static int kno_sim_get_cmd(char *buf, size_t size, const char __user *ubuf,
			   size_t count)
{
	if (count == 0 || count >= size)
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	return 0;
}

/* Split @s into at most @max words; returns the number of words. */
static int kno_sim_words(char *s, char **w, int max)
{
	int n = 0;
	char *t;

	while ((t = strsep(&s, " \t\n")) != NULL) {
		if (!*t)
			continue;
		if (n == max)
			return -EINVAL;
		w[n++] = t;
	}
	return n;
}

static ssize_t kno_sim_new_pair_write(struct file *file,
				      const char __user *ubuf, size_t count,
				      loff_t *ppos)
{
	char buf[64], *w[2];
	int err;

	err = kno_sim_get_cmd(buf, sizeof(buf), ubuf, count);
	if (err)
		return err;
	if (kno_sim_words(buf, w, 2) != 2 || strlen(w[0]) >= IFNAMSIZ ||
	    strlen(w[1]) >= IFNAMSIZ)
		return -EINVAL;
	err = kno_sim_pair_new(current->nsproxy->net_ns, w[0], w[1]);
	return err ? err : count;
}

static ssize_t kno_sim_del_pair_write(struct file *file,
				      const char __user *ubuf, size_t count,
				      loff_t *ppos)
{
	char buf[64], *w[1];
	int err;

	err = kno_sim_get_cmd(buf, sizeof(buf), ubuf, count);
	if (err)
		return err;
	if (kno_sim_words(buf, w, 1) != 1 || strlen(w[0]) >= IFNAMSIZ)
		return -EINVAL;
	err = kno_sim_pair_del(current->nsproxy->net_ns, w[0]);
	return err ? err : count;
}

static const struct file_operations kno_sim_new_pair_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = kno_sim_new_pair_write,
	.llseek = noop_llseek,
};

static const struct file_operations kno_sim_del_pair_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.write = kno_sim_del_pair_write,
	.llseek = noop_llseek,
};

static void kno_sim_show_cmd(struct seq_file *m, const char *pfx,
			     const struct kno_sim_cmd_stats *st)
{
	int i;

	for (i = 0; i < KNO_SIM_CMD_BIND; i++) {
		const char *c = kno_sim_cmd_names[i];

		seq_printf(m, " %s_%s_calls=%llu %s_%s_ok=%llu %s_%s_failed=%llu %s_%s_injected=%llu",
			   pfx, c, st[i].calls, pfx, c, st[i].ok,
			   pfx, c, st[i].failed, pfx, c, st[i].injected);
		if (i == KNO_SIM_CMD_REPLACE)
			seq_printf(m, " %s_%s_foreign=%llu", pfx, c,
				   st[i].foreign);
		else
			seq_printf(m, " %s_%s_enoent=%llu", pfx, c,
				   st[i].enoent);
	}
}

static int kno_sim_ports_show(struct seq_file *m, void *v)
{
	struct kno_sim_port *port, *peer;
	struct kno_sim_binding *b;
	unsigned int blocks[KNO_SIM_BLOCK_NUM];
	u64 s[KNO_SIM_NCTR];
	int i;

	mutex_lock(&kno_sim_lock);
	list_for_each_entry(port, &kno_sim_ports, node) {
		struct net_device *dev = port->dev;

		memset(blocks, 0, sizeof(blocks));
		list_for_each_entry(b, &port->bindings, node)
			blocks[b->type]++;
		kno_sim_stats_read(port, s);

		rcu_read_lock();
		peer = rcu_dereference(port->peer);
		seq_printf(m, "port=%s id=%u ifindex=%d netns=%u peer=%s up=%d carrier=%d hw_tc=%d",
			   dev->name, port->id, dev->ifindex,
			   dev_net(dev)->ns.inum, peer ? peer->dev->name : "-",
			   !!(dev->flags & IFF_UP), netif_carrier_ok(dev),
			   !!(dev->features & NETIF_F_HW_TC));
		rcu_read_unlock();

		seq_printf(m, " rules=%u max_rules=%u acl_rules=%u capacity=%u acl_capacity=%u",
			   port->n_ft_rules, port->max_ft_rules,
			   port->n_acl_rules, kno_sim_cfg.ft_capacity,
			   kno_sim_cfg.acl_capacity);
		for (i = 0; i < KNO_SIM_BLOCK_NUM; i++) {
			const char *t = i == KNO_SIM_BLOCK_FT ? "ft" : "tc";

			seq_printf(m, " %s_blocks=%u %s_binds=%llu %s_unbinds=%llu %s_bind_failed=%llu",
				   t, blocks[i], t, port->binds[i], t,
				   port->unbinds[i], t, port->bind_failed[i]);
		}
		seq_printf(m, " rx_packets=%llu rx_bytes=%llu tx_packets=%llu tx_bytes=%llu tx_dropped=%llu",
			   s[KNO_SIM_RX_PACKETS],
			   s[KNO_SIM_RX_BYTES],
			   s[KNO_SIM_TX_PACKETS],
			   s[KNO_SIM_TX_BYTES],
			   s[KNO_SIM_TX_DROPPED]);
		seq_printf(m, " hw_fwd_packets=%llu hw_fwd_bytes=%llu hw_tx_packets=%llu hw_tx_bytes=%llu hw_miss=%llu hw_drop=%llu hw_errors=%llu",
			   s[KNO_SIM_HW_FWD_PACKETS],
			   s[KNO_SIM_HW_FWD_BYTES],
			   s[KNO_SIM_HW_TX_PACKETS],
			   s[KNO_SIM_HW_TX_BYTES],
			   s[KNO_SIM_HW_MISS],
			   s[KNO_SIM_HW_DROP],
			   s[KNO_SIM_HW_ERRORS]);
		kno_sim_show_cmd(m, "ft", port->ft_cmd);
		kno_sim_show_cmd(m, "acl", port->acl_cmd);
		seq_printf(m, " vlan_unflagged=%llu orphaned=%llu flushed=%llu\n",
			   port->vlan_unflagged, port->orphaned, port->flushed);
	}
	mutex_unlock(&kno_sim_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kno_sim_ports);

/* The last command each port refused, with the reason it gave. */
static int kno_sim_errors_show(struct seq_file *m, void *v)
{
	struct kno_sim_port *port;

	mutex_lock(&kno_sim_lock);
	list_for_each_entry(port, &kno_sim_ports, node) {
		if (port->ft_last_err)
			seq_printf(m, "port=%s type=ft errno=%d msg=%s\n",
				   port->dev->name, port->ft_last_err,
				   port->ft_last_msg ?: "-");
		if (port->acl_last_err)
			seq_printf(m, "port=%s type=acl errno=%d msg=%s\n",
				   port->dev->name, port->acl_last_err,
				   port->acl_last_msg ?: "-");
	}
	mutex_unlock(&kno_sim_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kno_sim_errors);

static void kno_sim_show_addr(struct seq_file *m, const char *name, bool v4,
			      const void *addr)
{
	if (v4)
		seq_printf(m, " %s=%pI4", name, addr);
	else
		seq_printf(m, " %s=%pI6c", name, addr);
}

static void kno_sim_show_rule(struct seq_file *m, struct kno_sim_ft_rule *r)
{
	const struct kno_sim_ft_act *a = &r->act;
	bool v4 = r->key.n_proto == htons(ETH_P_IP);
	struct kno_sim_port *out;
	unsigned long now = jiffies;
	int i;

	seq_printf(m, "port=%s id=%llu cookie=%#lx family=%s proto=%s",
		   r->port->dev->name, r->id, r->cookie, v4 ? "ipv4" : "ipv6",
		   r->key.ip_proto == IPPROTO_TCP ? "tcp" : "udp");
	kno_sim_show_addr(m, "src", v4, &r->key.addr.v4.src);
	seq_printf(m, " sport=%u", ntohs(r->key.sport));
	kno_sim_show_addr(m, "dst", v4,
			  v4 ? (void *)&r->key.addr.v4.dst :
			       (void *)&r->key.addr.v6.dst);
	seq_printf(m, " dport=%u vlans=", ntohs(r->key.dport));
	if (!r->key.n_vlans)
		seq_puts(m, "-");
	for (i = 0; i < r->key.n_vlans; i++)
		seq_printf(m, "%s%04x:%u", i ? "," : "",
			   ntohs(r->key.vlan_tpid[i]), r->key.vlan_id[i]);
	seq_printf(m, " tcp_mask=%#x", ntohs(r->tcp_mask));

	out = rcu_dereference_protected(r->out, lockdep_is_held(&kno_sim_lock));
	seq_printf(m, " out=%s dmac=%pM smac=%pM pop=%u",
		   out ? out->dev->name : "-", a->eth, a->eth + ETH_ALEN,
		   a->n_pop);
	if (a->push_vlan)
		seq_printf(m, " push_vlan=%u", a->vlan_tci & VLAN_VID_MASK);
	else
		seq_puts(m, " push_vlan=-");
	if (a->push_pppoe)
		seq_printf(m, " push_pppoe=%u", a->pppoe_sid);
	else
		seq_puts(m, " push_pppoe=-");
	if (a->nat_src)
		kno_sim_show_addr(m, "nat_src", v4, &a->addr.v4.src);
	else
		seq_puts(m, " nat_src=-");
	if (a->nat_sport)
		seq_printf(m, " nat_sport=%u", ntohs(a->sport));
	else
		seq_puts(m, " nat_sport=-");
	if (a->nat_dst)
		kno_sim_show_addr(m, "nat_dst", v4,
				  v4 ? (void *)&a->addr.v4.dst :
				       (void *)&a->addr.v6.dst);
	else
		seq_puts(m, " nat_dst=-");
	if (a->nat_dport)
		seq_printf(m, " nat_dport=%u", ntohs(a->dport));
	else
		seq_puts(m, " nat_dport=-");
	seq_printf(m, " csum=%#x actions=%u packets=%lld bytes=%lld lastused_ms=%u age_ms=%u replaced=%u binding=%llu\n",
		   a->csum_flags, a->n_actions,
		   (long long)atomic64_read(&r->packets),
		   (long long)atomic64_read(&r->bytes),
		   jiffies_to_msecs(now - READ_ONCE(r->lastused)),
		   jiffies_to_msecs(now - r->installed), r->replaced,
		   r->binding);
}

static int kno_sim_rules_show(struct seq_file *m, void *v)
{
	struct kno_sim_ft_rule *rule;
	struct kno_sim_port *port;

	mutex_lock(&kno_sim_lock);
	list_for_each_entry(port, &kno_sim_ports, node)
		list_for_each_entry(rule, &port->ft_rules, list)
			kno_sim_show_rule(m, rule);
	mutex_unlock(&kno_sim_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kno_sim_rules);

static int kno_sim_acl_show_all(struct seq_file *m, void *v)
{
	struct kno_sim_port *port;

	mutex_lock(&kno_sim_lock);
	list_for_each_entry(port, &kno_sim_ports, node)
		kno_sim_acl_show(m, port);
	mutex_unlock(&kno_sim_lock);
	return 0;
}

static int kno_sim_acl_open(struct inode *inode, struct file *file)
{
	return single_open(file, kno_sim_acl_show_all, inode->i_private);
}

static const struct file_operations kno_sim_acl_fops = {
	.owner = THIS_MODULE,
	.open = kno_sim_acl_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static int kno_sim_summary_show(struct seq_file *m, void *v)
{
	unsigned int ports = 0, rules = 0, acl = 0, bindings = 0;
	struct kno_sim_binding *b;
	struct kno_sim_port *port;

	mutex_lock(&kno_sim_lock);
	list_for_each_entry(port, &kno_sim_ports, node) {
		ports++;
		rules += port->n_ft_rules;
		acl += port->n_acl_rules;
		list_for_each_entry(b, &port->bindings, node)
			bindings++;
	}
	seq_printf(m, "ports=%u rules=%u acl_rules=%u bindings=%u rule_objs=%d rules_max=%u\n",
		   ports, rules, acl, bindings,
		   atomic_read(&kno_sim_rule_objs), kno_sim_ft_total_max);
	mutex_unlock(&kno_sim_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kno_sim_summary);

/* fail_<cmd>: "N [ERRNO [PERCENT [TIMES]]]" */
static ssize_t kno_sim_fault_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	struct kno_sim_fault *ft = file->private_data;
	unsigned int next, percent = 0, times = 0;
	char buf[64], *w[4];
	int n, err, e = EIO;

	err = kno_sim_get_cmd(buf, sizeof(buf), ubuf, count);
	if (err)
		return err;
	n = kno_sim_words(buf, w, 4);
	if (n < 1 || kstrtouint(w[0], 0, &next))
		return -EINVAL;
	if (n > 1 && (kstrtoint(w[1], 0, &e) || !e || abs(e) >= MAX_ERRNO))
		return -EINVAL;
	if (n > 2 && (kstrtouint(w[2], 0, &percent) || percent > 100))
		return -EINVAL;
	if (n > 3 && (kstrtouint(w[3], 0, &times) || !times || !percent))
		return -EINVAL;

	mutex_lock(&kno_sim_lock);
	ft->next = next;
	ft->err = -abs(e);
	ft->percent = percent;
	ft->times = times;
	ft->limited = n > 3;
	mutex_unlock(&kno_sim_lock);
	return count;
}

static ssize_t kno_sim_fault_read(struct file *file, char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct kno_sim_fault *ft = file->private_data;
	char buf[80];
	int len;

	mutex_lock(&kno_sim_lock);
	len = scnprintf(buf, sizeof(buf), "next=%u errno=%d percent=%u",
			ft->next, -ft->err, ft->percent);
	if (ft->limited)
		len += scnprintf(buf + len, sizeof(buf) - len, " times=%u",
				 ft->times);
	len += scnprintf(buf + len, sizeof(buf) - len, "\n");
	mutex_unlock(&kno_sim_lock);
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

static const struct file_operations kno_sim_fault_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = kno_sim_fault_read,
	.write = kno_sim_fault_write,
	.llseek = default_llseek,
};

int kno_sim_debugfs_init(void)
{
	struct dentry *d;
	char name[32];
	int i;

	d = debugfs_create_dir(KNO_SIM_NAME, NULL);
	if (IS_ERR(d))
		return PTR_ERR(d);
	kno_sim_dir = d;

	debugfs_create_file("new_pair", 0200, d, NULL, &kno_sim_new_pair_fops);
	debugfs_create_file("del_pair", 0200, d, NULL, &kno_sim_del_pair_fops);
	debugfs_create_file("ports", 0400, d, NULL, &kno_sim_ports_fops);
	debugfs_create_file("rules", 0400, d, NULL, &kno_sim_rules_fops);
	debugfs_create_file("acl", 0400, d, NULL, &kno_sim_acl_fops);
	debugfs_create_file("errors", 0400, d, NULL, &kno_sim_errors_fops);
	debugfs_create_file("summary", 0400, d, NULL, &kno_sim_summary_fops);
	debugfs_create_file("replace_log", 0600, d, NULL, &kno_sim_log_fops);
	debugfs_create_u32("capacity", 0600, d, &kno_sim_cfg.ft_capacity);
	debugfs_create_u32("acl_capacity", 0600, d, &kno_sim_cfg.acl_capacity);
	debugfs_create_u32("delay_ms", 0600, d, &kno_sim_cfg.delay_ms);
	debugfs_create_bool("flush_on_unbind", 0600, d,
			    &kno_sim_cfg.flush_on_unbind);
	debugfs_create_bool("ipv6_nat", 0600, d, &kno_sim_cfg.ipv6_nat);
	debugfs_create_bool("stats_frozen", 0600, d,
			    &kno_sim_cfg.stats_frozen);
	debugfs_create_bool("strict_keys", 0600, d, &kno_sim_cfg.strict_keys);
	for (i = 0; i < KNO_SIM_CMD_NUM; i++) {
		snprintf(name, sizeof(name), "fail_%s", kno_sim_cmd_names[i]);
		debugfs_create_file(name, 0600, d, &kno_sim_cfg.fault[i],
				    &kno_sim_fault_fops);
	}
	return 0;
}

void kno_sim_debugfs_exit(void)
{
	debugfs_remove_recursive(kno_sim_dir);
	kno_sim_dir = NULL;
}
