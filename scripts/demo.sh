#!/bin/sh
# dkms-abi demo, in a sandbox root (nothing outside it is touched):
#  1. kernel A (6.1.0-47-amd64, with headers): build and install the bundled examples;
#  2. kernel B, a rebuilt package of the same ABI, installed as Debian's linux-image package
#     installs it: vmlinuz, config and in-tree modules, no headers and no Module.symvers
#     (dkms-abi reads the exports from the image): every module becomes installed-abi, no
#     compiler runs;
#  3. kernel C (6.1.0-50-amd64, another ABI): the modules are rebuilt for it;
#  4. status from dkms-abi, and from stock dkms on the same trees.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
dkms_abi() { node "$here/bin/dkms-abi" --root "$root" "$@"; }
A=6.1.0-47-amd64
B=6.1.0-47.1-amd64
C=6.1.0-50-amd64

root=$(mktemp -d "${TMPDIR:-/tmp}/dkms-abi-demo.XXXXXX")
echo "== sandbox root: $root"
mkdir -p "$root/var/lib/dkms" "$root/usr/src" "$root/usr/lib" "$root/etc" "$root/boot" "$root/tmp"
cp /etc/os-release "$root/etc/os-release"
cp -al /usr/lib/linux-kbuild-6.1 "$root/usr/lib/"
for k in $A $C; do
	mkdir -p "$root/lib/modules/$k"
	cp -al "/usr/src/linux-headers-$k" "$root/usr/src/"
	ln -s "/usr/src/linux-headers-$k" "$root/lib/modules/$k/build"
	cp "/usr/src/linux-headers-$k/.config" "$root/boot/config-$k"
done
for m in hello-abi abi-provider abi-consumer blobdrv; do
	cp -r "$here/examples/$m" "$root/usr/src/$m-1.0"
done

echo "== kernel A: $A — build and install the examples"
for m in hello-abi abi-provider abi-consumer blobdrv; do dkms_abi add "$m/1.0"; done
dkms_abi kernel add $A

echo "== kernel B: $B — same ABI, no headers, no compiler needed"
image=${DKMS_ABI_CACHE:-/var/cache/dkms-abi}/images/$A
mkdir -p "$root/lib/modules/$B"
# Hard links when the sandbox shares the cache's file system, copies otherwise.
cp -al "$image/lib/modules/$A/kernel" "$image/lib/modules/$A/modules.order" "$root/lib/modules/$B/" 2>/dev/null ||
	cp -a "$image/lib/modules/$A/kernel" "$image/lib/modules/$A/modules.order" "$root/lib/modules/$B/"
cp -al "$image/boot/vmlinuz-$A" "$root/boot/vmlinuz-$B" 2>/dev/null || cp -a "$image/boot/vmlinuz-$A" "$root/boot/vmlinuz-$B"
sed "s/$A/$B/g" "$root/boot/config-$A" >"$root/boot/config-$B"
dkms_abi kernel add $B

echo "== kernel C: $C — another ABI: rebuilt"
dkms_abi kernel add $C

echo "== dkms-abi kernel list"
dkms_abi kernel list
echo "== dkms-abi status"
dkms_abi status
echo "== stock dkms status on the same trees"
dkms status --dkmstree "$root/var/lib/dkms" --sourcetree "$root/usr/src" --installtree "$root/lib/modules"
echo "== the shared trees"
ls -l "$root/lib/modules"
echo "== done; remove the sandbox with: rm -rf $root"
