// uninstall (and the first half of remove): take a module out of the shared trees — of one
// kernel's ABI, or of all — with DKMS's marks for the trees' kernels; DKMS keeps its builds.
// One transaction per tree module, each followed by depmod of the tree's kernels.
import { abiTreeName, sameAbi } from '../core/abi-id.js';
import { UsageError } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planRemoveFromTree } from '../system/tree-plans.js';
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
      await planRemoveFromTree(ctx.paths, tree.abi, tm, plan, new Set(), kernels);
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
