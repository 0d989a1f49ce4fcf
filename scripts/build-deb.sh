#!/bin/sh
# npm run deb [-- -o DIR]: the dkms-abi package, dkms-abi_<version>_all.deb, from the bundle
# that `npm run build` wrote to dist/. Version, maintainer and date come from
# packaging/changelog, whose upstream version must be package.json's. Built with dpkg-deb
# (no debian/ source package): every file and maintainer script is listed here. The same
# tree gives the same bytes (file times are the changelog's date).
# Needs: node, dpkg-deb, dpkg-parsechangelog (dpkg-dev), go-md2man, gzip.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo
while [ $# -gt 0 ]; do
	case "$1" in
		-o | --output)
			[ $# -ge 2 ] || { echo "build-deb.sh: $1 needs a directory" >&2; exit 2; }
			out=$2
			shift 2
			;;
		*)
			echo "build-deb.sh: unknown argument '$1' (usage: build-deb.sh [-o DIR])" >&2
			exit 2
			;;
	esac
done

for tool in node dpkg-deb dpkg-parsechangelog go-md2man gzip; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "build-deb.sh: $tool is missing (bash scripts/setup-system.sh installs it)" >&2
		exit 3
	}
done
[ -f "$repo/dist/cli.mjs" ] || { echo "build-deb.sh: dist/cli.mjs is missing: run npm run build" >&2; exit 3; }

pkg=$repo/packaging
changelog=$pkg/changelog
upstream=$(node -p "require(process.argv[1]).version" "$repo/package.json")
version=$(dpkg-parsechangelog -l "$changelog" -S Version)
maintainer=$(dpkg-parsechangelog -l "$changelog" -S Maintainer)
epoch=$(dpkg-parsechangelog -l "$changelog" -S Timestamp)
if [ "${version%-*}" != "$upstream" ]; then
	echo "build-deb.sh: $changelog: top entry is $version but package.json says $upstream: add an entry" >&2
	exit 2
fi
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$epoch}
export SOURCE_DATE_EPOCH

stage=$(mktemp -d "${TMPDIR:-/tmp}/dkms-abi-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
umask 022

# file SOURCE DEST MODE: one file of the package.
file() {
	mkdir -p "$(dirname "$root/$2")"
	cp "$1" "$root/$2"
	chmod "$3" "$root/$2"
}

# The program: the bundle, its entry, and the hooks/ that setup-hooks copies into other roots.
lib=usr/lib/dkms-abi
file "$repo/dist/cli.mjs" "$lib/dist/cli.mjs" 0644
for chunk in "$repo"/dist/chunks/*.mjs; do
	file "$chunk" "$lib/dist/chunks/${chunk##*/}" 0644
done
mkdir -p "$root/$lib/bin"
# Debian's node is /usr/bin/node: name it rather than asking env. `.mjs`: no package.json says
# "type": "module" here, and node takes the format from the link's target.
sed '1s|^#!.*|#!/usr/bin/node|' "$repo/bin/dkms-abi" >"$root/$lib/bin/dkms-abi.mjs"
chmod 0755 "$root/$lib/bin/dkms-abi.mjs"
for hook in kernel-preinst kernel-postinst kernel-prerm header-postinst kernel-install.install; do
	file "$repo/hooks/$hook" "$lib/hooks/$hook" 0755
done
for conf in dkms-abi.service depmod.conf; do
	file "$repo/hooks/$conf" "$lib/hooks/$conf" 0644
done
mkdir -p "$root/usr/sbin"
ln -s ../lib/dkms-abi/bin/dkms-abi.mjs "$root/usr/sbin/dkms-abi"

# What setup-hooks installs, installed by the package itself: the kernel hooks and the depmod
# order at the same paths (conffiles), the kernel-install plugin and the boot unit where
# packages put them (an admin's copy in /etc/kernel/install.d or /etc/systemd/system wins).
file "$repo/hooks/kernel-preinst" etc/kernel/preinst.d/05dkms-abi 0755
file "$repo/hooks/kernel-postinst" etc/kernel/postinst.d/05dkms-abi 0755
file "$repo/hooks/kernel-prerm" etc/kernel/prerm.d/05dkms-abi 0755
file "$repo/hooks/header-postinst" etc/kernel/header_postinst.d/05dkms-abi 0755
file "$repo/hooks/depmod.conf" etc/depmod.d/dkms-abi.conf 0644
file "$repo/hooks/kernel-install.install" usr/lib/kernel/install.d/40-dkms-abi.install 0755
file "$repo/hooks/dkms-abi.service" usr/lib/systemd/system/dkms-abi.service 0644

# Documentation: the man page from its markdown source, completion, copyright, changelog.
month=$(date -u -d "@$SOURCE_DATE_EPOCH" '+%B %Y')
sed -e "1s|@DATE@|$month|" -e "1s|@VERSION@|$upstream|" "$repo/docs/dkms-abi.8.md" >"$stage/dkms-abi.8.md"
mkdir -p "$root/usr/share/man/man8"
go-md2man -in "$stage/dkms-abi.8.md" -out "$stage/dkms-abi.8"
gzip -9n <"$stage/dkms-abi.8" >"$root/usr/share/man/man8/dkms-abi.8.gz"
file "$pkg/dkms-abi.bash-completion" usr/share/bash-completion/completions/dkms-abi 0644
file "$pkg/copyright" usr/share/doc/dkms-abi/copyright 0644
file "$pkg/lintian-overrides" usr/share/lintian/overrides/dkms-abi 0644
gzip -9n <"$changelog" >"$root/usr/share/doc/dkms-abi/changelog.Debian.gz"
# The user documentation the man page points to (boot-tests.md is for developers).
for doc in README.md docs/configuration.md docs/packaging.md docs/safety.md docs/verdicts.md; do
	file "$repo/$doc" "usr/share/doc/dkms-abi/${doc##*/}" 0644
done
chmod 0644 "$root/usr/share/doc/dkms-abi/changelog.Debian.gz"

# Control area.
mkdir -p "$root/DEBIAN"
for script in postinst prerm postrm; do
	file "$pkg/$script" "DEBIAN/$script" 0755
done
(cd "$root" && find etc -type f | sort | sed 's|^|/|') >"$root/DEBIAN/conffiles"
# md5sums of everything but the conffiles (dpkg tracks those itself), as dh_md5sums writes it.
(cd "$root" && find usr -type f | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
size=$(du -k -s --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@INSTALLED_SIZE@|$size|" \
	"$pkg/control" >"$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$out"
deb=$(cd "$out" && pwd)/dkms-abi_${version}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
