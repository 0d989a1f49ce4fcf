#!/bin/sh
# Installs the real tools dkms-abi's tests, demo and benchmarks use (Debian 12, as root), and
# builds the other platforms the tests run on: a Debian 13 chroot (dkms 3.2.2, Linux 6.12;
# scripts/trixie-chroot.sh), upstream dkms from Debian's newest source (scripts/dkms-upstream.sh),
# two small kernels of one ABI (scripts/drift-kernels.sh, ~15 min once) and a minimal trixie
# system with systemd for the booted-system test (scripts/system-image.sh).
# go-md2man writes the man page of the dkms-abi package (npm run deb), whose bash completion
# the package test runs with bash-completion.
# Idempotent: re-running only installs what is missing. Kernel images for boot tests are
# downloaded (not installed) into $DKMS_ABI_CACHE so the machine's /boot stays untouched.
set -eu

ABIS="${DKMS_ABI_TEST_KERNELS:-6.1.0-47-amd64 6.1.0-50-amd64}"
CACHE="${DKMS_ABI_CACHE:-/var/cache/dkms-abi}"

if [ "$(id -u)" -ne 0 ]; then
	echo "setup-system.sh: must run as root (it uses apt-get)" >&2
	exit 3
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq

set -- dkms kmod build-essential dpkg-dev fakeroot lintian qemu-system-x86 busybox-static cpio xz-utils zstd gzip \
	time hyperfine shellcheck dwarves mmdebstrap go-md2man bash-completion
for kver in $ABIS; do
	set -- "$@" "linux-headers-$kver"
done
# --no-install-recommends: dkms recommends the meta headers package, which would pull a third ABI.
apt-get install -y -qq --no-install-recommends "$@" >/dev/null

mkdir -p "$CACHE/debs" "$CACHE/images"
for kver in $ABIS; do
	dir="$CACHE/images/$kver"
	if [ ! -f "$dir/.complete" ]; then
		(cd "$CACHE/debs" && apt-get download -qq "linux-image-$kver" >/dev/null)
		for deb in "$CACHE/debs/linux-image-${kver}_"*.deb; do break; done
		rm -rf "$dir.tmp"
		dpkg-deb -x "$deb" "$dir.tmp"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
		touch "$dir/.complete"
	fi
done

# The corpus of real Debian DKMS packages the corpus tests take through dkms-abi's life cycle
# (test/helpers/corpus.ts): downloaded, never installed (their postinst would build on the host).
# What their builds need on the host: iptables-netflow's PRE_BUILD ./configure looks for the
# xtables headers with pkg-config, dahdi's Makefiles use gawk.
apt-get install -y -qq --no-install-recommends libxtables-dev pkg-config gawk >/dev/null
CORPUS="tp-smapi-dkms jool-dkms acpi-call-dkms iptables-netflow-dkms dahdi-dkms v4l2loopback-dkms bbswitch-dkms"
mkdir -p "$CACHE/dkms-debs"
for pkg in $CORPUS; do
	set -- "$CACHE/dkms-debs/${pkg}_"*.deb
	if [ ! -f "$1" ]; then
		# Download beside the cache and move in whole: an interrupted download leaves no .deb behind.
		rm -rf "$CACHE/dkms-debs/.partial"
		mkdir -p "$CACHE/dkms-debs/.partial"
		(cd "$CACHE/dkms-debs/.partial" && apt-get download -qq "$pkg" >/dev/null)
		mv "$CACHE/dkms-debs/.partial/"*.deb "$CACHE/dkms-debs/"
		rmdir "$CACHE/dkms-debs/.partial"
	fi
done

here=$(cd "$(dirname "$0")" && pwd)
DKMS_ABI_CACHE="$CACHE" sh "$here/trixie-chroot.sh" >/dev/null
DKMS_ABI_CACHE="$CACHE" sh "$here/dkms-upstream.sh" >/dev/null
# Two small real kernels of one ABI (header-drift ground truth, booted system test), and the
# minimal Debian 13 system with systemd that the booted system test installs them into.
DKMS_ABI_CACHE="$CACHE" sh "$here/drift-kernels.sh"
DKMS_ABI_CACHE="$CACHE" sh "$here/system-image.sh" >/dev/null

# Node dependencies of the project itself. "npm install" rather than "npm ci": this
# registry's lock files omit other platforms' optional packages (rollup's), which npm ci
# rejects as out of sync; install still follows the locked versions.
if [ -f package.json ]; then
	npm install --no-audit --no-fund --loglevel=error
fi
echo "setup-system.sh: done (kernels: $ABIS; Debian 13: $(tr '\n' ' ' <"$CACHE/trixie-chroot/.kernels")in $CACHE/trixie-chroot; upstream $(cat "$CACHE/dkms-upstream/VERSION"); images in $CACHE/images; drift kernels in $CACHE/drift-kernels; DKMS packages in $CACHE/dkms-debs)"
