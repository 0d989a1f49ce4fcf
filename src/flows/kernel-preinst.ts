// kernel preinst: run by the kernel package's preinst hook before Debian's dkms hook. On a
// same-name upgrade or reinstall, dkms >= 3.1's kernel_preinst unbuilds every AUTOINSTALL
// module of the kernel: the builds it made for its whole ABI would go, and every other kernel
// of the ABI would drop to "added" for stock dkms. Move them first to a kernel that shares
// them; the kernel stays registered (its extra/ link and the tree are untouched), and the
// postinst hook's `kernel add` marks it installed again, restoring its own build from the
// tree (planRestoreBuild). A build no other kernel shares is left to dkms: the tree keeps
// the binaries, and `kernel add` restores it the same way.
import type { Context } from '../system/context.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planRehomeBuilds, type RehomedBuild } from './kernel-remove.js';

export type KernelPreinst =
  { readonly kind: 'not-registered' } | { readonly kind: 'kept'; readonly moved: readonly RehomedBuild[] };

export async function preinstKernel(ctx: Context, session: Session, kernel: string): Promise<KernelPreinst> {
  const snap = await scanRoot(ctx.paths);
  if (snap.kernels.find((k) => k.kernel === kernel)?.abi === undefined) return { kind: 'not-registered' };
  const plan = new PlanBuilder(ctx.paths.root);
  const moved = await planRehomeBuilds(ctx, snap, kernel, plan);
  if (plan.operations.length > 0) {
    await session.apply({ description: `kernel preinst ${kernel}`, operations: plan.operations, depmod: [] });
  }
  return { kind: 'kept', moved };
}
