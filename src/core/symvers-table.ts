// Module.symvers as a table of column positions over the file's text, for `abi check`: two
// kernels' files (~24,600 lines each) are compared once and thrown away, so nothing is built
// per line but a few integers and the symbol's name (a slice of the text, which the engine
// makes without copying); records are made only for symbols that changed. Lines are split by
// hand with indexOf, one pass, no regex and no split(). A command runs this once, mostly
// before V8's optimising compiler is done with it, so the work per line is kept in the
// engine's built-ins (indexOf, slice, Map) rather than in JavaScript loops over characters:
// a hand-made hash over the characters measured 4x slower here than a Map keyed by slices.
// The table accepts exactly the lines parseSymvers accepts and reads them the same way; a
// line it would reject makes scanSymvers return undefined, and the caller parses with
// parseSymvers, whose error names the file and line.
import { formatCrc, type SymversChange, type SymversDiff } from './symvers.js';

/**
 * Per line, 10 positions into `text` as [start, end): module, export type, namespace, the
 * columns after the symbol (all three, as written), and the CRC's text when it is in
 * kbuild's form (else [-1, -1]).
 */
const STRIDE = 10;
const MOD = 0;
const TYPE = 2;
const NS = 4;
const TAIL = 6;
const CRC = 8;

export interface SymversTable {
  readonly file: string;
  readonly text: string;
  readonly count: number;
  /** STRIDE positions per line. */
  readonly cols: Int32Array;
  readonly crcs: Uint32Array;
  /** Per line: the symbol. */
  readonly symbols: readonly string[];
}

/** Symbol → its first line (the first export wins, as in parseSymvers' index); made when first asked for. */
const indexes = new WeakMap<SymversTable, Map<string, number>>();

function indexOf(t: SymversTable): Map<string, number> {
  let index = indexes.get(t);
  if (index === undefined) {
    index = new Map();
    const { symbols } = t;
    for (let i = 0; i < symbols.length; i++) {
      const s = symbols[i] as string;
      if (!index.has(s)) index.set(s, i);
    }
    indexes.set(t, index);
  }
  return index;
}

const LF = 10;
const CR = 13;

/**
 * The table of a Module.symvers text, or undefined when some line is not one parseSymvers
 * would read (let it say why).
 */
export function scanSymvers(text: string, file: string): SymversTable | undefined {
  const len = text.length;
  // Lines ≈ newlines: one count up front sizes the arrays once.
  let lines = 0;
  for (let p = text.indexOf('\n'); p !== -1; p = text.indexOf('\n', p + 1)) lines++;
  if (len > 0 && text.charCodeAt(len - 1) !== LF) lines++;
  const cols = new Int32Array(lines * STRIDE);
  const crcs = new Uint32Array(lines);
  const symbols = new Array<string>(lines);
  const table: SymversTable = { file, text, count: 0, cols, crcs, symbols };
  let pos = 0;
  let n = 0;
  // The loop stays small and calls readLine: a command runs this once per file, mostly
  // before the optimising compiler is done, and a small function is compiled (and
  // replaced while the loop runs) in a few milliseconds where one big loop took ~80.
  while (pos < len) {
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = len;
    if (!readLine(table, pos, eol, n)) return undefined;
    n++;
    pos = eol + 1;
  }
  return { ...table, count: n };
}

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
  else {
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
  const at = n * STRIDE;
  if (t4 < 0) {
    setCol(cols, at + MOD, t2 + 1, t3);
    setCol(cols, at + TYPE, t3 + 1, eol);
    setCol(cols, at + NS, eol, eol);
  } else if (!exportTypeAt(text, t3 + 1, t4) && exportTypeAt(text, t4 + 1, eol)) {
    // 5.4–5.9: the namespace third.
    setCol(cols, at + NS, t2 + 1, t3);
    setCol(cols, at + MOD, t3 + 1, t4);
    setCol(cols, at + TYPE, t4 + 1, eol);
  } else {
    setCol(cols, at + MOD, t2 + 1, t3);
    setCol(cols, at + TYPE, t3 + 1, t4);
    setCol(cols, at + NS, t4 + 1, eol);
  }
  if (cols[at + MOD] === cols[at + MOD + 1] || cols[at + TYPE] === cols[at + TYPE + 1]) return false;
  setCol(cols, at + TAIL, t2 + 1, eol);
  if (canonical) setCol(cols, at + CRC, pos, t1);
  else setCol(cols, at + CRC, -1, -1);
  crcs[n] = crc;
  (table.symbols as string[])[n] = text.slice(t1 + 1, t2);
  return true;
}

function setCol(cols: Int32Array, at: number, start: number, end: number): void {
  cols[at] = start;
  cols[at + 1] = end;
}

/** looksLikeExportType of symvers.ts, on a range of the text. */
function exportTypeAt(text: string, start: number, end: number): boolean {
  return (
    (end - start >= 7 && text.startsWith('EXPORT_', start)) ||
    (end - start === 9 && text.startsWith('(unknown)', start))
  );
}

function field(t: SymversTable, line: number, col: number): string {
  const at = line * STRIDE + col;
  return t.text.slice(t.cols[at], t.cols[at + 1]);
}

/** Whether column `col` holds the same text on line i of a and line j of b, without slicing. */
function sameField(a: SymversTable, i: number, b: SymversTable, j: number, col: number): boolean {
  const x = i * STRIDE + col;
  const y = j * STRIDE + col;
  const xs = a.cols[x] as number;
  const ys = b.cols[y] as number;
  const n = (a.cols[x + 1] as number) - xs;
  if (n !== (b.cols[y + 1] as number) - ys) return false;
  const at = a.text;
  const bt = b.text;
  for (let k = 0; k < n; k++) if (at.charCodeAt(xs + k) !== bt.charCodeAt(ys + k)) return false;
  return true;
}

/**
 * Whether the columns after the symbol are the same text on line i of a and line j of b: then
 * so are module, export type and namespace, which are read from that text alone. One native
 * comparison (the slice of a is a view, not a copy) instead of three loops over characters.
 */
function sameTail(a: SymversTable, i: number, b: SymversTable, j: number): boolean {
  const x = i * STRIDE + TAIL;
  const y = j * STRIDE + TAIL;
  const xs = a.cols[x] as number;
  const ys = b.cols[y] as number;
  const xe = a.cols[x + 1] as number;
  if (xe - xs !== (b.cols[y + 1] as number) - ys) return false;
  return b.text.startsWith(a.text.slice(xs, xe), ys);
}

/** Line's CRC as kbuild writes it: the file's own text when it is in that form. */
function crcText(t: SymversTable, line: number): string {
  const at = line * STRIDE + CRC;
  const start = t.cols[at] as number;
  return start < 0 ? formatCrc(t.crcs[line] as number) : t.text.slice(start, t.cols[at + 1]);
}

/** The module exporting `symbol` (its first export), as SymversIndex.bySymbol would give it. */
export function tableModuleOf(t: SymversTable, symbol: string): string | undefined {
  const line = indexOf(t).get(symbol);
  return line === undefined ? undefined : field(t, line, MOD);
}

/**
 * diffSymvers over two tables: the same lists in the same order. Only `next` is indexed; ref's
 * lines are looked up in it. Symbols whose every field is the same (nearly all, even across an
 * ABI bump) cost a lookup and a few character comparisons; records are made only for changes.
 */
export function diffSymversTables(ref: SymversTable, next: SymversTable): SymversDiff {
  const index = indexOf(next);
  const changed: string[] = [];
  const moved: string[] = [];
  const exportTypeChanged: string[] = [];
  const namespaceChanged: string[] = [];
  // Per line of next: 1 once a ref symbol matched it; then which ref line did.
  const matched = new Uint8Array(next.count);
  const refLine = new Int32Array(next.count);
  const removedAt = new Map<string, number>();
  for (let i = 0; i < ref.count; i++) {
    const symbol = ref.symbols[i] as string;
    const j = index.get(symbol);
    if (j === undefined) {
      // A symbol ref exports twice is reported once, with its first export (as its index would).
      if (!removedAt.has(symbol)) removedAt.set(symbol, i);
      continue;
    }
    // Matched already: a later export of a symbol ref has compared (its first export wins).
    if (matched[j] === 1) continue;
    matched[j] = 1;
    refLine[j] = i;
    if (ref.crcs[i] !== next.crcs[j]) changed.push(symbol);
    // The columns after the symbol read the same almost always: one comparison of them all.
    if (sameTail(ref, i, next, j)) continue;
    if (!sameField(ref, i, next, j, MOD)) moved.push(symbol);
    if (!sameField(ref, i, next, j, TYPE)) exportTypeChanged.push(symbol);
    if (!sameField(ref, i, next, j, NS)) namespaceChanged.push(symbol);
  }
  const added: string[] = [];
  index.forEach((j, symbol) => {
    if (matched[j] === 0) added.push(symbol);
  });

  /** Sorted (code-unit order; no ties: a symbol is listed once), with its lines in ref and next. */
  const records = (
    names: string[],
    make: (i: number, j: number, symbol: string) => SymversChange,
  ): SymversChange[] =>
    names.sort().map((symbol) => {
      const j = index.get(symbol) ?? -1;
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
