// adopt [--undo]: take over what stock dkms installed (every installed kernel registered,
// its copies turned into the shared tree's modules), or give it back as plain dkms copies.
// The Debian package's postinst runs `dkms-abi adopt`, its prerm `dkms-abi adopt --undo`.
import type { ExitCode } from '../core/errors.js';
import { installedState, moduleLine } from '../core/status.js';
import type { Context } from '../system/context.js';
import { adoptRoot, undoAdopt } from '../flows/adopt.js';
import { withSession } from '../system/session.js';
import { VerdictService } from '../system/verdict-service.js';

export interface AdoptOptions {
  readonly undo?: boolean;
}

export async function adopt(ctx: Context, opts: AdoptOptions): Promise<ExitCode> {
  if (opts.undo === true) {
    return withSession<ExitCode>(ctx, 'adopt --undo', async (session) => {
      const r = await undoAdopt(ctx, session);
      if (ctx.json) {
        ctx.out.json(r);
        return 0;
      }
      for (const c of r.copied) ctx.out.line(moduleLine(c, 'plain dkms copy in updates/dkms'));
      for (const u of r.unregistered) ctx.out.line(`${u.kernel}: unregistered from ${u.tree}`);
      for (const k of r.kept)
        ctx.out.note(
          `${k.kernel} keeps ${k.tree}: it holds ${k.modules.join(', ')}, which dkms does not know`,
        );
      return 0;
    });
  }
  return withSession<ExitCode>(
    ctx,
    'adopt',
    async (session) => {
      const r = await adoptRoot(ctx, session, new VerdictService(ctx.paths));
      if (ctx.json) {
        ctx.out.json(r);
        return 0;
      }
      for (const k of r.registered) ctx.out.line(`${k.kernel}: registered in ${k.tree}`);
      for (const k of r.skipped) ctx.out.note(`${k.kernel}: not registered (${k.reason})`);
      for (const m of r.modules)
        ctx.out.line(
          moduleLine(
            m,
            m.outcome.kind === 'adopted'
              ? `adopted, ${installedState(m.kernel, m.outcome.builtFor)}`
              : `kept as stock dkms installed it (${m.outcome.reason})`,
          ),
        );
      return 0;
    },
    { batchDepmod: true },
  );
}
