import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkAbi, checkAbiDiff, formatAbiCheck, formatAbiCheckText } from './abi-check.js';
import { diffSymvers, parseSymvers } from './symvers.js';
import { diffSymversTables, scanSymvers, tableModuleOf, type SymversTable } from './symvers-table.js';

const REAL = {
  a: readFileSync('/usr/src/linux-headers-6.1.0-47-amd64/Module.symvers', 'utf8'),
  b: readFileSync('/usr/src/linux-headers-6.1.0-50-amd64/Module.symvers', 'utf8'),
};

function table(text: string, file = 'f'): SymversTable {
  const t = scanSymvers(text, file);
  if (t === undefined) throw new Error('scanSymvers refused a well-formed text');
  return t;
}

/** Whether parseSymvers accepts the text. */
function parses(text: string): boolean {
  try {
    parseSymvers(text, 'f');
    return true;
  } catch {
    return false;
  }
}

describe('scanSymvers / diffSymversTables', () => {
  it('diffs the real 6.1.0-47 → 6.1.0-50 files exactly as diffSymvers does, both ways', () => {
    const [a, b] = [table(REAL.a), table(REAL.b)];
    const [ma, mb] = [parseSymvers(REAL.a, 'a'), parseSymvers(REAL.b, 'b')];
    expect(diffSymversTables(a, b)).toEqual(diffSymvers(ma, mb));
    expect(diffSymversTables(b, a)).toEqual(diffSymvers(mb, ma));
    expect(diffSymversTables(a, a)).toEqual(diffSymvers(ma, ma));
    expect(a.count).toBe(ma.entries.length);
  });

  it('gives the same report text, rules included, as the parsed models', () => {
    const [a, b] = [table(REAL.a), table(REAL.b)];
    const [ma, mb] = [parseSymvers(REAL.a, 'a'), parseSymvers(REAL.b, 'b')];
    for (const rules of [
      { strict: false, ignoreSymbols: [], ignoreModules: [] },
      { strict: true, ignoreSymbols: ['drm_*'], ignoreModules: ['drivers/net/*'] },
      {
        strict: false,
        ignoreSymbols: [],
        ignoreModules: [],
        whitelist: new Set(['phys_base', 'kmalloc', 'gone']),
      },
    ]) {
      const fast = checkAbiDiff(
        diffSymversTables(a, b),
        (s) => tableModuleOf(a, s),
        (s) => tableModuleOf(b, s),
        rules,
      );
      const slow = checkAbi(ma, mb, rules);
      expect(fast).toEqual(slow);
      expect(formatAbiCheckText(fast, 'a', 'b')).toBe(formatAbiCheck(slow, 'a', 'b').join('\n'));
    }
  });

  it('reads files of lines shorter than its first guess of their number (the table grows)', () => {
    // ~20 characters a line: four times the lines the table is first sized for.
    const file = (crcOf: (n: number) => number, count: number) =>
      Array.from(
        { length: count },
        (_, n) => `${crcOf(n).toString(16)}\ts${n}\tm\tEXPORT_SYMBOL${n % 3 === 0 ? '\tNS' : ''}\n`,
      ).join('');
    const [x, y] = [file((n) => n, 700), file((n) => (n % 5 === 0 ? n + 1 : n), 650)];
    const [tx, ty] = [table(x), table(y)];
    expect([tx.count, ty.count]).toEqual([700, 650]);
    const diff = diffSymversTables(tx, ty);
    expect(diff).toEqual(diffSymvers(parseSymvers(x, 'x'), parseSymvers(y, 'y')));
    expect([diff.changed.length, diff.removed.length]).toEqual([130, 50]);
  });

  it('lines up two files of nearly the same order as the full lookup does, duplicates included (property)', () => {
    // A few names, so that files export some twice; the new file is the old one edited.
    const entry = fc.record({
      symbol: fc.constantFrom('a', 'b', 'c', 'dd', 'e', 'f'),
      crc: fc.integer({ min: 0, max: 3 }),
      module: fc.constantFrom('vmlinux', 'fs/x'),
    });
    const lineOf = (e: { symbol: string; crc: number; module: string }) =>
      `0x0000000${e.crc}\t${e.symbol}\t${e.module}\tEXPORT_SYMBOL\t`;
    const edit = fc.oneof(
      fc.record({ drop: fc.nat() }),
      fc.record({ insert: fc.nat(), entry }),
      fc.record({ bump: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 14 }), fc.array(edit, { maxLength: 5 }), (old, edits) => {
        const next = old.map((e) => ({ ...e }));
        for (const e of edits) {
          if ('drop' in e) next.splice(e.drop % (next.length + 1), 1);
          else if ('insert' in e) next.splice(e.insert % (next.length + 1), 0, e.entry);
          else if (next.length > 0) {
            const at = next[e.bump % next.length] as { crc: number };
            at.crc = (at.crc + 1) % 4;
          }
        }
        const [x, y] = [old.map(lineOf).join('\n'), next.map(lineOf).join('\n')];
        expect(diffSymversTables(table(x), table(y))).toEqual(
          diffSymvers(parseSymvers(x, 'x'), parseSymvers(y, 'y')),
        );
      }),
      { numRuns: 1000 },
    );
  });

  it('looks symbols up by their first export', () => {
    const t = table('0x00000001\tdup\tvmlinux\tEXPORT_SYMBOL\t\n0x00000002\tdup\tfs/x\tEXPORT_SYMBOL\t\n');
    expect(tableModuleOf(t, 'dup')).toBe('vmlinux');
    expect(tableModuleOf(t, 'absent')).toBeUndefined();
  });

  it('refuses every line parseSymvers refuses, and reads the rest as it does (property)', () => {
    const field = fc.stringMatching(/^[A-Za-z0-9_./-]{0,6}$/);
    const crc = fc.oneof(
      fc.integer({ min: 0, max: 0xffffffff }).map((n) => `0x${n.toString(16).padStart(8, '0')}`),
      fc.stringMatching(/^(0x|0X)?[0-9a-fA-Fg]{0,9}$/),
    );
    const exportType = fc.constantFrom('EXPORT_SYMBOL', 'EXPORT_SYMBOL_GPL', '(unknown)', 'X', '');
    const line = fc.oneof(
      fc.tuple(crc, field, field, exportType).map((c) => c.join('\t')),
      fc.tuple(crc, field, field, exportType, field).map((c) => c.join('\t')),
      fc.tuple(crc, field, field, field, exportType).map((c) => c.join('\t')),
      fc.tuple(crc, field, field).map((c) => c.join('\t')),
      fc.tuple(crc, field, field, exportType, field, field).map((c) => c.join('\t')),
      fc.tuple(crc, field, field, exportType).map((c) => `${c.join('\t')}\r`),
      fc.constant(''),
    );
    const file = fc
      .tuple(fc.array(line, { maxLength: 12 }), fc.boolean())
      .map(([lines, nl]) => lines.join('\n') + (nl && lines.length > 0 ? '\n' : ''));
    fc.assert(
      fc.property(file, file, (x, y) => {
        const [tx, ty] = [scanSymvers(x, 'x'), scanSymvers(y, 'y')];
        expect(tx !== undefined).toBe(parses(x));
        expect(ty !== undefined).toBe(parses(y));
        if (tx === undefined || ty === undefined) return;
        expect(diffSymversTables(tx, ty)).toEqual(diffSymvers(parseSymvers(x, 'x'), parseSymvers(y, 'y')));
      }),
      { numRuns: 500 },
    );
  });
});
