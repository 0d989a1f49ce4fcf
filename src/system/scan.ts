// Reads a root's trees into a Snapshot: kernels and their extra/ links, DKMS's tree
// (added/built/installed bookkeeping), and the manifests of the shared ABI trees.
// Read-only; tolerant of foreign entries (they are skipped, verify reports them).
import { lstat, readFile, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { TREE_PREFIX, parseAbiTreeName, type AbiId } from '../core/abi-id.js';
import { MANIFEST_FILE, TREE_META_DIR, parseManifest } from '../core/layout.js';
import type {
  DkmsBuildDir,
  DkmsModuleVersion,
  KernelEntry,
  Snapshot,
  TreeEntry,
  TreeModule,
} from '../core/snapshot.js';
import type { Paths } from './paths.js';

export async function scanRoot(paths: Paths): Promise<Snapshot> {
  const [kernels, dkms, trees] = await Promise.all([scanKernels(paths), scanDkms(paths), scanTrees(paths)]);
  return { kernels, dkms, trees };
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

async function lstatOrUndefined(p: string) {
  try {
    return await lstat(p);
  } catch {
    return undefined;
  }
}

export async function scanKernels(paths: Paths): Promise<KernelEntry[]> {
  const out: KernelEntry[] = [];
  for (const name of await listDir(paths.modulesDir)) {
    if (name.startsWith(TREE_PREFIX) || name.startsWith('.')) continue;
    const dir = path.join(paths.modulesDir, name);
    const st = await lstatOrUndefined(dir);
    if (st === undefined || !st.isDirectory()) continue;
    out.push(await scanKernel(paths, name));
  }
  return out;
}

export async function scanKernel(paths: Paths, kernel: string): Promise<KernelEntry> {
  const extra = await readExtra(paths, kernel);
  const dep = await lstatOrUndefined(path.join(paths.kernelDir(kernel), 'modules.dep'));
  return { kernel, abi: extra.abi, extra: extra.kind, modulesDepMtimeMs: dep?.mtimeMs };
}

/** What lib/modules/<kver>/extra is. Only a link to a sibling kernel-abi-* tree counts as ours. */
export async function readExtra(
  paths: Paths,
  kernel: string,
): Promise<{ kind: KernelEntry['extra']; abi: AbiId | undefined; target?: string }> {
  const link = paths.extraLink(kernel);
  const st = await lstatOrUndefined(link);
  if (st === undefined) return { kind: 'absent', abi: undefined };
  if (st.isDirectory()) return { kind: 'directory', abi: undefined };
  if (!st.isSymbolicLink()) return { kind: 'other', abi: undefined };
  const target = await readlink(link);
  const parent = path.posix.dirname(target);
  const ours = parent === '..' || parent === paths.inner.modulesDir;
  const abi = ours ? parseAbiTreeName(target) : undefined;
  return abi === undefined ? { kind: 'other', abi: undefined, target } : { kind: 'abi-link', abi, target };
}

export async function scanDkms(paths: Paths): Promise<DkmsModuleVersion[]> {
  const out: DkmsModuleVersion[] = [];
  for (const module of await listDir(paths.dkmsTree)) {
    const mdir = path.join(paths.dkmsTree, module);
    if (!(await lstatOrUndefined(mdir))?.isDirectory()) continue;
    const entries = await listDir(mdir);
    // <m>/kernel-<kver>-<arch> -> <v>/<kver>/<arch>: DKMS's "installed" marks.
    const marks = new Map<string, string>();
    for (const e of entries) {
      if (!e.startsWith('kernel-')) continue;
      const target = await readlink(path.join(mdir, e)).catch(() => undefined);
      if (target !== undefined) marks.set(e, resolveMark(paths, mdir, target));
    }
    for (const version of entries) {
      if (version.startsWith('kernel-') || version === 'original_module') continue;
      const vdir = path.join(mdir, version);
      if (!(await lstatOrUndefined(vdir))?.isDirectory()) continue;
      const added = (await lstatOrUndefined(path.join(vdir, 'source'))) !== undefined;
      const builds: DkmsBuildDir[] = [];
      for (const kernel of await listDir(vdir)) {
        if (!/^[0-9]/.test(kernel)) continue; // dkms's own glob: +([0-9]).*
        for (const arch of await listDir(path.join(vdir, kernel))) {
          const build = await scanBuild(vdir, kernel, arch);
          if (build === undefined) continue;
          const mark = marks.get(`kernel-${kernel}-${arch}`);
          builds.push({ ...build, installed: mark === path.join(vdir, kernel, arch) });
        }
      }
      out.push({ module, version, added, builds });
    }
  }
  return out;
}

function resolveMark(paths: Paths, mdir: string, target: string): string {
  if (!target.startsWith('/')) return path.resolve(mdir, target);
  // dkms run on the host writes host paths; one written for the root itself is inner.
  return target.startsWith(paths.root + '/') ? target : paths.host(target);
}

async function scanBuild(
  vdir: string,
  kernel: string,
  arch: string,
): Promise<Omit<DkmsBuildDir, 'installed'> | undefined> {
  const moduleDir = path.join(vdir, kernel, arch, 'module');
  const st = await lstatOrUndefined(moduleDir);
  if (st === undefined) return undefined;
  if (st.isDirectory()) return { kernel, arch, kind: 'built', builtFor: kernel };
  if (!st.isSymbolicLink()) return undefined;
  // Our installed-abi entries: module -> ../../<K0>/<arch>/module
  const target = await readlink(moduleDir);
  const m = /^\.\.\/\.\.\/([^/]+)\/[^/]+\/module$/.exec(target);
  if (m?.[1] === undefined) return undefined;
  return { kernel, arch, kind: 'abi-link', builtFor: m[1] };
}

export async function scanTrees(paths: Paths): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  for (const name of await listDir(paths.modulesDir)) {
    const abi = parseAbiTreeName(name);
    if (abi === undefined) continue;
    const tree = path.join(paths.modulesDir, name);
    if (!(await lstatOrUndefined(tree))?.isDirectory()) continue;
    out.push({ abi, modules: await scanTreeModules(tree) });
  }
  return out;
}

export async function scanTreeModules(tree: string): Promise<TreeModule[]> {
  const modules: TreeModule[] = [];
  const meta = path.join(tree, TREE_META_DIR);
  for (const module of await listDir(meta)) {
    for (const version of await listDir(path.join(meta, module))) {
      const file = path.join(meta, module, version, MANIFEST_FILE);
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const manifest = parseManifest(text);
      if (typeof manifest === 'string') continue;
      let newest = 0;
      for (const f of manifest.files) {
        const st = await stat(path.join(tree, f)).catch(() => undefined);
        if (st !== undefined && st.mtimeMs > newest) newest = st.mtimeMs;
      }
      modules.push({ ...manifest, newestMtimeMs: newest });
    }
  }
  return modules;
}
