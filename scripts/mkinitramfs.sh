#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the tiny boot initramfs used by scripts/vm.sh for one kernel release.
#
# It holds a static busybox, the modules needed to mount the host root over
# virtio-9p (decompressed: busybox insmod cannot read .ko.xz) and an /init
# that mounts the host '/' read-only with a tmpfs overlay on top, mounts the
# writable output share and switch_roots into scripts/vm-guest.sh.
#
# usage: mkinitramfs.sh KVER OUTPUT.cpio.gz

set -euo pipefail

kver=${1:?usage: mkinitramfs.sh KVER OUTPUT}
out=${2:?usage: mkinitramfs.sh KVER OUTPUT}
moddir=/lib/modules/$kver
busybox=$(command -v busybox || true)

die() { echo "mkinitramfs: $*" >&2; exit 1; }

[ -d "$moddir" ] || die "no $moddir (install linux-image-$kver)"
[ -n "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' ||
	ldd "$busybox" 2>&1 | grep -q 'not a dynamic' ||
	die "$busybox is not static (apt-get install busybox-static)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work"/{bin,dev,proc,sys,mnt/lower,mnt/rw,newroot,lib/modules}
cp "$busybox" "$work/bin/busybox"
for app in sh mount umount mkdir insmod switch_root cat sleep echo poweroff; do
	ln -s busybox "$work/bin/$app"
done

# Resolve the load order of everything the 9p root needs; modules that are
# built in show up as "builtin" and are skipped.
: > "$work/modules.order"
for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -S "$kver" --show-depends "$m" 2>/dev/null |
		awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
	base=$(basename "$ko")
	base=${base%.xz}
	case "$ko" in
	*.xz) xz -dc "$ko" > "$work/lib/modules/$base" ;;
	*.zst) zstd -qdc "$ko" > "$work/lib/modules/$base" ;;
	*) cp "$ko" "$work/lib/modules/$base" ;;
	esac
	echo "$base" >> "$work/modules.order"
done

cat > "$work/init" <<'EOF'
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

fail() {
	echo "vm-init: $*"
	echo o > /proc/sysrq-trigger
	sleep 30
}

for m in $(cat /modules.order); do
	insmod /lib/modules/$m || fail "insmod $m failed"
done

guest=
out=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	kno.guest=*) guest=${arg#kno.guest=} ;;
	kno.out=*) out=${arg#kno.out=} ;;
	esac
done

opts=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o ro,$opts,cache=loose hostroot /mnt/lower ||
	fail "cannot mount the host root"
mount -t tmpfs -o size=70% tmpfs /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work \
	overlay /newroot || fail "cannot mount the overlay root"
mkdir -p "/newroot$out"
mount -t 9p -o rw,$opts hostout "/newroot$out" || fail "cannot mount $out"
umount /sys /proc
exec switch_root /newroot /bin/bash "$guest" "$out"
EOF
chmod +x "$work/init"

(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
mv "$out.tmp" "$out"
