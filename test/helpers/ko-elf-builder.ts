// Builds small ELF relocatable objects in memory, in any class and byte order, for
// tests of the ELF and .ko readers: the bytes are laid out by hand from the ELF spec
// (not by the reader under test), so a reader bug cannot cancel itself out.

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;

export interface SectionSpec {
  readonly name: string;
  readonly type?: number;
  readonly data?: Uint8Array;
  /** Size of an SHT_NOBITS section. */
  readonly nobitsSize?: number;
  readonly flags?: number;
  readonly entsize?: number;
}

export interface SymbolSpec {
  readonly name: string;
  /** Section name; omitted means undefined (SHN_UNDEF). */
  readonly section?: string;
  readonly abs?: boolean;
  readonly value?: bigint | number;
  readonly size?: number;
  readonly bind?: 'local' | 'global' | 'weak';
  /** STT_*: 0 notype, 1 object, 2 func, 3 section. */
  readonly type?: number;
}

export interface RelocSpec {
  readonly section: string;
  readonly offset: number;
  readonly symbol: string;
  readonly type: number;
  readonly addend?: number;
}

export interface ElfSpec {
  readonly is64: boolean;
  readonly littleEndian: boolean;
  readonly machine: number;
  readonly type?: number;
  readonly sections: readonly SectionSpec[];
  readonly symbols?: readonly SymbolSpec[];
  readonly relocations?: readonly RelocSpec[];
  /** RELA (explicit addends) or REL (addend in the patched bytes); default: RELA on 64-bit. */
  readonly rela?: boolean;
}

class StringTable {
  private readonly parts: Uint8Array[] = [new Uint8Array([0])];
  private size = 1;
  private readonly seen = new Map<string, number>();
  add(s: string): number {
    if (s === '') return 0;
    const known = this.seen.get(s);
    if (known !== undefined) return known;
    const bytes = new TextEncoder().encode(`${s}\0`);
    const at = this.size;
    this.parts.push(bytes);
    this.size += bytes.length;
    this.seen.set(s, at);
    return at;
  }
  bytes(): Uint8Array {
    return concat(this.parts);
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A little writer of fixed-width integers in one byte order. */
export class Words {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  constructor(
    size: number,
    readonly littleEndian: boolean,
  ) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  u8(at: number, v: number): void {
    this.view.setUint8(at, v);
  }
  u16(at: number, v: number): void {
    this.view.setUint16(at, v, this.littleEndian);
  }
  u32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, this.littleEndian);
  }
  i32(at: number, v: number): void {
    this.view.setInt32(at, v, this.littleEndian);
  }
  u64(at: number, v: bigint | number): void {
    this.view.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), this.littleEndian);
  }
  i64(at: number, v: number): void {
    this.view.setBigInt64(at, BigInt(v), this.littleEndian);
  }
  /** A target-sized address/offset word. */
  word(is64: boolean, at: number, v: bigint | number): void {
    if (is64) this.u64(at, v);
    else this.u32(at, Number(v));
  }
}

interface PlacedSection {
  name: string;
  type: number;
  flags: number;
  data: Uint8Array;
  size: number;
  link: number;
  info: number;
  entsize: number;
  align: number;
}

export function buildElf(spec: ElfSpec): Uint8Array {
  const { is64, littleEndian } = spec;
  const rela = spec.rela ?? is64;
  const placed: PlacedSection[] = [
    { name: '', type: 0, flags: 0, data: new Uint8Array(0), size: 0, link: 0, info: 0, entsize: 0, align: 0 },
  ];
  for (const s of spec.sections) {
    const type = s.type ?? SHT_PROGBITS;
    const data = s.data ?? new Uint8Array(0);
    placed.push({
      name: s.name,
      type,
      flags: s.flags ?? 2 /* SHF_ALLOC */,
      data,
      size: type === SHT_NOBITS ? (s.nobitsSize ?? 0) : data.length,
      link: 0,
      info: 0,
      entsize: s.entsize ?? 0,
      align: 4,
    });
  }
  const indexOf = (name: string): number => {
    const i = placed.findIndex((p) => p.name === name);
    if (i < 0) throw new Error(`builder: no section ${name}`);
    return i;
  };

  // Symbol table: the null symbol, then locals, then the rest (ELF requires locals first).
  const symbols = spec.symbols ?? [];
  const ordered = [
    ...symbols.filter((s) => (s.bind ?? 'global') === 'local'),
    ...symbols.filter((s) => (s.bind ?? 'global') !== 'local'),
  ];
  const firstGlobal = 1 + symbols.filter((s) => (s.bind ?? 'global') === 'local').length;
  if (symbols.length > 0 || (spec.relocations ?? []).length > 0) {
    const strtab = new StringTable();
    const entsize = is64 ? 24 : 16;
    const w = new Words(entsize * (ordered.length + 1), littleEndian);
    ordered.forEach((s, i) => {
      const at = (i + 1) * entsize;
      const bind = { local: 0, global: 1, weak: 2 }[s.bind ?? 'global'];
      const info = (bind << 4) | (s.type ?? 0);
      const shndx = s.abs === true ? 0xfff1 : s.section === undefined ? 0 : indexOf(s.section);
      const value = s.value ?? 0;
      w.u32(at, strtab.add(s.name));
      if (is64) {
        w.u8(at + 4, info);
        w.u16(at + 6, shndx);
        w.u64(at + 8, value);
        w.u64(at + 16, s.size ?? 0);
      } else {
        w.u32(at + 4, Number(value));
        w.u32(at + 8, s.size ?? 0);
        w.u8(at + 12, info);
        w.u16(at + 14, shndx);
      }
    });
    const strBytes = strtab.bytes();
    placed.push({
      name: '.symtab',
      type: SHT_SYMTAB,
      flags: 0,
      data: w.bytes,
      size: w.bytes.length,
      link: placed.length + 1,
      info: firstGlobal,
      entsize,
      align: 8,
    });
    placed.push({
      name: '.strtab',
      type: SHT_STRTAB,
      flags: 0,
      data: strBytes,
      size: strBytes.length,
      link: 0,
      info: 0,
      entsize: 0,
      align: 1,
    });
  }
  const symIndex = (name: string): number => {
    const i = ordered.findIndex((s) => s.name === name);
    if (i < 0) throw new Error(`builder: no symbol ${name}`);
    return i + 1;
  };

  // One relocation section per patched section, in the order the specs name them.
  const relocs = spec.relocations ?? [];
  const targets = [...new Set(relocs.map((r) => r.section))];
  const symtabIndex = placed.findIndex((p) => p.type === SHT_SYMTAB);
  for (const target of targets) {
    const list = relocs.filter((r) => r.section === target);
    const entsize = is64 ? (rela ? 24 : 16) : rela ? 12 : 8;
    const w = new Words(entsize * list.length, littleEndian);
    list.forEach((r, i) => {
      const at = i * entsize;
      const sym = symIndex(r.symbol);
      if (is64) {
        w.u64(at, r.offset);
        w.u64(at + 8, (BigInt(sym) << 32n) | BigInt(r.type));
        if (rela) w.i64(at + 16, r.addend ?? 0);
      } else {
        w.u32(at, r.offset);
        w.u32(at + 4, ((sym << 8) | (r.type & 0xff)) >>> 0);
        if (rela) w.i32(at + 8, r.addend ?? 0);
      }
    });
    placed.push({
      name: `${rela ? '.rela' : '.rel'}${target}`,
      type: rela ? SHT_RELA : SHT_REL,
      flags: 0x40 /* SHF_INFO_LINK */,
      data: w.bytes,
      size: w.bytes.length,
      link: symtabIndex,
      info: indexOf(target),
      entsize,
      align: 8,
    });
  }

  const shstrtab = new StringTable();
  const nameOffsets = placed.map((p) => shstrtab.add(p.name));
  nameOffsets.push(shstrtab.add('.shstrtab'));
  const shBytes = shstrtab.bytes();
  placed.push({
    name: '.shstrtab',
    type: SHT_STRTAB,
    flags: 0,
    data: shBytes,
    size: shBytes.length,
    link: 0,
    info: 0,
    entsize: 0,
    align: 1,
  });

  // Layout: header, section contents (8-aligned), section header table.
  const ehsize = is64 ? 64 : 52;
  const shentsize = is64 ? 64 : 40;
  let cursor = ehsize;
  const offsets: number[] = [];
  for (const p of placed) {
    cursor = Math.ceil(cursor / 8) * 8;
    offsets.push(p.type === 0 ? 0 : cursor);
    if (p.type !== SHT_NOBITS) cursor += p.data.length;
  }
  const shoff = Math.ceil(cursor / 8) * 8;
  const w = new Words(shoff + shentsize * placed.length, littleEndian);
  w.bytes.set([0x7f, 0x45, 0x4c, 0x46, is64 ? 2 : 1, littleEndian ? 1 : 2, 1], 0);
  w.u16(16, spec.type ?? 1);
  w.u16(18, spec.machine);
  w.u32(20, 1);
  if (is64) {
    w.u64(40, shoff);
    w.u16(52, ehsize);
    w.u16(58, shentsize);
    w.u16(60, placed.length);
    w.u16(62, placed.length - 1);
  } else {
    w.u32(32, shoff);
    w.u16(40, ehsize);
    w.u16(46, shentsize);
    w.u16(48, placed.length);
    w.u16(50, placed.length - 1);
  }
  placed.forEach((p, i) => {
    const off = offsets[i] ?? 0;
    if (p.type !== SHT_NOBITS) w.bytes.set(p.data, off);
    const at = shoff + i * shentsize;
    w.u32(at, nameOffsets[i] ?? 0);
    w.u32(at + 4, p.type);
    if (is64) {
      w.u64(at + 8, p.flags);
      w.u64(at + 24, off);
      w.u64(at + 32, p.size);
      w.u32(at + 40, p.link);
      w.u32(at + 44, p.info);
      w.u64(at + 48, p.align);
      w.u64(at + 56, p.entsize);
    } else {
      w.u32(at + 8, p.flags);
      w.u32(at + 16, off);
      w.u32(at + 20, p.size);
      w.u32(at + 24, p.link);
      w.u32(at + 28, p.info);
      w.u32(at + 32, p.align);
      w.u32(at + 36, p.entsize);
    }
  });
  return w.bytes;
}

/** Where the section header table starts and its entry size, read straight from the header. */
export function sectionHeaderTable(bytes: Uint8Array): { shoff: number; shentsize: number; shnum: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const is64 = bytes[4] === 2;
  const le = bytes[5] === 1;
  return is64
    ? {
        shoff: Number(view.getBigUint64(40, le)),
        shentsize: view.getUint16(58, le),
        shnum: view.getUint16(60, le),
      }
    : { shoff: view.getUint32(32, le), shentsize: view.getUint16(46, le), shnum: view.getUint16(48, le) };
}
