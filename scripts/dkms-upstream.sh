#!/bin/sh
# Builds (once) upstream dkms, the newest version Debian's archive has the source of, into
# $DKMS_ABI_CACHE/dkms-upstream (bin: usr/sbin/dkms; VERSION names it). Never installed over
# the system's dkms: tests choose it with DKMS_ABI_DKMS=<prefix>/usr/sbin/dkms.
# The source is Debian's orig tarball (upstream's release, no Debian patches), found through
# a private apt configuration (deb-src lines of sid and experimental) under
# $DKMS_ABI_CACHE/apt-src: the host's apt sources stay as they are. Its SHA-256 comes from the
# signed Sources index. CI reaches Debian's archive, not upstream's git host.
#   sh scripts/dkms-upstream.sh        (root not needed; prints the dkms path)
set -eu

CACHE="${DKMS_ABI_CACHE:-/var/cache/dkms-abi}"
PREFIX="$CACHE/dkms-upstream"
APT="$CACHE/apt-src"
MIRROR="${DKMS_ABI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ -f "$PREFIX/.complete" ] && [ -x "$PREFIX/usr/sbin/dkms" ]; then
	echo "$PREFIX/usr/sbin/dkms"
	exit 0
fi

mkdir -p "$APT/lists/partial" "$APT/src"
printf 'deb-src %s %s main\n' "$MIRROR" sid "$MIRROR" experimental >"$APT/sources.list"
apt_private() {
	"$@" -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$APT/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
		-o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root
}
apt_private apt-get -qq update

# The newest dkms source version any of those suites has.
version=$(apt_private apt-cache showsrc dkms | sed -n 's/^Version: //p' | sort -V | tail -n 1)
[ -n "$version" ] || {
	echo "dkms-upstream.sh: no dkms source in Debian's sid or experimental" >&2
	exit 3
}
# 'URI' name size SHA256:hash — only the orig tarball: upstream's code as released.
line=$(apt_private apt-get source -qq --print-uris "dkms=$version" | grep "\.orig\.tar\." | head -n 1)
uri=$(echo "$line" | cut -d"'" -f2)
name=$(echo "$line" | cut -d' ' -f2)
hash=$(echo "$line" | cut -d' ' -f4)
if [ -z "$uri" ] || [ -z "$hash" ]; then
	echo "dkms-upstream.sh: no orig tarball for dkms $version" >&2
	exit 3
fi
if [ ! -f "$APT/src/$name" ]; then
	/usr/lib/apt/apt-helper -qq -o APT::Sandbox::User=root download-file "$uri" "$APT/src/$name.tmp" "$hash"
	mv "$APT/src/$name.tmp" "$APT/src/$name"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dkms-upstream.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xf "$APT/src/$name" -C "$work"
src=$(find "$work" -mindepth 2 -maxdepth 2 -name dkms.in -printf '%h\n' | head -n 1)
# Only the dkms script: its paths (/usr/lib/dkms, /etc/kernel) stay the stock ones, unused by
# dkms-abi's tests, which give dkms its trees on the command line.
make -s -C "$src" dkms
rm -rf "$PREFIX.tmp"
install -D -m 0755 "$src/dkms" "$PREFIX.tmp/usr/sbin/dkms"
"$PREFIX.tmp/usr/sbin/dkms" --version >"$PREFIX.tmp/VERSION"
echo "debian-source=$version" >"$PREFIX.tmp/.complete"
rm -rf "$PREFIX"
mv "$PREFIX.tmp" "$PREFIX"
echo "$PREFIX/usr/sbin/dkms"
