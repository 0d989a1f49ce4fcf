// Module.symvers as a table of column positions over the file's text, for `abi check`: two
// kernels' files (~24,600 lines each) are compared once and thrown away, so nothing is built
// per line but a few integers, and strings are made only for symbols that changed. Lines are
// split by hand, one pass per line with no regex and no split(). The table accepts exactly
// the lines parseSymvers accepts and reads them the same way; a line it would reject makes
// scanSymvers return undefined, and the caller parses with parseSymvers, whose error names
// the file and line.
import { formatCrc, type SymversChange, type SymversDiff } from './symvers.js';

/** Per line, 8 positions into `text`: symbol, module, export type, namespace as [start, end). */
const STRIDE = 8;
const SYM = 0;
const MOD = 2;
const TYPE = 4;
const NS = 6;

export interface SymversTable {
  readonly file: string;
  readonly text: string;
  readonly count: number;
  /** STRIDE positions per line. */
  readonly cols: Int32Array;
  readonly crcs: Uint32Array;
  /** Per line: the hash of its symbol (symbolHash). */
  readonly hashes: Int32Array;
  /**
   * Open-addressing index, symbol → its first line (the first export wins, as in
   * parseSymvers' index): line numbers, -1 for an empty slot; the size is a power of two.
   * Hand-made rather than a Map so that no string is made per line: keys are compared as
   * ranges of the text.
   */
  readonly slots: Int32Array;
  /** 1 where the line is its symbol's first export. */
  readonly first: Uint8Array;
}

/** FNV-1a over the UTF-16 code units of text[start, end). */
function symbolHash(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}

/** The line holding `text[start, end)` as its symbol in `t`'s index, or -1. */
function lookup(t: SymversTable, text: string, start: number, end: number, hash: number): number {
  const mask = t.slots.length - 1;
  const n = end - start;
  for (let s = hash & mask; ; s = (s + 1) & mask) {
    const line = t.slots[s] as number;
    if (line < 0) return -1;
    if (t.hashes[line] !== hash) continue;
    const at = line * STRIDE + SYM;
    const from = t.cols[at] as number;
    if ((t.cols[at + 1] as number) - from !== n) continue;
    let k = 0;
    while (k < n && t.text.charCodeAt(from + k) === text.charCodeAt(start + k)) k++;
    if (k === n) return line;
  }
}

const LF = 10;
const CR = 13;

/**
 * The table of a Module.symvers text, or undefined when some line is not one parseSymvers
 * would read (let it say why). The index is built in the same pass.
 */
export function scanSymvers(text: string, file: string): SymversTable | undefined {
  const len = text.length;
  // Lines ≈ newlines: one count up front sizes the arrays once.
  let lines = 0;
  for (let p = text.indexOf('\n'); p !== -1; p = text.indexOf('\n', p + 1)) lines++;
  if (len > 0 && text.charCodeAt(len - 1) !== LF) lines++;
  const cols = new Int32Array(lines * STRIDE);
  const crcs = new Uint32Array(lines);
  const first = new Uint8Array(lines);
  const hashes = new Int32Array(lines);
  let size = 16;
  while (size < lines * 2) size *= 2;
  const slots = new Int32Array(size).fill(-1);
  const table: SymversTable = { file, text, count: 0, cols, crcs, hashes, slots, first };
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
  const { text, cols, crcs, hashes, slots, first } = table;
  const mask = slots.length - 1;
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
  let crc = 0;
  for (; i < t1; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) crc = crc * 16 + (c - 0x30);
    else if (c >= 0x61 && c <= 0x66) crc = crc * 16 + (c - 0x57);
    else if (c >= 0x41 && c <= 0x46) crc = crc * 16 + (c - 0x37);
    else return false;
  }
  if (t2 === t1 + 1) return false; // empty symbol
  const at = n * STRIDE;
  cols[at + SYM] = t1 + 1;
  cols[at + SYM + 1] = t2;
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
  crcs[n] = crc;
  const hash = symbolHash(text, t1 + 1, t2);
  hashes[n] = hash;
  if (lookup(table, text, t1 + 1, t2, hash) < 0) {
    let slot = hash & mask;
    while ((slots[slot] as number) >= 0) slot = (slot + 1) & mask;
    slots[slot] = n;
    first[n] = 1;
  }
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

/** The module exporting `symbol` (its first export), as SymversIndex.bySymbol would give it. */
export function tableModuleOf(t: SymversTable, symbol: string): string | undefined {
  const line = lookup(t, symbol, 0, symbol.length, symbolHash(symbol, 0, symbol.length));
  return line < 0 ? undefined : field(t, line, MOD);
}

/**
 * diffSymvers over two tables: the same lists in the same order. Symbols whose every field
 * is the same (nearly all, even across an ABI bump) cost a lookup and a few character
 * comparisons; records are made only for the changes.
 */
export function diffSymversTables(ref: SymversTable, next: SymversTable): SymversDiff {
  const changed: number[] = [];
  const moved: number[] = [];
  const exportTypeChanged: number[] = [];
  const namespaceChanged: number[] = [];
  const removed: number[] = [];
  // Which of next's lines some ref symbol matched: the rest of its first exports were added.
  const matched = new Uint8Array(next.count);
  // A symbol ref exports twice is compared once, like its index does: the first export.
  for (let i = 0; i < ref.count; i++) {
    if (ref.first[i] === 0) continue;
    const from = ref.cols[i * STRIDE + SYM] as number;
    const j = lookup(next, ref.text, from, ref.cols[i * STRIDE + SYM + 1] as number, ref.hashes[i] as number);
    if (j < 0) {
      removed.push(i);
      continue;
    }
    matched[j] = 1;
    if (ref.crcs[i] !== next.crcs[j]) changed.push(i);
    if (!sameField(ref, i, next, j, MOD)) moved.push(i);
    if (!sameField(ref, i, next, j, TYPE)) exportTypeChanged.push(i);
    if (!sameField(ref, i, next, j, NS)) namespaceChanged.push(i);
  }
  const added: number[] = [];
  for (let j = 0; j < next.count; j++) if (next.first[j] === 1 && matched[j] === 0) added.push(j);

  /**
   * The symbols of `side`'s lines, sorted (code-unit order; no ties: a symbol is listed
   * once), each with its line in ref and in next, made into records in that order.
   */
  const records = (
    side: SymversTable,
    lines: readonly number[],
    make: (i: number, j: number, symbol: string) => SymversChange,
  ): SymversChange[] => {
    const names = lines.map((line) => field(side, line, SYM));
    names.sort();
    return names.map((symbol) => {
      const hash = symbolHash(symbol, 0, symbol.length);
      return make(
        lookup(ref, symbol, 0, symbol.length, hash),
        lookup(next, symbol, 0, symbol.length, hash),
        symbol,
      );
    });
  };
  const pairs = (list: readonly number[], make: (i: number, j: number, symbol: string) => SymversChange) =>
    records(ref, list, make);
  return {
    changed: pairs(changed, (i, j, symbol) => ({
      symbol,
      old: formatCrc(ref.crcs[i] as number),
      new: formatCrc(next.crcs[j] as number),
    })),
    removed: records(ref, removed, (i, _j, symbol) => ({
      symbol,
      old: formatCrc(ref.crcs[i] as number),
      new: null,
    })),
    added: records(next, added, (_i, j, symbol) => ({
      symbol,
      old: null,
      new: formatCrc(next.crcs[j] as number),
    })),
    moved: pairs(moved, (i, j, symbol) => ({ symbol, old: field(ref, i, MOD), new: field(next, j, MOD) })),
    exportTypeChanged: pairs(exportTypeChanged, (i, j, symbol) => ({
      symbol,
      old: field(ref, i, TYPE),
      new: field(next, j, TYPE),
    })),
    namespaceChanged: pairs(namespaceChanged, (i, j, symbol) => ({
      symbol,
      old: field(ref, i, NS),
      new: field(next, j, NS),
    })),
  };
}
