import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildElf, sectionHeaderTable } from '../../test/helpers/ko-elf-builder.js';
import type { ElfSpec } from '../../test/helpers/ko-elf-builder.js';
import { ElfFormatError, SHN_ABS, STB_GLOBAL, STB_LOCAL, STB_WEAK, parseElf } from './elf.js';

const enc = new TextEncoder();

function spec(is64: boolean, littleEndian: boolean): ElfSpec {
  return {
    is64,
    littleEndian,
    machine: 62,
    sections: [
      { name: '.text', data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), flags: 6 },
      { name: '.data', data: new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04]) },
      { name: '.bss', type: 8, nobitsSize: 4096 },
      { name: '.rodata.str', data: enc.encode('hello\0wörld\0') },
    ],
    symbols: [
      { name: 'local_thing', section: '.data', value: 4, size: 4, bind: 'local', type: 1 },
      { name: 'an_abs', abs: true, value: 0x12345678, bind: 'local' },
      { name: 'exported_fn', section: '.text', value: 0, size: 8, bind: 'global', type: 2 },
      { name: 'printk', bind: 'global' },
      { name: 'maybe', bind: 'weak' },
    ],
    relocations: [
      { section: '.text', offset: 4, symbol: 'printk', type: 2, addend: -4 },
      { section: '.data', offset: 0, symbol: 'local_thing', type: 1, addend: 7 },
    ],
  };
}

const variants = [
  [64, true],
  [64, false],
  [32, true],
  [32, false],
] as const;

describe('ELF reader', () => {
  it.each(variants)(
    'reads sections, names, symbols and relocations of ELF%i (little endian: %s)',
    (bits, le) => {
      const elf = parseElf(buildElf(spec(bits === 64, le)));
      expect(elf.is64).toBe(bits === 64);
      expect(elf.littleEndian).toBe(le);
      expect(elf.machine).toBe(62);
      expect(elf.sections.map((s) => s.name)).toEqual(
        [
          '',
          '.text',
          '.data',
          '.bss',
          '.rodata.str',
          '.symtab',
          '.strtab',
          '.rela.text',
          '.rela.data',
          '.shstrtab',
        ].map((n) => (bits === 32 ? n.replace('.rela', '.rel') : n)),
      );
      const data = elf.section('.data');
      if (data === undefined) throw new Error('no .data');
      expect([...elf.sectionData(data)]).toEqual([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
      expect(elf.readSectionUint(data, 0, 4)).toBe(le ? 0xefbeadden : 0xdeadbeefn);
      const bss = elf.section('.bss');
      expect(bss?.size).toBe(4096);
      expect(bss === undefined ? -1 : elf.sectionData(bss).length).toBe(0);
      const str = elf.section('.rodata.str');
      if (str === undefined) throw new Error('no .rodata.str');
      expect(elf.sectionString(str, 0)).toBe('hello');
      expect(elf.sectionString(str, 6)).toBe('wörld');

      const syms = elf.symbols();
      expect(syms.map((s) => s.name)).toEqual([
        '',
        'local_thing',
        'an_abs',
        'exported_fn',
        'printk',
        'maybe',
      ]);
      expect(syms[1]).toMatchObject({
        value: 4n,
        size: 4n,
        bind: STB_LOCAL,
        type: 1,
        shndx: 2,
        special: false,
      });
      expect(syms[2]).toMatchObject({ value: 0x12345678n, shndx: SHN_ABS, special: true });
      expect(syms[3]).toMatchObject({ bind: STB_GLOBAL, type: 2, shndx: 1 });
      expect(syms[4]).toMatchObject({ bind: STB_GLOBAL, shndx: 0 });
      expect(syms[5]).toMatchObject({ bind: STB_WEAK, shndx: 0 });
      expect(elf.sectionOf(syms[1] ?? ({} as never))?.name).toBe('.data');
      expect(elf.sectionOf(syms[2] ?? ({} as never))).toBeUndefined();

      const text = elf.section('.text');
      if (text === undefined) throw new Error('no .text');
      const relocs = elf.relocationsFor(text);
      expect(relocs).toEqual([{ offset: 4n, type: 2, symbol: 4, addend: bits === 64 ? -4n : undefined }]);
      expect(elf.relocationsFor(data)).toEqual([
        { offset: 0n, type: 1, symbol: 1, addend: bits === 64 ? 7n : undefined },
      ]);
    },
  );

  it('reads through a Buffer that is a slice of a larger allocation', () => {
    const bytes = buildElf(spec(true, true));
    const pool = Buffer.alloc(bytes.length + 100, 0xaa);
    pool.set(bytes, 37);
    const slice = pool.subarray(37, 37 + bytes.length);
    const elf = parseElf(slice);
    expect(elf.symbols().map((s) => s.name)).toContain('exported_fn');
    const data = elf.section('.data');
    expect(data === undefined ? 0n : elf.readSectionUint(data, 0, 4)).toBe(0xefbeadden);
  });

  it('reads an object with no sections at all', () => {
    const bytes = buildElf(spec(true, true)).slice(0, 64);
    bytes.fill(0, 40, 64); // e_shoff = 0, counts 0
    expect(parseElf(bytes).sections).toEqual([]);
    expect(parseElf(bytes).symbols()).toEqual([]);
  });

  it('follows extended section numbering (e_shnum 0, count in section 0)', () => {
    const bytes = buildElf(spec(true, true));
    const { shoff, shnum } = sectionHeaderTable(bytes);
    const view = new DataView(bytes.buffer);
    view.setUint16(60, 0, true);
    view.setBigUint64(shoff + 32, BigInt(shnum), true);
    expect(parseElf(bytes).sections).toHaveLength(shnum);
  });

  const broken: [string, (b: Uint8Array, v: DataView) => void, RegExp][] = [
    ['bad magic', (b) => (b[1] = 0x46), /bad magic/],
    ['unknown class', (b) => (b[4] = 3), /ELF class/],
    ['unknown data encoding', (b) => (b[5] = 0), /data encoding/],
    ['wrong section header size', (_b, v) => v.setUint16(58, 40, true), /e_shentsize/],
    [
      'section table past the end',
      (_b, v) => v.setBigUint64(40, 1n << 40n, true),
      /section header table outside/,
    ],
    [
      'section table offset near 2^64',
      (_b, v) => v.setBigUint64(40, (1n << 64n) - 8n, true),
      /implausibly large/,
    ],
    ['huge section count', (_b, v) => v.setUint16(60, 0xfff0, true), /do not fit/],
    ['string table index out of range', (_b, v) => v.setUint16(62, 200, true), /name table index/],
  ];
  it.each(broken)('rejects %s with ElfFormatError', (_what, corrupt, message) => {
    const bytes = buildElf(spec(true, true));
    corrupt(bytes, new DataView(bytes.buffer));
    expect(() => parseElf(bytes)).toThrow(ElfFormatError);
    expect(() => parseElf(bytes)).toThrow(message);
  });

  it('rejects a section whose offset + size overflows or leaves the file', () => {
    const bytes = buildElf(spec(true, true));
    const { shoff, shentsize } = sectionHeaderTable(bytes);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(shoff + shentsize * 2 + 24, 16n, true);
    view.setBigUint64(shoff + shentsize * 2 + 32, BigInt(Number.MAX_SAFE_INTEGER), true);
    expect(() => parseElf(bytes)).toThrow(/lies outside the file/);
    view.setBigUint64(shoff + shentsize * 2 + 32, (1n << 64n) - 1n, true);
    expect(() => parseElf(bytes)).toThrow(/implausibly large/);
  });

  it('rejects a symbol table with the wrong entry size, a bad string link or a name past the strings', () => {
    const fresh = (): { bytes: Uint8Array; view: DataView; symtabHdr: number } => {
      const bytes = buildElf(spec(true, true));
      const { shoff, shentsize } = sectionHeaderTable(bytes);
      const symtab = parseElf(bytes).section('.symtab')?.index ?? -1;
      return { bytes, view: new DataView(bytes.buffer), symtabHdr: shoff + shentsize * symtab };
    };
    let f = fresh();
    f.view.setBigUint64(f.symtabHdr + 56, 16n, true);
    expect(() => parseElf(f.bytes).symbols()).toThrow(/entry size 16, expected 24/);
    f = fresh();
    f.view.setUint32(f.symtabHdr + 40, 1, true); // link to .text
    expect(() => parseElf(f.bytes).symbols()).toThrow(/not a string table/);
    f = fresh();
    const symOff = Number(f.view.getBigUint64(f.symtabHdr + 24, true));
    f.view.setUint32(symOff + 24, 0xfffffff0, true);
    expect(() => parseElf(f.bytes).symbols()).toThrow(/name offset outside/);
  });

  it('rejects a relocation naming a symbol past the table', () => {
    const bytes = buildElf(spec(true, true));
    const elf = parseElf(bytes);
    const rela = elf.section('.rela.text');
    if (rela === undefined) throw new Error('no .rela.text');
    new DataView(bytes.buffer).setUint32(rela.offset + 12, 999, true);
    const text = elf.section('.text');
    expect(() => (text === undefined ? [] : parseElf(bytes).relocationsFor(text))).toThrow(/past the table/);
  });

  it('rejects reads outside a section and unterminated strings', () => {
    const elf = parseElf(buildElf(spec(true, true)));
    const data = elf.section('.data');
    const str = elf.section('.rodata.str');
    if (data === undefined || str === undefined) throw new Error('missing sections');
    expect(() => elf.readSectionUint(data, 6, 4)).toThrow(ElfFormatError);
    expect(() => elf.readSectionUint(data, -1, 4)).toThrow(ElfFormatError);
    expect(() => elf.sectionString(data, 0)).toThrow(/unterminated/);
    expect(() => elf.sectionString(str, 99)).toThrow(/outside section/);
  });

  it('never throws anything but ElfFormatError on any truncation of a small object', () => {
    for (const [bits, le] of variants) {
      const bytes = buildElf(spec(bits === 64, le));
      for (let len = 0; len < bytes.length; len++) {
        const cut = bytes.slice(0, len);
        try {
          const elf = parseElf(cut);
          elf.symbols();
        } catch (err) {
          expect(err).toBeInstanceOf(ElfFormatError);
        }
      }
    }
  });

  it('never throws anything but ElfFormatError on random corruption', () => {
    const bytes = buildElf(spec(true, true));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (edits) => {
          const copy = bytes.slice();
          for (const [at, v] of edits) copy[at] = v;
          try {
            const elf = parseElf(copy);
            elf.symbols();
            for (const s of elf.sections) elf.relocationsFor(s);
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
