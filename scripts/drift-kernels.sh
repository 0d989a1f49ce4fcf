#!/bin/sh
# Two small real kernels of one ABI, built at set-up from Debian's linux-source-6.1 with one
# small config, packaged by the kernel's own `make bindeb-pkg` (linux-image and linux-headers
# .debs, Debian's layout). Every symbol CRC is equal; their sources differ only in the body of
# minmax_get() (include/linux/win_minmax.h), a static inline no CRC covers.
#   6.1.99-1-amd64    minmax_get() as upstream
#   6.1.99-1.1-amd64  minmax_get() returns 1000 more
# Used by the header-drift ground truth (test/boot/drift-kernels-boot.test.ts: a busybox
# initramfs boot) and the booted Debian 13 system (test/boot/debian-system-boot.test.ts: systemd on an ext4
# virtio disk), so the config has what both need and nothing more.
# Cached in $DKMS_ABI_CACHE/drift-kernels; a finished build is not made again.
set -eu

CACHE="${DKMS_ABI_CACHE:-/var/cache/dkms-abi}"
OUT="$CACHE/drift-kernels"
[ -f "$OUT/.complete" ] && exit 0

export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends bc bison flex libelf-dev libssl-dev rsync kmod cpio >/dev/null

mkdir -p "$CACHE/debs"
set -- "$CACHE/debs/linux-source-6.1_"*.deb
if [ ! -f "$1" ]; then
	(cd "$CACHE/debs" && apt-get download -qq linux-source-6.1 >/dev/null)
	set -- "$CACHE/debs/linux-source-6.1_"*.deb
fi
src_deb="$1"

work="$OUT.tmp"
rm -rf "$work"
mkdir -p "$work/debs"
echo "drift-kernels: unpacking $(basename "$src_deb")" >&2
dpkg-deb --fsys-tarfile "$src_deb" | tar -xO --wildcards './usr/src/linux-source-6.1.tar.xz' | tar -xJ -C "$work"
mv "$work/linux-source-6.1" "$work/src"
# SUBLEVEL 99: a release no Debian kernel has.
sed -i 's/^SUBLEVEL = .*/SUBLEVEL = 99/' "$work/src/Makefile"

# On top of tinyconfig: loadable, versioned modules; a gzip initramfs, ELF and script
# binaries, a serial console, /proc, /sys, devtmpfs (the busybox boot harness); what systemd
# needs (unix sockets, cgroups, inotify, signalfd, timerfd, eventfd, epoll, fhandle) and an
# ext4 root on a virtio disk (the booted system). ACPI powers qemu off. No BTF, signing or
# debug info.
cat >"$work/drift.config" <<'EOF'
CONFIG_64BIT=y
CONFIG_MODULES=y
CONFIG_MODULE_UNLOAD=y
CONFIG_MODVERSIONS=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_PRINTK=y
CONFIG_TTY=y
CONFIG_UNIX98_PTYS=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_PROC_FS=y
CONFIG_PROC_SYSCTL=y
CONFIG_SYSFS=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_TMPFS=y
CONFIG_SHMEM=y
CONFIG_MULTIUSER=y
CONFIG_FUTEX=y
CONFIG_POSIX_TIMERS=y
CONFIG_FILE_LOCKING=y
CONFIG_NET=y
CONFIG_UNIX=y
CONFIG_CGROUPS=y
CONFIG_INOTIFY_USER=y
CONFIG_SIGNALFD=y
CONFIG_TIMERFD=y
CONFIG_EVENTFD=y
CONFIG_EPOLL=y
CONFIG_FHANDLE=y
CONFIG_AIO=y
CONFIG_ADVISE_SYSCALLS=y
CONFIG_MEMBARRIER=y
CONFIG_BLOCK=y
CONFIG_BLK_DEV=y
CONFIG_PCI=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
CONFIG_EXT4_FS=y
CONFIG_ACPI=y
CONFIG_LOCALVERSION_AUTO=n
CONFIG_MODULE_SIG=n
CONFIG_DEBUG_INFO_NONE=y
EOF
(
	cd "$work/src"
	make -s tinyconfig >/dev/null
	scripts/kconfig/merge_config.sh -m .config "$work/drift.config" >/dev/null
	make -s olddefconfig >/dev/null
)

build() { # $1 = LOCALVERSION
	echo "drift-kernels: building 6.1.99$1 (log: $work/build$1.log)" >&2
	# A fixed build stamp: the two kernels' headers then differ only where the release is.
	(cd "$work/src" && KBUILD_BUILD_TIMESTAMP='2026-01-01' KBUILD_BUILD_USER=dkms-abi KBUILD_BUILD_HOST=build \
		make -j"$(nproc)" LOCALVERSION="$1" KDEB_PKGVERSION="6.1.99-1" bindeb-pkg) >"$work/build$1.log" 2>&1 || {
		tail -20 "$work/build$1.log" >&2
		exit 3
	}
	mv "$work"/linux-image-6.1.99"$1"_*.deb "$work"/linux-headers-6.1.99"$1"_*.deb "$work/debs/"
}
build -1-amd64

# The second kernel: the same tree built again after the inline's body changed (kbuild
# rebuilds what includes it, and what carries the release).
hdr="$work/src/include/linux/win_minmax.h"
sed 's/return m->s\[0\]\.v;/return m->s[0].v + 1000;/' "$hdr" >"$hdr.new"
if cmp -s "$hdr" "$hdr.new"; then
	echo "drift-kernels: $hdr: minmax_get() not found to change" >&2
	exit 3
fi
mv "$hdr.new" "$hdr"
build -1.1-amd64

# The build tree is not needed once packaged: the .debs hold the kernels and their headers.
rm -rf "$work/src" "$work"/linux-libc-dev_*.deb "$work"/*.buildinfo "$work"/*.changes
rm -rf "$OUT"
mv "$work" "$OUT"
touch "$OUT/.complete"
echo "drift-kernels: done: $(ls "$OUT/debs")" >&2
