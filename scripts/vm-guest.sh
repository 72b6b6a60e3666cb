#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# PID 1 inside the test VM, after the initramfs switched to the host root
# (read-only 9p with a tmpfs overlay). $1 is the writable output share, which
# holds job.sh (written by scripts/vm.sh). The job's exit code is written to
# $1/rc, the kernel log to $1/dmesg.log, then the VM powers off.

out=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
# bash process substitution needs /dev/fd
ln -sfn /proc/self/fd /dev/fd
ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout
ln -sfn /proc/self/fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mkdir -p /run/netns /var/run
ln -sfn /run /var/run 2>/dev/null
hostname kno-vm
ip link set lo up

# Kernel messages go to the console as they happen; keep them all, unless
# the console is meant for people (vm.sh -q). dmesg.log gets them anyway.
if grep -qw kno.quiet=1 /proc/cmdline; then
	echo 1 > /proc/sys/kernel/printk
else
	echo 8 > /proc/sys/kernel/printk
fi
# A hung job must not hang the VM forever; vm.sh also has a host timeout.
echo 120 > /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null

rc=1
if [ -r "$out/job.sh" ]; then
	(cd "$out" && setsid bash "$out/job.sh" < /dev/null)
	rc=$?
else
	echo "vm-guest: no job in $out"
fi

dmesg > "$out/dmesg.log" 2>&1
echo "$rc" > "$out/rc"
sync
echo "vm-guest: job exited with $rc"
# Power off, then wait without executing anything from the host root,
# which goes away underneath us.
mkfifo /run/vm-halt && exec 3<> /run/vm-halt
echo o > /proc/sysrq-trigger
read -r -t 120 -u 3 _
