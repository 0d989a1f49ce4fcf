// kernel remove: unregister a kernel from its ABI tree — DKMS's marks for it go, builds made
// for it move to a kernel that shares them, its extra/ link goes, and the tree goes with its
// last kernel. One transaction; the modules stay in the tree for the kernels that remain.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sameAbi } from '../core/abi-id.js';
import { type Snapshot, treeOf } from '../core/snapshot.js';
import type { Context } from '../system/context.js';
import { derivedSymversFile } from '../system/kernel-files.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planUnmark } from '../system/tree-plans.js';

export type KernelRemoval =
  | { readonly kind: 'not-registered' }
  /** `others`: the kernels the tree still serves (none: the tree was removed). */
  | { readonly kind: 'unregistered'; readonly treeName: string; readonly others: readonly string[] };

export async function removeKernel(ctx: Context, session: Session, kernel: string): Promise<KernelRemoval> {
  const snap = await scanRoot(ctx.paths);
  const entry = snap.kernels.find((k) => k.kernel === kernel);
  if (entry?.abi === undefined) return { kind: 'not-registered' };
  const abi = entry.abi;
  const plan = new PlanBuilder(ctx.paths.root);
  const tree = treeOf(snap, abi);
  for (const tm of tree?.modules ?? []) await planUnmark(ctx.paths, tm, kernel, plan);
  await planRehomeBuilds(ctx, snap, kernel, plan);
  await plan.add({ op: 'remove', path: ctx.paths.extraLink(kernel) });
  const others = snap.kernels.filter(
    (k) => k.kernel !== kernel && k.abi !== undefined && sameAbi(k.abi, abi),
  );
  if (others.length === 0) await plan.add({ op: 'remove', path: ctx.paths.abiTree(abi.flavour, abi.abiver) });
  // The Module.symvers derived from its image (image-symvers.ts) goes with it.
  const derived = path.dirname(ctx.paths.host(derivedSymversFile(ctx.paths, kernel)));
  if (existsSync(derived)) await plan.add({ op: 'remove', path: derived });
  await session.apply({
    description: `kernel remove ${kernel}`,
    operations: plan.operations,
    depmod: [],
  });
  return {
    kind: 'unregistered',
    treeName: ctx.paths.abiTreeName(abi.flavour, abi.abiver),
    others: others.map((k) => k.kernel),
  };
}

/** A DKMS build moved from the kernel it was made for to a kernel that shares it. */
export interface RehomedBuild {
  readonly module: string;
  readonly version: string;
  readonly arch: string;
  readonly to: string;
}

/**
 * Other kernels' installed-abi entries point at builds made for this kernel
 * (module -> ../../<kernel>/<arch>/module). Before it goes (or before dkms's kernel_preinst
 * unbuilds it), move each such build to its first dependent and point the rest there, so
 * DKMS's view stays whole.
 */
export async function planRehomeBuilds(
  ctx: Context,
  snap: Snapshot,
  kernel: string,
  plan: PlanBuilder,
): Promise<RehomedBuild[]> {
  const moved: RehomedBuild[] = [];
  for (const mv of snap.dkms) {
    for (const b of mv.builds) {
      if (b.kernel !== kernel || b.kind !== 'built') continue;
      const dependents = mv.builds.filter(
        (d) => d.kind === 'abi-link' && d.builtFor === kernel && d.arch === b.arch,
      );
      const [heir, ...rest] = dependents;
      if (heir === undefined) continue;
      const vdir = path.join(ctx.paths.dkmsTree, mv.module, mv.version);
      await plan.add({ op: 'remove', path: path.join(vdir, heir.kernel, heir.arch) });
      await plan.add({
        op: 'rename',
        from: path.join(vdir, kernel, b.arch),
        path: path.join(vdir, heir.kernel, heir.arch),
      });
      for (const d of rest) {
        await plan.add({
          op: 'symlink',
          path: path.join(vdir, d.kernel, d.arch, 'module'),
          target: `../../${heir.kernel}/${heir.arch}/module`,
        });
      }
      moved.push({ module: mv.module, version: mv.version, arch: b.arch, to: heir.kernel });
    }
  }
  return moved;
}
