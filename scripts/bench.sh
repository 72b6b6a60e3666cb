#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench: forwarding benchmarks of our flowtable against the kernel's
# own (in-tree) modules and against plain conntrack + NAT, in one qemu VM
# boot per kernel (scripts/bench-guest.sh does the work inside the VM;
# Documentation/bench.rst describes what is measured).
#
#   bench.sh [-k "KVER..."] [-r ROUNDS] [-c "CONFIG..."] [-f "FLOWS..."]
#            [-d SECONDS] [-T SECONDS] [-C "CONFIG..."] [-M FLOWS]
#            [-S FLOWS] [-L FLOWS] [-P SECONDS] [-t VM_TIMEOUT] [-j]
#
#   -k  kernels (default: every supported kernel with headers installed,
#       one after another)
#   -r  interleaved rounds per configuration (default 5)
#   -c  configurations (default "classic intree ours hw-intree hw-ours")
#   -f  UDP flow counts (default "1 1000 65535"; hw-* up to 10000)
#   -d  seconds of pktgen traffic per UDP run (default 3)
#   -T  seconds of iperf3 per TCP run (default 5, 0 = none)
#   -C  configurations with a TCP run (default "classic intree ours")
#   -M  flows for the memory-per-flow and GC-cost figures (default 10000,
#       0 = none)
#   -S  hardware flows for the STATS-rate figure (default 1000, 0 = none)
#   -L  flows for the scale figures, our modules only: insert rate, slab
#       per flow, GC cost and expiry (default 1000000, 0 = none)
#   -P  profile every configuration with perf after the rounds: software
#       ones over SECONDS of 1-flow traffic, hw-* over a burst of 4000 new
#       flows (build/<release>/vm/bench/profile-CONFIG.txt; default 0 =
#       none)
#   -t  VM timeout in seconds (default 5400)
#   -j  run the kernels side by side (one VM per core) instead of one
#       after another; each VM then shares the host with the other
#
# The modules and the simulated NIC are (re)built first (make is
# incremental).
#
# The VM gets one vCPU and 3 GiB (a million flows take about 1 GiB). Per
# kernel it prints a table (median, min, max of the valid runs, ratios
# ours/intree and ours/classic) and writes it as JSON to
# build/<release>/bench.json; the raw runs stay in
# build/<release>/vm/bench/bench.tsv.

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

kvers=
gargs=()
vmtimeout=5400
par=0
while getopts "k:r:c:f:d:T:C:M:S:L:P:t:j" opt; do
	case "$opt" in
	k) kvers=$OPTARG ;;
	r|c|f|d|T|C|M|S|L|P) gargs+=("-$opt" "$OPTARG") ;;
	t) vmtimeout=$OPTARG ;;
	j) par=1 ;;
	*) sed -n '9,32p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done

[ -n "$kvers" ] || kvers=$(scripts/kernels.sh list)
[ -n "$kvers" ] || { echo "bench: no supported kernel headers installed (make deps)" >&2; exit 1; }

# qemu runs under TCG through scripts/vm.sh, which passes no extra qemu
# arguments (no -icount), so the guest clock is the host's wall clock.
TIMING="wall-clock TCG (qemu without -icount: scripts/vm.sh takes no extra qemu arguments); figures depend on host load"

# bench_one KVER: build, one VM, the report. Returns non-zero on failure.
bench_one()
{
	local k=$1 out start vrc rc=0

	make -s --no-print-directory KVER="$k" module selftest-modules >/dev/null ||
		{ echo "bench: build for $k failed" >&2; return 1; }
	out=$top/build/$k/vm/bench
	rm -rf "$out"
	mkdir -p "$out"
	echo "== bench $k: one VM, 1 vCPU, 3 GiB, timeout ${vmtimeout}s (timing: wall-clock TCG)"
	start=$(date +%s)
	scripts/vm.sh -k "$k" -i ours -c 1 -m 3072 -q -t "$vmtimeout" -o "$out" -- \
		scripts/bench-guest.sh "${gargs[@]}"
	vrc=$?
	echo "== VM for $k finished with $vrc after $(( $(date +%s) - start ))s (console: $out/console.log)"
	if [ ! -s "$out/bench.tsv" ]; then
		echo "bench: $k produced no results" >&2
		return 1
	fi
	[ "$vrc" = 0 ] || rc=1
	python3 scripts/bench-report.py --kernel "$k" --timing "$TIMING" \
		--modules "$out/bench.modules" --vm-rc "$vrc" \
		--json "$top/build/$k/bench.json" "$out/bench.tsv" || rc=1
	echo "JSON: build/$k/bench.json"
	return $rc
}

rc=0
declare -A pids
for k in $kvers; do
	k=$(scripts/kernels.sh resolve "$k") || { rc=1; continue; }
	if [ "$par" = 1 ]; then
		mkdir -p "build/$k"
		bench_one "$k" >"build/$k/bench.out" 2>&1 &
		pids[$k]=$!
	else
		bench_one "$k" || rc=1
	fi
done
for k in "${!pids[@]}"; do
	wait "${pids[$k]}" || rc=1
	cat "build/$k/bench.out"
done
exit $rc
