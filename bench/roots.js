// Sandbox roots for the benchmarks: temp directories laid out like a Debian system (the
// machine's real kernel headers, hard-linked as the integration tests do), so dkms-abi, stock
// dkms, kbuild and depmod run on them exactly as on "/". Nothing here writes to the machine's
// /lib/modules, /var/lib/dkms, /usr/src or /etc: guardHost() watches those during the run.
//
// HARD LINKS SHARE THE HOST'S INODES: files are only ever replaced (write + rename) or created.
import { watch } from 'node:fs';
import {
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
import { gzipSync } from 'node:zlib';
import { mustRun } from './measure.js';

export const REPO = path.resolve(import.meta.dirname, '..');
export const CLI = path.join(REPO, 'bin/dkms-abi');
export const EXAMPLES = path.join(REPO, 'examples');
export const HOST_HEADERS = '/usr/src';
export const IMAGES =
  process.env['DKMS_ABI_CACHE'] !== undefined
    ? `${process.env['DKMS_ABI_CACHE']}/images`
    : '/var/cache/dkms-abi/images';
export const K47 = '6.1.0-47-amd64';
export const K50 = '6.1.0-50-amd64';

export const headersDir = (kver) => path.join(HOST_HEADERS, `linux-headers-${kver}`);
export const hostSymvers = (kver) => path.join(headersDir(kver), 'Module.symvers');
export const imageModules = (kver) => path.join(IMAGES, kver, 'lib/modules', kver);

/** A temp directory for the whole run; removed at the end unless kept. */
export async function makeWorkDir() {
  return mkdtemp(path.join(os.tmpdir(), 'dkms-abi-bench-'));
}

/** The bare root: the directories dkms and dkms-abi expect, and the host's os-release. */
export async function makeRoot(dir) {
  for (const d of ['var/lib/dkms', 'usr/src', 'usr/lib', 'etc', 'boot', 'tmp', 'lib/modules']) {
    await mkdir(path.join(dir, d), { recursive: true });
  }
  await writeFile(path.join(dir, 'etc/os-release'), await readFile('/etc/os-release'));
  return dir;
}

/** Kernel headers in the root (hard-linked) and lib/modules/K/build -> /usr/src/linux-headers-K. */
export async function addHeaders(root, kver) {
  const host = headersDir(kver);
  mustRun(['cp', '-al', host, path.join(root, 'usr/src')]);
  await mkdir(path.join(root, 'lib/modules', kver), { recursive: true });
  await symlink(`/usr/src/linux-headers-${kver}`, path.join(root, 'lib/modules', kver, 'build'));
  // The headers' relative links (scripts -> ../../lib/linux-kbuild-6.1/scripts) land here.
  for (const name of await readdir(host)) {
    const entry = path.join(host, name);
    if (!(await lstat(entry)).isSymbolicLink()) continue;
    const target = await readlink(entry);
    if (path.isAbsolute(target)) continue;
    const topDir = path.dirname(path.resolve(host, target));
    const inRoot = path.join(root, topDir);
    if (await exists(inRoot)) continue;
    await mkdir(path.dirname(inRoot), { recursive: true });
    mustRun(['cp', '-al', topDir, path.dirname(inRoot)]);
  }
  await writeFile(path.join(root, 'boot', `config-${kver}`), await readFile(path.join(host, '.config')));
}

/** The real in-tree modules of a kernel image (hard links) with its modules.order/builtin. */
export async function addImageModules(root, kver, as = kver) {
  const from = imageModules(kver);
  const dest = path.join(root, 'lib/modules', as);
  await mkdir(dest, { recursive: true });
  const wanted = (await readdir(from)).filter((n) => n === 'kernel' || /^modules\.(order|builtin)/.test(n));
  mustRun(['cp', '-al', ...wanted.map((n) => path.join(from, n)), dest]);
}

const RELEASE_FILES = [
  '.kernelvariables',
  '.config',
  'include/generated/utsrelease.h',
  'include/generated/autoconf.h',
  'include/config/auto.conf',
];

/**
 * A rebuilt kernel package of the same ABI: same Module.symvers and config, another release.
 * With headers (release files rewritten, everything else hard-linked) modules can be built for
 * it; without, only /boot/symvers-<release>.gz exists (RHEL/SUSE style).
 */
export async function addSameAbiKernel(root, from, to, { headers }) {
  const host = headersDir(from);
  await mkdir(path.join(root, 'lib/modules', to), { recursive: true });
  const config = (await readFile(path.join(host, '.config'), 'utf8')).replaceAll(from, to);
  await writeFile(path.join(root, 'boot', `config-${to}`), config);
  if (!headers) {
    await writeFile(path.join(root, 'boot', `symvers-${to}.gz`), gzipSync(await readFile(hostSymvers(from))));
    return;
  }
  const dest = path.join(root, 'usr/src', `linux-headers-${to}`);
  mustRun(['cp', '-al', host, dest]);
  for (const rel of RELEASE_FILES) {
    const file = path.join(dest, rel);
    const text = (await readFile(file, 'utf8')).replaceAll(from, to);
    await writeFile(`${file}.new`, text);
    await rename(`${file}.new`, file); // never write through a hard link
  }
  await symlink(`/usr/src/linux-headers-${to}`, path.join(root, 'lib/modules', to, 'build'));
}

const KBUILD_OUTPUT = /(\.(o|ko|mod|mod\.c|o_binary|symvers)|^Module\.symvers|^modules\.order|^\..*\.cmd)$/;

/** examples/<name> as <root>/usr/src/<pkg>-<version> (kbuild outputs of in-place builds left out). */
export async function copyExample(root, name, version = '1.0', pkg = name) {
  const to = path.join(root, 'usr/src', `${pkg}-${version}`);
  await cp(path.join(EXAMPLES, name), to, {
    recursive: true,
    preserveTimestamps: true,
    filter: (src) => !KBUILD_OUTPUT.test(path.basename(src)),
  });
  return to;
}

/**
 * hello-abi renamed: another package and module name with the same code, so a fifth real
 * module builds without touching the examples.
 */
export async function copyHelloAs(root, pkg, modName) {
  const dir = await copyExample(root, 'hello-abi', '1.0', pkg);
  await rename(path.join(dir, 'hello_abi.c'), path.join(dir, `${modName}.c`));
  const mk = await readFile(path.join(dir, 'Makefile'), 'utf8');
  await writeFile(path.join(dir, 'Makefile'), mk.replace('obj-m := hello_abi.o', `obj-m := ${modName}.o`));
  const conf = await readFile(path.join(dir, 'dkms.conf'), 'utf8');
  await writeFile(
    path.join(dir, 'dkms.conf'),
    conf
      .replace('PACKAGE_NAME="hello-abi"', `PACKAGE_NAME="${pkg}"`)
      .replace('BUILT_MODULE_NAME[0]="hello_abi"', `BUILT_MODULE_NAME[0]="${modName}"`),
  );
  return dir;
}

/**
 * Builds examples/hello-abi for a kernel with plain kbuild (M= in a temp copy; the headers
 * are only read) and returns the .ko's bytes: one real module reused by generated trees.
 */
export async function buildHelloKo(workDir, kver) {
  const dir = path.join(workDir, `kbuild-hello-${kver}`);
  await cp(path.join(EXAMPLES, 'hello-abi'), dir, {
    recursive: true,
    filter: (src) => !KBUILD_OUTPUT.test(path.basename(src)),
  });
  mustRun(['make', '-s', '-C', headersDir(kver), `M=${dir}`, 'modules'], {
    env: { ...process.env, TMPDIR: workDir },
  });
  return readFile(path.join(dir, 'hello_abi.ko'));
}

/**
 * Environment and tree arguments for stock dkms on a root. dkms 3.0.10 signs with (and creates)
 * /var/lib/dkms/mok.{key,pub} unless told otherwise, and mktemps under $TMPDIR: both go into
 * the root. Install and autoinstall also need --no-depmod (dkms runs a bare `depmod -a` on the
 * host's /lib/modules) and --kernelsourcedir (it defaults to the host's /lib/modules/K/build).
 */
export function stockDkms(root) {
  return {
    env: {
      TMPDIR: path.join(root, 'tmp'),
      mok_signing_key: path.join(root, 'var/lib/dkms/mok.key'),
      mok_certificate: path.join(root, 'var/lib/dkms/mok.pub'),
    },
    trees: [
      '--dkmstree',
      path.join(root, 'var/lib/dkms'),
      '--sourcetree',
      path.join(root, 'usr/src'),
      '--installtree',
      path.join(root, 'lib/modules'),
    ],
  };
}

export function cliArgv(root, ...args) {
  return [process.execPath, CLI, '--root', root, ...args];
}

export async function exists(p) {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function removeDir(dir) {
  await rm(dir, { recursive: true, force: true });
}

const GUARDED = [
  '/lib/modules',
  '/var/lib/dkms',
  '/usr/src',
  '/etc/dkms',
  '/etc/kernel',
  '/etc/kernel/postinst.d',
  '/etc/kernel/prerm.d',
  '/etc/depmod.d',
];

/**
 * Watches the machine's trees for the whole run; `check()` returns what changed (a benchmark
 * must never touch them, so the run is reported as failed if anything did).
 */
export async function guardHost() {
  const events = [];
  const watchers = [];
  const dirs = [...GUARDED];
  for (const k of await readdir('/lib/modules').catch(() => [])) dirs.push(path.join('/lib/modules', k));
  for (const dir of dirs) {
    if (!(await exists(dir))) continue;
    watchers.push(watch(dir, (type, name) => events.push(`${type} ${path.join(dir, String(name ?? ''))}`)));
  }
  return {
    check() {
      for (const w of watchers) w.close();
      return [...new Set(events)];
    },
  };
}
