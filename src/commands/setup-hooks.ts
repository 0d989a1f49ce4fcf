// setup-hooks: install the kernel hooks, the kernel-install plugin, the boot unit and the
// depmod search order into the root. Idempotent: files already right are left alone.
import { readFile } from 'node:fs/promises';
import type { ExitCode } from '../core/errors.js';
import { HOOK_TARGETS, SERVICE_ENABLE_LINK } from '../core/hook-targets.js';
import type { Context } from '../system/context.js';
import { PlanBuilder, linkTarget, sameContent } from '../system/plan-helpers.js';
import { withSession } from '../system/session.js';

export interface SetupHooksOptions {
  readonly dryRun?: boolean;
}

const HOOKS_DIR = new URL('../../hooks/', import.meta.url);

export async function setupHooks(ctx: Context, opts: SetupHooksOptions): Promise<ExitCode> {
  const { paths, out } = ctx;
  return withSession<ExitCode>(
    ctx,
    'setup-hooks',
    async (session) => {
      const plan = new PlanBuilder(paths.root);
      const report: string[] = [];
      for (const h of HOOK_TARGETS) {
        const data = await readFile(new URL(h.source, HOOKS_DIR));
        const dest = paths.host(h.target);
        if (await sameContent(dest, data)) {
          report.push(`up to date ${h.target}`);
          continue;
        }
        await plan.add({ op: 'write', path: dest, data, mode: h.mode });
        report.push(`installed ${h.target}`);
      }
      const enable = paths.host(SERVICE_ENABLE_LINK.path);
      if ((await linkTarget(enable)) !== SERVICE_ENABLE_LINK.target) {
        await plan.add({ op: 'symlink', path: enable, target: SERVICE_ENABLE_LINK.target });
        report.push(`enabled dkms-abi.service`);
      }
      await session.apply({ description: 'setup-hooks', operations: plan.operations, depmod: [] });
      if (ctx.json) out.json({ changes: report });
      else for (const line of report) out.line(line);
      return 0;
    },
    opts,
  );
}
