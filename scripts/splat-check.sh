#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Fail (exit 1) if any of the given console/dmesg logs holds a kernel splat:
# WARNING, BUG, Oops, KASAN/UBSAN/KFENCE reports, lockdep reports, RCU stalls,
# soft/hard lockups, hung tasks, refcount or list corruption, or a panic.
# Prints every offending line.

pattern='WARNING:|BUG:|Oops|KASAN|UBSAN|KFENCE|kmemleak|lockdep|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|detected stalls? on|self-detected stall|soft lockup|hard LOCKUP|blocked for more than|refcount_t:|list_(add|del) corruption|general protection fault|Kernel panic|Call Trace:|cut here'

rc=0
for f in "$@"; do
	[ -r "$f" ] || continue
	hits=$(grep -a -n -E "$pattern" "$f") || continue
	printf '%s\n' "$hits" | sed "s|^|splat: $(basename "$f"):|"
	rc=1
done
exit $rc
