import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appendSignature, buildModule } from '../../test/helpers/ko-synthetic.js';
import type { SyntheticModule } from '../../test/helpers/ko-synthetic.js';
import { ElfFormatError, parseElf } from './elf.js';
import { exportsFromKsymtab } from './ko-exports.js';
import { splitSignature } from './ko-signature.js';
import { formatModVersionCrc, modinfoValues, readKernelModule, symversLinesFor } from './ko.js';

const MODINFO = [
  'alias=pci:v00008086d*',
  'alias=pci:v000010ECd*',
  'license=GPL',
  'description=Synthetic ✓ module',
  'depends=libfoo,libbar',
  'import_ns=CXL',
  'import_ns=IDXD',
  'srcversion=84CA38E2167EB2D535FB38F',
  'name=synthetic',
  'vermagic=6.1.0-47-amd64 SMP preempt mod_unload modversions ',
];

function synthetic(is64: boolean, littleEndian: boolean, machine: number): SyntheticModule {
  return {
    is64,
    littleEndian,
    machine,
    modinfo: MODINFO,
    versions: [
      { name: 'printk', crc: 0x92997ed8 },
      { name: 'libfoo_do', crc: 0x00000001 },
      { name: 'module_layout', crc: 0xf00d5735 },
    ],
    imports: [{ name: 'printk' }, { name: 'libfoo_do' }, { name: 'maybe_there', weak: true }],
    exports: [
      { symbol: 'syn_zeta', crc: 0x85ee738e },
      { symbol: 'syn_secret', crc: 0x5327b1f3, gpl: true },
      { symbol: 'syn_alpha', crc: 0x0000beef },
      { symbol: 'syn_ns_value', crc: 0x89f44eec, gpl: true, namespace: 'DKMS_ABI_DEMO' },
    ],
    thisModuleSize: is64 ? 0x380 : 0x200,
  };
}

const WANT_EXPORTS = [
  { symbol: 'syn_zeta', crc: 0x85ee738e, exportType: 'EXPORT_SYMBOL', namespace: '' },
  { symbol: 'syn_secret', crc: 0x5327b1f3, exportType: 'EXPORT_SYMBOL_GPL', namespace: '' },
  { symbol: 'syn_alpha', crc: 0x0000beef, exportType: 'EXPORT_SYMBOL', namespace: '' },
  { symbol: 'syn_ns_value', crc: 0x89f44eec, exportType: 'EXPORT_SYMBOL_GPL', namespace: 'DKMS_ABI_DEMO' },
];

// x86_64 and i386 relocations are understood by the loader view; PPC64 and s390 are
// big-endian machines whose exports come from the symbols alone.
const variants = [
  ['ELF64 LSB x86_64', true, true, 62],
  ['ELF64 MSB x86_64 layout', true, false, 62],
  ['ELF32 LSB i386', false, true, 3],
  ['ELF32 MSB i386 layout', false, false, 3],
  ['ELF64 MSB ppc64', true, false, 21],
  ['ELF32 MSB s390', false, false, 22],
] as const;

describe('readKernelModule', () => {
  it.each(variants)('reads a synthetic %s module', (_name, is64, le, machine) => {
    const info = readKernelModule(buildModule(synthetic(is64, le, machine)));
    expect(info.elfClass).toBe(is64 ? 64 : 32);
    expect(info.littleEndian).toBe(le);
    expect(info.machine).toBe(machine);
    expect(info.modinfo.records).toEqual(
      MODINFO.map((s) => ({ key: s.slice(0, s.indexOf('=')), value: s.slice(s.indexOf('=') + 1) })),
    );
    expect(info.modinfo).toMatchObject({
      name: 'synthetic',
      license: 'GPL',
      srcversion: '84CA38E2167EB2D535FB38F',
      vermagic: '6.1.0-47-amd64 SMP preempt mod_unload modversions ',
      depends: ['libfoo', 'libbar'],
      importNs: ['CXL', 'IDXD'],
    });
    expect(modinfoValues(info.modinfo, 'alias')).toEqual(['pci:v00008086d*', 'pci:v000010ECd*']);
    expect(info.versions?.toArray()).toEqual([
      { name: 'printk', crc: 0x92997ed8, crcHigh: 0 },
      { name: 'libfoo_do', crc: 1, crcHigh: 0 },
      { name: 'module_layout', crc: 0xf00d5735, crcHigh: 0 },
    ]);
    expect(info.imports.toArray()).toEqual([
      { name: 'printk', weak: false },
      { name: 'libfoo_do', weak: false },
      { name: 'maybe_there', weak: true },
    ]);
    expect(info.exports).toEqual(WANT_EXPORTS);
    expect(info.thisModuleSize).toBe(is64 ? 0x380 : 0x200);
    expect(info.signature).toBeNull();
  });

  it.each(variants.filter(([, , , machine]) => machine === 62 || machine === 3))(
    'finds the same exports through __ksymtab relocations (%s), sorted by name as the linker script sorts them',
    (_name, is64, le, machine) => {
      const elf = parseElf(buildModule(synthetic(is64, le, machine)));
      const byName = (a: { symbol: string }, b: { symbol: string }): number => (a.symbol < b.symbol ? -1 : 1);
      expect(exportsFromKsymtab(elf)).toEqual([
        ...WANT_EXPORTS.filter((e) => e.exportType === 'EXPORT_SYMBOL').sort(byName),
        ...WANT_EXPORTS.filter((e) => e.exportType === 'EXPORT_SYMBOL_GPL').sort(byName),
      ]);
    },
  );

  it('falls back to the __ksymtab sections when the local symbols were stripped', () => {
    const stripped = readKernelModule(buildModule({ ...synthetic(true, true, 62), stripLocals: true }));
    expect(new Set(stripped.exports)).toEqual(new Set(WANT_EXPORTS));
  });

  it('refuses stripped exports in a relocation layout it does not know rather than inventing them', () => {
    const bytes = buildModule({ ...synthetic(true, false, 21), stripLocals: true });
    expect(() => readKernelModule(bytes)).toThrow(ElfFormatError);
    expect(() => readKernelModule(bytes)).toThrow(/layout not understood/);
  });

  it('leaves out __this_module, _GLOBAL_OFFSET_TABLE_ and the PPC64 .TOC. like modpost', () => {
    const info = readKernelModule(
      buildModule({
        ...synthetic(true, false, 21),
        imports: [
          { name: '_GLOBAL_OFFSET_TABLE_' },
          { name: '.TOC.' },
          { name: '_savegpr0_14' },
          { name: 'kfree' },
        ],
        thisModuleSize: undefined,
      }),
    );
    expect(info.imports.toArray()).toEqual([{ name: 'kfree', weak: false }]);
    const x86 = readKernelModule(buildModule({ ...synthetic(true, true, 62), imports: [{ name: '.TOC.' }] }));
    expect(x86.imports.toArray()).toEqual([{ name: '.TOC.', weak: false }]);
  });

  it('keeps the high half of a 64-bit __versions CRC and prints it as modprobe does', () => {
    const info = readKernelModule(
      buildModule({ ...synthetic(true, true, 62), versions: [{ name: 'odd', crc: 0xabc, crcHigh: 0x1 }] }),
    );
    const [v] = info.versions?.toArray() ?? [];
    expect(v).toEqual({ name: 'odd', crc: 0xabc, crcHigh: 1 });
    expect(v === undefined ? '' : formatModVersionCrc(v)).toBe('0x100000abc');
    expect(formatModVersionCrc({ crc: 0x160c03af, crcHigh: 0 })).toBe('0x160c03af');
    expect(formatModVersionCrc({ crc: 1, crcHigh: 0 })).toBe('0x00000001');
  });

  it('tells "no __versions section" (null) from an empty one', () => {
    expect(
      readKernelModule(buildModule({ ...synthetic(true, true, 62), versions: null })).versions,
    ).toBeNull();
    expect(
      readKernelModule(buildModule({ ...synthetic(true, true, 62), versions: [] })).versions?.toArray(),
    ).toEqual([]);
  });

  it('reads an export without CRC (no modversions) as crc undefined, written 0x00000000 like modpost', () => {
    const info = readKernelModule(
      buildModule({ ...synthetic(true, true, 62), exports: [{ symbol: 'plain', gpl: false }] }),
    );
    expect(info.exports).toEqual([
      { symbol: 'plain', crc: undefined, exportType: 'EXPORT_SYMBOL', namespace: '' },
    ]);
    expect(symversLinesFor(info, 'extra/x')).toEqual(['0x00000000\tplain\textra/x\tEXPORT_SYMBOL\t']);
  });

  it('writes Module.symvers lines in modpost order and format', () => {
    const info = readKernelModule(buildModule(synthetic(true, true, 62)));
    expect(symversLinesFor(info, '/tmp/build/synthetic')).toEqual([
      '0x85ee738e\tsyn_zeta\t/tmp/build/synthetic\tEXPORT_SYMBOL\t',
      '0x5327b1f3\tsyn_secret\t/tmp/build/synthetic\tEXPORT_SYMBOL_GPL\t',
      '0x0000beef\tsyn_alpha\t/tmp/build/synthetic\tEXPORT_SYMBOL\t',
      '0x89f44eec\tsyn_ns_value\t/tmp/build/synthetic\tEXPORT_SYMBOL_GPL\tDKMS_ABI_DEMO',
    ]);
  });

  it('parses .modinfo like kmod: NUL runs are padding, a string without "=" is a key with an empty value', () => {
    const info = readKernelModule(
      buildModule({
        ...synthetic(true, true, 62),
        modinfo: ['', '', 'license=GPL', 'bare', 'depends=', '', 'x=a=b'],
      }),
    );
    expect(info.modinfo.records).toEqual([
      { key: 'license', value: 'GPL' },
      { key: 'bare', value: '' },
      { key: 'depends', value: '' },
      { key: 'x', value: 'a=b' },
    ]);
    expect(info.modinfo.depends).toEqual([]);
    expect(info.modinfo.name).toBeUndefined();
    expect(info.modinfo.importNs).toEqual([]);
  });

  it('reads a module without .modinfo as one with no records (the verdict, not the reader, objects)', () => {
    const info = readKernelModule(buildModule({ ...synthetic(true, true, 62), modinfo: [] }));
    expect(info.modinfo.records).toEqual([]);
    expect(info.modinfo.vermagic).toBeUndefined();
  });

  it('rejects a __versions section of a size that is not whole entries, or an unterminated name', () => {
    const bytes = buildModule(synthetic(true, true, 62));
    const elf = parseElf(bytes);
    const versions = elf.section('__versions');
    if (versions === undefined) throw new Error('no __versions');
    bytes.fill(0x41, versions.offset + 8, versions.offset + 64);
    expect(() => readKernelModule(bytes)).toThrow(/unterminated name/);
  });

  it('rejects objects that are not relocatable', () => {
    const bytes = buildModule(synthetic(true, true, 62));
    new DataView(bytes.buffer).setUint16(16, 2, true); // ET_EXEC
    expect(() => readKernelModule(bytes)).toThrow(/not a relocatable object/);
  });
});

describe('module signature', () => {
  it('cuts the PKCS#7 trailer off before reading the ELF', () => {
    const elf = buildModule(synthetic(true, true, 62));
    const signed = appendSignature(elf, { sigLength: 439 });
    const info = readKernelModule(signed);
    expect(info.signature).toEqual({
      idType: 'PKCS#7',
      signer: null,
      keyIdLength: 0,
      signatureLength: 439,
      elfLength: elf.length,
    });
    expect({ ...info, signature: null }).toEqual(readKernelModule(elf));
    expect(splitSignature(signed).elf).toEqual(elf);
  });

  it('reports a signer name when the trailer carries one (pre-PKCS#7 layout)', () => {
    const elf = buildModule(synthetic(false, false, 3));
    const info = readKernelModule(
      appendSignature(elf, {
        signer: 'Debian kernel key',
        keyId: new Uint8Array([1, 2, 3, 4]),
        sigLength: 256,
      }),
    );
    expect(info.signature).toMatchObject({
      idType: 'X509',
      signer: 'Debian kernel key',
      keyIdLength: 4,
      elfLength: elf.length,
    });
  });

  it('rejects a trailer whose lengths do not fit, as the loader does (EBADMSG)', () => {
    const tiny = appendSignature(new Uint8Array(10), { sigLength: 8 });
    new DataView(tiny.buffer).setUint32(tiny.length - 28 - 4, 4000, false); // be32 sig_len
    expect(() => readKernelModule(tiny)).toThrow(/signature lengths do not fit/);
    const magicOnly = new TextEncoder().encode('~Module signature appended~\n');
    expect(() => readKernelModule(magicOnly)).toThrow(ElfFormatError);
  });
});

describe('robustness', () => {
  it.each(variants)('gives ElfFormatError for every truncation of a %s module', (_n, is64, le, machine) => {
    const bytes = buildModule(synthetic(is64, le, machine));
    for (let len = 0; len < bytes.length; len++) {
      expect(() => readKernelModule(bytes.subarray(0, len))).toThrow(ElfFormatError);
    }
  });

  it('gives ElfFormatError or a result for random corruption, never another exception', () => {
    const bytes = buildModule(synthetic(true, true, 62));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (edits) => {
          const copy = bytes.slice();
          for (const [at, v] of edits) copy[at] = v;
          try {
            readKernelModule(copy);
            exportsFromKsymtab(parseElf(copy));
            return true;
          } catch (err) {
            return err instanceof ElfFormatError;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
