// The packager's ABI check (Mandriva's `abi --check`, Red Hat's check-kabi): what changed
// from a reference Module.symvers to a new kernel's, after the packager's accepted changes
// are taken out. Changed CRCs, removed symbols, moves to another module, export type and
// namespace changes break built modules; additions only warn unless the check is strict.
// With a whitelist only the listed symbols count (check-kabi's "changed / lost / moved").
import { anyGlob } from './abi-check-rules.js';
import { TextBytes } from './text-bytes.js';
import {
  breakingCount,
  diffSymvers,
  type SymversChange,
  type SymversDiff,
  type SymversIndex,
} from './symvers.js';

export interface AbiCheckRules {
  /** Additions fail the check too. */
  readonly strict: boolean;
  /** Globs on symbol names whose changes are accepted. */
  readonly ignoreSymbols: readonly string[];
  /** Globs on module paths ("vmlinux", "drivers/net/*"): changes of their exports are accepted. */
  readonly ignoreModules: readonly string[];
  /** Only these symbols matter. */
  readonly whitelist?: ReadonlySet<string>;
}

export interface AbiCheckResult {
  readonly compatible: boolean;
  /** The changes that count, each list sorted by symbol. */
  readonly diff: SymversDiff;
  readonly breaking: number;
  /** Distinct symbols whose changes the ignore rules took out. */
  readonly ignored: number;
  readonly whitelisted: boolean;
}

export const CATEGORIES = [
  'changed',
  'removed',
  'moved',
  'exportTypeChanged',
  'namespaceChanged',
  'added',
] as const satisfies readonly (keyof SymversDiff)[];

/** What the rules need of either side: the module exporting a symbol (its first export), if any. */
export type ExportingModule = (symbol: string) => string | undefined;

export function checkAbi(ref: SymversIndex, next: SymversIndex, rules: AbiCheckRules): AbiCheckResult {
  return checkAbiDiff(
    diffSymvers(ref, next),
    (s) => ref.bySymbol.get(s)?.module,
    (s) => next.bySymbol.get(s)?.module,
    rules,
  );
}

/** checkAbi on a diff already made (by diffSymvers or diffSymversTables). */
export function checkAbiDiff(
  full: SymversDiff,
  refModule: ExportingModule,
  nextModule: ExportingModule,
  rules: AbiCheckRules,
): AbiCheckResult {
  if (rules.whitelist === undefined && rules.ignoreSymbols.length === 0 && rules.ignoreModules.length === 0) {
    // No rules: every change counts, as the filters below would keep it.
    const breaking = breakingCount(full);
    return {
      compatible: breaking === 0 && !(rules.strict && full.added.length > 0),
      diff: full,
      breaking,
      ignored: 0,
      whitelisted: false,
    };
  }
  const symbolIgnored = anyGlob(rules.ignoreSymbols);
  const moduleIgnored = anyGlob(rules.ignoreModules);
  const ignoredSymbols = new Set<string>();
  const byModule = rules.ignoreModules.length > 0;
  const keep = (c: SymversChange): boolean => {
    if (rules.whitelist !== undefined && !rules.whitelist.has(c.symbol)) return false;
    const modules = byModule ? [refModule(c.symbol), nextModule(c.symbol)] : [];
    if (symbolIgnored(c.symbol) || modules.some((m) => m !== undefined && moduleIgnored(m))) {
      ignoredSymbols.add(c.symbol);
      return false;
    }
    return true;
  };
  const filtered = Object.fromEntries(CATEGORIES.map((k) => [k, full[k].filter(keep)])) as Record<
    (typeof CATEGORIES)[number],
    SymversChange[]
  >;
  if (rules.whitelist !== undefined) {
    // A whitelisted symbol neither side exports is lost all the same.
    for (const symbol of rules.whitelist) {
      if (refModule(symbol) !== undefined || nextModule(symbol) !== undefined) continue;
      if (!keep({ symbol, old: null, new: null })) continue;
      filtered.removed.push({ symbol, old: null, new: null });
    }
    filtered.removed.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  }
  const diff: SymversDiff = filtered;
  const breaking = breakingCount(diff);
  return {
    compatible: breaking === 0 && !(rules.strict && diff.added.length > 0),
    diff,
    breaking,
    ignored: ignoredSymbols.size,
    whitelisted: rules.whitelist !== undefined,
  };
}

/** The contract's --json document. */
export function abiCheckJson(r: AbiCheckResult): Record<string, unknown> {
  return {
    compatible: r.compatible,
    changed: r.diff.changed,
    removed: r.diff.removed,
    added: r.diff.added,
    moved: r.diff.moved,
    exportTypeChanged: r.diff.exportTypeChanged,
    namespaceChanged: r.diff.namespaceChanged,
  };
}

const HEADINGS: Record<(typeof CATEGORIES)[number], string> = {
  changed: 'changed CRC',
  removed: 'removed',
  moved: 'moved to another module',
  exportTypeChanged: 'export type changed',
  namespaceChanged: 'namespace changed',
  added: 'added',
};

/**
 * The text report: one group per category in a fixed order, symbols sorted, then a verdict
 * line. In whitelist mode the removed group is check-kabi's "lost".
 */
export function formatAbiCheck(r: AbiCheckResult, refName: string, newName: string): string[] {
  return formatAbiCheckText(r, refName, newName).split('\n');
}

/** Symbols are padded to the longest in their group, up to this width. */
const PAD_WIDTH = 48;

/** formatAbiCheck's lines joined by newlines. */
export function formatAbiCheckText(r: AbiCheckResult, refName: string, newName: string): string {
  return new TextDecoder().decode(formatAbiCheckBytes(r, refName, newName)).slice(0, -1);
}

/**
 * The text report as written: formatAbiCheck's lines, each ending in a newline, in UTF-8. An
 * ABI bump lists ~18,000 changed CRCs: they are copied into the bytes in one plain loop, with
 * no call per line that the optimising compiler would have to see first (the loop runs once).
 */
export function formatAbiCheckBytes(r: AbiCheckResult, refName: string, newName: string): Uint8Array {
  // About 60 bytes a line: symbol, pad, two CRCs.
  const lines = CATEGORIES.reduce((n, k) => n + r.diff[k].length, 0);
  const out = new TextBytes(lines * 64 + 1024);
  out.add(`abi check: ${refName} -> ${newName}${r.whitelisted ? ' (whitelisted symbols only)' : ''}\n`);
  for (const k of CATEGORIES) {
    const items = r.diff[k];
    if (items.length === 0) continue;
    const heading = k === 'removed' && r.whitelisted ? 'lost' : HEADINGS[k];
    out.add(`${heading} (${items.length}):\n`);
    let width = 0;
    for (const c of items) if (c.symbol.length > width) width = c.symbol.length;
    if (width > PAD_WIDTH) width = PAD_WIDTH;
    // An addition shows its new value, a removal its old one, any other change both.
    const only = k === 'added' ? 'new' : k === 'removed' ? 'old' : undefined;
    for (const c of items) {
      out
        .add('  ')
        .add(c.symbol)
        .pad(width - c.symbol.length)
        .add('  ');
      if (only === undefined) out.add(show(c.old)).add(' -> ').add(show(c.new)).add('\n');
      else out.add(show(c[only])).add('\n');
    }
  }
  return out.add(`${verdictLine(r)}\n`).result();
}

function show(v: string | null): string {
  return v === null ? '(none)' : v === '' ? '""' : v;
}

function verdictLine(r: AbiCheckResult): string {
  const d = r.diff;
  const parts = [
    [d.changed.length, 'changed'],
    [d.removed.length, r.whitelisted ? 'lost' : 'removed'],
    [d.moved.length, 'moved'],
    [d.exportTypeChanged.length, 'export type changed'],
    [d.namespaceChanged.length, 'namespace changed'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, what]) => `${String(n)} ${String(what)}`);
  const ignored = r.ignored > 0 ? ` (${r.ignored} symbols ignored by rules)` : '';
  const added = d.added.length > 0 ? `${d.added.length} added` : '';
  if (r.breaking > 0) return `ABI broken: ${parts.join(', ')}${added === '' ? '' : `; ${added}`}${ignored}`;
  if (!r.compatible) return `ABI changed: ${added} (--strict)${ignored}`;
  return `ABI compatible${added === '' ? '' : `: ${added} (warning)`}${ignored}`;
}
