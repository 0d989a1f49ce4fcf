// Module.symvers: one exported symbol per line, tab-separated. Three layouts exist:
//   crc  symbol  module  export_type              (kernels before 5.4)
//   crc  symbol  namespace  module  export_type   (5.4 to 5.9)
//   crc  symbol  module  export_type  namespace   (5.10 on; Debian's lines end in a tab:
//                                                  the namespace is empty)
// Parsed into entries that serialise back byte for byte, indexed by symbol once, merged
// for KBUILD_EXTRA_SYMBOLS-style sets, and diffed the way a packager's ABI check needs.
// The parser scans with indexOf rather than a regex or split per line: a kernel's file has
// ~24,600 lines and is read on every kernel add, abi check and module verdict.
import { InputError } from './errors.js';

export const KNOWN_EXPORT_TYPES = [
  'EXPORT_SYMBOL',
  'EXPORT_SYMBOL_GPL',
  // Removed from the kernel in 5.x, still found in older files.
  'EXPORT_SYMBOL_GPL_FUTURE',
  'EXPORT_UNUSED_SYMBOL',
  'EXPORT_UNUSED_SYMBOL_GPL',
] as const;

export type KnownExportType = (typeof KNOWN_EXPORT_TYPES)[number];
/** The known values typed; anything else is kept as written (modpost prints "(unknown)" for some). */
export type ExportType = KnownExportType | (string & Record<never, never>);

export interface SymversEntry {
  /** The symbol's CRC as an unsigned 32-bit number. */
  readonly crc: number;
  readonly symbol: string;
  /** Module path without .ko ("vmlinux", "drivers/net/foo", "dkms/abi_provider"). */
  readonly module: string;
  readonly exportType: ExportType;
  /** "" when none, and on lines of the 4-column layout. */
  readonly namespace: string;
}

/** Which of the three layouts a line was written in. */
export type SymversLineShape = 'no-namespace' | 'namespace-last' | 'namespace-third';

export interface SymversLayout {
  /** Per entry. */
  readonly shapes: readonly SymversLineShape[];
  /** Per entry: the CRC's text when formatCrc would not give it back (upper case, short, no 0x). */
  readonly crcTexts: readonly (string | undefined)[];
  readonly finalNewline: boolean;
}

/** Where an entry was read: file and 1-based line. */
export interface SymversLocation {
  readonly file: string;
  readonly line: number;
}

/** A symbol exported more than once: the first export stays in the index. */
export interface SymversDuplicate {
  readonly symbol: string;
  readonly kept: SymversEntry;
  readonly dropped: SymversEntry;
  readonly keptAt: SymversLocation | undefined;
  readonly droppedAt: SymversLocation | undefined;
}

export interface SymversIndex {
  /** Symbol → its first export. */
  readonly bySymbol: ReadonlyMap<string, SymversEntry>;
  /** Every later export of an already indexed symbol, in reading order. */
  readonly duplicates: readonly SymversDuplicate[];
}

/** A parsed (or merged) Module.symvers, indexed once when built. */
export interface Symvers extends SymversIndex {
  /** The file it was read from (or the name given to a merge), for messages. */
  readonly file: string;
  readonly entries: readonly SymversEntry[];
  readonly layout: SymversLayout;
  /** Per entry: where it was read; merged models keep their inputs' locations. */
  readonly locations: SymversLocations;
}

/** Compact per-entry locations: files[fileIndex[i]], line lines[i]. */
export interface SymversLocations {
  readonly files: readonly string[];
  readonly fileIndex: Uint32Array;
  readonly lines: Uint32Array;
}

export function locationOf(s: Pick<Symvers, 'locations'>, i: number): SymversLocation | undefined {
  const file = s.locations.files[s.locations.fileIndex[i] ?? -1];
  const line = s.locations.lines[i];
  return file === undefined || line === undefined ? undefined : { file, line };
}

const TAB = 9;
const LF = 10;
const CR = 13;

/**
 * Parses Module.symvers text. Every line must be an entry (modpost rejects anything else
 * too); a malformed one is an InputError naming the file and its 1-based line.
 */
export function parseSymvers(text: string, file: string): Symvers {
  const entries: SymversEntry[] = [];
  const shapes: SymversLineShape[] = [];
  const crcTexts: (string | undefined)[] = [];
  // The index is built in the same pass: no second walk over 24,000 entries.
  const bySymbol = new Map<string, SymversEntry>();
  let repeated: number[] | undefined;
  const len = text.length;
  const finalNewline = len > 0 && text.charCodeAt(len - 1) === LF;
  let pos = 0;
  let line = 0;
  while (pos < len) {
    line++;
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = len;
    if (eol > pos && text.charCodeAt(eol - 1) === CR)
      throw lineError(file, line, 'carriage return at end of line (DOS line endings)');
    // Up to five columns: find the tabs that end the first four.
    const t1 = tabBefore(text, pos, eol);
    const t2 = t1 < 0 ? -1 : tabBefore(text, t1 + 1, eol);
    const t3 = t2 < 0 ? -1 : tabBefore(text, t2 + 1, eol);
    const t4 = t3 < 0 ? -1 : tabBefore(text, t3 + 1, eol);
    if (t3 < 0 || (t4 >= 0 && tabBefore(text, t4 + 1, eol) >= 0))
      throw lineError(
        file,
        line,
        `expected 4 or 5 tab-separated columns, found ${countColumns(text, pos, eol)}`,
      );

    // CRC: like modpost's strtoul(…, 16), but strict: optional 0x, then 1 to 8 hex digits.
    let i = pos;
    if (t1 - pos > 2 && text.charCodeAt(pos) === 0x30 && (text.charCodeAt(pos + 1) | 0x20) === 0x78) i += 2;
    let crc = t1 - i >= 1 && t1 - i <= 8 ? 0 : -1;
    // kbuild writes 0x%08x; only other spellings need their text kept.
    let canonical = t1 - pos === 10 && i === pos + 2 && text.charCodeAt(pos + 1) === 0x78;
    for (; crc >= 0 && i < t1; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x30 && c <= 0x39) crc = crc * 16 + (c - 0x30);
      else if (c >= 0x61 && c <= 0x66) crc = crc * 16 + (c - 0x57);
      else if (c >= 0x41 && c <= 0x46) {
        crc = crc * 16 + (c - 0x37);
        canonical = false;
      } else crc = -1;
    }
    if (crc < 0)
      throw lineError(
        file,
        line,
        `bad CRC ${JSON.stringify(text.slice(pos, Math.min(t1, pos + 24)))}: expected 0x and 1 to 8 hex digits`,
      );
    const symbol = text.slice(t1 + 1, t2);
    if (symbol === '') throw lineError(file, line, 'empty symbol name');
    const c3 = text.slice(t2 + 1, t3);
    let module = c3;
    let exportType: string;
    let namespace = '';
    let shape: SymversLineShape = 'no-namespace';
    if (t4 < 0) {
      exportType = text.slice(t3 + 1, eol);
    } else {
      const c4 = text.slice(t3 + 1, t4);
      const c5 = text.slice(t4 + 1, eol);
      // 5.4–5.9 put the namespace third; tell the layouts apart by where the export type is.
      if (!looksLikeExportType(c4) && looksLikeExportType(c5)) {
        namespace = c3;
        module = c4;
        exportType = c5;
        shape = 'namespace-third';
      } else {
        exportType = c4;
        namespace = c5;
        shape = 'namespace-last';
      }
    }
    if (module === '') throw lineError(file, line, `empty module path for ${symbol}`);
    if (exportType === '') throw lineError(file, line, `empty export type for ${symbol}`);
    const entry: SymversEntry = { crc, symbol, module, exportType: internExportType(exportType), namespace };
    if (bySymbol.has(symbol)) (repeated ??= []).push(entries.length);
    else bySymbol.set(symbol, entry);
    entries.push(entry);
    shapes.push(shape);
    crcTexts.push(canonical ? undefined : text.slice(pos, t1));
    pos = eol + 1;
  }
  const lines = new Uint32Array(entries.length);
  for (let k = 0; k < lines.length; k++) lines[k] = k + 1;
  const locations = { files: [file], fileIndex: new Uint32Array(entries.length), lines };
  const duplicates = duplicatesOf(entries, bySymbol, repeated, (k) =>
    k < 0 ? undefined : { file, line: k + 1 },
  );
  return {
    file,
    entries,
    layout: { shapes, crcTexts, finalNewline },
    locations,
    bySymbol,
    duplicates,
  };
}

/** The duplicates report for the entries at `repeated` (positions of later exports). */
function duplicatesOf(
  entries: readonly SymversEntry[],
  bySymbol: ReadonlyMap<string, SymversEntry>,
  repeated: readonly number[] | undefined,
  locate: (i: number) => SymversLocation | undefined,
): SymversDuplicate[] {
  if (repeated === undefined) return [];
  // One pass for the kept exports' positions, only when there are duplicates at all.
  const keptPosition = new Map<SymversEntry, number>();
  entries.forEach((e, i) => {
    if (bySymbol.get(e.symbol) === e && !keptPosition.has(e)) keptPosition.set(e, i);
  });
  return repeated.map((k) => {
    const dropped = entries[k] as SymversEntry;
    const kept = bySymbol.get(dropped.symbol) as SymversEntry;
    return {
      symbol: dropped.symbol,
      kept,
      dropped,
      keptAt: locate(keptPosition.get(kept) ?? -1),
      droppedAt: locate(k),
    };
  });
}

function lineError(file: string, line: number, problem: string): InputError {
  return new InputError(file, problem, line);
}

function tabBefore(text: string, from: number, eol: number): number {
  const t = text.indexOf('\t', from);
  return t >= 0 && t < eol ? t : -1;
}

function countColumns(text: string, from: number, eol: number): number {
  let n = 1;
  for (let i = from; i < eol; i++) if (text.charCodeAt(i) === TAB) n++;
  return n;
}

function looksLikeExportType(s: string): boolean {
  return s.startsWith('EXPORT_') || s === '(unknown)';
}

/** Share one string per known type instead of one slice per line. */
function internExportType(t: string): ExportType {
  if (t === 'EXPORT_SYMBOL') return 'EXPORT_SYMBOL';
  if (t === 'EXPORT_SYMBOL_GPL') return 'EXPORT_SYMBOL_GPL';
  return t;
}

function buildSymvers(
  file: string,
  entries: readonly SymversEntry[],
  layout: SymversLayout,
  locations: SymversLocations,
): Symvers {
  const located = { locations };
  const index = indexSymvers(entries, (i) => locationOf(located, i));
  return { file, entries, layout, locations, bySymbol: index.bySymbol, duplicates: index.duplicates };
}

/**
 * A model from entries made in memory (a module's own exports, say): kbuild's current
 * 5-column layout, 0x%08x CRCs, a final newline. Locations are `file` and the entry's line.
 */
export function symversFromEntries(file: string, entries: readonly SymversEntry[]): Symvers {
  const lines = new Uint32Array(entries.length);
  for (let i = 0; i < lines.length; i++) lines[i] = i + 1;
  return buildSymvers(
    file,
    [...entries],
    {
      shapes: entries.map(() => 'namespace-last' as const),
      crcTexts: entries.map(() => undefined),
      finalNewline: entries.length > 0,
    },
    { files: [file], fileIndex: new Uint32Array(entries.length), lines },
  );
}

const HEX_BYTE = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** kbuild's format for a CRC: 0x%08x. */
export function formatCrc(crc: number): string {
  const c = crc >>> 0;
  return `0x${HEX_BYTE[c >>> 24]}${HEX_BYTE[(c >>> 16) & 0xff]}${HEX_BYTE[(c >>> 8) & 0xff]}${HEX_BYTE[c & 0xff]}`;
}

/** The model's text: byte for byte the parsed file, or kbuild's form for entries made in memory. */
export function serializeSymvers(s: Pick<Symvers, 'entries' | 'layout'>): string {
  const { shapes, crcTexts } = s.layout;
  let out = '';
  const n = s.entries.length;
  for (let i = 0; i < n; i++) {
    const e = s.entries[i];
    if (e === undefined) continue;
    const crc = crcTexts[i] ?? formatCrc(e.crc);
    switch (shapes[i] ?? 'namespace-last') {
      case 'no-namespace':
        out += `${crc}\t${e.symbol}\t${e.module}\t${e.exportType}`;
        break;
      case 'namespace-third':
        out += `${crc}\t${e.symbol}\t${e.namespace}\t${e.module}\t${e.exportType}`;
        break;
      case 'namespace-last':
        out += `${crc}\t${e.symbol}\t${e.module}\t${e.exportType}\t${e.namespace}`;
        break;
    }
    if (i < n - 1 || s.layout.finalNewline) out += '\n';
  }
  return out;
}

/**
 * Symbol → first export, with every later export reported. `locate` names where entry i
 * came from, for the duplicates' report.
 */
export function indexSymvers(
  entries: readonly SymversEntry[],
  locate: (i: number) => SymversLocation | undefined = () => undefined,
): SymversIndex {
  const bySymbol = new Map<string, SymversEntry>();
  let repeated: number[] | undefined;
  entries.forEach((e, i) => {
    if (bySymbol.has(e.symbol)) (repeated ??= []).push(i);
    else bySymbol.set(e.symbol, e);
  });
  return { bySymbol, duplicates: duplicatesOf(entries, bySymbol, repeated, locate) };
}

/**
 * One model from several, in order, as for KBUILD_EXTRA_SYMBOLS: the first export of a
 * symbol wins and every later one is reported in `duplicates` (and left out of `entries`).
 *
 * Precedence, and why: modpost (6.1) reads the kernel's Module.symvers, then the extra
 * files in order; a symbol read twice is an error when the earlier export was vmlinux's or
 * the same module's, and otherwise the last one read answers its lookups. Keeping the first
 * instead means that, with the kernel's file first, no module in a shared tree can shadow a
 * kernel export unnoticed: every duplicate is reported, and callers refuse or warn.
 */
export function mergeSymvers(list: readonly Symvers[], file = list.map((s) => s.file).join(' + ')): Symvers {
  const entries: SymversEntry[] = [];
  const shapes: SymversLineShape[] = [];
  const crcTexts: (string | undefined)[] = [];
  const files: string[] = [];
  const fileNumbers = new Map<string, number>();
  const fileIndex: number[] = [];
  const lines: number[] = [];
  const bySymbol = new Map<string, SymversEntry>();
  const keptPosition = new Map<string, number>();
  const duplicates: SymversDuplicate[] = [];
  const merged = (k: number): SymversLocation | undefined => {
    const f = files[fileIndex[k] ?? -1];
    const l = lines[k];
    return f === undefined || l === undefined ? undefined : { file: f, line: l };
  };
  for (const s of list) {
    // Duplicates inside one input were reported by its own index.
    for (const d of s.duplicates) duplicates.push(d);
    const local = s.locations.files.map((f) => {
      let k = fileNumbers.get(f);
      if (k === undefined) {
        k = files.push(f) - 1;
        fileNumbers.set(f, k);
      }
      return k;
    });
    for (let i = 0; i < s.entries.length; i++) {
      const e = s.entries[i];
      if (e === undefined || s.bySymbol.get(e.symbol) !== e) continue;
      const kept = bySymbol.get(e.symbol);
      if (kept !== undefined) {
        const at = keptPosition.get(e.symbol) ?? -1;
        duplicates.push({
          symbol: e.symbol,
          kept,
          dropped: e,
          keptAt: merged(at),
          droppedAt: locationOf(s, i),
        });
        continue;
      }
      bySymbol.set(e.symbol, e);
      keptPosition.set(e.symbol, entries.length);
      entries.push(e);
      shapes.push(s.layout.shapes[i] ?? 'namespace-last');
      crcTexts.push(s.layout.crcTexts[i]);
      fileIndex.push(local[s.locations.fileIndex[i] ?? 0] ?? 0);
      lines.push(s.locations.lines[i] ?? 0);
    }
  }
  return {
    file,
    entries,
    layout: { shapes, crcTexts, finalNewline: entries.length > 0 },
    locations: { files, fileIndex: Uint32Array.from(fileIndex), lines: Uint32Array.from(lines) },
    bySymbol,
    duplicates,
  };
}

export interface SymversChange {
  readonly symbol: string;
  /**
   * The changed field's old and new values (CRCs as 0x%08x, module paths, export types,
   * namespaces); for added and removed symbols the one present is the CRC, the other null.
   */
  readonly old: string | null;
  readonly new: string | null;
}

export interface SymversDiff {
  /** CRC changed. */
  readonly changed: readonly SymversChange[];
  readonly removed: readonly SymversChange[];
  readonly added: readonly SymversChange[];
  /** Exported by another module now. */
  readonly moved: readonly SymversChange[];
  readonly exportTypeChanged: readonly SymversChange[];
  readonly namespaceChanged: readonly SymversChange[];
}

/**
 * What changed from a reference to a new kernel, per category, each sorted by symbol
 * (code-unit order, like `LC_ALL=C sort`). A symbol whose CRC and module both changed is in
 * both lists. Symbols are compared through each side's index: first exports only.
 * The names are sorted with the default string order (the same code-unit order as `a < b`,
 * compared in the engine rather than by a callback: a Debian ABI bump changes ~18,000 CRCs),
 * then the change records are made in that order.
 */
export function diffSymvers(ref: SymversIndex, next: SymversIndex): SymversDiff {
  const a = ref.bySymbol;
  const b = next.bySymbol;
  const changed: string[] = [];
  const removed: string[] = [];
  const added: string[] = [];
  const moved: string[] = [];
  const exportTypeChanged: string[] = [];
  const namespaceChanged: string[] = [];
  a.forEach((o, symbol) => {
    const n = b.get(symbol);
    if (n === undefined) {
      removed.push(symbol);
      return;
    }
    if (o.crc !== n.crc) changed.push(symbol);
    if (o.module !== n.module) moved.push(symbol);
    if (o.exportType !== n.exportType) exportTypeChanged.push(symbol);
    if (o.namespace !== n.namespace) namespaceChanged.push(symbol);
  });
  b.forEach((_n, symbol) => {
    if (!a.has(symbol)) added.push(symbol);
  });
  // Each list holds a symbol once: no ties for the sort to keep in order.
  const records = (symbols: string[], make: (symbol: string) => SymversChange): SymversChange[] =>
    symbols.sort().map(make);
  const old = (symbol: string): SymversEntry => a.get(symbol) as SymversEntry;
  const now = (symbol: string): SymversEntry => b.get(symbol) as SymversEntry;
  return {
    changed: records(changed, (symbol) => ({
      symbol,
      old: formatCrc(old(symbol).crc),
      new: formatCrc(now(symbol).crc),
    })),
    removed: records(removed, (symbol) => ({ symbol, old: formatCrc(old(symbol).crc), new: null })),
    added: records(added, (symbol) => ({ symbol, old: null, new: formatCrc(now(symbol).crc) })),
    moved: records(moved, (symbol) => ({ symbol, old: old(symbol).module, new: now(symbol).module })),
    exportTypeChanged: records(exportTypeChanged, (symbol) => ({
      symbol,
      old: old(symbol).exportType,
      new: now(symbol).exportType,
    })),
    namespaceChanged: records(namespaceChanged, (symbol) => ({
      symbol,
      old: old(symbol).namespace,
      new: now(symbol).namespace,
    })),
  };
}

/** Changed, removed, moved, export type or namespace changed: what can break built modules. */
export function breakingCount(d: SymversDiff): number {
  return (
    d.changed.length +
    d.removed.length +
    d.moved.length +
    d.exportTypeChanged.length +
    d.namespaceChanged.length
  );
}
