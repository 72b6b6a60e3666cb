#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Malformed nf_tables flowtable / flow_offload netlink messages.
#
# Runs build/tools/nft_malformed (selftests/netlink/nft_malformed.c) in a
# fresh namespace holding the dummy devices it needs. Its cases (one KTAP
# subtest each: the exact errno of every message the nft CLI would never
# send) are re-printed as subtests of this script. Then the kernel's state
# is checked around repeated runs of the whole case list:
#   - the refcounts of nf_tables, nf_flow_table, nf_flow_table_inet and
#     nft_flow_offload (/sys/module/*/refcnt) do not change,
#   - the kmalloc-* / kmalloc-cg-* / nf_conntrack slab caches do not grow
#     with the number of runs: a short series and two four times longer
#     ones are run, each measured after letting deferred frees finish; a
#     leak makes both long series grow by about four times the short one,
#     a one-off burst of unrelated allocations shows in one series only,
#   - `nft list ruleset` in the namespace is empty afterwards,
#   - deleting the namespace returns the refcounts to their earlier values,
#   - no kernel splat appeared.
#
# KNO_MALFORMED_ITERS="A B" sets the series lengths (default "3 12").
# KNO_MALFORMED_ARGS passes options to the tool; only to validate the test
# itself, e.g. "-k 6.12" on a 6.1 kernel must make the cases fail whose
# expected errno differs between the two series.
#
# kno-timeout: 900

. "$(dirname "$0")/lib.sh"

require_root
require_cmd nft ip

MODS="nf_tables nf_flow_table nf_flow_table_inet nft_flow_offload"
read -r ITER_A ITER_B <<<"${KNO_MALFORMED_ITERS:-3 12}"
TOOL_ARGS=${KNO_MALFORMED_ARGS:-}
# Over the long series a cache (or all of them together) may grow by this
# many objects before it counts as a leak. Measured noise after settling:
# within +-40 objects per cache on 6.1 and 6.12.
SLAB_SLACK=${KNO_SLAB_SLACK:-64}

# ------------------------------------------------------------ the tool ---

# find_tool: the prebuilt binary if it is up to date, else build one.
find_tool()
{
	local src=$KNO_TOP/selftests/netlink/nft_malformed.c
	local bin=$KNO_TOP/build/tools/nft_malformed

	if [ -x "$bin" ] && [ "$bin" -nt "$src" ]; then
		echo "$bin"
		return 0
	fi
	if make -s -C "$KNO_TOP/selftests/netlink" O="$KNO_TMP/tools" >&2; then
		echo "$KNO_TMP/tools/nft_malformed"
		return 0
	fi
	return 1
}

TOOL=$(find_tool)
if [ -z "$TOOL" ]; then
	echo "TAP version 13"
	echo "1..0 # SKIP cannot build selftests/netlink/nft_malformed (libmnl-dev, libnftnl-dev?)"
	exit $KSFT_SKIP
fi
NCASES=$("$TOOL" -c)
NSTATE=5
ktap_begin $((NCASES + NSTATE))

# -------------------------------------------------------------- state ---

refcounts()
{
	local m

	for m in $MODS; do
		if [ -r "/sys/module/$m/refcnt" ]; then
			printf '%s=%s ' "$m" "$(<"/sys/module/$m/refcnt")"
		else
			printf '%s=absent ' "$m"
		fi
	done
	echo
}

slab_caches()
{
	awk 'NR > 2 && ($1 ~ /^kmalloc-/ || $1 ~ /^nf_conntrack/) { print $1 }' /proc/slabinfo
}

slab_raw()
{
	awk 'NR > 2 && ($1 ~ /^kmalloc-/ || $1 ~ /^nf_conntrack/) { print $1, $2 }' /proc/slabinfo
}

slab_total()
{
	slab_raw | awk '{ s += $2 } END { print s + 0 }'
}

# slab_settled: push deferred frees out (the kfree_rcu shrinker runs on
# drop_caches; shrink flushes the per-CPU slabs so active counts are exact)
# and report whether the total stopped moving since the previous call.
_slab_prev=
slab_settled()
{
	local c cur

	echo 2 >/proc/sys/vm/drop_caches
	for c in $(slab_caches); do
		[ -w "/sys/kernel/slab/$c/shrink" ] && echo 1 >"/sys/kernel/slab/$c/shrink"
	done
	cur=$(slab_total)
	if [ -n "$_slab_prev" ] && [ $((cur - _slab_prev)) -le 8 ] &&
	   [ $((_slab_prev - cur)) -le 8 ]; then
		_slab_prev=
		return 0
	fi
	_slab_prev=$cur
	sleep 0.5
	return 1
}

# slab_snapshot FILE: per-cache active objects once things settled (20 s max)
slab_snapshot()
{
	_slab_prev=
	wait_for 20 slab_settled || ktap_comment "slab counts still moving after 20 s"
	slab_raw | LC_ALL=C sort -k1,1 >"$1"
}

# ------------------------------------------------------------- setup ---

DMESG0=$(dmesg | wc -l)
REF_PRE=$(refcounts)
setup_ns NS || ktap_bail "cannot create a namespace"
{
	for i in $(seq 0 299); do
		echo "link add kd$i type dummy"
	done
	echo "link add kdlongname12345 type dummy"
} | ip -n "$NS" -b - || ktap_bail "cannot create the dummy devices"

ktap_comment "tool: $TOOL, $NCASES cases, kernel $KNO_KVER"
impl_report

# ------------------------------------------- the cases, as subtests ---

out=$KNO_TMP/cases.out
# shellcheck disable=SC2086
ip netns exec "$NS" "$TOOL" $TOOL_ARGS >"$out" 2>&1
tool_rc=$?
seen=0
while IFS= read -r line; do
	case "$line" in
	"ok "* | "not ok "*)
		desc=${line#not ok }
		desc=${desc#ok }
		desc=${desc#* }
		seen=$((seen + 1))
		[ "$seen" -le "$NCASES" ] || continue
		if [ "${line#not ok }" != "$line" ]; then
			ktap_fail "$desc"
		elif [ "${desc%%# SKIP*}" != "$desc" ]; then
			d=${desc%%# SKIP*}
			ktap_skip "${d% }" "${desc#*# SKIP }"
		else
			ktap_pass "$desc"
		fi
		;;
	"#"*)
		echo "$line"
		;;
	"TAP version"* | 1..*)
		;;
	*)
		ktap_comment "$line"
		;;
	esac
done <"$out"
while [ "$seen" -lt "$NCASES" ]; do
	seen=$((seen + 1))
	ktap_fail "case $seen: no result (nft_malformed exited with $tool_rc)"
done
ktap_comment "nft_malformed exited with $tool_rc"

# -------------------------------------------------- state checks ---

# run_series N: the whole case list N times, quietly.
run_series()
{
	local o

	# shellcheck disable=SC2086
	o=$(ip netns exec "$NS" "$TOOL" $TOOL_ARGS -q -n "$1" 2>&1)
	echo "$o"
	grep -q ' 0 failed' <<<"$o"
}

S0=$KNO_TMP/slab0
S1=$KNO_TMP/slab1
S2=$KNO_TMP/slab2
S3=$KNO_TMP/slab3

slab_snapshot "$S0"
REF0=$(refcounts)
ktap_comment "refcounts before the series: $REF0"

t_series()
{
	local rc=0

	echo "series of $ITER_A:"
	run_series "$ITER_A" || rc=1
	slab_snapshot "$S1"
	REF1=$(refcounts)
	echo "series of $ITER_B:"
	run_series "$ITER_B" || rc=1
	slab_snapshot "$S2"
	REF2=$(refcounts)
	echo "series of $ITER_B again:"
	run_series "$ITER_B" || rc=1
	slab_snapshot "$S3"
	REF3=$(refcounts)
	echo "refcounts: $REF0"
	echo "after $ITER_A: $REF1"
	echo "after $ITER_B: $REF2"
	echo "after $ITER_B: $REF3"
	[ "$rc" = 0 ] || fail "a case failed in the series" || return
	[ "$REF0" = "$REF1" ] && [ "$REF0" = "$REF2" ] && [ "$REF0" = "$REF3" ] ||
		fail "module refcounts changed"
}
run_test "module refcounts unchanged over $ITER_A + 2 x $ITER_B runs of all cases" t_series

# leaks A B C: growth over the short series (A) and both long ones (B, C).
# A leak of k objects per run shows as about k*A, k*B and k*B again; noise
# does not scale, and a burst shows in one series only.
leaks()
{
	local b=$2 c=$3

	[ "$c" -lt "$b" ] && b=$c
	[ "$b" -gt "$SLAB_SLACK" ] && [ "$b" -gt $((2 * $1)) ]
}

# Growth per cache over the three series.
t_slab()
{
	local rc=0 name a b c ta=0 tb=0 tc=0

	[ -s "$S3" ] || fail "no slab snapshot" || return
	while read -r name a b c; do
		ta=$((ta + a))
		tb=$((tb + b))
		tc=$((tc + c))
		[ "$a" = 0 ] && [ "$b" = 0 ] && [ "$c" = 0 ] && continue
		echo "$name: $a over $ITER_A runs, $b and $c over $ITER_B runs"
		if leaks "$a" "$b" "$c"; then
			echo "FAIL: $name grows with the number of runs"
			rc=1
		fi
	done < <(LC_ALL=C join "$S0" "$S1" | LC_ALL=C join - "$S2" | LC_ALL=C join - "$S3" |
		awk '{ print $1, $3 - $2, $4 - $3, $5 - $4 }')
	echo "all these caches: $ta over $ITER_A runs, $tb and $tc over $ITER_B runs" \
		"(objects: $(awk '{ s += $2 } END { print s }' "$S0")" \
		"-> $(awk '{ s += $2 } END { print s }' "$S1")" \
		"-> $(awk '{ s += $2 } END { print s }' "$S2")" \
		"-> $(awk '{ s += $2 } END { print s }' "$S3"))"
	if leaks "$ta" "$tb" "$tc"; then
		echo "FAIL: the caches together grow with the number of runs"
		rc=1
	fi
	return $rc
}
run_test "slab caches (kmalloc-*, nf_conntrack) do not grow with the number of runs" t_slab

t_ruleset_empty()
{
	local r

	r=$(ip netns exec "$NS" nft list ruleset 2>&1)
	[ -z "$r" ] || { echo "$r"; fail "ruleset not empty"; }
}
run_test "nft list ruleset is empty afterwards" t_ruleset_empty

# Deleting the namespace must not change the refcounts either (nothing of
# ours was left in it), and they must match the values before the test when
# the modules were loaded then.
refs_back()
{
	[ "$(refcounts)" = "$REF0" ]
}

t_netns_gone()
{
	local now

	ip netns del "$NS" || return 1
	if ! wait_for 30 refs_back; then
		echo "before the test: $REF_PRE"
		echo "before the series: $REF0"
		echo "now: $(refcounts)"
		fail "refcounts differ after deleting the namespace"
		return
	fi
	now=$(refcounts)
	echo "after deleting the namespace: $now"
	case "$REF_PRE" in
	*absent*) echo "modules were not all loaded before the test: $REF_PRE" ;;
	*) [ "$REF_PRE" = "$now" ] || fail "refcounts differ from before the test: $REF_PRE" ;;
	esac
}
run_test "refcounts back after deleting the namespace" t_netns_gone

t_no_splat()
{
	local f=$KNO_TMP/dmesg.new

	dmesg | tail -n +$((DMESG0 + 1)) >"$f"
	"$KNO_TOP/scripts/splat-check.sh" "$f"
}
run_test "no kernel splat" t_no_splat

ktap_end
