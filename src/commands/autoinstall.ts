// autoinstall [-k KVER]: every AUTOINSTALL module usable on the kernel (default: the
// running one), reusing same-ABI binaries before compiling anything.
import { UsageError, type ExitCode } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { moduleLine } from '../core/status.js';
import { headerDetail } from '../core/header-record.js';
import {
  autoinstallKernel,
  type AutoinstallReport,
  type ModuleAction,
  type ModuleResult,
} from '../flows/autoinstall.js';
import { withSession } from '../system/session.js';
import { VerdictService } from '../system/verdict-service.js';
import { release } from 'node:os';

export interface AutoinstallOptions {
  readonly kernel?: string;
}

export function describeAction(r: ModuleResult, kernel: string): string {
  return moduleLine({ module: r.module, version: r.version, kernel }, actionText(r.action));
}

function actionText(a: ModuleAction): string {
  switch (a.kind) {
    case 'usable': {
      const h = headerDetail(a.headers);
      return h === '' ? 'already usable' : `already usable (${h.slice(2)})`;
    }
    case 'linked':
      return `linked (installed-abi, no build${headerDetail(a.headers)})`;
    case 'reused':
      return `reused from ${a.from} (no build${headerDetail(a.headers)})`;
    case 'built':
      return 'built and installed';
    case 'excluded':
      return `skipped (${a.message})`;
    case 'failed':
      return `FAILED (${a.message})`;
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
      headers: 'headers' in m.action && m.action.headers !== undefined ? m.action.headers.state : null,
      driftedHeaders: 'headers' in m.action && m.action.headers !== undefined ? m.action.headers.drifted : [],
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
