// package-remove (and a package-install that replaces an older install): undo exactly what
// the package's record says the install did, as far as it is still there and still ours —
// the module leaves its tree, kernels the package registered go when nothing else serves
// them, a tree and reference it created go with the last user; what other packages still
// need is handed over to the next of them in the same tree. One transaction.
import { readFile, readdir, lstat } from 'node:fs/promises';
import path from 'node:path';
import { abiTreeName } from '../core/abi-id.js';
import type { PackageRecord } from '../core/package-record.js';
import { type TreeModule, treeModulesOf, kernelsOfTree } from '../core/snapshot.js';
import { treeMetaDir } from '../core/layout.js';
import type { Context } from '../system/context.js';
import { sha256 } from '../system/package-payload.js';
import {
  innerPath,
  otherRecordsOfAbi,
  recordFile,
  recordedModule,
  recordsDir,
  writeRecord,
} from '../system/package-records.js';
import { PlanBuilder, exists } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planRemoveFromTree, planUnmark } from '../system/tree-plans.js';

export interface PackageRemoval {
  /** Kernels from whose tree the modules went. */
  readonly kernels: readonly string[];
  readonly unregistered: readonly string[];
  readonly prunedTree: boolean;
  readonly removedReference: boolean;
}

/** Undoes what a record says an install did, as far as it is still there and still ours. */
export async function removeRecorded(
  ctx: Context,
  session: Session,
  record: PackageRecord,
): Promise<PackageRemoval> {
  const { paths } = ctx;
  const snap = await scanRoot(paths);
  const abi = record.abi;
  const tree = paths.abiTree(abi.flavour, abi.abiver);
  const modules = treeModulesOf(snap, abi);
  const ours = await recordedModule(ctx, record);
  const others = modules.filter(
    (t) => !(t.module === ours?.module && t.version === ours.version && t.arch === ours.arch),
  );
  const treeKernels = kernelsOfTree(snap, abi);
  // Kernels we linked go again when the tree holds nothing else for them.
  const unregister =
    others.length === 0 ? record.registeredKernels.filter((k) => treeKernels.includes(k)) : [];
  const staying = treeKernels.filter((k) => !unregister.includes(k));
  const prune =
    record.createdTree &&
    (await exists(tree)) &&
    others.length === 0 &&
    staying.length === 0 &&
    (await onlyOurs(tree, ours));

  const plan = new PlanBuilder(paths.root);
  if (ours !== undefined) {
    if (prune) for (const k of treeKernels) await planUnmark(paths, ours, k, plan);
    else await planRemoveFromTree(paths, abi, ours, plan, new Set(), treeKernels, modules);
  }
  for (const k of unregister) await plan.add({ op: 'remove', path: paths.extraLink(k) });
  if (prune) await plan.add({ op: 'remove', path: tree });

  // The reference goes with the last kernel of its ABI, when this package archived it.
  const removedReference = staying.length === 0 ? await planRemoveReference(ctx, record, plan) : false;
  await plan.add({ op: 'remove', path: recordFile(ctx, record.package) });
  await planRemoveEmptyDirs(ctx, [...record.createdDirs, innerPath(ctx, recordsDir(ctx))], plan);
  if (others.length > 0) await planHandOver(ctx, record, unregister, removedReference, plan);
  await session.apply({
    description: `${record.package}: remove ${record.module}/${record.version} from ${abiTreeName(abi)}`,
    operations: plan.operations,
    // Registering kernels ran no depmod; only the module leaving changes their indexes.
    depmod: ours === undefined ? [] : treeKernels,
  });
  return { kernels: treeKernels, unregistered: unregister, prunedTree: prune, removedReference };
}

/**
 * Modules of other packages stay in the tree: the kernels, reference and directories this
 * package created now serve them, so the next of them in the tree inherits the duty to undo.
 */
async function planHandOver(
  ctx: Context,
  record: PackageRecord,
  unregistered: readonly string[],
  removedReference: boolean,
  plan: PlanBuilder,
): Promise<void> {
  const heirs = await otherRecordsOfAbi(ctx, record);
  const [heir] = heirs;
  if (heir === undefined) return; // the others came without a package: they keep what serves them
  const removed = new Set(plan.operations.filter((o) => o.op === 'remove').map((o) => o.path));
  const gone = (p: string) => [...removed].some((r) => p === r || p.startsWith(`${r}/`));
  const next: PackageRecord = {
    ...heir,
    registeredKernels: [
      ...heir.registeredKernels,
      ...record.registeredKernels.filter(
        (k) => !unregistered.includes(k) && !heir.registeredKernels.includes(k),
      ),
    ],
    archivedReference: heir.archivedReference ?? (removedReference ? null : record.archivedReference),
    createdTree: heir.createdTree || record.createdTree,
    createdDirs: [
      ...record.createdDirs.filter((d) => !gone(ctx.paths.host(d)) && !heir.createdDirs.includes(d)),
      ...heir.createdDirs,
    ],
  };
  await writeRecord(ctx, plan, next);
}

/** The tree holds nothing but the module's files, its metadata and empty directories. */
async function onlyOurs(tree: string, tm: TreeModule | undefined): Promise<boolean> {
  const mine = new Set(tm?.files ?? []);
  const meta = tm === undefined ? undefined : `${treeMetaDir(tm.module, tm.version)}/`;
  const walk = async (rel: string): Promise<boolean> => {
    for (const name of await readdir(path.join(tree, rel)).catch(() => [] as string[])) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(path.join(tree, r));
      if (st.isDirectory()) {
        if (!(await walk(r))) return false;
      } else if (!mine.has(r) && (meta === undefined || !r.startsWith(meta))) return false;
    }
    return true;
  };
  return walk('');
}

/** The archived reference goes when it is still ours (unchanged) and no other package or kernel uses it. */
async function planRemoveReference(ctx: Context, record: PackageRecord, plan: PlanBuilder): Promise<boolean> {
  const ref = record.archivedReference;
  if (ref === null) return false;
  const file = ctx.paths.host(ref.path);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined || sha256(text) !== ref.sha256) return false;
  const others = await otherRecordsOfAbi(ctx, record);
  if (others.length > 0) return false;
  await plan.add({ op: 'remove', path: file });
  return true;
}

/**
 * Directories the install created go when nothing but what this plan removes is left in
 * them (deepest first, so a parent sees its emptied children go too).
 */
async function planRemoveEmptyDirs(ctx: Context, dirs: readonly string[], plan: PlanBuilder): Promise<void> {
  const removed = new Set(plan.operations.filter((o) => o.op === 'remove').map((o) => o.path));
  const gone = (p: string) => [...removed].some((r) => p === r || p.startsWith(`${r}/`));
  const hosts = [...new Set(dirs.map((d) => ctx.paths.host(d)))].sort((a, b) => b.length - a.length);
  for (const d of hosts) {
    if (gone(d)) continue;
    const st = await lstat(d).catch(() => undefined);
    if (st?.isDirectory() !== true) continue;
    const entries = await readdir(d);
    if (entries.every((n) => gone(path.join(d, n)))) {
      await plan.add({ op: 'remove', path: d });
      removed.add(d);
    }
  }
}
