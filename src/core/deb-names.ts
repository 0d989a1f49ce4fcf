// Debian names for a module packaged once per kernel ABI: package name (policy §5.6.1),
// version (§5.6.12), architecture (dpkg's names, not uname's) and the .deb file name.
// A package name carries module and ABI, so packages for several ABIs co-install.
import type { AbiId } from './abi-id.js';

/** `uname -m` (what DKMS and dkms-abi call the arch) → dpkg architecture. */
const DEB_ARCH: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  i386: 'i386',
  i486: 'i386',
  i586: 'i386',
  i686: 'i386',
  aarch64: 'arm64',
  armv7l: 'armhf',
  armv6l: 'armel',
  armv5tel: 'armel',
  ppc64le: 'ppc64el',
  ppc64: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  loongarch64: 'loong64',
  mips64: 'mips64el',
  mips: 'mipsel',
};

export function debianArch(unameArch: string): string | undefined {
  return DEB_ARCH[unameArch];
}

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

export function isPackageName(name: string): boolean {
  return PACKAGE_NAME.test(name);
}

/**
 * One part of a package name: lowercase, with "_" (common in module names, never legal in
 * package names) and anything else outside [a-z0-9+.-] turned into "-".
 */
export function packageNamePart(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9+.-]/g, '-');
}

/** "blobdrv", amd64-1 → "blobdrv-modules-amd64-1". */
export function modulePackageName(module: string, abi: AbiId): string | { problem: string } {
  const name = `${packageNamePart(module)}-modules-${packageNamePart(abi.flavour)}-${abi.abiver}`;
  if (!isPackageName(name)) return { problem: `"${name}" is not a valid Debian package name` };
  return name;
}

/** The virtual package every ABI's build of a module provides. */
export function moduleVirtualPackage(module: string): string {
  return `${packageNamePart(module)}-modules-abi`;
}

/** The Debian and Ubuntu image package of a kernel release, when the release can name one. */
export function kernelImagePackage(kernel: string): string | undefined {
  const name = `linux-image-${kernel}`;
  return isPackageName(name) ? name : undefined;
}

const REVISION = /^[A-Za-z0-9+.~]+$/;

/**
 * `<module-version>-<revision>`. The upstream part may hold [A-Za-z0-9.+~-] and must start
 * with a digit: other characters become ".", and a version starting otherwise ("v2.3")
 * gets "0~" in front so dpkg accepts it and it still sorts by what follows.
 */
export function debianVersion(moduleVersion: string, revision = '1'): string | { problem: string } {
  if (moduleVersion === '') return { problem: 'the module version is empty' };
  if (!REVISION.test(revision))
    return { problem: `revision "${revision}" may only hold letters, digits, "+", "." and "~"` };
  let upstream = moduleVersion.replace(/[^A-Za-z0-9.+~-]/g, '.');
  if (!/^[0-9]/.test(upstream)) upstream = `0~${upstream}`;
  return `${upstream}-${revision}`;
}

/** `<name>_<version>_<arch>.deb`, as dpkg-name and the archive name files. */
export function debFileName(name: string, version: string, arch: string): string {
  // An epoch's colon is not part of file names (dpkg-name drops it).
  const v = version.replace(/^[0-9]+:/, '');
  return `${name}_${v}_${arch}.deb`;
}

/** Where a package's payload lives, inside the root. */
export const PACKAGES_DIR = '/usr/lib/dkms-abi/packages';

export function payloadDir(name: string): string {
  return `${PACKAGES_DIR}/${name}`;
}
