// SPDX-License-Identifier: GPL-2.0
/*
 * kno_simnic: the REPLACE log (debugfs "replace_log"), for measuring how
 * long a flowtable takes from flow_offload_add() to the driver callback.
 *
 * Writing N (1..KNO_SIM_LOG_MAX) starts an empty log with room for N
 * entries, writing 0 stops and frees it. While it is on, every REPLACE that
 * installs a new rule appends (ktime_get_ns(), cookie); entries that find
 * no room are only counted. nf_flow_table passes the address of the
 * direction's tuple inside struct flow_offload as the cookie, so the header
 * line gives both tuple offsets: a reader that knows the flow's address
 * (a kprobe on flow_offload_add) can pair the two.
 *
 * Reading: "size=N len=L dropped=D cookie_off=O0,O1", then "NS COOKIE"
 * (hex) per entry, in the order the rules were installed.
 *
 * Locking: kno_sim_lock guards the log; the REPLACE path already holds it,
 * a reader holds it from seq start to stop.
 */
#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <net/netfilter/nf_flow_table.h>

#include "kno_simnic.h"

#define KNO_SIM_LOG_MAX		BIT(22)

struct kno_sim_log_ent {
	u64 ns;
	unsigned long cookie;
};

static struct kno_sim_log_ent *kno_sim_log;
static unsigned int kno_sim_log_size;
static unsigned int kno_sim_log_len;
static unsigned int kno_sim_log_dropped;

/* Called with kno_sim_lock held, for a REPLACE that installed a new rule. */
void kno_sim_log_replace(unsigned long cookie)
{
	lockdep_assert_held(&kno_sim_lock);
	if (!kno_sim_log)
		return;
	if (kno_sim_log_len >= kno_sim_log_size) {
		kno_sim_log_dropped++;
		return;
	}
	kno_sim_log[kno_sim_log_len].ns = ktime_get_ns();
	kno_sim_log[kno_sim_log_len].cookie = cookie;
	kno_sim_log_len++;
}

/* Swap in a new log (NULL: off); the old one is freed outside the lock. */
static void kno_sim_log_swap(struct kno_sim_log_ent *log, unsigned int size)
{
	struct kno_sim_log_ent *old;

	mutex_lock(&kno_sim_lock);
	old = kno_sim_log;
	kno_sim_log = log;
	kno_sim_log_size = size;
	kno_sim_log_len = 0;
	kno_sim_log_dropped = 0;
	mutex_unlock(&kno_sim_lock);
	kvfree(old);
}

void kno_sim_log_exit(void)
{
	kno_sim_log_swap(NULL, 0);
}

static ssize_t kno_sim_log_write(struct file *file, const char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct kno_sim_log_ent *log = NULL;
	unsigned int size;
	int err;

	err = kstrtouint_from_user(ubuf, count, 0, &size);
	if (err)
		return err;
	if (size > KNO_SIM_LOG_MAX)
		return -EINVAL;
	if (size) {
		log = kvcalloc(size, sizeof(*log), GFP_KERNEL);
		if (!log)
			return -ENOMEM;
	}
	kno_sim_log_swap(log, size);
	return count;
}

/* seq position 0 is the header, position i > 0 is entry i - 1. */
static void *kno_sim_log_at(loff_t pos)
{
	if (!kno_sim_log || pos > kno_sim_log_len)
		return NULL;
	return &kno_sim_log[pos - 1];
}

static void *kno_sim_log_seq_start(struct seq_file *m, loff_t *pos)
{
	mutex_lock(&kno_sim_lock);
	return *pos ? kno_sim_log_at(*pos) : SEQ_START_TOKEN;
}

static void *kno_sim_log_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	++*pos;
	return kno_sim_log_at(*pos);
}

static void kno_sim_log_seq_stop(struct seq_file *m, void *v)
{
	mutex_unlock(&kno_sim_lock);
}

static int kno_sim_log_seq_show(struct seq_file *m, void *v)
{
	const struct kno_sim_log_ent *e = v;

	if (v == SEQ_START_TOKEN) {
		seq_printf(m, "size=%u len=%u dropped=%u cookie_off=%zu,%zu\n",
			   kno_sim_log_size, kno_sim_log_len,
			   kno_sim_log_dropped,
			   offsetof(struct flow_offload,
				    tuplehash[FLOW_OFFLOAD_DIR_ORIGINAL].tuple),
			   offsetof(struct flow_offload,
				    tuplehash[FLOW_OFFLOAD_DIR_REPLY].tuple));
		return 0;
	}
	seq_printf(m, "%llu %lx\n", e->ns, e->cookie);
	return 0;
}

static const struct seq_operations kno_sim_log_seq_ops = {
	.start = kno_sim_log_seq_start,
	.next = kno_sim_log_seq_next,
	.stop = kno_sim_log_seq_stop,
	.show = kno_sim_log_seq_show,
};

static int kno_sim_log_open(struct inode *inode, struct file *file)
{
	return seq_open(file, &kno_sim_log_seq_ops);
}

const struct file_operations kno_sim_log_fops = {
	.owner = THIS_MODULE,
	.open = kno_sim_log_open,
	.read = seq_read,
	.write = kno_sim_log_write,
	.llseek = seq_lseek,
	.release = seq_release,
};
