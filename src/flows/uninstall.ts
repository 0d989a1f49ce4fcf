// uninstall (and the first half of remove): take a module out of the shared trees — of one
// kernel's ABI, or of all — with DKMS's marks for the trees' kernels; DKMS keeps its builds.
// One transaction per tree module, each followed by depmod of the tree's kernels.
import { abiTreeName, sameAbi } from '../core/abi-id.js';
import { UsageError } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { dkmsUninstall } from '../system/dkms.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planRemoveFromTree } from '../system/tree-plans.js';
import { planDropVerdictCaches } from '../system/verdict-cache.js';
import { kernelsOfTree, treeOf } from '../core/snapshot.js';

export interface UninstallTarget {
  readonly module: string;
  /** Every version when absent. */
  readonly version?: string;
  /** Only the tree of this kernel's ABI when present (nothing when it is not registered). */
  readonly kernel?: string;
  /**
   * With `kernel`: take the module from the other kernels sharing that tree too. Stock dkms's
   * `uninstall -k` affects one kernel only; a shared tree cannot, so without this flag an
   * uninstall that would reach other kernels is refused, naming them.
   */
  readonly allSharing?: boolean;
}

/** A module version that left a tree, for one of the tree's kernels. */
export interface Uninstalled {
  readonly module: string;
  readonly version: string;
  readonly kernel: string;
  readonly arch: string;
}

export async function uninstallFromTrees(
  ctx: Context,
  session: Session,
  target: UninstallTarget,
): Promise<Uninstalled[]> {
  const snap = await scanRoot(ctx.paths);
  const onlyAbi =
    target.kernel === undefined ? undefined : snap.kernels.find((k) => k.kernel === target.kernel)?.abi;
  if (target.kernel !== undefined && onlyAbi === undefined) return [];
  const matches = (tm: { module: string; version: string }): boolean =>
    tm.module === target.module && (target.version === undefined || tm.version === target.version);
  if (onlyAbi !== undefined && target.allSharing !== true) {
    const tree = treeOf(snap, onlyAbi);
    const others = kernelsOfTree(snap, onlyAbi).filter((k) => k !== target.kernel);
    const found = tree?.modules.filter(matches) ?? [];
    if (found.length > 0 && others.length > 0) {
      const what = [...new Set(found.map((tm) => `${tm.module}/${tm.version}`))].join(', ');
      throw new UsageError(
        `${what} on ${target.kernel} is shared with ${others.join(', ')} (${abiTreeName(onlyAbi)}): ` +
          `uninstalling it from ${target.kernel} takes it from them too; add --all-sharing to do so`,
      );
    }
  }
  const out: Uninstalled[] = [];
  for (const tree of snap.trees) {
    if (onlyAbi !== undefined && !sameAbi(tree.abi, onlyAbi)) continue;
    for (const tm of tree.modules) {
      if (!matches(tm)) continue;
      const kernels = kernelsOfTree(snap, tree.abi);
      const plan = new PlanBuilder(ctx.paths.root);
      await planRemoveFromTree(ctx.paths, tree.abi, tm, plan, new Set(), kernels, tree.modules);
      await planDropVerdictCaches(ctx.paths, kernels, plan);
      await session.apply({
        description: `uninstall ${tm.module}/${tm.version} from kernel-abi-${tree.abi.flavour}-${tree.abi.abiver}`,
        operations: plan.operations,
        depmod: kernels,
      });
      for (const k of kernels) out.push({ module: tm.module, version: tm.version, kernel: k, arch: tm.arch });
    }
  }
  return out;
}

/**
 * What stock dkms installed and dkms-abi never took over (its copies in updates/dkms, on
 * kernels registered or not): DKMS builds marked installed that no shared tree holds for the
 * kernel. Call after uninstallFromTrees, which takes dkms-abi's own marks away.
 */
export async function plainDkmsInstalls(
  ctx: Context,
  target: UninstallTarget,
): Promise<{ module: string; version: string; kernels: { kernel: string; arch: string }[] }[]> {
  const snap = await scanRoot(ctx.paths);
  const out = [];
  for (const mv of snap.dkms) {
    if (mv.module !== target.module || (target.version !== undefined && mv.version !== target.version))
      continue;
    const kernels = mv.builds
      .filter((b) => b.installed && b.kind === 'built')
      .filter((b) => target.kernel === undefined || b.kernel === target.kernel)
      .map((b) => ({ kernel: b.kernel, arch: b.arch }));
    if (kernels.length > 0) out.push({ module: mv.module, version: mv.version, kernels });
  }
  return out;
}

/**
 * Uninstalls what stock dkms installed (dkms uninstall, which deletes its copies), then runs
 * depmod for those kernels, as stock dkms would: modules.dep must not list files that are gone.
 */
export async function uninstallPlainDkms(
  ctx: Context,
  session: Session,
  target: UninstallTarget,
): Promise<Uninstalled[]> {
  const out: Uninstalled[] = [];
  for (const p of await plainDkmsInstalls(ctx, target)) {
    await dkmsUninstall(ctx.paths, p, p.kernels);
    await depmodKernels(
      ctx,
      session,
      p.kernels.map((k) => k.kernel),
      `uninstall ${p.module}/${p.version}`,
    );
    for (const k of p.kernels) out.push({ module: p.module, version: p.version, ...k });
  }
  return out;
}

/** depmod for those of the kernels that have a modules directory in the root. */
export async function depmodKernels(
  ctx: Context,
  session: Session,
  kernels: readonly string[],
  why: string,
): Promise<void> {
  const snap = await scanRoot(ctx.paths);
  const present = [...new Set(kernels)].filter((k) => snap.kernels.some((e) => e.kernel === k));
  if (present.length === 0) return;
  await session.apply({ description: `depmod after ${why}`, operations: [], depmod: present });
}
