// autoinstall [-k KVER]: every AUTOINSTALL module usable on the kernel (default: the
// running one), reusing same-ABI binaries before compiling anything.
import { UsageError, type ExitCode } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { autoinstallKernel, type AutoinstallReport, type ModuleResult } from '../flows/autoinstall.js';
import { withSession } from '../system/session.js';
import { VerdictService } from '../system/verdict-service.js';
import { release } from 'node:os';

export interface AutoinstallOptions {
  readonly kernel?: string;
}

export function describeAction(r: ModuleResult, kernel: string): string {
  const a = r.action;
  const what = `${r.module}/${r.version}, ${kernel}`;
  switch (a.kind) {
    case 'usable':
      return `${what}: already usable`;
    case 'linked':
      return `${what}: linked (installed-abi, no build)`;
    case 'reused':
      return `${what}: reused from ${a.from} (no build)`;
    case 'built':
      return `${what}: built and installed`;
    case 'excluded':
      return `${what}: skipped (${a.message})`;
    case 'failed':
      return `${what}: FAILED (${a.message})`;
  }
}

export function reportJson(r: AutoinstallReport): unknown {
  return {
    kernel: r.kernel,
    tree: r.tree,
    splitFrom: r.splitFrom ?? null,
    modules: r.results.map((m) => ({
      module: m.module,
      version: m.version,
      action: m.action.kind,
      detail: 'message' in m.action ? m.action.message : 'from' in m.action ? m.action.from : null,
    })),
  };
}

export async function autoinstall(ctx: Context, opts: AutoinstallOptions): Promise<ExitCode> {
  const kernel = opts.kernel ?? release();
  if (kernel === '') throw new UsageError('autoinstall: cannot tell the running kernel; pass -k KVER');
  return withSession<ExitCode>(
    ctx,
    `autoinstall ${kernel}`,
    async (session) => {
      const report = await autoinstallKernel(ctx, session, new VerdictService(ctx.paths), kernel, (r) => {
        if (!ctx.json) ctx.out.line(describeAction(r, kernel));
      });
      if (ctx.json) ctx.out.json(reportJson(report));
      return report.results.some((r) => r.action.kind === 'failed') ? 1 : 0;
    },
    { batchDepmod: true },
  );
}
