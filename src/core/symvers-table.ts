// Module.symvers as a table of column positions over the file's text, for `abi check`: two
// kernels' files (~24,600 lines each) are compared once and thrown away, so nothing is built
// per line but a few integers; names become strings (slices of the text, which the engine
// makes without copying) only for the new file's index and the lines that do not line up,
// and records only for symbols that changed. Lines are split by hand with indexOf, one pass,
// no regex and no split(). A command runs this once, mostly before V8's optimising compiler
// is done with it, so the work per line is kept in the engine's built-ins (indexOf, slice,
// startsWith, Map) rather than in JavaScript loops over characters: a hand-made hash over the
// characters measured 4x slower here than a Map keyed by slices.
// The table accepts exactly the lines parseSymvers accepts and reads them the same way; a
// line it would reject makes scanSymvers return undefined, and the caller parses with
// parseSymvers, whose error names the file and line.
import { formatCrc, type SymversChange, type SymversDiff } from './symvers.js';

/**
 * Per line, 4 positions into `text`: where the line starts (its CRC's text; as ~start, a
 * negative number, when the CRC is not in kbuild's form), where the symbol starts and ends,
 * and where the line ends. Module, export type and namespace are found again in
 * the columns after the symbol only for the few lines whose columns differ (placeColumns):
 * storing them for every line cost more than finding them for those.
 */
const STRIDE = 4;
const START = 0;
const SYMBOL_START = 1;
const SYMBOL_END = 2;
const END = 3;

export interface SymversTable {
  readonly file: string;
  readonly text: string;
  readonly count: number;
  /** STRIDE positions per line. */
  readonly cols: Int32Array;
  readonly crcs: Uint32Array;
}

/** A table's symbols: each line's name, the first line of each name, and whether a line is it. */
interface SymbolIndex {
  readonly names: readonly string[];
  readonly firstLine: Map<string, number>;
  /** Per line: 1 when it is its symbol's first export (the one lookups find). */
  readonly first: Uint8Array;
}

/** Made when first asked for (the first export wins, as in parseSymvers' index). */
const indexes = new WeakMap<SymversTable, SymbolIndex>();

function indexOf(t: SymversTable): SymbolIndex {
  let index = indexes.get(t);
  if (index === undefined) {
    const names = new Array<string>(t.count);
    const firstLine = new Map<string, number>();
    const first = new Uint8Array(t.count);
    for (let i = 0; i < t.count; i++) {
      const s = symbolOf(t, i);
      names[i] = s;
      if (!firstLine.has(s)) {
        firstLine.set(s, i);
        first[i] = 1;
      }
    }
    index = { names, firstLine, first };
    indexes.set(t, index);
  }
  return index;
}

function symbolOf(t: SymversTable, line: number): string {
  return t.text.slice(t.cols[line * STRIDE + SYMBOL_START], t.cols[line * STRIDE + SYMBOL_END]);
}

const CR = 13;

/**
 * The table of a Module.symvers text, or undefined when some line is not one parseSymvers
 * would read (let it say why).
 */
export function scanSymvers(text: string, file: string): SymversTable | undefined {
  const len = text.length;
  // Sized from the text (a kernel's lines run ~70 characters) and doubled when short: no
  // pass to count the lines first.
  let capacity = (len >> 5) + 16;
  let table: SymversTable = {
    file,
    text,
    count: 0,
    cols: new Int32Array(capacity * STRIDE),
    crcs: new Uint32Array(capacity),
  };
  let pos = 0;
  let n = 0;
  // The loop stays small and calls readLine: a command runs this once per file, mostly
  // before the optimising compiler is done, and a small function is compiled (and
  // replaced while the loop runs) in a few milliseconds where one big loop took ~80.
  while (pos < len) {
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = len;
    if (n === capacity) {
      capacity *= 2;
      table = grown(table, capacity);
    }
    if (!readLine(table, pos, eol, n)) return undefined;
    n++;
    pos = eol + 1;
  }
  return { ...table, count: n };
}

function grown(t: SymversTable, capacity: number): SymversTable {
  const cols = new Int32Array(capacity * STRIDE);
  cols.set(t.cols);
  const crcs = new Uint32Array(capacity);
  crcs.set(t.crcs);
  return { ...t, cols, crcs };
}

/** Where placeColumns puts module, export type and namespace, each as [start, end). */
const MOD = 0;
const TYPE = 2;
const NS = 4;

/** Reads line n, text[pos, eol), into the table; false when parseSymvers would reject it. */
function readLine(table: SymversTable, pos: number, eol: number, n: number): boolean {
  const { text, cols, crcs } = table;
  if (eol > pos && text.charCodeAt(eol - 1) === CR) return false;
  // The tabs ending the first four columns (indexOf is a vector scan; a char loop is not).
  const t1 = text.indexOf('\t', pos);
  if (t1 < 0 || t1 >= eol) return false;
  const t2 = text.indexOf('\t', t1 + 1);
  if (t2 < 0 || t2 >= eol) return false;
  const t3 = text.indexOf('\t', t2 + 1);
  if (t3 < 0 || t3 >= eol) return false;
  let t4 = text.indexOf('\t', t3 + 1);
  if (t4 < 0 || t4 >= eol) t4 = -1;
  // A sixth column: only a namespace can hold its tab (the namespace is empty on most lines).
  else if (eol > t4 + 1) {
    const t5 = text.indexOf('\t', t4 + 1);
    if (t5 >= 0 && t5 < eol) return false;
  }
  // CRC: optional 0x, then 1 to 8 hex digits (parseSymvers' rule).
  let i = pos;
  if (t1 - pos > 2 && text.charCodeAt(pos) === 0x30 && (text.charCodeAt(pos + 1) | 0x20) === 0x78) i += 2;
  if (t1 - i < 1 || t1 - i > 8) return false;
  // kbuild's own form (0x and 8 lower-case digits) is kept as text: the report shows it as is.
  let canonical = i === pos + 2 && text.charCodeAt(pos + 1) === 0x78 && t1 - i === 8;
  let crc = 0;
  for (; i < t1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) crc = crc * 16 + (c - 0x30);
    else if (c >= 0x61 && c <= 0x66) crc = crc * 16 + (c - 0x57);
    else if (c >= 0x41 && c <= 0x46) {
      crc = crc * 16 + (c - 0x37);
      canonical = false;
    } else return false;
  }
  if (t2 === t1 + 1) return false; // empty symbol
  // Module and export type must not be empty, wherever placeColumns would find them (asked
  // here by position, without placing them: the scan would pay for that on every line).
  if (t4 < 0) {
    if (t3 === t2 + 1 || eol === t3 + 1) return false;
  } else if (namespaceThird(text, t3, t4, eol)) {
    if (t4 === t3 + 1) return false;
  } else if (t3 === t2 + 1 || t4 === t3 + 1) return false;
  const at = n * STRIDE;
  cols[at + START] = canonical ? pos : ~pos;
  cols[at + SYMBOL_START] = t1 + 1;
  cols[at + SYMBOL_END] = t2;
  cols[at + END] = eol;
  crcs[n] = crc;
  return true;
}

/**
 * Module, export type and namespace of a line whose columns after the symbol (ending at t2)
 * are split by tabs at t3 and t4 (-1: no namespace column) up to eol, into `out`.
 */
function placeColumns(text: string, t2: number, t3: number, t4: number, eol: number, out: Int32Array): void {
  if (t4 < 0) {
    setRange(out, MOD, t2 + 1, t3);
    setRange(out, TYPE, t3 + 1, eol);
    setRange(out, NS, eol, eol);
  } else if (namespaceThird(text, t3, t4, eol)) {
    setRange(out, NS, t2 + 1, t3);
    setRange(out, MOD, t3 + 1, t4);
    setRange(out, TYPE, t4 + 1, eol);
  } else {
    setRange(out, MOD, t2 + 1, t3);
    setRange(out, TYPE, t3 + 1, t4);
    setRange(out, NS, t4 + 1, eol);
  }
}

/** 5.4–5.9 wrote the namespace third: a line of five columns whose fourth is no export type but whose fifth is. */
function namespaceThird(text: string, t3: number, t4: number, eol: number): boolean {
  return !exportTypeAt(text, t3 + 1, t4) && exportTypeAt(text, t4 + 1, eol);
}

function setRange(out: Int32Array, at: number, start: number, end: number): void {
  out[at] = start;
  out[at + 1] = end;
}

/** looksLikeExportType of symvers.ts, on a range of the text. */
function exportTypeAt(text: string, start: number, end: number): boolean {
  return (
    (end - start >= 7 && text.startsWith('EXPORT_', start)) ||
    (end - start === 9 && text.startsWith('(unknown)', start))
  );
}

/** Module, export type or namespace (MOD, TYPE, NS) of a line, found again in its text. */
function field(t: SymversTable, line: number, col: number): string {
  const { text, cols } = t;
  const t2 = cols[line * STRIDE + SYMBOL_END] as number;
  const eol = cols[line * STRIDE + END] as number;
  // scanSymvers has checked the line: it has the third tab, and no tab after a fourth.
  const t3 = text.indexOf('\t', t2 + 1);
  const t4 = text.indexOf('\t', t3 + 1);
  const out = new Int32Array(6);
  placeColumns(text, t2, t3, t4 < 0 || t4 >= eol ? -1 : t4, eol, out);
  return text.slice(out[col], out[col + 1]);
}

/**
 * Whether the columns after the symbol are the same text on line i of a and line j of b: then
 * so are module, export type and namespace, which are read from that text alone. One native
 * comparison (the slice of a is a view, not a copy) instead of three loops over characters.
 */
function sameTail(a: SymversTable, i: number, b: SymversTable, j: number): boolean {
  const xs = (a.cols[i * STRIDE + SYMBOL_END] as number) + 1;
  const xe = a.cols[i * STRIDE + END] as number;
  const ys = (b.cols[j * STRIDE + SYMBOL_END] as number) + 1;
  if (xe - xs !== (b.cols[j * STRIDE + END] as number) - ys) return false;
  return b.text.startsWith(a.text.slice(xs, xe), ys);
}

/** Line's CRC as kbuild writes it: the file's own text when it is in that form. */
function crcText(t: SymversTable, line: number): string {
  const start = t.cols[line * STRIDE + START] as number;
  return start < 0
    ? formatCrc(t.crcs[line] as number)
    : t.text.slice(start, (t.cols[line * STRIDE + SYMBOL_START] as number) - 1);
}

/**
 * Whether line i of a and line j of b name the same symbol, compared in place. sameTail's
 * twin for another range, kept apart: both run once per line while the code is still cold,
 * and one function taking the columns as arguments measured ~2 ms slower on the 47 → 50 diff.
 */
function sameSymbol(a: SymversTable, i: number, b: SymversTable, j: number): boolean {
  const xs = a.cols[i * STRIDE + SYMBOL_START] as number;
  const xe = a.cols[i * STRIDE + SYMBOL_END] as number;
  const ys = b.cols[j * STRIDE + SYMBOL_START] as number;
  if (xe - xs !== (b.cols[j * STRIDE + SYMBOL_END] as number) - ys) return false;
  return b.text.startsWith(a.text.slice(xs, xe), ys);
}

/** The module exporting `symbol` (its first export), as SymversIndex.bySymbol would give it. */
export function tableModuleOf(t: SymversTable, symbol: string): string | undefined {
  const line = indexOf(t).firstLine.get(symbol);
  return line === undefined ? undefined : field(t, line, MOD);
}

/**
 * diffSymvers over two tables: the same lists in the same order. Only `next` is indexed. Two
 * kernels' files list their symbols in nearly the same order, so each line of ref is first
 * compared in place with the line of next after the last match: when it names the same
 * symbol, and that line is the symbol's first export, it is the line a lookup would find, and
 * no string is made for ref's line. Otherwise ref's symbol is looked up in next's index. Lines
 * whose every field is the same (nearly all, even across an ABI bump) cost a few comparisons;
 * records are made only for changes.
 */
export function diffSymversTables(ref: SymversTable, next: SymversTable): SymversDiff {
  const { names, firstLine, first } = indexOf(next);
  const changed: string[] = [];
  const moved: string[] = [];
  const exportTypeChanged: string[] = [];
  const namespaceChanged: string[] = [];
  // Per line of next: 1 once a ref symbol matched it; then which ref line did.
  const matched = new Uint8Array(next.count);
  const refLine = new Int32Array(next.count);
  const removedAt = new Map<string, number>();
  let ahead = 0;
  for (let i = 0; i < ref.count; i++) {
    let j = ahead < next.count && first[ahead] === 1 && sameSymbol(ref, i, next, ahead) ? ahead : -1;
    if (j < 0) {
      const symbol = symbolOf(ref, i);
      const found = firstLine.get(symbol);
      if (found === undefined) {
        // A symbol ref exports twice is reported once, with its first export (as its index would).
        if (!removedAt.has(symbol)) removedAt.set(symbol, i);
        continue;
      }
      j = found;
    }
    ahead = j + 1;
    // Matched already: a later export of a symbol ref has compared (its first export wins).
    if (matched[j] === 1) continue;
    matched[j] = 1;
    refLine[j] = i;
    const symbol = names[j] as string;
    if (ref.crcs[i] !== next.crcs[j]) changed.push(symbol);
    // The columns after the symbol read the same almost always: one comparison of them all.
    if (sameTail(ref, i, next, j)) continue;
    if (field(ref, i, MOD) !== field(next, j, MOD)) moved.push(symbol);
    if (field(ref, i, TYPE) !== field(next, j, TYPE)) exportTypeChanged.push(symbol);
    if (field(ref, i, NS) !== field(next, j, NS)) namespaceChanged.push(symbol);
  }
  const added: string[] = [];
  firstLine.forEach((j, symbol) => {
    if (matched[j] === 0) added.push(symbol);
  });

  /** Sorted (code-unit order; no ties: a symbol is listed once), with its lines in ref and next. */
  const records = (
    names: string[],
    make: (i: number, j: number, symbol: string) => SymversChange,
  ): SymversChange[] =>
    names.sort().map((symbol) => {
      const j = firstLine.get(symbol) ?? -1;
      return make(j < 0 ? (removedAt.get(symbol) as number) : (refLine[j] as number), j, symbol);
    });
  return {
    changed: records(changed, (i, j, symbol) => ({
      symbol,
      old: crcText(ref, i),
      new: crcText(next, j),
    })),
    removed: records([...removedAt.keys()], (i, _j, symbol) => ({
      symbol,
      old: crcText(ref, i),
      new: null,
    })),
    added: records(added, (_i, j, symbol) => ({
      symbol,
      old: null,
      new: crcText(next, j),
    })),
    moved: records(moved, (i, j, symbol) => ({ symbol, old: field(ref, i, MOD), new: field(next, j, MOD) })),
    exportTypeChanged: records(exportTypeChanged, (i, j, symbol) => ({
      symbol,
      old: field(ref, i, TYPE),
      new: field(next, j, TYPE),
    })),
    namespaceChanged: records(namespaceChanged, (i, j, symbol) => ({
      symbol,
      old: field(ref, i, NS),
      new: field(next, j, NS),
    })),
  };
}
