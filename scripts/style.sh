#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Static checks of our kernel C code.
#
#   style.sh checkpatch          checkpatch.pl --strict (from linux-source-6.12)
#   style.sh sparse KVER...      sparse (C=2) of a full build, per kernel
#   style.sh w1 KVER...          W=1 build, per kernel
#
# A check passes only if it reports nothing about our files. Each prints
# "style: <check> <scope>: ok|FAIL" lines; the exit code is 1 on any FAIL.

set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tools=$top/build/tools

# Kernel C sources we own: the modules and the test-only modules.
sources() {
	cd "$top" && ls ./*.c include/*.h selftests/modules/*.c \
		selftests/modules/*.h 2>/dev/null | sed 's|^\./||'
}

checkpatch_pl() {
	local src=/usr/src/linux-source-6.12.tar.xz
	if [ ! -x "$tools/scripts/checkpatch.pl" ]; then
		[ -r "$src" ] || { echo "style: $src missing (apt-get install linux-source-6.12)" >&2; return 1; }
		mkdir -p "$tools"
		tar -xf "$src" -C "$tools" --strip-components=1 --wildcards \
			'linux-source-6.12/scripts/checkpatch.pl' \
			'linux-source-6.12/scripts/spelling.txt' \
			'linux-source-6.12/scripts/const_structs.checkpatch' || return 1
	fi
	echo "$tools/scripts/checkpatch.pl"
}

do_checkpatch() {
	local cp f out rc=0

	cp=$(checkpatch_pl) || return 1
	for f in $(sources); do
		out=$(cd "$top" && perl "$cp" --strict --no-tree --terse --show-types -f "$f" 2>&1 |
		      grep -v '^total: 0 errors, 0 warnings, 0 checks')
		if [ -n "$out" ]; then
			printf '%s\n' "$out" | sed 's/^/  /'
			echo "style: checkpatch $f: FAIL"
			rc=1
		fi
	done
	[ "$rc" = 0 ] && echo "style: checkpatch $(sources | wc -l) files: ok"
	return $rc
}

# Build everything once more in a scratch tree with extra checking and keep
# only diagnostics about our files.
do_build_check() {
	local what=$1 kver=$2 dir flags log ours rc

	dir=$top/build/$kver/$what
	case "$what" in
	sparse)	flags="C=2 CHECK=sparse" ;;
	w1)	flags="W=1" ;;
	esac
	rm -rf "$dir"
	mkdir -p "$dir/selftests"
	for f in Kbuild VERSION include $(cd "$top" && ls ./*.c | sed 's|^\./||'); do
		ln -sfn "$top/$f" "$dir/$f"
	done
	for f in "$top"/selftests/modules/*; do
		ln -sfn "$f" "$dir/selftests/$(basename "$f")"
	done
	log=$dir/build.log
	# shellcheck disable=SC2086
	make -j"$(nproc)" -C "/usr/src/linux-headers-$kver" M="$dir" $flags \
		KNO_VERSION=style modules > "$log" 2>&1
	rc=$?
	[ -r "$top/selftests/modules/Kbuild" ] &&
		make -j"$(nproc)" -C "/usr/src/linux-headers-$kver" M="$dir/selftests" \
			$flags modules >> "$log" 2>&1
	rc=$((rc | $?))
	ours=$(grep -E '(warning|error):' "$log" |
	       { grep -F "$dir/"; grep -E '^[a-z_]+\.[ch]:'; })
	if [ "$rc" != 0 ] || [ -n "$ours" ]; then
		printf '%s\n' "$ours" | sed 's/^/  /'
		[ "$rc" != 0 ] && tail -20 "$log" | sed 's/^/  /'
		echo "style: $what $kver: FAIL"
		return 1
	fi
	echo "style: $what $kver: ok"
}

cmd=${1:-}
shift
rc=0
case "$cmd" in
checkpatch)
	do_checkpatch || rc=1
	;;
sparse|w1)
	command -v sparse >/dev/null || [ "$cmd" = w1 ] ||
		{ echo "style: sparse missing (apt-get install sparse)"; exit 1; }
	for k in "$@"; do
		do_build_check "$cmd" "$k" || rc=1
	done
	;;
*)
	echo "usage: style.sh checkpatch | sparse KVER... | w1 KVER..." >&2
	exit 2
	;;
esac
exit $rc
