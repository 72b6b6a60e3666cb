#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# usage: selftests/run.sh [-t SECONDS] [TEST...]
#
# Run selftest scripts and print their subtests as one flat KTAP list:
#   ok N <script>: <subtest>
# TEST is a script name (nft_flowtable_routed.sh, with or without .sh, or a
# path). Default: every selftests/*.sh except lib*.sh and run.sh, in this
# fixed order: the scripts named in ORDER below first (module autoload must
# see modules that are not loaded yet), then all others sorted by name.
#
# Each script runs with cwd selftests/, the caller's environment, and its own
# timeout: -t SECONDS or $KNO_TIMEOUT (default 600), overridden by a line
# "# kno-timeout: SECONDS" in the script itself. A script that times out,
# crashes, prints no plan or fewer results than planned is counted as a
# failure. A "# <script> ..." line is printed when each script starts; the
# script's own comments and any non-KTAP output are passed on as "# " lines.
#
# Ends with "# N passed, N failed, N skipped" (and the plan "1..N", which
# TAP allows at the end). Output is also written to $KNO_OUT/results.ktap
# when KNO_OUT is set. Exit: 1 if anything failed, 4 if everything was
# skipped, 0 otherwise.

set -u

ORDER=(
	nft_flowtable_modules.sh
	nft_flowtable_routed.sh
	nft_flowtable_nat.sh
	nft_flowtable_pmtu.sh
	nft_flowtable_counters.sh
	nft_flowtable_netdev.sh
	nft_flowtable_ipsec.sh
)

dir=$(cd "$(dirname "$0")" && pwd)

# The VM's devtmpfs has no /dev/fd; the process substitution below needs it.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd 2>/dev/null
deftimeout=${KNO_TIMEOUT:-600}

while getopts "t:h" opt; do
	case "$opt" in
	t) deftimeout=$OPTARG ;;
	*) sed -n '3,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))

results=
if [ -n "${KNO_OUT:-}" ] && [ -d "$KNO_OUT" ]; then
	results=$KNO_OUT/results.ktap
	: >"$results"
fi

emit()
{
	echo "$*"
	[ -n "$results" ] && echo "$*" >>"$results"
	return 0
}

is_test_script()
{
	case "$(basename "$1")" in
	lib*.sh | run.sh) return 1 ;;
	*.sh) [ -f "$1" ] ;;
	*) return 1 ;;
	esac
}

scripts=()
if [ $# -gt 0 ]; then
	for t in "$@"; do
		t=$(basename "$t")
		case "$t" in *.sh) ;; *) t=$t.sh ;; esac
		scripts+=("$t")
	done
else
	for t in "${ORDER[@]}"; do
		is_test_script "$dir/$t" && scripts+=("$t")
	done
	for f in "$dir"/*.sh; do
		t=$(basename "$f")
		is_test_script "$f" || continue
		case " ${ORDER[*]} " in *" $t "*) continue ;; esac
		scripts+=("$t")
	done
fi

n=0
npass=0
nfail=0
nskip=0

result()	# result ok|fail|skip DESC [REASON]
{
	n=$((n + 1))
	case "$1" in
	ok) npass=$((npass + 1)); emit "ok $n $2" ;;
	fail) nfail=$((nfail + 1)); emit "not ok $n $2" ;;
	skip) nskip=$((nskip + 1)); emit "ok $n $2 # SKIP ${3:-}" ;;
	esac
}

# cpu_forks: busy CPU time (jiffies at USER_HZ 100, all CPUs) and the
# number of forks since boot, from /proc/stat
cpu_forks()
{
	local key u n s irq sirq steal busy=0 forks=0

	# cpu user nice system idle iowait irq softirq steal ...
	while read -r key u n s _ _ irq sirq steal _; do
		case "$key" in
		cpu) busy=$((u + n + s + irq + sirq + steal)) ;;
		processes) forks=$u ;;
		esac
	done </proc/stat
	echo "$busy $forks"
}

script_timeout()
{
	local t

	t=$(sed -n 's/^# kno-timeout: *\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1)
	echo "${t:-$deftimeout}"
}

emit "TAP version 13"

for s in "${scripts[@]}"; do
	name=${s%.sh}
	if [ ! -f "$dir/$s" ]; then
		emit "# $s: no such test"
		result fail "$name: no such test script"
		continue
	fi
	t=$(script_timeout "$dir/$s")
	emit "# $s ... (timeout ${t}s)"
	start=$(date +%s)
	read -r cpu0 forks0 < <(cpu_forks)
	planned=-1
	seen=0
	sfail=0
	rc=
	while IFS= read -r line; do
		case "$line" in
		__KNO_RC=*)
			rc=${line#__KNO_RC=}
			;;
		"TAP version"*)
			;;
		1..*)
			planned=${line#1..}
			planned=${planned%% *}
			case "$line" in
			*"# SKIP"*)
				result skip "$name" "${line#*# SKIP }"
				planned=0
				;;
			esac
			;;
		"ok "*|"not ok "*)
			seen=$((seen + 1))
			desc=${line#not ok }
			desc=${desc#ok }
			desc=${desc#* }		# drop the number
			if [ "${line#not ok }" != "$line" ]; then
				sfail=$((sfail + 1))
				result fail "$name: $desc"
			elif [ "${desc%%# SKIP*}" != "$desc" ]; then
				reason=${desc#*# SKIP}
				desc=${desc%%# SKIP*}
				result skip "$name: ${desc% }" "${reason# }"
			else
				result ok "$name: $desc"
			fi
			;;
		"#"*)
			emit "$line"
			;;
		*)
			emit "# $line"
			;;
		esac
	done < <(cd "$dir" && timeout -k 10 "$t" bash "./$s" 2>&1 </dev/null; echo "__KNO_RC=$?")
	took=$(($(date +%s) - start))
	read -r cpu1 forks1 < <(cpu_forks)
	case "$rc" in
	124|137)
		result fail "$name: timed out after ${t}s"
		;;
	*)
		if [ "$planned" -lt 0 ]; then
			result fail "$name: no KTAP plan (exit code $rc)"
		elif [ "$seen" -lt "$planned" ]; then
			result fail "$name: only $seen of $planned subtests reported (exit code $rc)"
		elif [ "$rc" != 0 ] && [ "$rc" != 4 ] && [ "$sfail" = 0 ]; then
			result fail "$name: exit code $rc without a failed subtest"
		fi
		;;
	esac
	emit "# $s: exit code $rc, ${took}s, cpu busy $(((cpu1 - cpu0) / 100))s, $((forks1 - forks0)) forks"
done

emit "1..$n"
emit "# $npass passed, $nfail failed, $nskip skipped"
[ "$nfail" -gt 0 ] && exit 1
[ "$npass" = 0 ] && [ "$nskip" -gt 0 ] && exit 4
[ "$n" = 0 ] && exit 4
exit 0
