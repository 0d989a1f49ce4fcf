// Generates a root with K kernels × M module versions, laid out exactly as `dkms-abi install`
// and `kernel add` leave it (src/system/tree-plans.ts, with the layout of
// src/core/layout.ts): DKMS's own tree (source link, one real build per ABI, installed-abi
// module links and kernel-<kver>-<arch> marks for every other kernel), the shared ABI trees
// with their manifests and saved Module.symvers, each kernel's extra -> ../kernel-abi-… link,
// updates/dkms links, the archived ABI references, and a modules.dep from a real depmod.
// Half the kernels share 6.1.0-47's ABI, half 6.1.0-50's; every module is the same real
// hello_abi.ko (built for each ABI by kbuild) under another name.
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  MANIFEST_FILE,
  SAVED_SYMVERS_FILE,
  serializeManifest,
  treeMetaDir,
  treeModulePath,
} from '../dist/core/layout.js';
import { makePaths } from '../dist/system/paths.js';
import { mustRun } from './measure.js';
import { K47, K50, headersDir, hostSymvers, makeRoot } from './roots.js';

const ARCH = 'x86_64';
const VERSION = '1.0';

/** Kernel releases of one ABI family: the real one first, then rebuilds 6.1.0-47.1-amd64, … */
function familyKernels(base, n) {
  const [abiname, flavour] = [base.replace(/-amd64$/, ''), 'amd64'];
  return Array.from({ length: n }, (_, i) => (i === 0 ? base : `${abiname}.${i}-${flavour}`));
}

export function moduleName(i) {
  return { pkg: `bench-mod-${String(i).padStart(3, '0')}`, ko: `bench_mod_${String(i).padStart(3, '0')}` };
}

/**
 * @param {string} root an empty directory
 * @param {{kernels:number, modules:number, ko: Record<string, Buffer>}} size
 *   ko: the real hello_abi.ko built for K47 and K50
 * @returns {Promise<{kernels:string[], modules:number, entries:number}>}
 */
export async function generateStatusTree(root, { kernels, modules, ko }) {
  await makeRoot(root);
  const paths = makePaths(root);
  const half = Math.ceil(kernels / 2);
  const families = [
    { base: K47, abiver: '1', kernels: familyKernels(K47, half) },
    { base: K50, abiver: '2', kernels: familyKernels(K50, kernels - half) },
  ].filter((f) => f.kernels.length > 0);

  // Kernels: /boot/config and /boot/symvers (as RHEL/SUSE ship them; no headers needed).
  for (const f of families) {
    const config = await readFile(path.join(headersDir(f.base), '.config'), 'utf8');
    const symversGz = gzipSync(await readFile(hostSymvers(f.base)));
    await mkdir(path.join(paths.abiArchiveDir, 'amd64'), { recursive: true });
    await writeFile(paths.abiReference('amd64', f.abiver), await readFile(hostSymvers(f.base)));
    for (const k of f.kernels) {
      await mkdir(paths.kernelDir(k), { recursive: true });
      await writeFile(path.join(paths.bootDir, `config-${k}`), config.replaceAll(f.base, k));
      await writeFile(path.join(paths.bootDir, `symvers-${k}.gz`), symversGz);
      await symlink(`../${paths.abiTreeName('amd64', f.abiver)}`, paths.extraLink(k));
    }
  }

  for (let i = 0; i < modules; i++) {
    const { pkg, ko: name } = moduleName(i);
    const src = path.join(paths.sourceTree, `${pkg}-${VERSION}`);
    await mkdir(src, { recursive: true });
    await writeFile(
      path.join(src, 'dkms.conf'),
      [
        `PACKAGE_NAME="${pkg}"`,
        `PACKAGE_VERSION="${VERSION}"`,
        `BUILT_MODULE_NAME[0]="${name}"`,
        'DEST_MODULE_LOCATION[0]="/extra"',
        'AUTOINSTALL="yes"',
        '',
      ].join('\n'),
    );
    const mdir = path.join(paths.dkmsTree, pkg);
    const vdir = path.join(mdir, VERSION);
    await mkdir(vdir, { recursive: true });
    await symlink(src, path.join(vdir, 'source')); // what `dkms add` makes
    const rel = treeModulePath('/extra', name, '.ko');

    for (const f of families) {
      const bytes = ko[f.base];
      const [k0] = f.kernels;
      // DKMS's build for the kernel it was built for…
      const buildDir = path.join(vdir, k0, ARCH, 'module');
      await mkdir(buildDir, { recursive: true });
      await writeFile(path.join(buildDir, `${name}.ko`), bytes);
      // …the shared tree: the module, its saved exports (none) and manifest…
      const tree = paths.abiTree('amd64', f.abiver);
      await mkdir(path.dirname(path.join(tree, rel)), { recursive: true });
      await writeFile(path.join(tree, rel), bytes);
      const meta = path.join(tree, treeMetaDir(pkg, VERSION));
      await mkdir(meta, { recursive: true });
      await writeFile(path.join(meta, SAVED_SYMVERS_FILE), '');
      await writeFile(
        path.join(meta, MANIFEST_FILE),
        serializeManifest({ module: pkg, version: VERSION, arch: ARCH, builtFor: k0, files: [rel] }),
      );
      for (const k of f.kernels) {
        // …installed-abi module links and DKMS's installed marks for every kernel of the ABI…
        if (k !== k0) {
          await mkdir(path.join(vdir, k, ARCH), { recursive: true });
          await symlink(`../../${k0}/${ARCH}/module`, path.join(vdir, k, ARCH, 'module'));
        }
        await symlink(`${VERSION}/${k}/${ARCH}`, path.join(mdir, `kernel-${k}-${ARCH}`));
        // …and the updates/dkms link where Debian's dkms would have put it.
        const updates = path.join(paths.kernelDir(k), 'updates', 'dkms');
        await mkdir(updates, { recursive: true });
        await symlink(`../../extra/${rel}`, path.join(updates, `${name}.ko`));
      }
    }
  }

  // modules.dep last, so no module is newer than it (no needs-depmod).
  const all = families.flatMap((f) => f.kernels);
  for (const k of all) mustRun(['depmod', '-a', '-b', root, k]);
  return { kernels: all, modules, entries: all.length * modules };
}
