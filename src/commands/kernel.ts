// kernel add | remove | list: register a kernel in its ABI tree (then reuse or build its
// modules), unregister it (pruning a tree it was the last user of), list them.
import { type ExitCode } from '../core/errors.js';
import { checkKernelRelease, parseKernelRelease } from '../core/release.js';
import type { Context } from '../system/context.js';
import { autoinstallKernel } from '../flows/autoinstall.js';
import { preinstKernel } from '../flows/kernel-preinst.js';
import { removeKernel } from '../flows/kernel-remove.js';
import { scanRoot } from '../system/scan.js';
import { withSession } from '../system/session.js';
import { VerdictService } from '../system/verdict-service.js';
import { describeAction, reportJson } from './autoinstall.js';

export interface KernelArg {
  readonly kernel: string;
}

export async function kernelAdd(ctx: Context, opts: KernelArg): Promise<ExitCode> {
  checkKernelRelease(opts.kernel);
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
  checkKernelRelease(opts.kernel);
  return withSession<ExitCode>(ctx, `kernel remove ${opts.kernel}`, async (session) => {
    const r = await removeKernel(ctx, session, opts.kernel);
    if (r.kind === 'not-registered') {
      ctx.out.note(`${opts.kernel} is not registered; nothing to do`);
      return 0;
    }
    ctx.out.line(
      r.others.length === 0
        ? `${opts.kernel}: unregistered; ${r.treeName} removed (no kernel uses it any more)`
        : `${opts.kernel}: unregistered; ${r.treeName} still serves ${r.others.join(', ')}`,
    );
    return 0;
  });
}

/** Before the kernel package is upgraded or reinstalled under the same name (preinst hook). */
export async function kernelPreinst(ctx: Context, opts: KernelArg): Promise<ExitCode> {
  checkKernelRelease(opts.kernel);
  return withSession<ExitCode>(ctx, `kernel preinst ${opts.kernel}`, async (session) => {
    const r = await preinstKernel(ctx, session, opts.kernel);
    if (r.kind === 'not-registered') {
      ctx.out.note(`${opts.kernel} is not registered; nothing to do`);
      return 0;
    }
    for (const m of r.moved) {
      ctx.out.line(
        `${m.module}/${m.version}, ${opts.kernel}, ${m.arch}: build moved to ${m.to}, which shares it`,
      );
    }
    return 0;
  });
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
