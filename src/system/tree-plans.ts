// Plans installing a DKMS-built module version into a shared ABI tree: its binaries, its
// saved Module.symvers and manifest, DKMS's own "installed" bookkeeping for every kernel of
// the tree the verdict accepts (so stock `dkms status` and `dkms autoinstall` agree), and
// the removal of stale copies dkms left in updates/dkms that depmod would rank first.
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { AbiId } from '../core/abi-id.js';
import {
  MANIFEST_FILE,
  SAVED_SYMVERS_FILE,
  HEADERS_RECORD_FILE,
  isSafeRelative,
  serializeManifest,
  treeMetaDir,
} from '../core/layout.js';
import { EnvironmentError } from '../core/errors.js';
import { isModuleFileOf, moduleFileStem } from '../core/ko-name.js';
import { filesOfOthers, type OwnerConflict } from '../core/module-owner.js';
import type { TreeModule } from '../core/snapshot.js';
import type { Paths } from './paths.js';
import { linkTarget, type PlanBuilder } from './plan-helpers.js';

/** A module binary to place in the tree: where it goes (relative) and where it is now. */
export interface TreeFile {
  readonly rel: string;
  readonly host: string;
}

export interface InstallRequest {
  readonly module: string;
  readonly version: string;
  readonly arch: string;
  readonly builtFor: string;
  readonly abi: AbiId;
  readonly files: readonly TreeFile[];
  /** The module's own exports, as Module.symvers text (may be empty). */
  readonly symvers: string;
  /** The kernel headers the build read (headers.sha256 text); absent when not recorded. */
  readonly headers?: string;
  /** Kernels of the tree on which the verdict accepts the module: marked installed for DKMS. */
  readonly kernels: readonly string[];
  /** The same module already in the tree (any version): replaced. */
  readonly previous: TreeModule | undefined;
  /** Whether to write DKMS bookkeeping (false for modules that came without DKMS). */
  readonly dkmsBookkeeping: boolean;
  /** Modules of the build the loader of `builtFor` refuses, and why (kept in the manifest). */
  readonly unloadable?: Readonly<Record<string, string>>;
  /** The tree's modules as scanned: the files others list stay when `previous` goes. */
  readonly treeModules?: readonly TreeModule[];
  /** Other packages' files of the same module names this install replaces (core/module-owner.ts). */
  readonly takeOver?: readonly OwnerConflict[];
}

export async function planInstall(paths: Paths, req: InstallRequest, plan: PlanBuilder): Promise<void> {
  const tree = paths.abiTree(req.abi.flavour, req.abi.abiver);
  const rels = req.files.map((f) => f.rel);
  for (const rel of rels) {
    if (!isSafeRelative(rel)) throw new EnvironmentError(`refusing to install ${rel}: it leaves the tree`);
  }
  if (req.previous !== undefined) {
    // Another version's DKMS entries for the tree's kernels go with it; the same version keeps them.
    const unmark = req.previous.version === req.version ? [] : req.kernels;
    await planRemoveFromTree(
      paths,
      req.abi,
      req.previous,
      plan,
      new Set(rels),
      unmark,
      req.treeModules ?? [],
    );
  }
  await planTakeOver(tree, req.takeOver ?? [], plan);
  for (const [i, f] of req.files.entries()) {
    await plan.add({ op: 'copy', path: path.join(tree, rels[i] ?? ''), from: f.host, mode: 0o644 });
  }
  const meta = path.join(tree, treeMetaDir(req.module, req.version));
  await plan.add({ op: 'write', path: path.join(meta, SAVED_SYMVERS_FILE), data: Buffer.from(req.symvers) });
  if (req.headers !== undefined) {
    await plan.add({
      op: 'write',
      path: path.join(meta, HEADERS_RECORD_FILE),
      data: Buffer.from(req.headers),
    });
  }
  const manifest = {
    module: req.module,
    version: req.version,
    arch: req.arch,
    builtFor: req.builtFor,
    files: rels,
    ...(req.unloadable !== undefined ? { unloadable: req.unloadable } : {}),
  };
  await plan.add({
    op: 'write',
    path: path.join(meta, MANIFEST_FILE),
    data: Buffer.from(serializeManifest(manifest)),
  });

  for (const kernel of req.kernels) {
    await planLinkKernel(paths, { ...manifest, dkmsBookkeeping: req.dkmsBookkeeping }, kernel, plan);
  }
}

/**
 * The files pass to the module installed now: each owner's manifest stops listing them, so
 * uninstalling the owner later leaves them; one at another place in the tree goes (the
 * loader would see two modules of one name).
 */
async function planTakeOver(
  tree: string,
  takeOver: readonly OwnerConflict[],
  plan: PlanBuilder,
): Promise<void> {
  const owners = new Map<TreeModule, OwnerConflict[]>();
  for (const c of takeOver) owners.set(c.owner, [...(owners.get(c.owner) ?? []), c]);
  for (const [owner, lost] of owners) {
    const gone = new Set(lost.map((c) => c.theirs));
    const { newestMtimeMs: _mtime, ...manifest } = owner;
    const meta = path.join(tree, treeMetaDir(owner.module, owner.version));
    await plan.add({
      op: 'write',
      path: path.join(meta, MANIFEST_FILE),
      data: Buffer.from(serializeManifest({ ...manifest, files: owner.files.filter((f) => !gone.has(f)) })),
    });
    for (const c of lost) {
      if (c.theirs !== c.ours && (await plan.willExist(path.join(tree, c.theirs))))
        await plan.add({ op: 'remove', path: path.join(tree, c.theirs) });
    }
  }
}

export interface LinkRequest {
  readonly module: string;
  readonly version: string;
  readonly arch: string;
  readonly builtFor: string;
  /** Module files relative to the tree. */
  readonly files: readonly string[];
  readonly dkmsBookkeeping: boolean;
  /**
   * Host path of the tree that holds the module: when DKMS lost the build it came from,
   * the build is restored from the tree's copy (see planRestoreBuild).
   */
  readonly tree?: string;
}

/**
 * Makes a module already in (or being added to) a tree count as installed on one of the
 * tree's kernels: DKMS's bookkeeping, and no stale updates/dkms copy shadowing it.
 */
export async function planLinkKernel(
  paths: Paths,
  req: LinkRequest,
  kernel: string,
  plan: PlanBuilder,
): Promise<void> {
  if (req.dkmsBookkeeping) await planMarkInstalled(paths, req, kernel, plan);
  for (const rel of req.files) await planUpdatesLink(paths, kernel, rel, plan);
}

/** DKMS's "installed" for a kernel: <m>/kernel-<k>-<a> -> <v>/<k>/<a>, a real directory. */
async function planMarkInstalled(
  paths: Paths,
  req: LinkRequest,
  kernel: string,
  plan: PlanBuilder,
): Promise<void> {
  const mdir = path.join(paths.dkmsTree, req.module);
  const archDir = path.join(mdir, req.version, kernel, req.arch);
  // DKMS only knows modules it added, and our entries point at the build they share.
  const source = path.join(mdir, req.version, 'source');
  const build = path.join(mdir, req.version, req.builtFor, req.arch, 'module');
  if ((await lstat(source).catch(() => undefined)) === undefined) return;
  if (!(await plan.willExist(build))) {
    if (req.tree === undefined || !(await planRestoreBuild(paths, req, req.tree, plan))) return;
  }
  if (kernel !== req.builtFor) {
    const moduleLink = path.join(archDir, 'module');
    const st = await lstat(moduleLink).catch(() => undefined);
    const wanted = `../../${req.builtFor}/${req.arch}/module`;
    // A real build for this kernel stays as it is; otherwise point at the build we share.
    if (st === undefined || (st.isSymbolicLink() && (await linkTarget(moduleLink)) !== wanted)) {
      await plan.add({ op: 'symlink', path: moduleLink, target: wanted });
    }
  }
  const mark = path.join(mdir, `kernel-${kernel}-${req.arch}`);
  const target = `${req.version}/${kernel}/${req.arch}`;
  if ((await linkTarget(mark)) !== target) await plan.add({ op: 'symlink', path: mark, target });
}

/**
 * dkms >= 3.1's kernel_preinst (a same-name upgrade or reinstall of the kernel a build was
 * made for), kernel_prerm or a plain `dkms unbuild` deletes <m>/<v>/<builtFor>/<arch>, and
 * with it what every kernel of the ABI links to: stock dkms then counts the module as only
 * added and its autoinstall builds copies into updates/dkms. The tree still holds the
 * binaries and their saved Module.symvers; put them back as DKMS's build (module/ only: the
 * make log is gone). False when the tree does not hold every file.
 */
export async function planRestoreBuild(
  paths: Paths,
  req: Pick<LinkRequest, 'module' | 'version' | 'arch' | 'builtFor' | 'files'>,
  tree: string,
  plan: PlanBuilder,
): Promise<boolean> {
  for (const rel of req.files) {
    if (!isSafeRelative(rel) || !(await plan.willExist(path.join(tree, rel)))) return false;
  }
  const moduleDir = path.join(paths.dkmsTree, req.module, req.version, req.builtFor, req.arch, 'module');
  await plan.ensureDir(moduleDir);
  for (const rel of req.files) {
    const name = rel.split('/').pop() ?? rel;
    await plan.add({ op: 'copy', path: path.join(moduleDir, name), from: path.join(tree, rel), mode: 0o644 });
  }
  const symvers = path.join(tree, treeMetaDir(req.module, req.version), SAVED_SYMVERS_FILE);
  if (await plan.willExist(symvers)) {
    // dkms >= 3.1 keeps module/Module.symvers; older ones ignore it.
    await plan.add({ op: 'copy', path: path.join(moduleDir, 'Module.symvers'), from: symvers, mode: 0o644 });
  }
  return true;
}

/**
 * Where Debian's dkms would have installed the module (updates/dkms) gets a link into the
 * tree: stock `dkms status` then finds the installed module identical to the build, and a
 * stale copy a plain dkms install left there (which depmod ranks above extra/) is replaced.
 */
async function planUpdatesLink(paths: Paths, kernel: string, rel: string, plan: PlanBuilder): Promise<void> {
  const dir = path.join(paths.kernelDir(kernel), 'updates', 'dkms');
  const base = rel.split('/').pop() ?? rel;
  const destName = moduleFileStem(rel);
  const target = `../../extra/${rel}`;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const other = path.join(dir, name);
    if (name !== base && isModuleFileOf(name, destName)) {
      await plan.add({ op: 'remove', path: other });
    }
  }
  const link = path.join(dir, base);
  if ((await linkTarget(link)) !== target) await plan.add({ op: 'symlink', path: link, target });
}

/** Our updates/dkms links for a module's files on one kernel. */
async function planRemoveUpdatesLinks(
  paths: Paths,
  kernel: string,
  files: readonly string[],
  plan: PlanBuilder,
): Promise<void> {
  for (const rel of files) {
    const link = path.join(paths.kernelDir(kernel), 'updates', 'dkms', rel.split('/').pop() ?? rel);
    if ((await linkTarget(link)) === `../../extra/${rel}`) await plan.add({ op: 'remove', path: link });
  }
}

/**
 * Removes a module version from a tree: its files (except those about to be replaced, and
 * those another of `treeModules` lists), its metadata, and DKMS bookkeeping dkms-abi created
 * for the tree's kernels.
 */
export async function planRemoveFromTree(
  paths: Paths,
  abi: AbiId,
  tm: TreeModule,
  plan: PlanBuilder,
  keep: ReadonlySet<string>,
  kernels: readonly string[],
  treeModules: readonly TreeModule[],
): Promise<void> {
  const tree = paths.abiTree(abi.flavour, abi.abiver);
  const listedByOthers = filesOfOthers(treeModules, tm);
  for (const rel of tm.files) {
    // Another module's manifest lists it too (written before one file had one owner): its file.
    if (keep.has(rel) || listedByOthers.has(rel) || !isSafeRelative(rel)) continue;
    if ((await lstat(path.join(tree, rel)).catch(() => undefined)) !== undefined) {
      await plan.add({ op: 'remove', path: path.join(tree, rel) });
    }
  }
  const meta = path.join(tree, treeMetaDir(tm.module, tm.version));
  if ((await lstat(meta).catch(() => undefined)) !== undefined) {
    // The module's directory goes with its last version: nothing of it is left behind.
    const moduleMeta = path.dirname(meta);
    const others = (await readdir(moduleMeta).catch(() => [] as string[])).filter((n) => n !== tm.version);
    await plan.add({ op: 'remove', path: others.length === 0 ? moduleMeta : meta });
  }
  const own = { ...tm, files: tm.files.filter((f) => !listedByOthers.has(f)) };
  for (const kernel of kernels) await planUnmark(paths, own, kernel, plan);
}

/** Undo planMarkInstalled for one kernel: the mark, and our abi-link directory. */
export async function planUnmark(
  paths: Paths,
  tm: TreeModule,
  kernel: string,
  plan: PlanBuilder,
): Promise<void> {
  await planRemoveUpdatesLinks(paths, kernel, tm.files, plan);
  const mdir = path.join(paths.dkmsTree, tm.module);
  const mark = path.join(mdir, `kernel-${kernel}-${tm.arch}`);
  if ((await linkTarget(mark)) === `${tm.version}/${kernel}/${tm.arch}`)
    await plan.add({ op: 'remove', path: mark });
  const archDir = path.join(mdir, tm.version, kernel, tm.arch);
  const moduleLink = path.join(archDir, 'module');
  const st = await lstat(moduleLink).catch(() => undefined);
  if (st?.isSymbolicLink() === true) {
    // Our entry: the arch directory (and the kernel directory if it holds nothing else).
    await plan.add({ op: 'remove', path: archDir });
    const kdir = path.dirname(archDir);
    const others = (await readdir(kdir).catch(() => [] as string[])).filter((n) => n !== tm.arch);
    if (others.length === 0) await plan.add({ op: 'remove', path: kdir });
  }
}
