#!/bin/sh
# Builds (once) a Debian 13 "trixie" chroot for dkms-abi's tests: dkms 3.2.2, Linux 6.12
# headers (the newest two ABIs trixie's archive offers, security updates included), gcc, make,
# pahole, kmod, nodejs. Built with mmdebstrap from Debian's archive; the host's apt sources are
# never touched. Reusable on its own: prints the chroot's path and writes the chosen kernel
# releases, one a line, to <chroot>/.kernels. Their kernel packages (which the headers depend on)
# are installed in the chroot too; their files are also laid out, as `dpkg-deb -x` would, under
# $DKMS_ABI_CACHE/images/<kver>/ for the boot tests.
#   sh scripts/trixie-chroot.sh            (as root; DKMS_ABI_CACHE, default /var/cache/dkms-abi)
# Re-running does nothing once <chroot>/.complete exists and names the same package set; delete
# the chroot to rebuild it (e.g. to pick up a newer 6.12 ABI).
set -eu

CACHE="${DKMS_ABI_CACHE:-/var/cache/dkms-abi}"
CHROOT="$CACHE/trixie-chroot"
MIRROR="${DKMS_ABI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${DKMS_ABI_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# How many 6.12 ABIs to install (the archive's newest first).
ABI_COUNT="${DKMS_ABI_TRIXIE_ABIS:-2}"
PACKAGES="dkms,gcc,make,libc6-dev,dwarves,kmod,nodejs,xz-utils,zstd,gzip,openssl,procps"
STAMP="packages=$PACKAGES abis=$ABI_COUNT"

if [ "$(id -u)" -ne 0 ]; then
	echo "trixie-chroot.sh: must run as root (mmdebstrap, chroot)" >&2
	exit 3
fi
# The kernel packages' files, hard-linked from the chroot, at images/<kver>/ (boot/vmlinuz-<kver>,
# lib/modules/<kver>/kernel/…): what `dpkg-deb -x` of the package gives, without a download.
export_images() {
	mkdir -p "$CACHE/images"
	while read -r kver; do
		dir="$CACHE/images/$kver"
		[ ! -f "$dir/.complete" ] || continue
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp"
		chroot "$CHROOT" dpkg-query -L "linux-image-$kver" | sed 's|^/||' |
			(cd "$CHROOT" && cpio -pdlm --quiet "$dir.tmp")
		# Debian 13 merged /usr: give the tree the /lib of the older images too.
		[ -e "$dir.tmp/lib" ] || ln -s usr/lib "$dir.tmp/lib"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
		touch "$dir/.complete"
	done <"$CHROOT/.kernels"
}

if [ -f "$CHROOT/.complete" ] && [ "$(cat "$CHROOT/.complete")" = "$STAMP" ]; then
	export_images
	echo "$CHROOT"
	exit 0
fi
command -v mmdebstrap >/dev/null || {
	echo "trixie-chroot.sh: mmdebstrap missing (apt-get install mmdebstrap)" >&2
	exit 3
}

mkdir -p "$CACHE"
rm -rf "$CHROOT.tmp"
# The headers are chosen inside the chroot, from its own apt lists: the newest $ABI_COUNT
# linux-headers-6.12.*-amd64 packages of trixie and trixie-security. --no-install-recommends:
# dkms recommends the meta headers package, which would pull whatever ABI is newest again.
# INITRD=No: the kernel packages' hooks make no initramfs (the boot tests make their own).
# shellcheck disable=SC2016 # $1 is mmdebstrap's hook argument, expanded by its shell.
mmdebstrap --quiet --variant=apt --include="$PACKAGES" \
	--customize-hook='chroot "$1" sh -c '"'"'
		set -eu
		kvers=$(apt-cache search --names-only "^linux-headers-6\.12\.[0-9]+(\+[a-z0-9.~+]+)?-amd64$" |
			sed "s/^linux-headers-\([^ ]*\) .*/\1/" | sort -V | tail -n '"$ABI_COUNT"')
		[ -n "$kvers" ] || { echo "no linux-headers-6.12.*-amd64 in trixie" >&2; exit 3; }
		pkgs=""
		for k in $kvers; do pkgs="$pkgs linux-headers-$k"; done
		DEBIAN_FRONTEND=noninteractive INITRD=No apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
		printf "%s\n" $kvers >/.kernels
	'"'" \
	trixie "$CHROOT.tmp" \
	"deb $MIRROR trixie main" \
	"deb $MIRROR trixie-updates main" \
	"deb $SECURITY_MIRROR trixie-security main"

rm -rf "$CHROOT"
mv "$CHROOT.tmp" "$CHROOT"
echo "$STAMP" >"$CHROOT/.complete"
export_images
echo "$CHROOT"
