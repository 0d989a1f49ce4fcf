// Reads a root's trees into a Snapshot: kernels and their extra/ links, DKMS's tree
// (added/built/installed bookkeeping), and the manifests of the shared ABI trees.
// Read-only; tolerant of foreign entries (they are skipped, verify reports them).
// Synchronous on purpose (see src/system/quiet-read.ts); the exported functions stay asynchronous.
import { readdirSync, readlinkSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { TREE_PREFIX, parseAbiTreeName, type AbiId } from '../core/abi-id.js';
import { isModuleFile } from '../core/ko-name.js';
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
import { lstatOrUndefined, readTextOrUndefined, readlinkOrUndefined, statOrUndefined } from './quiet-read.js';

/** A synchronous read as a promise: its exceptions become rejections, as before. */
function later<T>(read: () => T): Promise<T> {
  return Promise.resolve().then(read);
}

export function scanRoot(paths: Paths): Promise<Snapshot> {
  return later(() => ({
    kernels: kernelsOf(paths),
    dkms: dkmsOf(paths),
    trees: treesOf(paths),
  }));
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function kernelsOf(paths: Paths): KernelEntry[] {
  const out: KernelEntry[] = [];
  for (const name of listDir(paths.modulesDir)) {
    if (name.startsWith(TREE_PREFIX) || name.startsWith('.')) continue;
    const dir = path.join(paths.modulesDir, name);
    const st = lstatOrUndefined(dir);
    if (st === undefined || !st.isDirectory()) continue;
    out.push(kernelOf(paths, name));
  }
  return out;
}

function kernelOf(paths: Paths, kernel: string): KernelEntry {
  const extra = extraOf(paths, kernel);
  const dep = lstatOrUndefined(path.join(paths.kernelDir(kernel), 'modules.dep'));
  return { kernel, abi: extra.abi, extra: extra.kind, modulesDepMtimeMs: dep?.mtimeMs };
}

type Extra = { kind: KernelEntry['extra']; abi: AbiId | undefined; target?: string };

/** What lib/modules/<kver>/extra is. Only a link to a sibling kernel-abi-* tree counts as ours. */
export function readExtra(paths: Paths, kernel: string): Promise<Extra> {
  return later(() => extraOf(paths, kernel));
}

function extraOf(paths: Paths, kernel: string): Extra {
  const link = paths.extraLink(kernel);
  const st = lstatOrUndefined(link);
  if (st === undefined) return { kind: 'absent', abi: undefined };
  if (st.isDirectory()) return { kind: 'directory', abi: undefined };
  if (!st.isSymbolicLink()) return { kind: 'other', abi: undefined };
  const target = readlinkSync(link);
  const parent = path.posix.dirname(target);
  const ours = parent === '..' || parent === paths.inner.modulesDir;
  const abi = ours ? parseAbiTreeName(target) : undefined;
  return abi === undefined ? { kind: 'other', abi: undefined, target } : { kind: 'abi-link', abi, target };
}

function dkmsOf(paths: Paths): DkmsModuleVersion[] {
  // Names from readdir never hold "/" nor are "." or "..": joining them with "/" is what
  // path.join gives, without its normalising pass (this loop runs per module/version/kernel).
  const out: DkmsModuleVersion[] = [];
  for (const m of listDirTyped(paths.dkmsTree)) {
    if (!m.isDirectory()) continue;
    const module = m.name;
    const mdir = `${paths.dkmsTree}/${module}`;
    const entries = listDirTyped(mdir);
    // <m>/kernel-<kver>-<arch> -> <v>/<kver>/<arch>: DKMS's "installed" marks (raw targets).
    const marks = new Map<string, string>();
    for (const e of entries) {
      if (!e.name.startsWith('kernel-') || !e.isSymbolicLink()) continue;
      const target = readlinkOrUndefined(`${mdir}/${e.name}`);
      if (target !== undefined) marks.set(e.name, target);
    }
    for (const v of entries) {
      const version = v.name;
      if (version.startsWith('kernel-') || version === 'original_module') continue;
      if (!v.isDirectory()) continue;
      const vdir = `${mdir}/${version}`;
      const inVersion = listDirTyped(vdir);
      const added = inVersion.some((e) => e.name === 'source');
      const builds: DkmsBuildDir[] = [];
      const incomplete: { kernel: string; arch: string }[] = [];
      for (const k of inVersion) {
        const kernel = k.name;
        if (!/^[0-9]/.test(kernel)) continue; // dkms's own glob: +([0-9]).*
        // Only a directory (or a link to one) lists; anything else has no arch directories.
        if (!k.isDirectory() && !k.isSymbolicLink()) continue;
        for (const arch of listDir(`${vdir}/${kernel}`)) {
          const build = buildOf(`${vdir}/${kernel}/${arch}`, kernel, arch);
          if (build === undefined) {
            if (lstatOrUndefined(`${vdir}/${kernel}/${arch}`)?.isDirectory() === true)
              incomplete.push({ kernel, arch });
            continue;
          }
          const mark = marks.get(`kernel-${kernel}-${arch}`);
          const installed =
            mark !== undefined &&
            (mark === `${version}/${kernel}/${arch}` ||
              resolveMark(paths, mdir, mark) === path.join(vdir, kernel, arch));
          builds.push({ ...build, installed });
        }
      }
      out.push({ module, version, added, builds, ...(incomplete.length > 0 ? { incomplete } : {}) });
    }
  }
  return out;
}

/** Entries with their types (an unknown d_type is lstat'ed by node), sorted by name. */
function listDirTyped(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  } catch {
    return [];
  }
}

function resolveMark(paths: Paths, mdir: string, target: string): string {
  if (!target.startsWith('/')) return path.resolve(mdir, target);
  // dkms run on the host writes host paths; one written for the root itself is inner.
  return target.startsWith(paths.root + '/') ? target : paths.host(target);
}

function buildOf(archDir: string, kernel: string, arch: string): Omit<DkmsBuildDir, 'installed'> | undefined {
  const moduleDir = `${archDir}/module`;
  // Our installed-abi entries, most of them: module -> ../../<K0>/<arch>/module. readlink
  // first, since it answers "is it a link" and "to what" in one call.
  let target: string;
  try {
    target = readlinkSync(moduleDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return undefined; // missing
    // Not a link: DKMS's own build directory, or something foreign. Built, for dkms, means
    // module/ holds the modules (is_module_built): one killed half-way holds none.
    return hasBuiltModules(moduleDir) ? { kernel, arch, kind: 'built', builtFor: kernel } : undefined;
  }
  const m = /^\.\.\/\.\.\/([^/]+)\/[^/]+\/module$/.exec(target);
  if (m?.[1] === undefined) return undefined;
  return { kernel, arch, kind: 'abi-link', builtFor: m[1] };
}

/** Whether a dkms module/ directory holds a module file (as a finished build leaves it). */
export function hasBuiltModules(moduleDir: string): boolean {
  if (lstatOrUndefined(moduleDir)?.isDirectory() !== true) return false;
  return listDir(moduleDir).some(isModuleFile);
}

function treesOf(paths: Paths): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (const name of listDir(paths.modulesDir)) {
    const abi = parseAbiTreeName(name);
    if (abi === undefined) continue;
    const tree = path.join(paths.modulesDir, name);
    if (!lstatOrUndefined(tree)?.isDirectory()) continue;
    out.push({ abi, modules: treeModulesOf(tree) });
  }
  return out;
}

export function scanTreeModules(tree: string): Promise<TreeModule[]> {
  return later(() => treeModulesOf(tree));
}

function treeModulesOf(tree: string): TreeModule[] {
  const modules: TreeModule[] = [];
  const meta = path.join(tree, TREE_META_DIR);
  for (const module of listDir(meta)) {
    if (isStagingName(module)) continue;
    for (const version of listDir(path.join(meta, module))) {
      // A transaction's staged or set-aside copy is not an installed module.
      if (isStagingName(version)) continue;
      const file = path.join(meta, module, version, MANIFEST_FILE);
      const text = readTextOrUndefined(file);
      if (text === undefined) continue;
      const manifest = parseManifest(text);
      if (typeof manifest === 'string') continue;
      // A manifest names its own directory; one copied elsewhere is foreign (verify reports it).
      if (manifest.module !== module || manifest.version !== version) continue;
      let newest = 0;
      for (const f of manifest.files) {
        const st = statOrUndefined(path.join(tree, f));
        if (st !== undefined && st.mtimeMs > newest) newest = st.mtimeMs;
      }
      modules.push({ ...manifest, newestMtimeMs: newest });
    }
  }
  return modules;
}

const isStagingName = (name: string): boolean => name.startsWith('.dkms-abi.');
