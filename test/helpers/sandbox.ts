// Sandbox roots for integration tests: a temp directory laid out like a Debian system with the
// machine's real kernel headers (and optionally the real in-tree modules), so dkms, kbuild,
// depmod and dkms-abi run on it exactly as on "/" without touching the machine's own trees.
//
// Layout for each kernel K:
//   lib/modules/K/build -> /usr/src/linux-headers-K   absolute, Debian-style: resolves inside
//                                                     the root under chroot semantics (rootfs.ts)
//   usr/src/linux-headers-K/                          hard-linked copy of the host's (3 MB)
//   usr/lib/linux-kbuild-6.1/                         hard-linked copy: the headers' relative
//                                                     scripts/tools links land here; a copy, not a
//                                                     link to the host, so chroot-semantics
//                                                     resolution finds it too
//   lib/modules/K/kernel/**, modules.order, modules.builtin*   (withImageModules, hard links)
//   boot/config-K, boot/System.map-K                           (withImageModules, hard links)
// plus var/lib/dkms, usr/src, etc (with the host's os-release, so dkms and dkms-abi agree on
// the distribution), boot and tmp. The headers' Makefile includes the host's absolute
// /usr/src/linux-headers-K-common/Makefile: fine for make, which runs on the host.
//
// HARD LINKS SHARE THE HOST'S INODES. Rename, unlink or create files in the sandbox freely, but
// never write into, chmod or touch a hard-linked file in place: that changes the host's copy.
// Call privateCopy() first to give the sandbox its own file.
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import {
  copyFile,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';

export const HOST_HEADERS_DIR = '/usr/src';
export const IMAGES_DIR =
  process.env['DKMS_ABI_CACHE'] !== undefined
    ? `${process.env['DKMS_ABI_CACHE']}/images`
    : '/var/cache/dkms-abi/images';
export const EXAMPLES_DIR = path.resolve(import.meta.dirname, '../../examples');

export interface SandboxOptions {
  readonly kernels: readonly string[];
  /** Headers and the lib/modules/K/build link (default true). */
  readonly withHeaders?: boolean;
  /** The real in-tree modules of each kernel, its modules.order/builtin files, config and System.map. */
  readonly withImageModules?: boolean;
}

export interface SandboxRoot {
  /** Host path of the root (what --root gets). */
  readonly root: string;
  readonly kernels: readonly string[];
  /** Host path of a path inside the root ("/var/lib/dkms" → "<root>/var/lib/dkms"). */
  host(inner: string): string;
  /** Host path of kernel K's headers inside the root. */
  headersDir(kernel: string): string;
  cleanup(): Promise<void>;
}

const live = new Set<string>();
process.on('exit', () => {
  // Safety net for roots whose test crashed before cleanup ran.
  if (keep()) return;
  for (const root of live) rmSync(root, { recursive: true, force: true });
});

function keep(): boolean {
  return process.env['DKMS_ABI_KEEP_SANDBOX'] === '1';
}

/**
 * A new sandbox root. Inside a running test it is removed when the test ends; elsewhere (a
 * beforeAll) call cleanup() yourself, e.g. in afterAll. DKMS_ABI_KEEP_SANDBOX=1 keeps it.
 */
export async function makeSandboxRoot(opts: SandboxOptions): Promise<SandboxRoot> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-root-'));
  live.add(root);
  const sandbox: SandboxRoot = {
    root,
    kernels: [...opts.kernels],
    host: (inner) => path.join(root, inner),
    headersDir: (kernel) => path.join(root, 'usr/src', `linux-headers-${kernel}`),
    cleanup: async () => {
      live.delete(root);
      if (keep()) {
        process.stderr.write(`sandbox kept: ${root}\n`);
        return;
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  try {
    onTestFinished(() => sandbox.cleanup());
  } catch {
    // Not inside a test: the caller cleans up.
  }
  try {
    await populate(sandbox, opts);
  } catch (err) {
    await sandbox.cleanup();
    throw err;
  }
  return sandbox;
}

async function populate(sb: SandboxRoot, opts: SandboxOptions): Promise<void> {
  for (const d of ['var/lib/dkms', 'usr/src', 'usr/lib', 'etc', 'boot', 'tmp', 'lib/modules']) {
    await mkdir(sb.host(d), { recursive: true });
  }
  await writeFile(sb.host('etc/os-release'), await readFile('/etc/os-release'));
  for (const kernel of opts.kernels) {
    await mkdir(sb.host(`lib/modules/${kernel}`), { recursive: true });
    if (opts.withHeaders ?? true) await addHeaders(sb, kernel);
    if (opts.withImageModules === true) await addImageModules(sb, kernel);
  }
}

async function addHeaders(sb: SandboxRoot, kernel: string): Promise<void> {
  const hostHeaders = path.join(HOST_HEADERS_DIR, `linux-headers-${kernel}`);
  await lstat(path.join(hostHeaders, 'Makefile')).catch(() => {
    throw new Error(`no headers for ${kernel} at ${hostHeaders}: run scripts/setup-system.sh`);
  });
  await execa('cp', ['-al', hostHeaders, sb.host('usr/src')]);
  await symlink(`/usr/src/linux-headers-${kernel}`, sb.host(`lib/modules/${kernel}/build`));
  // Relative links out of the headers (scripts -> ../../lib/linux-kbuild-6.1/scripts): give
  // their targets' top directories (/usr/lib/linux-kbuild-6.1) a hard-linked copy in the root.
  for (const name of await readdir(hostHeaders)) {
    const entry = path.join(hostHeaders, name);
    if (!(await lstat(entry)).isSymbolicLink()) continue;
    const target = await readlink(entry);
    if (path.isAbsolute(target)) continue;
    const hostTarget = path.resolve(hostHeaders, target);
    const topDir = path.dirname(hostTarget);
    const inRoot = sb.host(topDir);
    if (await exists(inRoot)) continue;
    await mkdir(path.dirname(inRoot), { recursive: true });
    await execa('cp', ['-al', topDir, path.dirname(inRoot)]);
  }
}

async function addImageModules(sb: SandboxRoot, kernel: string): Promise<void> {
  const image = path.join(IMAGES_DIR, kernel);
  const modDir = path.join(image, 'lib/modules', kernel);
  await lstat(path.join(modDir, 'kernel')).catch(() => {
    throw new Error(`no unpacked image for ${kernel} under ${IMAGES_DIR}: run scripts/setup-system.sh`);
  });
  const dest = sb.host(`lib/modules/${kernel}`);
  const wanted = (await readdir(modDir)).filter((n) => n === 'kernel' || /^modules\.(order|builtin)/.test(n));
  await execa('cp', ['-al', ...wanted.map((n) => path.join(modDir, n)), dest]);
  for (const f of [`config-${kernel}`, `System.map-${kernel}`]) {
    await execa('cp', ['-al', path.join(image, 'boot', f), sb.host('boot')]);
  }
}

/**
 * Puts examples/<name> at <root>/usr/src/<name>-1.0 (a real copy, modes kept: blobdrv's
 * PRE_BUILD script must stay executable), leaving out kbuild outputs of in-place builds.
 * Returns the host path.
 */
export async function copyExampleSource(root: string, name: string, version = '1.0'): Promise<string> {
  const from = path.join(EXAMPLES_DIR, name);
  const to = path.join(root, 'usr/src', `${name}-${version}`);
  await cp(from, to, {
    recursive: true,
    preserveTimestamps: true,
    filter: (src) => !KBUILD_OUTPUT.test(path.basename(src)),
  });
  return to;
}

const KBUILD_OUTPUT = /(\.(o|ko|mod|mod\.c|o_binary|symvers)|^Module\.symvers|^modules\.order|^\..*\.cmd)$/;

/** Replaces a hard-linked file in the root with a private copy, so it can be edited in place. */
export async function privateCopy(root: string, inner: string): Promise<string> {
  const file = path.join(root, inner);
  const tmp = `${file}.private-${process.pid}`;
  await copyFile(file, tmp);
  await rename(tmp, file);
  return file;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}
