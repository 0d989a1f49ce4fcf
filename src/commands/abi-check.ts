// abi check REF NEW: the packager's diff of two Module.symvers (files, or ABI ids
// FLAVOUR-ABIVER from the archive <state>/abi/<flavour>/<abiver>.symvers). Exit 1 when the
// ABI broke (or, with --strict, grew).
import { stat } from 'node:fs/promises';
import { abiCheckJson, checkAbiDiff, formatAbiCheckBytes } from '../core/abi-check.js';
import { parseWhitelist } from '../core/abi-check-rules.js';
import { parseAbiSpec } from '../core/abi-id.js';
import { EnvironmentError, InputError, type ExitCode } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { diffSymvers, type Symvers, type SymversDiff } from '../core/symvers.js';
import { diffSymversTables, scanSymvers, tableModuleOf, type SymversTable } from '../core/symvers-table.js';
import { parseSymversOnce, readSymversText } from '../system/symvers-file.js';

export interface AbiCheckOptions {
  readonly ref: string;
  readonly new: string;
  readonly strict: boolean;
  readonly ignore: readonly string[];
  readonly ignoreModule: readonly string[];
  readonly whitelist?: string;
}

/**
 * The root's context is made only for an archived ABI id: a diff of two files reads no
 * config and no state.
 */
export async function abiCheck(
  io: Pick<Context, 'json' | 'out'>,
  opts: AbiCheckOptions,
  context: () => Promise<Context>,
): Promise<ExitCode> {
  const [ref, next] = await Promise.all([
    readSide(...(await resolveSymvers(context, opts.ref))),
    readSide(...(await resolveSymvers(context, opts.new))),
  ]);
  const whitelist =
    opts.whitelist === undefined
      ? undefined
      : parseWhitelist(await readSymversText(opts.whitelist), opts.whitelist);
  const result = checkAbiDiff(diffOf(ref, next), ref.moduleOf, next.moduleOf, {
    strict: opts.strict,
    ignoreSymbols: opts.ignore,
    ignoreModules: opts.ignoreModule,
    ...(whitelist !== undefined ? { whitelist } : {}),
  });
  if (io.json) io.out.json(abiCheckJson(result));
  else io.out.bytes(formatAbiCheckBytes(result, opts.ref, opts.new));
  return result.compatible ? 0 : 1;
}

/** One side: its column table (the fast path), or the parsed model when a line needs parseSymvers. */
type Side = (
  | { readonly kind: 'table'; readonly table: SymversTable }
  | { readonly kind: 'model'; readonly model: Symvers }
) & { readonly moduleOf: (symbol: string) => string | undefined };

async function readSide(file: string, shownAs: string): Promise<Side> {
  const text = await readSymversText(file, shownAs);
  const table = scanSymvers(text, shownAs);
  if (table !== undefined) return { kind: 'table', table, moduleOf: (s) => tableModuleOf(table, s) };
  // parseSymvers names the bad line (and throws); the model serves if it reads it after all.
  const model = parseSymversOnce(text, shownAs);
  return { kind: 'model', model, moduleOf: (s) => model.bySymbol.get(s)?.module };
}

function diffOf(ref: Side, next: Side): SymversDiff {
  if (ref.kind === 'table' && next.kind === 'table') return diffSymversTables(ref.table, next.table);
  const model = (s: Side) => (s.kind === 'model' ? s.model : parseSymversOnce(s.table.text, s.table.file));
  return diffSymvers(model(ref), model(next));
}

/** [host path, name for messages]: a file as given, else an archived ABI reference. */
async function resolveSymvers(context: () => Promise<Context>, arg: string): Promise<[string, string]> {
  const st = await stat(arg).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
    throw new EnvironmentError(`cannot read ${arg}: ${err.code ?? String(err)}`);
  });
  if (st !== undefined) return [arg, arg];
  const id = parseAbiSpec(arg);
  if (id !== undefined) {
    const ctx = await context();
    const file = ctx.paths.abiReference(id.flavour, id.abiver);
    if (
      await stat(file).then(
        (f) => f.isFile(),
        () => false,
      )
    )
      return [file, `${arg} (${ctx.paths.inner.stateDir}/abi/${id.flavour}/${id.abiver}.symvers)`];
    throw new InputError(
      arg,
      `no archived ABI reference ${ctx.paths.inner.stateDir}/abi/${id.flavour}/${id.abiver}.symvers`,
    );
  }
  throw new InputError(arg, 'no such file, and not an ABI id (FLAVOUR-ABIVER)');
}
