// A directory laid out like a Debian system with the machine's real kernel headers (and
// optionally the real in-tree modules of the unpacked images), so dkms, kbuild, depmod and
// dkms-abi run on it exactly as on "/" without touching the machine's own trees. One
// implementation for the integration tests (sandbox.ts wraps it in per-test roots) and the
// benchmarks (bench/roots.js, compiled by tsconfig.bench.json): no test-runner imports here.
//
// Layout for each kernel K:
//   lib/modules/K/build -> /usr/src/linux-headers-K   absolute, Debian-style: resolves inside
//                                                     the root under chroot semantics (rootfs.ts)
//   usr/src/linux-headers-K/                          hard-linked copy of the host's (3 MB)
//   usr/lib/linux-kbuild-6.1/                         hard-linked copy: the headers' relative
//                                                     scripts/tools links land here; a copy, not a
//                                                     link to the host, so chroot-semantics
//                                                     resolution finds it too
//   lib/modules/K/kernel/**, modules.order, modules.builtin*   (addImageModules, hard links)
//   boot/config-K, boot/System.map-K                           (addImageModules, hard links)
// plus var/lib/dkms, usr/src, etc (with the host's os-release, so dkms and dkms-abi agree on
// the distribution), boot and tmp. The headers' Makefile includes the host's absolute
// /usr/src/linux-headers-K-common/Makefile: fine for make, which runs on the host.
// `system` (default "/") is where the headers and os-release come from: another system such
// as the Debian 13 chroot (test/helpers/platforms.ts), whose tools then run inside it.
//
// HARD LINKS SHARE THE HOST'S INODES. Rename, unlink or create files in the root freely, but
// never write into, chmod or touch a hard-linked file in place: that changes the host's copy.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { cp, lstat, mkdir, readFile, readdir, readlink, rename, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const HOST_HEADERS_DIR = '/usr/src';
export const IMAGES_DIR =
  process.env['DKMS_ABI_CACHE'] !== undefined
    ? `${process.env['DKMS_ABI_CACHE']}/images`
    : '/var/cache/dkms-abi/images';

/** The repository (found upwards: this file also runs compiled, from bench/out/). */
export const REPO_DIR = findRepo(import.meta.dirname);
export const EXAMPLES_DIR = path.join(REPO_DIR, 'examples');

function findRepo(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'examples'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no dkms-abi repository above ${from}`);
  }
}

/** The headers of a kernel on the host, or in another system (a chroot) seen from the host. */
export function hostHeadersDir(kernel: string, system = '/'): string {
  return path.join(system, HOST_HEADERS_DIR, `linux-headers-${kernel}`);
}

/** lib/modules/<kernel> of the unpacked image of a kernel. */
export function imageModulesDir(kernel: string): string {
  return path.join(IMAGES_DIR, kernel, 'lib/modules', kernel);
}

/** The bare root: the directories dkms and dkms-abi expect, and the host's os-release. */
export async function makeBareRoot(root: string, system = '/'): Promise<void> {
  for (const d of ['var/lib/dkms', 'usr/src', 'usr/lib', 'etc', 'boot', 'tmp', 'lib/modules']) {
    await mkdir(path.join(root, d), { recursive: true });
  }
  await writeFile(path.join(root, 'etc/os-release'), await readFile(path.join(system, 'etc/os-release')));
}

/** Kernel headers in the root (hard-linked) and lib/modules/K/build -> /usr/src/linux-headers-K. */
export async function addHeaders(root: string, kernel: string, system = '/'): Promise<void> {
  const hostHeaders = hostHeadersDir(kernel, system);
  await lstat(path.join(hostHeaders, 'Makefile')).catch(() => {
    throw new Error(`no headers for ${kernel} at ${hostHeaders}: run scripts/setup-system.sh`);
  });
  await execa('cp', ['-al', hostHeaders, path.join(root, 'usr/src')]);
  await mkdir(path.join(root, 'lib/modules', kernel), { recursive: true });
  await symlink(`/usr/src/linux-headers-${kernel}`, path.join(root, 'lib/modules', kernel, 'build'));
  // Relative links out of the headers (scripts -> ../../lib/linux-kbuild-6.1/scripts): give
  // their targets' top directories (/usr/lib/linux-kbuild-6.1) a hard-linked copy in the root.
  for (const name of await readdir(hostHeaders)) {
    const entry = path.join(hostHeaders, name);
    if (!(await lstat(entry)).isSymbolicLink()) continue;
    const target = await readlink(entry);
    if (path.isAbsolute(target)) continue;
    const topDir = path.dirname(path.resolve(hostHeaders, target));
    const inRoot = path.join(root, path.relative(system, topDir));
    if (await exists(inRoot)) continue;
    await mkdir(path.dirname(inRoot), { recursive: true });
    await execa('cp', ['-al', topDir, path.dirname(inRoot)]);
  }
}

export interface ImageModulesOptions {
  /** Install them as this kernel release's (default: the image's own). */
  readonly as?: string;
  /** Also the image's boot/config-K and boot/System.map-K (default true). */
  readonly bootFiles?: boolean;
}

/** The real in-tree modules of a kernel image (hard links) with its modules.order/builtin files. */
export async function addImageModules(
  root: string,
  kernel: string,
  opts: ImageModulesOptions = {},
): Promise<void> {
  const image = path.join(IMAGES_DIR, kernel);
  const modDir = imageModulesDir(kernel);
  await lstat(path.join(modDir, 'kernel')).catch(() => {
    throw new Error(`no unpacked image for ${kernel} under ${IMAGES_DIR}: run scripts/setup-system.sh`);
  });
  const dest = path.join(root, 'lib/modules', opts.as ?? kernel);
  await mkdir(dest, { recursive: true });
  const wanted = (await readdir(modDir)).filter((n) => n === 'kernel' || /^modules\.(order|builtin)/.test(n));
  await execa('cp', ['-al', ...wanted.map((n) => path.join(modDir, n)), dest]);
  if (opts.bootFiles === false) return;
  for (const f of [`config-${kernel}`, `System.map-${kernel}`]) {
    await execa('cp', ['-al', path.join(image, 'boot', f), path.join(root, 'boot')]);
  }
}

/** Files of a Debian headers directory that spell the kernel release. */
const RELEASE_FILES = [
  '.kernelvariables',
  '.config',
  'include/generated/utsrelease.h',
  'include/generated/autoconf.h',
  'include/config/auto.conf',
];

/**
 * A second kernel release with the same ABI as a real one, as a distribution's rebuilt
 * kernel package would be: same exports and config, another release string. With headers (a
 * copy whose release files are rewritten) modules can be built for it. Without, it is what
 * Debian's linux-image package installs: /boot/vmlinuz-<release>, /boot/config-<release> and
 * the in-tree modules (hard links of the real image's), no Module.symvers anywhere, so it can
 * only reuse builds; `bootSymvers` adds /boot/symvers-<release>.gz, as RHEL and SUSE ship it,
 * and `image: false` leaves out the image (thousands of files a test on a small tmpfs, or one
 * with twenty such kernels, does without: bootSymvers then tells the kernel's exports).
 */
export async function addSameAbiKernel(
  root: string,
  from: string,
  to: string,
  opts: {
    readonly headers: boolean;
    readonly system?: string;
    readonly bootSymvers?: boolean;
    readonly image?: boolean;
  },
): Promise<void> {
  const hostHeaders = hostHeadersDir(from, opts.system);
  await mkdir(path.join(root, 'lib/modules', to), { recursive: true });
  const config = (await readFile(path.join(hostHeaders, '.config'), 'utf8')).replaceAll(from, to);
  await writeFile(path.join(root, 'boot', `config-${to}`), config);
  if (opts.bootSymvers === true) {
    const symvers = await readFile(path.join(hostHeaders, 'Module.symvers'));
    await writeFile(path.join(root, 'boot', `symvers-${to}.gz`), gzipSync(symvers));
  }
  if (!opts.headers && opts.image !== false) {
    await execa('cp', [
      '-al',
      path.join(IMAGES_DIR, from, 'boot', `vmlinuz-${from}`),
      path.join(root, 'boot', `vmlinuz-${to}`),
    ]);
    if (!(await exists(path.join(root, 'lib/modules', to, 'kernel'))))
      await addImageModules(root, from, { as: to, bootFiles: false });
  }
  if (!opts.headers) return;
  const dest = path.join(root, 'usr/src', `linux-headers-${to}`);
  await execa('cp', ['-al', hostHeaders, dest]);
  for (const rel of RELEASE_FILES) {
    const file = path.join(dest, rel);
    const text = (await readFile(file, 'utf8')).replaceAll(from, to);
    // Replace the hard link with a new file: never write through to the host's copy.
    await writeFile(`${file}.new`, text);
    await rename(`${file}.new`, file);
  }
  await symlink(`/usr/src/linux-headers-${to}`, path.join(root, 'lib/modules', to, 'build'));
}

/** What an in-place kbuild of an example leaves behind; never copied into a root. */
export const KBUILD_OUTPUT =
  /(\.(o|ko|mod|mod\.c|o_binary|symvers)|^Module\.symvers|^modules\.order|^\..*\.cmd)$/;

/**
 * Puts examples/<name> at <root>/usr/src/<pkg>-<version> (a real copy, modes kept: blobdrv's
 * PRE_BUILD script must stay executable), leaving out kbuild outputs of in-place builds.
 * Returns the host path.
 */
export async function copyExampleSource(
  root: string,
  name: string,
  version = '1.0',
  pkg = name,
): Promise<string> {
  const to = path.join(root, 'usr/src', `${pkg}-${version}`);
  await cp(path.join(EXAMPLES_DIR, name), to, {
    recursive: true,
    preserveTimestamps: true,
    filter: (src) => !KBUILD_OUTPUT.test(path.basename(src)),
  });
  return to;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
