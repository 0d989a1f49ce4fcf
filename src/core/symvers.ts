// Module.symvers: one exported symbol per line, tab-separated
//   0xCRC  symbol  module-path  EXPORT_SYMBOL[_GPL]  namespace   (5 columns, kernels ≥ 5.4;
//   Debian's lines end in a tab: an empty namespace)  or the same without namespace (4 columns).
// Parsed into entries that serialise back byte for byte, indexed by symbol, merged the way
// modpost merges KBUILD_EXTRA_SYMBOLS, and diffed the way a packager's ABI check needs.
import { InputError } from './errors.js';

export type ExportType =
  | 'EXPORT_SYMBOL'
  | 'EXPORT_SYMBOL_GPL'
  | 'EXPORT_SYMBOL_GPL_FUTURE'
  | 'EXPORT_UNUSED_SYMBOL'
  | 'EXPORT_UNUSED_SYMBOL_GPL';

export interface SymversEntry {
  readonly crc: number;
  readonly symbol: string;
  /** Module path without .ko ("vmlinux", "drivers/net/foo", "dkms/abi_provider"). */
  readonly module: string;
  /** As written; the known values are ExportType. */
  readonly exportType: string;
  /** "" when none (or a 4-column line). */
  readonly namespace: string;
}

export interface Symvers {
  readonly file: string;
  readonly entries: readonly SymversEntry[];
  /** What serialising needs to reproduce the text exactly. */
  readonly layout: {
    readonly columns: readonly (4 | 5)[];
    readonly crcTexts: readonly string[];
    readonly finalNewline: boolean;
  };
}

const KNOWN_TYPES = new Set<string>([
  'EXPORT_SYMBOL',
  'EXPORT_SYMBOL_GPL',
  'EXPORT_SYMBOL_GPL_FUTURE',
  'EXPORT_UNUSED_SYMBOL',
  'EXPORT_UNUSED_SYMBOL_GPL',
]);

const CRC_RE = /^0x[0-9a-fA-F]{1,8}$/;
const SYMBOL_RE = /^[A-Za-z0-9_.$]+$/;

export function parseSymvers(text: string, file: string): Symvers {
  const entries: SymversEntry[] = [];
  const columns: (4 | 5)[] = [];
  const crcTexts: string[] = [];
  const finalNewline = text.endsWith('\n');
  const body = finalNewline ? text.slice(0, -1) : text;
  if (body === '') return { file, entries, layout: { columns, crcTexts, finalNewline } };
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const f = line.split('\t');
    const n = i + 1;
    if (f.length !== 4 && f.length !== 5) {
      throw new InputError(file, `expected 4 or 5 tab-separated columns, found ${f.length}`, n);
    }
    const [crcText = '', symbol = '', module = '', exportType = '', namespace = ''] = f;
    if (!CRC_RE.test(crcText))
      throw new InputError(file, `bad CRC ${JSON.stringify(crcText.slice(0, 20))}`, n);
    if (!SYMBOL_RE.test(symbol))
      throw new InputError(file, `bad symbol name ${JSON.stringify(symbol.slice(0, 60))}`, n);
    if (module === '') throw new InputError(file, `empty module for ${symbol}`, n);
    if (!KNOWN_TYPES.has(exportType))
      throw new InputError(file, `unknown export type ${JSON.stringify(exportType.slice(0, 40))}`, n);
    entries.push({ crc: Number.parseInt(crcText.slice(2), 16), symbol, module, exportType, namespace });
    columns.push(f.length);
    crcTexts.push(crcText);
  }
  return { file, entries, layout: { columns, crcTexts, finalNewline } };
}

/** kbuild's format for a CRC: 0x%08x. */
export function formatCrc(crc: number): string {
  return `0x${(crc >>> 0).toString(16).padStart(8, '0')}`;
}

/** Text of a model; entries added without layout get kbuild's 5-column form. */
export function serializeSymvers(s: Symvers): string {
  const out: string[] = [];
  s.entries.forEach((e, i) => {
    const crc = s.layout.crcTexts[i] ?? formatCrc(e.crc);
    const cols = s.layout.columns[i] ?? 5;
    out.push(
      cols === 4
        ? `${crc}\t${e.symbol}\t${e.module}\t${e.exportType}`
        : `${crc}\t${e.symbol}\t${e.module}\t${e.exportType}\t${e.namespace}`,
    );
  });
  const text = out.join('\n');
  return s.layout.finalNewline && out.length > 0 ? `${text}\n` : text;
}

export interface SymversIndex {
  readonly bySymbol: ReadonlyMap<string, SymversEntry>;
  /** Symbols listed more than once: the first stays, the later ones are here. */
  readonly duplicates: readonly SymversEntry[];
}

export function indexSymvers(entries: readonly SymversEntry[]): SymversIndex {
  const bySymbol = new Map<string, SymversEntry>();
  const duplicates: SymversEntry[] = [];
  for (const e of entries) {
    if (bySymbol.has(e.symbol)) duplicates.push(e);
    else bySymbol.set(e.symbol, e);
  }
  return { bySymbol, duplicates };
}

/**
 * Several files as modpost reads KBUILD_EXTRA_SYMBOLS: in order, the first export of a
 * symbol wins and later ones are reported (modpost warns about them as duplicates).
 */
export function mergeSymvers(list: readonly Symvers[]): SymversIndex {
  return indexSymvers(list.flatMap((s) => s.entries));
}

export interface SymversChange {
  readonly symbol: string;
  /** The changed field's old and new value; for added/removed the one present (the CRC). */
  readonly old: string | null;
  readonly new: string | null;
}

export interface SymversDiff {
  readonly changed: readonly SymversChange[];
  readonly removed: readonly SymversChange[];
  readonly added: readonly SymversChange[];
  readonly moved: readonly SymversChange[];
  readonly exportTypeChanged: readonly SymversChange[];
  readonly namespaceChanged: readonly SymversChange[];
}

const bySymbolName = (a: SymversChange, b: SymversChange) =>
  a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0;

/** What changed from a reference to a new kernel, per category, each sorted by symbol. */
export function diffSymvers(ref: Symvers | SymversIndex, next: Symvers | SymversIndex): SymversDiff {
  const a = 'bySymbol' in ref ? ref.bySymbol : indexSymvers(ref.entries).bySymbol;
  const b = 'bySymbol' in next ? next.bySymbol : indexSymvers(next.entries).bySymbol;
  const changed: SymversChange[] = [];
  const removed: SymversChange[] = [];
  const added: SymversChange[] = [];
  const moved: SymversChange[] = [];
  const exportTypeChanged: SymversChange[] = [];
  const namespaceChanged: SymversChange[] = [];
  for (const [symbol, o] of a) {
    const n = b.get(symbol);
    if (n === undefined) {
      removed.push({ symbol, old: formatCrc(o.crc), new: null });
      continue;
    }
    if (o.crc !== n.crc) changed.push({ symbol, old: formatCrc(o.crc), new: formatCrc(n.crc) });
    if (o.module !== n.module) moved.push({ symbol, old: o.module, new: n.module });
    if (o.exportType !== n.exportType)
      exportTypeChanged.push({ symbol, old: o.exportType, new: n.exportType });
    if (o.namespace !== n.namespace) namespaceChanged.push({ symbol, old: o.namespace, new: n.namespace });
  }
  for (const [symbol, n] of b) if (!a.has(symbol)) added.push({ symbol, old: null, new: formatCrc(n.crc) });
  for (const l of [changed, removed, added, moved, exportTypeChanged, namespaceChanged]) l.sort(bySymbolName);
  return { changed, removed, added, moved, exportTypeChanged, namespaceChanged };
}

/** Changed, removed, moved, export type or namespace changed: what breaks built modules. */
export function breakingCount(d: SymversDiff): number {
  return (
    d.changed.length +
    d.removed.length +
    d.moved.length +
    d.exportTypeChanged.length +
    d.namespaceChanged.length
  );
}
