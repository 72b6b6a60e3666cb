#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: everything that proves the package, in one run.
#
#   check.sh [-k "KVER..."] [-i ours|intree] [-t "TEST..."] [-H] [-V]
#
#   -k  kernels (default: every supported kernel with headers installed)
#   -i  implementation under test: ours (default) or intree (the reference)
#   -t  only these selftests/ scripts (default: all)
#   -H  host checks only;  -V  VM tests only
#
# Steps: install missing Debian packages, build for every kernel, then the
# selftest suite in one VM per kernel while the host checks (ABI/CRC,
# checkpatch --strict, sparse C=2, W=1) run beside it. Every host check
# and every subtest counts; a kernel splat in a VM console is a failure of
# its own. The last line is "N passed, N failed, N skipped"; the exit code
# is 1 on any failure.

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

kvers=
impl=ours
tests=
host=1
vm=1
while getopts "k:i:t:HV" opt; do
	case "$opt" in
	k) kvers=$OPTARG ;;
	i) impl=$OPTARG ;;
	t) tests=$OPTARG ;;
	H) vm=0 ;;
	V) host=0 ;;
	*) sed -n '5,13p' "$0" >&2; exit 2 ;;
	esac
done

pass=0
fail=0
skip=0
n=0
start=$(date +%s)

result() {	# result ok|fail|skip "name" ["reason"]
	n=$((n + 1))
	case "$1" in
	ok)	pass=$((pass + 1)); echo "ok $n $2" ;;
	fail)	fail=$((fail + 1)); echo "not ok $n $2" ;;
	skip)	skip=$((skip + 1)); echo "ok $n $2 # SKIP ${3:-}" ;;
	esac
}

# Run a host check, show its output indented, record the verdict.
host_check() {	# host_check "name" cmd...
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/# /'
	if [ "$rc" = 0 ]; then result ok "$name"; else result fail "$name"; fi
}

finish() {
	echo "# make check took $(( $(date +%s) - start ))s"
	echo "$pass passed, $fail failed, $skip skipped"
	[ "$fail" = 0 ]
	exit $?
}

echo "TAP version 13"
if ! scripts/deps.sh | sed 's/^/# /'; then
	result fail "deps: install missing Debian packages"
	finish
fi

[ -n "$kvers" ] || kvers=$(scripts/kernels.sh list | tr "\n" " ")
kvers=${kvers% }
if [ -z "$kvers" ]; then
	result fail "kernels: no supported kernel headers installed"
	finish
fi
echo "# kernels: $kvers; implementation: $impl"

for k in $kvers; do
	host_check "build $k: modules, test modules, test tools" \
		make -s --no-print-directory KVER="$k" module selftest-modules selftest-tools
done

# Host checks: ABI/CRC, checkpatch, sparse and W=1 (separate build dirs
# under build/KVER/, so they never touch what a VM installs). They run
# while the VMs do, at nice 19: a TCG guest waiting on a timer leaves its
# core idle, and these fill it.
host_checks() {
	[ "$host" = 1 ] || return 0
	for k in $kvers; do
		host_check "abi $k: exports and modversion CRCs match the kernel's nf_flow_table" \
			scripts/check-abi.sh "$k"
	done
	host_check "style: checkpatch --strict" nice -n 19 scripts/style.sh checkpatch
	for k in $kvers; do
		host_check "style $k: sparse C=2" nice -n 19 scripts/style.sh sparse "$k"
		host_check "style $k: W=1" nice -n 19 scripts/style.sh w1 "$k"
	done
}

if [ "$vm" = 0 ]; then
	host_checks
	finish
fi

# One VM per kernel. With KNO_JOBS=2 (default on 2+ CPUs) the kernels run
# side by side, one vCPU each; their progress lines are prefixed with the
# kernel release. Results are tallied per kernel afterwards.
jobs=${KNO_JOBS:-$(( $(nproc) >= 2 ? 2 : 1 ))}
ncpu=2
[ "$jobs" -gt 1 ] && ncpu=1
declare -A vmpid
for k in $kvers; do
	out=$top/build/$k/vm/check-$impl
	rm -rf "$out"
	mkdir -p "$out"
	echo "# VM $k ($impl, ${ncpu} vCPU): selftests/run.sh ${tests:-(all)}"
	# shellcheck disable=SC2086
	( scripts/vm.sh -k "$k" -i "$impl" -c "$ncpu" -t "${KNO_VM_TIMEOUT:-4200}" \
		-o "$out" -- selftests/run.sh $tests | sed -u "s/^/# [$k] /"
	  echo "${PIPESTATUS[0]}" > "$out/vm.rc" ) &
	vmpid[$k]=$!
	[ "$jobs" -gt 1 ] || { host_checks; host=0; wait "${vmpid[$k]}"; }
done
host_checks
wait

for k in $kvers; do
	out=$top/build/$k/vm/check-$impl
	vmrc=$(cat "$out/vm.rc" 2>/dev/null || echo 1)
	if [ -r "$out/results.ktap" ]; then
		while IFS= read -r line; do
			case "$line" in
			"not ok "*)
				result fail "$k: ${line#not ok * }" ;;
			"ok "*"# SKIP"*)
				name=${line#ok * }
				result skip "$k: ${name%% # SKIP*}" "${name#*# SKIP }" ;;
			"ok "*)
				result ok "$k: ${line#ok * }" ;;
			esac
		done < <(sed 's/^ok [0-9]* /ok x /; s/^not ok [0-9]* /not ok x /' "$out/results.ktap")
	else
		result fail "$k: test suite produced no results (see $out/console.log)"
	fi

	if scripts/splat-check.sh "$out/console.log" "$out/dmesg.log" > "$out/splat.txt"; then
		result ok "$k: VM console free of kernel splats"
	else
		sed 's/^/# /' "$out/splat.txt" | head -20
		result fail "$k: VM console free of kernel splats"
	fi
	if [ "$vmrc" != 0 ] && ! grep -q '^not ok' "$out/results.ktap" 2>/dev/null; then
		result fail "$k: VM run exited with $vmrc (see $out/console.log)"
	fi
done

finish
