// abi compat KO… (-k KVER | --symvers FILE [--vermagic STR]): would this kernel's module
// loader accept these modules? Files, directories and whole module trees; every module
// given is taken to be present with the others (and with the kernel's shared tree).
import { UsageError, type ExitCode } from '../core/errors.js';
import { compatJson, formatCompat } from '../core/verdict-report.js';
import type { Context } from '../system/context.js';
import { collectModuleFiles } from '../system/module-files.js';
import { VerdictService } from '../system/verdict-service.js';

export interface AbiCompatOptions {
  readonly modules: readonly string[];
  readonly kernel?: string;
  readonly symvers?: string;
  readonly vermagic?: string;
}

export async function abiCompat(ctx: Context, opts: AbiCompatOptions): Promise<ExitCode> {
  if ((opts.kernel === undefined) === (opts.symvers === undefined))
    throw new UsageError('abi compat: give either -k KVER or --symvers FILE');
  const files = await collectModuleFiles(opts.modules);
  const service = new VerdictService(ctx.paths);
  const report = await service.checkFiles(files, opts.kernel ?? '', {
    ...(opts.symvers !== undefined ? { symversFile: opts.symvers } : {}),
    ...(opts.vermagic !== undefined ? { vermagic: opts.vermagic } : {}),
  });
  const results = report.results.map((r) => ({ ...r, kernel: report.kernel }));
  const s = report.sources;
  if (!ctx.json) {
    ctx.out.note(
      `judging against ${s.symvers}${s.tree !== null ? ` and the modules of ${s.tree}` : ''}; vermagic ${
        s.vermagic === 'unknown'
          ? 'unknown, not checked'
          : `from ${s.vermagic === 'option' ? '--vermagic' : s.vermagic}`
      }`,
    );
    // One write: a whole module tree is thousands of lines.
    ctx.out.line(formatCompat(results).join('\n'));
  } else {
    ctx.out.json(compatJson(results));
  }
  return results.every((r) => r.verdict.usable) ? 0 : 1;
}
