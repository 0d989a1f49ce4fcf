// abi compat KO… (-k KVER | --symvers FILE [--vermagic STR]): would this kernel's module
// loader accept these modules? Files, directories and whole module trees; every module
// given is taken to be present with the others (and with the kernel's shared tree).
import { readFile } from 'node:fs/promises';
import { InputError, UsageError, type ExitCode } from '../core/errors.js';
import { headerFinding, parseHeaderRecord, type HeaderFinding } from '../core/header-record.js';
import { checkHeaders } from '../system/header-files.js';
import { compatJson, compatLines } from '../core/verdict-report.js';
import type { Context } from '../system/context.js';
import { collectModuleFiles } from '../system/module-files.js';
import { VerdictService } from '../system/verdict-service.js';

export interface AbiCompatOptions {
  readonly modules: readonly string[];
  readonly kernel?: string;
  readonly symvers?: string;
  readonly vermagic?: string;
  /** headers.sha256 of the build (what its objects read from the kernel headers). */
  readonly builtHeaders?: string;
  /** The headers to compare it with; default: the -k kernel's. */
  readonly headers?: string;
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
  // CRCs cannot see inline bodies, macros or layouts used by inline code: the header record can.
  const headers = await compatHeaders(ctx, opts);
  const s = report.sources;
  if (!ctx.json) {
    ctx.out.note(
      `judging against ${s.symvers}${s.tree !== null ? ` and the modules of ${s.tree}` : ''}; vermagic ${
        s.vermagic === 'unknown'
          ? 'unknown, not checked'
          : `from ${s.vermagic === 'option' ? '--vermagic' : s.vermagic}`
      }`,
    );
    // Written a batch of lines at a time: a whole module tree is thousands of lines (one write
    // each costs), and all of them at once is a string the collector copies while it grows.
    let batch: string[] = [];
    for (const line of compatLines(results)) {
      batch.push(line);
      if (batch.length === 2048) {
        ctx.out.line(batch.join('\n'));
        batch = [];
      }
    }
    if (batch.length > 0) ctx.out.line(batch.join('\n'));
    if (headers !== undefined) ctx.out.line(`headers: ${headerLine(headers)}`);
  } else {
    ctx.out.json({
      ...compatJson(results),
      ...(headers !== undefined ? { headers: headers.state, driftedHeaders: headers.drifted } : {}),
    });
  }
  return results.every((r) => r.verdict.usable) && headers?.state !== 'differ' ? 0 : 1;
}

function headerLine(f: HeaderFinding): string {
  if (f.state === 'same') return 'same as built';
  if (f.state === 'differ') return `differ: ${f.drifted.join(', ')}`;
  return `not checked (${f.why ?? 'no headers'})`;
}

async function compatHeaders(ctx: Context, opts: AbiCompatOptions): Promise<HeaderFinding | undefined> {
  if (opts.builtHeaders === undefined) {
    if (opts.headers !== undefined) throw new UsageError('abi compat: --headers needs --built-headers FILE');
    return undefined;
  }
  const file = opts.builtHeaders;
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new InputError(file, `cannot read: ${err.code ?? err.message}`);
  });
  const recorded = parseHeaderRecord(text, file);
  if (opts.headers === undefined && opts.kernel === undefined)
    throw new UsageError('abi compat: --built-headers needs -k KVER or --headers DIR');
  // A directory speaks for its own release (its utsrelease.h), whatever -k says.
  const kernel = opts.headers !== undefined ? '' : (opts.kernel ?? '');
  return headerFinding(await checkHeaders(ctx.paths, recorded, kernel, opts.headers));
}
