import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
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
  symversFromEntries,
  type SymversDiff,
  type SymversEntry,
} from './symvers.js';

const REAL = {
  a: '/usr/src/linux-headers-6.1.0-47-amd64/Module.symvers',
  b: '/usr/src/linux-headers-6.1.0-50-amd64/Module.symvers',
};
const text = { a: readFileSync(REAL.a, 'utf8'), b: readFileSync(REAL.b, 'utf8') };

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('no error thrown');
}

const counts = (d: SymversDiff): number[] => [
  d.changed.length,
  d.removed.length,
  d.added.length,
  d.moved.length,
  d.exportTypeChanged.length,
  d.namespaceChanged.length,
];

describe('parseSymvers / serializeSymvers', () => {
  it.each(Object.values(REAL))('round-trips the real Debian file %s byte for byte', (file) => {
    const t = readFileSync(file, 'utf8');
    const s = parseSymvers(t, file);
    expect(s.entries.length).toBe(t.split('\n').length - 1);
    expect(serializeSymvers(s)).toBe(t);
    expect(s.layout.shapes.every((l) => l === 'namespace-last')).toBe(true);
    expect(s.layout.crcTexts.every((c) => c === undefined)).toBe(true);
    expect(s.bySymbol.size).toBe(s.entries.length);
    expect(s.duplicates).toEqual([]);
  });

  it('reads the real fields: CRC as u32, module path, export type, namespace', () => {
    const s = parseSymvers(text.a, REAL.a);
    const line = (sym: string): string => text.a.split('\n').find((l) => l.split('\t')[1] === sym) ?? '';
    const [crc, , module, type, ns] = line('usb_stor_suspend').split('\t');
    expect(s.bySymbol.get('usb_stor_suspend')).toEqual({
      crc: Number.parseInt(crc ?? '', 16),
      symbol: 'usb_stor_suspend',
      module,
      exportType: type,
      namespace: ns,
    });
    expect(ns).toBe('USB_STORAGE');
    expect(s.bySymbol.get('module_layout')?.module).toBe('vmlinux');
    const types = new Set(s.entries.map((e) => e.exportType));
    expect([...types].sort()).toEqual(['EXPORT_SYMBOL', 'EXPORT_SYMBOL_GPL']);
    expect(s.entries.every((e) => e.crc >= 0 && e.crc <= 0xffffffff && Number.isInteger(e.crc))).toBe(true);
  });

  it('keeps every layout, CRC spelling and final-newline choice as it was', () => {
    const t = [
      '0xDEADBEEF\told\tvmlinux\tEXPORT_SYMBOL', // before 5.4: 4 columns, upper-case CRC
      '0x1\tshort\tdrivers/x\tEXPORT_SYMBOL_GPL\tNS', // short CRC, namespace last
      'abc\tbare\tvmlinux\tEXPORT_SYMBOL\t', // strtoul accepts hex without 0x
      '0x00000002\tmid\tCRYPTO_INTERNAL\tcrypto/x\tEXPORT_SYMBOL_GPL', // 5.4–5.9: namespace third
      '0x00000003\tmid_empty\t\tvmlinux\tEXPORT_SYMBOL', // 5.4–5.9 with no namespace
      '0x00000004\tweird\tvmlinux\t(unknown)', // modpost's name for an unknown type
      '0x00000005\tfuture\tvmlinux\tEXPORT_SYMBOL_GPL_FUTURE\t',
    ].join('\n');
    const s = parseSymvers(t, 't');
    expect(s.entries.map((e) => [e.crc, e.symbol, e.module, e.exportType, e.namespace])).toEqual([
      [0xdeadbeef, 'old', 'vmlinux', 'EXPORT_SYMBOL', ''],
      [1, 'short', 'drivers/x', 'EXPORT_SYMBOL_GPL', 'NS'],
      [0xabc, 'bare', 'vmlinux', 'EXPORT_SYMBOL', ''],
      [2, 'mid', 'crypto/x', 'EXPORT_SYMBOL_GPL', 'CRYPTO_INTERNAL'],
      [3, 'mid_empty', 'vmlinux', 'EXPORT_SYMBOL', ''],
      [4, 'weird', 'vmlinux', '(unknown)', ''],
      [5, 'future', 'vmlinux', 'EXPORT_SYMBOL_GPL_FUTURE', ''],
    ]);
    expect(s.layout.shapes).toEqual([
      'no-namespace',
      'namespace-last',
      'namespace-last',
      'namespace-third',
      'namespace-third',
      'no-namespace',
      'namespace-last',
    ]);
    expect(s.layout.finalNewline).toBe(false);
    expect(serializeSymvers(s)).toBe(t);
    expect(serializeSymvers(parseSymvers(`${t}\n`, 't'))).toBe(`${t}\n`);
  });

  it('reads an empty file (a module without exports) as no entries', () => {
    const s = parseSymvers('', 'empty');
    expect([s.entries, s.bySymbol.size, serializeSymvers(s)]).toEqual([[], 0, '']);
  });

  it.each([
    ['0x1\tfoo\tvmlinux\n', 1, 'expected 4 or 5 tab-separated columns, found 3'],
    ['0x1\tfoo\tvmlinux\tEXPORT_SYMBOL\tNS\textra\n', 1, 'expected 4 or 5 tab-separated columns, found 6'],
    ['0x1\tfoo\tvmlinux\tEXPORT_SYMBOL\n\n0x2\tbar\tvmlinux\tEXPORT_SYMBOL\n', 2, 'found 1'],
    ['0x00000001\tok\tvmlinux\tEXPORT_SYMBOL\t\nzz\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n', 2, 'bad CRC "zz"'],
    ['0x123456789\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n', 1, 'bad CRC "0x123456789"'],
    ['0x\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n', 1, 'bad CRC "0x"'],
    ['\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n', 1, 'bad CRC ""'],
    ['-0x1\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n', 1, 'bad CRC "-0x1"'],
    ['0x1\t\tvmlinux\tEXPORT_SYMBOL\n', 1, 'empty symbol name'],
    ['0x1\tfoo\t\tEXPORT_SYMBOL\n', 1, 'empty module path for foo'],
    ['0x1\tfoo\tvmlinux\t\t\n', 1, 'empty export type for foo'],
    ['0x1\tfoo\tvmlinux\tEXPORT_SYMBOL\t\r\n', 1, 'carriage return at end of line (DOS line endings)'],
  ])('names the file and 1-based line of a malformed line: %j', (t, line, problem) => {
    const err = inputError(() => parseSymvers(t, '/x/Module.symvers'));
    expect(err.line).toBe(line);
    expect(err.file).toBe('/x/Module.symvers');
    expect(err.message).toContain(problem);
    expect(err.message.startsWith(`/x/Module.symvers:${line}: `)).toBe(true);
    expect(err.exitCode).toBe(2);
  });

  it('serialises entries made in memory in kbuild 6.x form', () => {
    const s = symversFromEntries('mine', [
      { crc: 0x1a, symbol: 'f', module: 'dkms/m', exportType: 'EXPORT_SYMBOL_GPL', namespace: '' },
      { crc: 0xffffffff, symbol: 'g', module: 'dkms/m', exportType: 'EXPORT_SYMBOL', namespace: 'NS' },
    ]);
    expect(serializeSymvers(s)).toBe(
      '0x0000001a\tf\tdkms/m\tEXPORT_SYMBOL_GPL\t\n0xffffffff\tg\tdkms/m\tEXPORT_SYMBOL\tNS\n',
    );
    expect(s.bySymbol.get('g')?.namespace).toBe('NS');
    expect(serializeSymvers(symversFromEntries('none', []))).toBe('');
  });

  it('round-trips any well-formed file (property)', () => {
    const field = fc.stringMatching(/^[A-Za-z0-9_./-]{1,12}$/);
    const line = fc.record({
      crc: fc.integer({ min: 0, max: 0xffffffff }),
      spelling: fc.constantFrom('canonical', 'upper', 'short'),
      symbol: field,
      module: field,
      exportType: fc.constantFrom('EXPORT_SYMBOL', 'EXPORT_SYMBOL_GPL', 'EXPORT_UNUSED_SYMBOL'),
      namespace: fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Z_]{1,8}$/)),
      shape: fc.constantFrom('4', 'last', 'third'),
    });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), fc.boolean(), (lines, finalNewline) => {
        const rendered = lines.map((l) => {
          const crc =
            l.spelling === 'canonical'
              ? formatCrc(l.crc)
              : l.spelling === 'upper'
                ? `0x${l.crc.toString(16).toUpperCase()}`
                : `0x${l.crc.toString(16)}`;
          if (l.shape === '4') return `${crc}\t${l.symbol}\t${l.module}\t${l.exportType}`;
          if (l.shape === 'third') return `${crc}\t${l.symbol}\t${l.namespace}\t${l.module}\t${l.exportType}`;
          return `${crc}\t${l.symbol}\t${l.module}\t${l.exportType}\t${l.namespace}`;
        });
        const t = rendered.join('\n') + (finalNewline && lines.length > 0 ? '\n' : '');
        const s = parseSymvers(t, 'p');
        expect(serializeSymvers(s)).toBe(t);
        expect(s.entries.map((e) => [e.crc, e.symbol, e.module, e.exportType])).toEqual(
          lines.map((l) => [l.crc, l.symbol, l.module, l.exportType]),
        );
        expect(s.entries.map((e) => e.namespace)).toEqual(
          lines.map((l) => (l.shape === '4' ? '' : l.namespace)),
        );
      }),
    );
  });

  it('parses and indexes a kernel-sized file in linear time', () => {
    // A regression guard against accidental quadratic work, not a benchmark: eight copies
    // of the real file (197,000 lines, all duplicates after the first copy) stay well under
    // a second where a quadratic duplicate report would take minutes.
    const big = text.a.repeat(8);
    const started = performance.now();
    const s = parseSymvers(big, 'big');
    const m = mergeSymvers([s, parseSymvers(text.b, REAL.b)]);
    const elapsed = performance.now() - started;
    expect(s.duplicates.length).toBe(7 * s.bySymbol.size);
    expect(m.entries.length).toBe(s.bySymbol.size + 7);
    expect(elapsed).toBeLessThan(5_000);
  });
});

describe('index and merge', () => {
  it('indexes the first export of a symbol and reports later ones with file and line', () => {
    const s = parseSymvers(
      '0x1\tf\tdkms/a\tEXPORT_SYMBOL\t\n0x2\tg\tdkms/a\tEXPORT_SYMBOL\t\n0x3\tf\tdkms/b\tEXPORT_SYMBOL_GPL\t\n',
      'dup.symvers',
    );
    expect(s.bySymbol.get('f')?.crc).toBe(1);
    expect(s.duplicates).toEqual([
      {
        symbol: 'f',
        kept: s.entries[0],
        dropped: s.entries[2],
        keptAt: { file: 'dup.symvers', line: 1 },
        droppedAt: { file: 'dup.symvers', line: 3 },
      },
    ]);
    expect(serializeSymvers(s)).toBe(
      '0x1\tf\tdkms/a\tEXPORT_SYMBOL\t\n0x2\tg\tdkms/a\tEXPORT_SYMBOL\t\n0x3\tf\tdkms/b\tEXPORT_SYMBOL_GPL\t\n',
    );
    expect(indexSymvers(s.entries).bySymbol).toEqual(s.bySymbol);
  });

  it('merges in order: the first export wins, later ones are data with their origin', () => {
    const kernel = parseSymvers('0x00000001\tf\tvmlinux\tEXPORT_SYMBOL\t\n', 'kernel');
    const a = parseSymvers('0x00000002\tg\tdkms/a\tEXPORT_SYMBOL\t\n', 'a');
    const b = parseSymvers(
      '0x00000009\tf\tdkms/b\tEXPORT_SYMBOL\t\n0x00000003\th\tdkms/b\tEXPORT_SYMBOL\tNS\n',
      'b',
    );
    const m = mergeSymvers([kernel, a, b], 'tree');
    expect(m.file).toBe('tree');
    expect(m.entries.map((e) => `${e.symbol}:${e.module}`)).toEqual(['f:vmlinux', 'g:dkms/a', 'h:dkms/b']);
    expect(m.bySymbol.get('f')?.module).toBe('vmlinux');
    expect(m.duplicates).toEqual([
      {
        symbol: 'f',
        kept: kernel.entries[0],
        dropped: b.entries[0],
        keptAt: { file: 'kernel', line: 1 },
        droppedAt: { file: 'b', line: 1 },
      },
    ]);
    expect(serializeSymvers(m)).toBe(
      '0x00000001\tf\tvmlinux\tEXPORT_SYMBOL\t\n0x00000002\tg\tdkms/a\tEXPORT_SYMBOL\t\n0x00000003\th\tdkms/b\tEXPORT_SYMBOL\tNS\n',
    );
    // Locations survive a second merge.
    const again = mergeSymvers([m, parseSymvers('0x5\th\tdkms/c\tEXPORT_SYMBOL\t\n', 'c')]);
    expect(again.duplicates.map((d) => [d.keptAt, d.droppedAt])).toEqual([
      [
        { file: 'kernel', line: 1 },
        { file: 'b', line: 1 },
      ],
      [
        { file: 'b', line: 2 },
        { file: 'c', line: 1 },
      ],
    ]);
  });

  it('merges the real kernels: one file alone is itself, the two are their union', () => {
    const a = parseSymvers(text.a, REAL.a);
    const b = parseSymvers(text.b, REAL.b);
    expect(serializeSymvers(mergeSymvers([a]))).toBe(text.a);
    const m = mergeSymvers([a, b]);
    const union = new Set([...a.bySymbol.keys(), ...b.bySymbol.keys()]);
    expect(m.entries.length).toBe(union.size);
    expect(m.duplicates.length).toBe(a.entries.length + b.entries.length - union.size);
    expect(m.duplicates.every((d) => d.keptAt?.file === REAL.a && d.droppedAt?.file === REAL.b)).toBe(true);
  });
});

describe('diffSymvers', () => {
  it('reports each category with the changed field, sorted by symbol', () => {
    const ref = parseSymvers(
      [
        '0x00000001\tsame\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000002\tcrc\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000003\tgone\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000004\tmoves\tdrivers/a\tEXPORT_SYMBOL\t',
        '0x00000005\tgpl\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000006\tns\tvmlinux\tEXPORT_SYMBOL\t',
        '0x00000008\tboth\tdrivers/a\tEXPORT_SYMBOL\t',
        '0x00000009\tBgone\tvmlinux\tEXPORT_SYMBOL\t',
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
        '0x00000018\tboth\tdrivers/b\tEXPORT_SYMBOL\t',
      ].join('\n'),
      'next',
    );
    const d = diffSymvers(ref, next);
    expect(d).toEqual({
      changed: [
        { symbol: 'both', old: '0x00000008', new: '0x00000018' },
        { symbol: 'crc', old: '0x00000002', new: '0x000000ff' },
      ],
      removed: [
        { symbol: 'Bgone', old: '0x00000009', new: null },
        { symbol: 'gone', old: '0x00000003', new: null },
      ],
      added: [{ symbol: 'new', old: null, new: '0x00000007' }],
      moved: [
        { symbol: 'both', old: 'drivers/a', new: 'drivers/b' },
        { symbol: 'moves', old: 'drivers/a', new: 'drivers/b' },
      ],
      exportTypeChanged: [{ symbol: 'gpl', old: 'EXPORT_SYMBOL', new: 'EXPORT_SYMBOL_GPL' }],
      namespaceChanged: [{ symbol: 'ns', old: '', new: 'CRYPTO' }],
    });
    expect(breakingCount(d)).toBe(8);
    expect(breakingCount(diffSymvers(ref, ref))).toBe(0);
    expect(diffSymvers(indexSymvers(ref.entries), indexSymvers(next.entries))).toEqual(d);
  });

  it('counts the real 6.1.0-47 → 6.1.0-50 changes exactly as an independent awk join does', () => {
    const a = parseSymvers(text.a, REAL.a);
    const b = parseSymvers(text.b, REAL.b);
    const d = diffSymvers(a, b);
    const awk = `FNR==NR { crc[$2]=$1; mod[$2]=$3; typ[$2]=$4; ns[$2]=$5; next }
      { seen[$2]=1; if (!($2 in crc)) added++; else { if (crc[$2]!=$1) changed++; if (mod[$2]!=$3) moved++; if (typ[$2]!=$4) types++; if (ns[$2]!=$5) nss++ } }
      END { for (s in crc) if (!(s in seen)) removed++; printf "%d %d %d %d %d %d\\n", changed, removed, added, moved, types, nss }`;
    const expected = execFileSync('awk', ['-F', '\t', awk, REAL.a, REAL.b], { encoding: 'utf8' })
      .trim()
      .split(' ')
      .map(Number);
    expect(counts(d)).toEqual(expected);
    // The figures themselves (DESIGN.md's 73.6 %): 18,107 of 24,618 CRCs changed.
    expect(counts(d)).toEqual([18_107, 3, 7, 0, 0, 0]);
    expect((100 * d.changed.length) / a.entries.length).toBeCloseTo(73.55, 2);
    expect(d.changed.map((c) => c.symbol)).toContain('module_layout');

    // The added and removed names, from sort and comm in the C locale.
    const names = (file: string): string => `cut -f2 ${file} | LC_ALL=C sort`;
    const comm = (flag: string): string[] =>
      execFileSync('bash', ['-c', `LC_ALL=C comm ${flag} <(${names(REAL.a)}) <(${names(REAL.b)})`], {
        encoding: 'utf8',
      })
        .split('\n')
        .filter((l) => l !== '');
    expect(d.removed.map((c) => c.symbol)).toEqual(comm('-23'));
    expect(d.added.map((c) => c.symbol)).toEqual(comm('-13'));
  });

  it('keeps items in code-unit order, like LC_ALL=C sort', () => {
    const mk = (syms: string[]): SymversEntry[] =>
      syms.map((symbol) => ({
        crc: 1,
        symbol,
        module: 'vmlinux',
        exportType: 'EXPORT_SYMBOL',
        namespace: '',
      }));
    const d = diffSymvers(
      symversFromEntries('a', []),
      symversFromEntries('b', mk(['b', '_a', 'B', 'a', 'A_'])),
    );
    expect(d.added.map((c) => c.symbol)).toEqual(['A_', 'B', '_a', 'a', 'b']);
  });
});

describe('formatCrc', () => {
  it.each([
    [0, '0x00000000'],
    [0x1a, '0x0000001a'],
    [0x4c9d28b0, '0x4c9d28b0'],
    [0xffffffff, '0xffffffff'],
  ])('%d → %s, as kbuild prints 0x%%08x', (crc, out) => {
    expect(formatCrc(crc)).toBe(out);
  });
});
