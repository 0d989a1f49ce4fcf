// kernel add | remove | list: register a kernel in its ABI tree (then reuse or build its
// modules), unregister it (pruning a tree it was the last user of), list them.
import path from 'node:path';
import { sameAbi } from '../core/abi-id.js';
import { UsageError, type ExitCode } from '../core/errors.js';
import { parseKernelRelease } from '../core/release.js';
import type { Snapshot } from '../core/snapshot.js';
import type { Context } from '../system/context.js';
import { autoinstallKernel } from '../system/autoinstall-flow.js';
import { checkKernelName } from '../system/kernel-identity.js';
import { planUnmark } from '../system/module-install.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import { withSession } from '../system/session.js';
import { VerdictService } from '../system/verdicts.js';
import { describeAction, reportJson } from './autoinstall.js';

export interface KernelArg {
  readonly kernel: string;
}

export async function kernelAdd(ctx: Context, opts: KernelArg): Promise<ExitCode> {
  checkKernelName(opts.kernel);
  return withSession<ExitCode>(
    ctx,
    `kernel add ${opts.kernel}`,
    async (session) => {
      const report = await autoinstallKernel(
        ctx,
        session,
        new VerdictService(ctx.paths),
        opts.kernel,
        (r) => {
          if (!ctx.json) ctx.out.line(describeAction(r, opts.kernel));
        },
      );
      if (ctx.json) ctx.out.json(reportJson(report));
      else ctx.out.note(`${opts.kernel}: ABI tree ${report.tree}`);
      return report.results.some((r) => r.action.kind === 'failed') ? 1 : 0;
    },
    { batchDepmod: true },
  );
}

export async function kernelRemove(ctx: Context, opts: KernelArg): Promise<ExitCode> {
  checkKernelName(opts.kernel);
  return withSession<ExitCode>(ctx, `kernel remove ${opts.kernel}`, async (session) => {
    const snap = await scanRoot(ctx.paths);
    const entry = snap.kernels.find((k) => k.kernel === opts.kernel);
    if (entry?.abi === undefined) {
      ctx.out.note(`${opts.kernel} is not registered; nothing to do`);
      return 0;
    }
    const abi = entry.abi;
    const plan = new PlanBuilder(ctx.paths.root);
    const tree = snap.trees.find((t) => sameAbi(t.abi, abi));
    for (const tm of tree?.modules ?? []) await planUnmark(ctx.paths, tm, opts.kernel, plan);
    await planRehomeBuilds(ctx, snap, opts.kernel, plan);
    await plan.add({ op: 'remove', path: ctx.paths.extraLink(opts.kernel) });
    const others = snap.kernels.filter(
      (k) => k.kernel !== opts.kernel && k.abi !== undefined && sameAbi(k.abi, abi),
    );
    const treeName = ctx.paths.abiTreeName(abi.flavour, abi.abiver);
    if (others.length === 0)
      await plan.add({ op: 'remove', path: ctx.paths.abiTree(abi.flavour, abi.abiver) });
    await session.apply({
      description: `kernel remove ${opts.kernel}`,
      operations: plan.operations,
      depmod: [],
    });
    ctx.out.line(
      others.length === 0
        ? `${opts.kernel}: unregistered; ${treeName} removed (no kernel uses it any more)`
        : `${opts.kernel}: unregistered; ${treeName} still serves ${others.map((k) => k.kernel).join(', ')}`,
    );
    return 0;
  });
}

/**
 * Other kernels' installed-abi entries point at builds made for this kernel
 * (module -> ../../<kernel>/<arch>/module). Before it goes, move each such build to its
 * first dependent and point the rest there, so DKMS's view stays whole.
 */
async function planRehomeBuilds(
  ctx: Context,
  snap: Snapshot,
  kernel: string,
  plan: PlanBuilder,
): Promise<void> {
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
    }
  }
}

export async function kernelList(ctx: Context): Promise<ExitCode> {
  const snap = await scanRoot(ctx.paths);
  const kernels = snap.kernels.map((k) => {
    const flavour = k.abi?.flavour ?? parseKernelRelease(k.kernel, ctx.config.flavourPatterns).flavour;
    return {
      kernel: k.kernel,
      flavour,
      abiver: k.abi?.abiver ?? null,
      tree: k.abi === undefined ? null : ctx.paths.abiTreeName(k.abi.flavour, k.abi.abiver),
    };
  });
  if (ctx.json) ctx.out.json({ kernels });
  else
    for (const k of kernels)
      ctx.out.line(
        `${k.kernel}: ${k.tree === null ? `not registered (flavour ${k.flavour})` : `${k.flavour}-${k.abiver} (${k.tree})`}`,
      );
  return 0;
}

export function requireKernelArg(kernel: string | undefined): string {
  if (kernel === undefined || kernel === '') throw new UsageError('a kernel release is required');
  return kernel;
}
