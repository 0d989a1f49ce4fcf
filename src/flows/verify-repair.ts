// verify --repair: turn the fixes src/core/verify.ts derived from the facts
// (src/system/verify-facts.ts) into transactions. Every fix is re-checked against the disk
// when it is planned and applied in its own transaction, so one that cannot be made does
// not hold back the others; none removes or replaces a real file.
import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseAbiTreeName } from '../core/abi-id.js';
import { symversLinesFor } from '../core/ko.js';
import { withoutModuleSuffix } from '../core/ko-name.js';
import { SAVED_SYMVERS_FILE, TREE_META_DIR } from '../core/layout.js';
import type { Operation } from '../core/plan.js';
import { type Snapshot, type TreeModule, treeModulesOf } from '../core/snapshot.js';
import { fixKey, type Diagnosis, type Fix } from '../core/verify.js';
import type { Context } from '../system/context.js';
import { readKernelModuleFile } from '../system/ko-file.js';
import type { Paths } from '../system/paths.js';
import { PlanBuilder, linkTarget } from '../system/plan-helpers.js';
import { removeIncompleteBuild } from '../system/dkms.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planLinkKernel } from '../system/tree-plans.js';

export interface RepairOutcome {
  /** "kind path: what was done", per finding repaired. */
  readonly repaired: readonly string[];
  /** "kind path: why not", per fix that could not be made. */
  readonly failed: readonly string[];
  /** Fixes tried this round (0: nothing left to try). */
  readonly attempted: number;
}

/**
 * Applies the fixes of `diagnoses` not in `tried` (which it extends), one transaction each,
 * then one depmod for every kernel they touched.
 */
export async function applyFixes(
  ctx: Context,
  session: Session,
  diagnoses: readonly Diagnosis[],
  tried: Set<string>,
): Promise<RepairOutcome> {
  const repaired: string[] = [];
  const failed: string[] = [];
  const results = new Map<string, string | undefined>(); // fix key → failure message
  const depmodKernels = new Set<string>();
  let attempted = 0;
  const snapshot = await scanRoot(ctx.paths);
  for (const d of diagnoses) {
    if (d.fix === undefined) continue;
    const key = fixKey(d.fix);
    if (!results.has(key)) {
      if (tried.has(key)) continue;
      tried.add(key);
      attempted++;
      try {
        const ops = await planFix(ctx.paths, snapshot, d.fix);
        if (ops.length > 0) {
          await session.apply({
            description: `verify --repair: ${d.repair ?? d.kind} (${d.path})`,
            operations: ops,
            depmod: [],
          });
        }
        for (const k of fixKernels(d.fix)) depmodKernels.add(k);
        results.set(key, undefined);
      } catch (err) {
        results.set(key, err instanceof Error ? err.message : String(err));
      }
    }
    const failure = results.get(key);
    if (failure === undefined) repaired.push(`${d.kind} ${d.path}: ${d.repair ?? ''}`);
    else failed.push(`${d.kind} ${d.path}: ${failure}`);
  }
  const kernels: string[] = [];
  for (const k of depmodKernels) {
    if ((await stat(ctx.paths.kernelDir(k)).catch(() => undefined))?.isDirectory() === true) kernels.push(k);
  }
  if (kernels.length > 0) {
    try {
      await session.apply({ description: 'verify --repair: depmod', operations: [], depmod: kernels.sort() });
    } catch (err) {
      failed.push(`depmod ${kernels.join(' ')}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { repaired, failed, attempted };
}

function fixKernels(f: Fix): readonly string[] {
  switch (f.kind) {
    case 'remove-link':
    case 'create-tree':
    case 'retarget-link':
      return f.depmod;
    case 'depmod':
    case 'link-kernel':
      return [f.kernel];
    case 'prune-tree':
    case 'unmark':
    case 'regenerate-symvers':
    case 'remove-incomplete-build':
      return [];
  }
}

/** The operations of one fix, checked against the disk as it is now. */
async function planFix(paths: Paths, snapshot: Snapshot, f: Fix): Promise<Operation[]> {
  const plan = new PlanBuilder(paths.root);
  switch (f.kind) {
    case 'remove-link': {
      // Only the link as it was seen: an earlier fix may have pointed it somewhere right.
      const host = paths.host(f.path);
      if ((await linkTarget(host)) === f.target) await plan.add({ op: 'remove', path: host });
      break;
    }
    case 'create-tree':
      await plan.ensureDir(treeDir(paths, f.tree));
      break;
    case 'retarget-link':
      await plan.add({ op: 'symlink', path: paths.host(f.path), target: f.target });
      break;
    case 'prune-tree': {
      const dir = treeDir(paths, f.tree);
      if (await holdsOnlyDirectories(dir)) await plan.add({ op: 'remove', path: dir });
      else throw new Error(`${f.tree} is not empty any more`);
      break;
    }
    case 'depmod':
      break;
    case 'remove-incomplete-build':
      // Only while it is still unfinished (a build may have completed it since); dkms's own
      // directory, removed outright (see removeIncompleteBuild), so no operation to plan.
      await removeIncompleteBuild(paths, f);
      break;
    case 'unmark':
      await planUnmarkEntry(paths, f, plan);
      break;
    case 'link-kernel': {
      const tm = treeModule(snapshot, f);
      if (tm === undefined) throw new Error(`${f.tree} no longer holds ${f.module}/${f.version}`);
      await planLinkKernel(
        paths,
        { ...tm, dkmsBookkeeping: true, tree: treeDir(paths, f.tree) },
        f.kernel,
        plan,
      );
      break;
    }
    case 'regenerate-symvers': {
      const tm = treeModule(snapshot, { ...f, arch: undefined });
      if (tm === undefined) throw new Error(`${f.tree} no longer holds ${f.module}/${f.version}`);
      const dir = treeDir(paths, f.tree);
      const lines: string[] = [];
      for (const rel of tm.files) {
        const info = await readKernelModuleFile(path.join(dir, rel));
        lines.push(...symversLinesFor(info, withoutModuleSuffix(rel)));
      }
      const data = Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
      await plan.add({
        op: 'write',
        path: path.join(dir, TREE_META_DIR, f.module, f.version, SAVED_SYMVERS_FILE),
        data,
      });
      break;
    }
  }
  await refuseToReplaceFiles(plan.operations);
  return plan.operations;
}

function treeDir(paths: Paths, tree: string): string {
  // The name comes from a link target on disk: only a plain tree name may become a path.
  if (parseAbiTreeName(tree) === undefined || tree.includes('/')) throw new Error(`not a tree name: ${tree}`);
  return path.join(paths.modulesDir, tree);
}

function treeModule(
  snapshot: Snapshot,
  f: { tree: string; module: string; version: string; arch: string | undefined },
): TreeModule | undefined {
  const abi = parseAbiTreeName(f.tree);
  if (abi === undefined) return undefined;
  return treeModulesOf(snapshot, abi).find(
    (m) => m.module === f.module && m.version === f.version && (f.arch === undefined || m.arch === f.arch),
  );
}

async function holdsOnlyDirectories(dir: string): Promise<boolean> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    if (!st.isDirectory() || !(await holdsOnlyDirectories(p))) return false;
  }
  return true;
}

/** DKMS's mark for the kernel when it names this version, and our module/ link entry there. */
async function planUnmarkEntry(
  paths: Paths,
  f: Extract<Fix, { kind: 'unmark' }>,
  plan: PlanBuilder,
): Promise<void> {
  const mdir = path.join(paths.dkmsTree, f.module);
  const mark = path.join(mdir, `kernel-${f.kernel}-${f.arch}`);
  const target = await linkTarget(mark);
  if (target !== undefined && path.resolve(mdir, target) === path.join(mdir, f.version, f.kernel, f.arch)) {
    await plan.add({ op: 'remove', path: mark });
  }
  const archDir = path.join(mdir, f.version, f.kernel, f.arch);
  const moduleLink = path.join(archDir, 'module');
  if ((await lstat(moduleLink).catch(() => undefined))?.isSymbolicLink() !== true) return;
  const entries = await readdir(archDir);
  if (entries.length === 1) {
    // Our installed-abi entry holds nothing else: the arch directory (and an emptied kernel directory) go.
    await plan.add({ op: 'remove', path: archDir });
    const kdir = path.dirname(archDir);
    if ((await readdir(kdir)).length === 1) await plan.add({ op: 'remove', path: kdir });
  } else {
    await plan.add({ op: 'remove', path: moduleLink });
  }
}

/** Repairs touch links and dkms-abi's own files only: a real file in the way is left for a person. */
async function refuseToReplaceFiles(ops: readonly Operation[]): Promise<void> {
  for (const o of ops) {
    if (o.op !== 'remove' && o.op !== 'symlink') continue;
    const st = await lstat(o.path).catch(() => undefined);
    if (st === undefined || st.isSymbolicLink()) continue;
    if (o.op === 'remove' && st.isDirectory() && (await holdsNoRealFiles(o.path))) continue;
    throw new Error(
      `would ${o.op === 'remove' ? 'remove' : 'replace'} ${o.path}, which is not a link: move it aside first`,
    );
  }
}

/** A directory of links and directories only (our installed-abi entries, an empty tree). */
async function holdsNoRealFiles(dir: string): Promise<boolean> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    if (st.isSymbolicLink()) continue;
    if (!st.isDirectory() || !(await holdsNoRealFiles(p))) return false;
  }
  return true;
}
