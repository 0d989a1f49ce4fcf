#!/bin/sh
# Two small real kernels for the header-drift ground truth (issue 15; test/boot/drift-kernels-boot.test.ts).
# Both are built from Debian's linux-source-6.1 with one small config (tinyconfig plus modules,
# modversions and what a busybox initramfs boot under qemu needs), so every symbol CRC is
# equal; their sources differ only in the body of minmax_get() (include/linux/win_minmax.h),
# a static inline no CRC covers. Each is packaged by the kernel's own `make bindeb-pkg`
# (linux-image and linux-headers .debs, Debian's layout). Releases:
#   6.1.99-1-amd64    minmax_get() as upstream
#   6.1.99-1.1-amd64  minmax_get() returns 1000 more (same ABI: only the release differs)
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
mkdir -p "$work"
echo "drift-kernels: unpacking $(basename "$src_deb")" >&2
dpkg-deb --fsys-tarfile "$src_deb" | tar -xO --wildcards './usr/src/linux-source-6.1.tar.xz' | tar -xJ -C "$work"
mv "$work/linux-source-6.1" "$work/src-a"

# What the boot harness (test/boot/qemu-harness.ts) needs on top of tinyconfig: a 64-bit
# kernel with loadable, versioned modules, a gzip initramfs, ELF and script binaries, a
# serial console, /proc, /sys and devtmpfs. No BTF (pahole), no signing, no debug info.
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
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_TMPFS=y
CONFIG_MULTIUSER=y
CONFIG_FUTEX=y
CONFIG_POSIX_TIMERS=y
CONFIG_PCI=y
CONFIG_ACPI=y
CONFIG_LOCALVERSION_AUTO=n
CONFIG_MODULE_SIG=n
CONFIG_DEBUG_INFO_NONE=y
EOF

# The second source: hard links, but a file of its own where the inline differs.
cp -al "$work/src-a" "$work/src-b"
hdr=include/linux/win_minmax.h
rm "$work/src-b/$hdr"
sed 's/return m->s\[0\]\.v;/return m->s[0].v + 1000;/' "$work/src-a/$hdr" >"$work/src-b/$hdr"
if cmp -s "$work/src-a/$hdr" "$work/src-b/$hdr"; then
	echo "drift-kernels: $hdr: minmax_get() not found to change" >&2
	exit 3
fi

build() { # $1 = a|b, $2 = LOCALVERSION
	s="$work/src-$1"
	echo "drift-kernels: building 6.1.99$2 (log: $work/build-$1.log)" >&2
	(
		cd "$s"
		# SUBLEVEL 99: a release no Debian kernel has. The Makefile is a file of its own per tree.
		rm -f Makefile.tmp
		sed 's/^SUBLEVEL = .*/SUBLEVEL = 99/' Makefile >Makefile.tmp
		rm Makefile
		mv Makefile.tmp Makefile
		make -s tinyconfig >/dev/null
		scripts/kconfig/merge_config.sh -m .config "$work/drift.config" >/dev/null
		make -s olddefconfig >/dev/null
		# A fixed build stamp: the two kernels' headers then differ only where the release is.
		KBUILD_BUILD_TIMESTAMP='2026-01-01' KBUILD_BUILD_USER=dkms-abi KBUILD_BUILD_HOST=build \
			make -j"$(nproc)" LOCALVERSION="$2" KDEB_PKGVERSION="6.1.99-1" bindeb-pkg
	) >"$work/build-$1.log" 2>&1 || {
		tail -20 "$work/build-$1.log" >&2
		exit 3
	}
}
build a -1-amd64
build b -1.1-amd64

mkdir -p "$work/debs"
mv "$work"/linux-image-6.1.99-*.deb "$work"/linux-headers-6.1.99-*.deb "$work/debs/"
# The build trees are not needed once packaged: the .debs hold the kernels and their headers.
rm -rf "$work/src-a" "$work/src-b" "$work"/linux-libc-dev_*.deb "$work"/*.buildinfo "$work"/*.changes
rm -rf "$OUT"
mv "$work" "$OUT"
touch "$OUT/.complete"
echo "drift-kernels: done: $(ls "$OUT/debs")" >&2
