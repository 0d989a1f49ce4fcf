import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { modinfoValues, parseModinfo } from './ko-modinfo.js';

const encode = (records: readonly string[]): Uint8Array => Buffer.from(records.join('\0'), 'utf8');

describe('parseModinfo', () => {
  it('reads the keys a verdict needs as the records say them: first value wins, import_ns all (property)', () => {
    const key = fc.constantFrom(
      'name',
      'vermagic',
      'license',
      'srcversion',
      'depends',
      'import_ns',
      'alias',
      'nam',
    );
    const value = fc.stringMatching(/^[a-z0-9,=é ]{0,8}$/);
    const record = fc.oneof(
      fc.tuple(key, value).map(([k, v]) => `${k}=${v}`),
      key,
      fc.constant(''),
    );
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), (records) => {
        const info = parseModinfo(encode(records));
        const first = (k: string): string | undefined => info.records.find((r) => r.key === k)?.value;
        expect(info.name).toBe(first('name'));
        expect(info.vermagic).toBe(first('vermagic'));
        expect(info.license).toBe(first('license'));
        expect(info.srcversion).toBe(first('srcversion'));
        expect(info.depends).toEqual((first('depends') ?? '').split(',').filter((d) => d !== ''));
        expect(info.importNs).toEqual(modinfoValues(info, 'import_ns'));
        expect(info.records).toEqual(
          records
            .filter((r) => r !== '')
            .map((r) => {
              const eq = r.indexOf('=');
              return eq < 0 ? { key: r, value: '' } : { key: r.slice(0, eq), value: r.slice(eq + 1) };
            }),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('keeps its own copy of the section: the reader reuses its buffer', () => {
    const section = encode(['alias=pci:v1', 'license=GPL']);
    const info = parseModinfo(section);
    section.fill(0);
    expect(info.records).toEqual([
      { key: 'alias', value: 'pci:v1' },
      { key: 'license', value: 'GPL' },
    ]);
  });
});
