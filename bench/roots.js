// Sandbox roots for the benchmarks: temp directories laid out like a Debian system (the
// machine's real kernel headers, hard-linked), built by the same typed helpers as the
// integration tests' roots (test/helpers/debian-root.ts, test/helpers/host-guard.ts, compiled
// to bench/out/compiled by tsconfig.bench.json: `npm run bench` does it), so dkms-abi, stock
// dkms, kbuild and depmod run on them exactly as on "/". Nothing here writes to the machine's
// /lib/modules, /var/lib/dkms, /usr/src or /etc: guardHost() watches those during the run.
//
// HARD LINKS SHARE THE HOST'S INODES: files are only ever replaced (write + rename) or created.
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mustRun } from './measure.js';
import {
  EXAMPLES_DIR,
  KBUILD_OUTPUT,
  REPO_DIR,
  addHeaders as addRootHeaders,
  addImageModules as addRootImageModules,
  addSameAbiKernel,
  copyExampleSource,
  hostHeadersDir,
  imageModulesDir,
  makeBareRoot,
} from './out/compiled/test/helpers/debian-root.js';
import { guardHost as watchHost } from './out/compiled/test/helpers/host-guard.js';

export { addSameAbiKernel };

export const REPO = REPO_DIR;
export const CLI = path.join(REPO, 'bin/dkms-abi');
export const K47 = '6.1.0-47-amd64';
export const K50 = '6.1.0-50-amd64';

export const headersDir = hostHeadersDir;
export const hostSymvers = (kver) => path.join(headersDir(kver), 'Module.symvers');
export const imageModules = imageModulesDir;

/** A temp directory for the whole run; removed at the end unless kept. */
export async function makeWorkDir() {
  return mkdtemp(path.join(os.tmpdir(), 'dkms-abi-bench-'));
}

/** The bare root: the directories dkms and dkms-abi expect, and the host's os-release. */
export async function makeRoot(dir) {
  await makeBareRoot(dir);
  return dir;
}

/**
 * Kernel headers in the root (hard-linked), lib/modules/K/build -> /usr/src/linux-headers-K,
 * and boot/config-K from the headers (the roots of scenario 2 have no image boot files).
 */
export async function addHeaders(root, kver) {
  await addRootHeaders(root, kver);
  await writeFile(
    path.join(root, 'boot', `config-${kver}`),
    await readFile(path.join(headersDir(kver), '.config')),
  );
}

/** The real in-tree modules of a kernel image (hard links) with its modules.order/builtin, as kernel `as`. */
export async function addImageModules(root, kver, as = kver) {
  await addRootImageModules(root, kver, { as, bootFiles: false });
}

/** examples/<name> as <root>/usr/src/<pkg>-<version> (kbuild outputs of in-place builds left out). */
export async function copyExample(root, name, version = '1.0', pkg = name) {
  return copyExampleSource(root, name, version, pkg);
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
  await cp(path.join(EXAMPLES_DIR, 'hello-abi'), dir, {
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

export async function removeDir(dir) {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Watches the machine's trees for the whole run; `check()` returns what changed (a benchmark
 * must never touch them, so the run is reported as failed if anything did).
 */
export async function guardHost() {
  const guard = await watchHost();
  return { check: () => guard.stop() };
}
