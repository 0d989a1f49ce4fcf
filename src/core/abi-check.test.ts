import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { abiCheckJson, checkAbi, formatAbiCheck, type AbiCheckRules } from './abi-check.js';
import { globToRegExp, parseWhitelist } from './abi-check-rules.js';
import { InputError } from './errors.js';
import { parseSymvers } from './symvers.js';

const NONE: AbiCheckRules = { strict: false, ignoreSymbols: [], ignoreModules: [] };
const sv = (lines: string[]) => parseSymvers(`${lines.join('\n')}\n`, 'test');

const REF = sv([
  '0x00000001\tkeep\tvmlinux\tEXPORT_SYMBOL\t',
  '0x00000002\tcrc_changes\tvmlinux\tEXPORT_SYMBOL\t',
  '0x00000003\tgoes_away\tdrivers/net/foo\tEXPORT_SYMBOL\t',
  '0x00000004\tmoves\tvmlinux\tEXPORT_SYMBOL\t',
  '0x00000005\tgets_gpl\tvmlinux\tEXPORT_SYMBOL\t',
  '0x00000006\tgets_ns\tvmlinux\tEXPORT_SYMBOL_GPL\t',
]);
const NEW = sv([
  '0x00000001\tkeep\tvmlinux\tEXPORT_SYMBOL\t',
  '0x000000f2\tcrc_changes\tvmlinux\tEXPORT_SYMBOL\t',
  '0x00000004\tmoves\tlib/moved\tEXPORT_SYMBOL\t',
  '0x00000005\tgets_gpl\tvmlinux\tEXPORT_SYMBOL_GPL\t',
  '0x00000006\tgets_ns\tvmlinux\tEXPORT_SYMBOL_GPL\tNEW_NS',
  '0x00000007\tbrand_new\tdrivers/net/foo\tEXPORT_SYMBOL\t',
]);

describe('checkAbi', () => {
  it('reports every category; anything but additions breaks', () => {
    const r = checkAbi(REF, NEW, NONE);
    expect(abiCheckJson(r)).toEqual({
      compatible: false,
      changed: [{ symbol: 'crc_changes', old: '0x00000002', new: '0x000000f2' }],
      removed: [{ symbol: 'goes_away', old: '0x00000003', new: null }],
      added: [{ symbol: 'brand_new', old: null, new: '0x00000007' }],
      moved: [{ symbol: 'moves', old: 'vmlinux', new: 'lib/moved' }],
      exportTypeChanged: [{ symbol: 'gets_gpl', old: 'EXPORT_SYMBOL', new: 'EXPORT_SYMBOL_GPL' }],
      namespaceChanged: [{ symbol: 'gets_ns', old: '', new: 'NEW_NS' }],
    });
    expect(r.breaking).toBe(5);
    expect(formatAbiCheck(r, 'a', 'b')).toEqual([
      'abi check: a -> b',
      'changed CRC (1):',
      '  crc_changes  0x00000002 -> 0x000000f2',
      'removed (1):',
      '  goes_away  0x00000003',
      'moved to another module (1):',
      '  moves  vmlinux -> lib/moved',
      'export type changed (1):',
      '  gets_gpl  EXPORT_SYMBOL -> EXPORT_SYMBOL_GPL',
      'namespace changed (1):',
      '  gets_ns  "" -> NEW_NS',
      'added (1):',
      '  brand_new  0x00000007',
      'ABI broken: 1 changed, 1 removed, 1 moved, 1 export type changed, 1 namespace changed; 1 added',
    ]);
  });

  it('ignore rules take accepted changes out, by symbol glob or by module glob (old or new module)', () => {
    const r = checkAbi(REF, NEW, {
      ...NONE,
      ignoreSymbols: ['crc_*', 'gets_[gn]?*'],
      ignoreModules: ['drivers/net/*', 'lib/*'],
    });
    expect(r.compatible).toBe(true);
    expect(r.ignored).toBe(6);
    expect(formatAbiCheck(r, 'a', 'b').at(-1)).toBe('ABI compatible (6 symbols ignored by rules)');
  });

  it('additions alone warn, and fail with --strict', () => {
    const grown = sv([
      ...REF.entries.map(
        (e) =>
          `0x${e.crc.toString(16).padStart(8, '0')}\t${e.symbol}\t${e.module}\t${e.exportType}\t${e.namespace}`,
      ),
      '0x00000009\textra\tvmlinux\tEXPORT_SYMBOL\t',
    ]);
    expect(checkAbi(REF, grown, NONE).compatible).toBe(true);
    expect(formatAbiCheck(checkAbi(REF, grown, NONE), 'a', 'b').at(-1)).toBe(
      'ABI compatible: 1 added (warning)',
    );
    const strict = checkAbi(REF, grown, { ...NONE, strict: true });
    expect(strict.compatible).toBe(false);
    expect(formatAbiCheck(strict, 'a', 'b').at(-1)).toBe('ABI changed: 1 added (--strict)');
  });

  it('a whitelist keeps only its symbols; one exported by neither side is lost', () => {
    const r = checkAbi(REF, NEW, { ...NONE, whitelist: new Set(['keep', 'goes_away', 'moves', 'ghost']) });
    expect(r.diff.changed).toEqual([]);
    expect(r.diff.removed.map((c) => c.symbol)).toEqual(['ghost', 'goes_away']);
    expect(r.diff.moved.map((c) => c.symbol)).toEqual(['moves']);
    expect(r.diff.added).toEqual([]);
    expect(formatAbiCheck(r, 'a', 'b')).toContain('lost (2):');
    // Padded to the group's longest symbol; a symbol neither side exports has no value.
    expect(formatAbiCheck(r, 'a', 'b').slice(1, 4)).toEqual([
      'lost (2):',
      '  ghost      (none)',
      '  goes_away  0x00000003',
    ]);
  });

  it('pads symbols to the longest of their group, up to 48 columns', () => {
    const long = `s${'x'.repeat(55)}`;
    const wide = sv([
      `0x00000001\t${long}\tvmlinux\tEXPORT_SYMBOL\t`,
      `0x00000001\t${'m'.repeat(47)}\tvmlinux\tEXPORT_SYMBOL\t`,
      '0x00000001\tshort\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000001\tünï\tvmlinux\tEXPORT_SYMBOL\t',
    ]);
    const lines = formatAbiCheck(checkAbi(parseSymvers('', 'empty'), wide, NONE), 'a', 'b');
    expect(lines.slice(1, 6)).toEqual([
      'added (4):',
      `  ${'m'.repeat(47)}   0x00000001`,
      `  short${' '.repeat(43)}  0x00000001`,
      `  ${long}  0x00000001`,
      // Padded by characters, as they show, not by their bytes.
      `  ünï${' '.repeat(45)}  0x00000001`,
    ]);
  });
});

describe('the real Debian 6.1.0-47 → 6.1.0-50 Module.symvers', () => {
  const read = (kver: string) => readFileSync(`/usr/src/linux-headers-${kver}/Module.symvers`, 'utf8');
  const a = read('6.1.0-47-amd64');
  const b = read('6.1.0-50-amd64');

  /** An independent count: split lines, first line per symbol, compare fields. */
  function independent(refText: string, newText: string): Record<string, number> {
    const table = (t: string) => {
      const m = new Map<string, string[]>();
      for (const line of t.split('\n')) {
        if (line === '') continue;
        const f = line.split('\t');
        if (!m.has(f[1] as string)) m.set(f[1] as string, f);
      }
      return m;
    };
    const r = table(refText);
    const n = table(newText);
    const c = { changed: 0, removed: 0, added: 0, moved: 0, exportTypeChanged: 0, namespaceChanged: 0 };
    for (const [s, f] of r) {
      const g = n.get(s);
      if (g === undefined) {
        c.removed++;
        continue;
      }
      if (Number.parseInt(f[0] as string, 16) !== Number.parseInt(g[0] as string, 16)) c.changed++;
      if (f[2] !== g[2]) c.moved++;
      if (f[3] !== g[3]) c.exportTypeChanged++;
      if ((f[4] ?? '') !== (g[4] ?? '')) c.namespaceChanged++;
    }
    for (const s of n.keys()) if (!r.has(s)) c.added++;
    return c;
  }

  it('reports exactly the counts of an independent computation', () => {
    const r = checkAbi(parseSymvers(a, 'a'), parseSymvers(b, 'b'), NONE);
    const counts = Object.fromEntries(Object.entries(r.diff).map(([k, v]) => [k, (v as unknown[]).length]));
    expect(counts).toEqual(independent(a, b));
    expect(counts).toEqual({
      changed: 18107,
      removed: 3,
      added: 7,
      moved: 0,
      exportTypeChanged: 0,
      namespaceChanged: 0,
    });
    expect(r.compatible).toBe(false);
  });
});

describe('rules', () => {
  it('globs are fnmatch-like without FNM_PATHNAME', () => {
    expect(globToRegExp('drivers/net/*').test('drivers/net/wireless/foo')).toBe(true);
    expect(globToRegExp('a?c').test('abc')).toBe(true);
    expect(globToRegExp('a?c').test('ac')).toBe(false);
    expect(globToRegExp('[!x]y').test('zy')).toBe(true);
    expect(globToRegExp('[!x]y').test('xy')).toBe(false);
    expect(globToRegExp('a.b+c').test('aXb+c')).toBe(false);
    expect(globToRegExp('[unclosed').test('[unclosed')).toBe(true);
  });

  it('whitelists: Module.kabi lines and plain symbol lists with section headers', () => {
    expect([...parseWhitelist('0x1234\tfoo\tvmlinux\tEXPORT_SYMBOL\n\n# c\n', 'k')]).toEqual(['foo']);
    expect([...parseWhitelist('[rhel9_x86_64_whitelist]\n\tbar\n\tbaz\n', 'k')]).toEqual(['bar', 'baz']);
    expect(() => parseWhitelist('foo bar\n', 'Module.kabi')).toThrow(InputError);
    expect(() => parseWhitelist('ok\nfoo bar\n', 'Module.kabi')).toThrow('Module.kabi:2:');
  });
});
