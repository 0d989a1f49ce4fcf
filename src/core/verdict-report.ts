// How `abi compat` shows verdicts: one line per module, then every problem indented, then a
// count; and the --json document of the contract.
import { describeProblem, summarize, type ModuleVerdict, type VerdictProblem } from './verdict.js';

export interface CompatResult {
  readonly path: string;
  readonly name: string;
  readonly kernel: string;
  readonly verdict: ModuleVerdict;
}

/**
 * The report's lines, made as they are taken: a whole kernel's modules against another ABI
 * are ~77,000 lines, which a caller can write a batch at a time instead of holding them all.
 */
export function* compatLines(results: readonly CompatResult[]): Generator<string> {
  let usable = 0;
  for (const r of results) {
    const u = summarize(r.verdict);
    if (u.usable) {
      usable++;
      yield `${r.path}: usable on ${r.kernel}`;
      continue;
    }
    yield `${r.path}: unusable on ${r.kernel}`;
    for (const p of r.verdict.problems) yield `  ${p.kind}: ${problemDetail(p)}`;
  }
  const kernels = [...new Set(results.map((r) => r.kernel))].join(', ');
  yield `${results.length} module${results.length === 1 ? '' : 's'}: ${usable} usable, ${results.length - usable} unusable on ${kernels}`;
}

/** The problem in words, with the kernel's and the module's sides where the short form hides them. */
function problemDetail(p: VerdictProblem): string {
  switch (p.kind) {
    case 'module-layout':
    case 'crc-mismatch':
      return `${p.symbol ?? '?'}: module has ${p.actual ?? '?'}, kernel exports ${p.expected ?? '?'}`;
    case 'no-symbol-version':
      return `${p.symbol ?? '?'}: no __versions entry (kernel exports ${p.expected ?? '?'})`;
    default:
      return describeProblem(p);
  }
}

export function compatJson(results: readonly CompatResult[]): { results: unknown[] } {
  return {
    results: results.map((r) => ({
      path: r.path,
      name: r.name,
      kernel: r.kernel,
      usable: r.verdict.usable,
      problems: r.verdict.problems.map((p) => ({
        kind: p.kind,
        symbol: p.symbol,
        expected: p.expected,
        actual: p.actual,
      })),
    })),
  };
}
