import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from './errors.js';
import {
  breakingCount,
  diffSymvers,
  formatCrc,
  indexSymvers,
  mergeSymvers,
  parseSymvers,
  serializeSymvers,
} from './symvers.js';

const REAL = {
  a: '/usr/src/linux-headers-6.1.0-47-amd64/Module.symvers',
  b: '/usr/src/linux-headers-6.1.0-50-amd64/Module.symvers',
};

describe('parseSymvers / serializeSymvers', () => {
  it.each(Object.values(REAL))('round-trips the real Debian file %s byte for byte', (file) => {
    const text = readFileSync(file, 'utf8');
    const s = parseSymvers(text, file);
    expect(s.entries.length).toBeGreaterThan(24_000);
    expect(serializeSymvers(s)).toBe(text);
    expect(s.entries.every((e) => e.exportType.startsWith('EXPORT_') && e.symbol !== '')).toBe(true);
  });

  it('keeps 4-column lines, upper-case CRCs and a missing final newline as they were', () => {
    const text = '0xDEADBEEF\tfoo\tvmlinux\tEXPORT_SYMBOL\n0x00000001\tbar\tdrivers/x\tEXPORT_SYMBOL_GPL\tNS';
    const s = parseSymvers(text, 't');
    expect(s.entries.map((e) => [e.crc, e.namespace])).toEqual([
      [0xdeadbeef, ''],
      [1, 'NS'],
    ]);
    expect(serializeSymvers(s)).toBe(text);
    expect(parseSymvers('', 'empty').entries).toEqual([]);
  });

  it.each([
    ['0x1\tfoo\tvmlinux\n', 1, /4 or 5 tab-separated columns, found 3/],
    ['0x00000001\tok\tvmlinux\tEXPORT_SYMBOL\t\nzz\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n', 2, /bad CRC "zz"/],
    ['0x1\t\tvmlinux\tEXPORT_SYMBOL\n', 1, /bad symbol name/],
    ['0x1\tfoo\t\tEXPORT_SYMBOL\n', 1, /empty module/],
    ['0x1\tfoo\tvmlinux\tEXPORT_WHATEVER\n', 1, /unknown export type/],
    ['0x1\tfoo\tvmlinux\tEXPORT_SYMBOL\n\n', 2, /found 1/],
  ])('names the file and line of a malformed line: %j', (text, line, message) => {
    let err: unknown;
    try {
      parseSymvers(text, 'Module.symvers');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).line).toBe(line);
    expect((err as InputError).message).toMatch(message);
    expect((err as InputError).message.startsWith(`Module.symvers:${line}: `)).toBe(true);
  });
});

describe('index, merge and diff', () => {
  it('merges like modpost: first export wins, later ones are reported', () => {
    const a = parseSymvers('0x1\tf\tdkms/a\tEXPORT_SYMBOL\t\n', 'a');
    const b = parseSymvers('0x2\tf\tdkms/b\tEXPORT_SYMBOL\t\n0x3\tg\tdkms/b\tEXPORT_SYMBOL\t\n', 'b');
    const m = mergeSymvers([a, b]);
    expect(m.bySymbol.get('f')?.module).toBe('dkms/a');
    expect(m.duplicates.map((d) => d.module)).toEqual(['dkms/b']);
    expect(m.bySymbol.size).toBe(2);
  });

  it('reports each category with the changed field', () => {
    const ref = parseSymvers(
      [
        '0x00000001\tsame\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000002\tcrc\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000003\tgone\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000004\tmoves\tdrivers/a\tEXPORT_SYMBOL\t',
        '0x00000005\tgpl\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000006\tns\tvmlinux\tEXPORT_SYMBOL\t',
      ].join('\n'),
      'ref',
    );
    const next = parseSymvers(
      [
        '0x00000001\tsame\tvmlinux\tEXPORT_SYMBOL\t',
        '0x000000ff\tcrc\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000004\tmoves\tdrivers/b\tEXPORT_SYMBOL\t',
        '0x00000005\tgpl\tvmlinux\tEXPORT_SYMBOL_GPL\t',
        '0x00000006\tns\tvmlinux\tEXPORT_SYMBOL\tCRYPTO',
        '0x00000007\tnew\tvmlinux\tEXPORT_SYMBOL\t',
      ].join('\n'),
      'next',
    );
    const d = diffSymvers(ref, next);
    expect(d).toEqual({
      changed: [{ symbol: 'crc', old: '0x00000002', new: '0x000000ff' }],
      removed: [{ symbol: 'gone', old: '0x00000003', new: null }],
      added: [{ symbol: 'new', old: null, new: '0x00000007' }],
      moved: [{ symbol: 'moves', old: 'drivers/a', new: 'drivers/b' }],
      exportTypeChanged: [{ symbol: 'gpl', old: 'EXPORT_SYMBOL', new: 'EXPORT_SYMBOL_GPL' }],
      namespaceChanged: [{ symbol: 'ns', old: '', new: 'CRYPTO' }],
    });
    expect(breakingCount(d)).toBe(5);
    expect(breakingCount(diffSymvers(ref, ref))).toBe(0);
  });

  it('counts the real 6.1.0-47 → 6.1.0-50 changes exactly as an independent join does', () => {
    const a = parseSymvers(readFileSync(REAL.a, 'utf8'), REAL.a);
    const b = parseSymvers(readFileSync(REAL.b, 'utf8'), REAL.b);
    const d = diffSymvers(indexSymvers(a.entries), indexSymvers(b.entries));
    // Independent: awk over both files, keyed by symbol.
    const awk = `FNR==NR { crc[$2]=$1; mod[$2]=$3; typ[$2]=$4; ns[$2]=$5; next }
      { seen[$2]=1; if (!($2 in crc)) added++; else { if (crc[$2]!=$1) changed++; if (mod[$2]!=$3) moved++; if (typ[$2]!=$4) types++; if (ns[$2]!=$5) nss++ } }
      END { for (s in crc) if (!(s in seen)) removed++; printf "%d %d %d %d %d %d\\n", changed, removed, added, moved, types, nss }`;
    const counts = execFileSync('awk', ['-F', '\t', awk, REAL.a, REAL.b], { encoding: 'utf8' })
      .trim()
      .split(' ')
      .map(Number);
    expect([
      d.changed.length,
      d.removed.length,
      d.added.length,
      d.moved.length,
      d.exportTypeChanged.length,
      d.namespaceChanged.length,
    ]).toEqual(counts);
    expect(d.changed.map((c) => c.symbol)).toContain('module_layout');
    expect(d.changed.length / a.entries.length).toBeGreaterThan(0.5);
  });

  it('formats CRCs as kbuild does', () => {
    expect(formatCrc(0x1a)).toBe('0x0000001a');
    expect(formatCrc(0xffffffff)).toBe('0xffffffff');
  });
});
