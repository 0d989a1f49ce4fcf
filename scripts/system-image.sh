#!/bin/sh
# Builds (once) a minimal Debian 13 "trixie" system for the booted-system test
# (test/boot/debian-system-boot.test.ts): systemd as init, dkms 3.2, nodejs, gcc, make, kmod.
# No kernel: the test installs the two small kernels of scripts/drift-kernels.sh from a local
# repository, then boots the tree as an ext4 virtio disk under qemu. Built with mmdebstrap from
# Debian's archive; the host's apt sources are never touched. Prints the tree's path.
#   sh scripts/system-image.sh   (as root; DKMS_ABI_CACHE, default /var/cache/dkms-abi)
set -eu

CACHE="${DKMS_ABI_CACHE:-/var/cache/dkms-abi}"
IMAGE="$CACHE/system-image"
MIRROR="${DKMS_ABI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="systemd,systemd-sysv,udev,dkms,gcc,make,libc6-dev,kmod,nodejs,xz-utils,zstd,gzip,openssl,procps,libelf1"
STAMP="packages=$PACKAGES"

if [ -f "$IMAGE/.complete" ] && [ "$(cat "$IMAGE/.complete")" = "$STAMP" ]; then
	echo "$IMAGE"
	exit 0
fi
rm -rf "$IMAGE.tmp"
# No recommends: dkms would pull the meta headers package of Debian's kernel.
# shellcheck disable=SC2016 # $1 is mmdebstrap's hook argument, expanded by its shell.
mmdebstrap --quiet --variant=apt --include="$PACKAGES" \
	--customize-hook='echo dkms-abi-test >"$1/etc/hostname"' \
	trixie "$IMAGE.tmp" "deb $MIRROR trixie main"
rm -rf "$IMAGE"
mv "$IMAGE.tmp" "$IMAGE"
echo "$STAMP" >"$IMAGE/.complete"
echo "$IMAGE"
