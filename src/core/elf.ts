// A small ELF reader over bytes in memory: just what reading kernel modules needs
// (header, section headers and names, symbols, relocations). ELF32/ELF64 in either byte
// order, taken from e_ident. Every offset and size is checked against the buffer before
// it is used, so corrupt or truncated input ends in an ElfFormatError, never in an
// out-of-bounds read or a loop bounded by a number the file made up.

/** Malformed ELF data. Carries the problem only: the caller knows the file name. */
export class ElfFormatError extends Error {
  override name = 'ElfFormatError';
  constructor(readonly problem: string) {
    super(problem);
  }
}

/**
 * The parser needed bytes [start, end) that the caller has not read: parsing a module from
 * a sparse image (only the sections a verdict needs, read by position) ends here when the
 * file needs more, and the caller reads those bytes and tries again. Not a format error.
 */
export class ElfUnloadedError extends Error {
  override name = 'ElfUnloadedError';
  constructor(
    readonly start: number,
    readonly end: number,
  ) {
    super(`bytes ${String(start)}..${String(end)} not read`);
  }
}

/** Which byte ranges of a sparse image hold the file's bytes; absent: all of them. */
export type LoadedRanges = (start: number, end: number) => boolean;

/** Throws ElfUnloadedError unless [start, end) was read (clamped to the image, whose bounds are checked elsewhere). */
export function requireLoaded(
  loaded: LoadedRanges | undefined,
  start: number,
  end: number,
  length: number,
): void {
  if (loaded === undefined) return;
  const s = Math.max(0, Math.min(start, length));
  const e = Math.max(s, Math.min(end, length));
  if (e > s && !loaded(s, e)) throw new ElfUnloadedError(s, e);
}

export const ET_REL = 1;
export const EM_386 = 3;
export const EM_X86_64 = 62;

export const SHT_NULL = 0;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_SYMTAB_SHNDX = 18;

export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_XINDEX = 0xffff;

export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;

export interface ElfSection {
  readonly index: number;
  readonly name: string;
  readonly type: number;
  readonly flags: bigint;
  readonly addr: bigint;
  /** File offset; for SHT_NOBITS not checked (there are no bytes). */
  readonly offset: number;
  readonly size: number;
  readonly link: number;
  readonly info: number;
  readonly addralign: bigint;
  readonly entsize: number;
}

export interface ElfSymbol {
  readonly index: number;
  readonly name: string;
  readonly value: bigint;
  readonly size: bigint;
  readonly bind: number;
  readonly type: number;
  readonly other: number;
  /** Section index, already resolved through SHT_SYMTAB_SHNDX when st_shndx is SHN_XINDEX. */
  readonly shndx: number;
  /** st_shndx was a reserved index (SHN_ABS, SHN_COMMON…), not a section. */
  readonly special: boolean;
}

export interface ElfRelocation {
  readonly offset: bigint;
  readonly type: number;
  /** Index into the symbol table the relocation section links to. */
  readonly symbol: number;
  /** Explicit addend (SHT_RELA); undefined for SHT_REL, whose addend sits in the patched bytes. */
  readonly addend: bigint | undefined;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

const utf8 = new TextDecoder('utf-8');

/**
 * Bytes to string; ASCII (nearly every symbol name) without the decoder's call overhead: a
 * Node Buffer's latin1 conversion (the same for ASCII, and no view object per name, which
 * made it 2.5x faster than fromCharCode over a subarray; a kernel's modules hold ~10^6 names).
 */
export function decodeString(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if ((bytes[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      if (Buffer.isBuffer(bytes)) return bytes.toString('latin1', start, end);
      return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
    }
  }
  return utf8.decode(bytes.subarray(start, end));
}

/** selectSymbols' choice, from a symbol's name (where it starts, a limit it ends before), st_shndx and st_info. */
export type SymbolFilter = (
  bytes: Uint8Array,
  nameStart: number,
  limit: number,
  shndx: number,
  special: boolean,
  info: number,
) => boolean;

export class ElfFile {
  readonly bytes: Uint8Array;
  readonly is64: boolean;
  readonly littleEndian: boolean;
  readonly type: number;
  readonly machine: number;
  readonly sections: readonly ElfSection[];
  private readonly view: DataView;
  private symbolCache: readonly ElfSymbol[] | undefined;
  private readonly loaded: LoadedRanges | undefined;

  /** `loaded`: the image is sparse, only those ranges were read (see ElfUnloadedError). */
  constructor(bytes: Uint8Array, loaded?: LoadedRanges) {
    this.bytes = bytes;
    this.loaded = loaded;
    this.need(0, 64);
    // Not bytes.buffer alone: a Node Buffer is usually a slice of a shared pool.
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 16 || ELF_MAGIC.some((b, i) => bytes[i] !== b)) {
      throw new ElfFormatError('not an ELF file (bad magic)');
    }
    const cls = bytes[4];
    const data = bytes[5];
    if (cls !== 1 && cls !== 2) throw new ElfFormatError(`unknown ELF class ${String(cls)}`);
    if (data !== 1 && data !== 2) throw new ElfFormatError(`unknown ELF data encoding ${String(data)}`);
    this.is64 = cls === 2;
    this.littleEndian = data === 1;
    const ehsize = this.is64 ? 64 : 52;
    if (bytes.length < ehsize) throw new ElfFormatError('truncated ELF header');
    this.type = this.u16(16);
    this.machine = this.u16(18);
    this.sections = this.readSections();
  }

  /** The first section with this name. */
  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** A section's bytes (empty for SHT_NOBITS); bounds were checked when the headers were read. */
  sectionData(sec: ElfSection): Uint8Array {
    if (sec.type === SHT_NOBITS) return new Uint8Array(0);
    this.needSection(sec);
    return this.bytes.subarray(sec.offset, sec.offset + sec.size);
  }

  /** The file ranges a section's data occupies (none for SHT_NOBITS): what a sparse reader must read. */
  static rangeOf(sec: ElfSection): readonly [number, number] | undefined {
    return sec.type === SHT_NOBITS || sec.size === 0 ? undefined : [sec.offset, sec.offset + sec.size];
  }

  private need(start: number, end: number): void {
    requireLoaded(this.loaded, start, end, this.bytes.length);
  }

  private needSection(sec: ElfSection): void {
    if (this.loaded !== undefined && sec.type !== SHT_NOBITS) this.need(sec.offset, sec.offset + sec.size);
  }

  /** Unsigned integer of `size` bytes at `offset` inside a section, in the file's byte order. */
  readSectionUint(sec: ElfSection, offset: number, size: 4 | 8): bigint {
    if (sec.type === SHT_NOBITS || !Number.isSafeInteger(offset) || offset < 0 || offset + size > sec.size) {
      throw new ElfFormatError(
        `read of ${String(size)} bytes at ${String(offset)} outside section ${sec.name}`,
      );
    }
    const at = sec.offset + offset;
    this.need(at, at + size);
    return size === 4 ? BigInt(this.u32(at)) : this.u64(at);
  }

  /** The NUL-terminated string at `offset` in a section; unterminated is an error. */
  sectionString(sec: ElfSection, offset: number): string {
    if (sec.type === SHT_NOBITS || !Number.isSafeInteger(offset) || offset < 0 || offset >= sec.size) {
      throw new ElfFormatError(`string offset ${String(offset)} outside section ${sec.name}`);
    }
    const start = sec.offset + offset;
    const limit = sec.offset + sec.size;
    this.needSection(sec);
    const nul = this.bytes.indexOf(0, start);
    if (nul < 0 || nul >= limit) throw new ElfFormatError(`unterminated string in section ${sec.name}`);
    return decodeString(this.bytes, start, nul);
  }

  /** The section a symbol is defined in; undefined for undefined, absolute and common symbols. */
  sectionOf(sym: ElfSymbol): ElfSection | undefined {
    if (sym.shndx === SHN_UNDEF || sym.special) return undefined;
    return this.sections[sym.shndx];
  }

  /** The symbol table (SHT_SYMTAB), empty when there is none. */
  symbols(): readonly ElfSymbol[] {
    this.symbolCache ??= this.readSymbols();
    return this.symbolCache;
  }

  /**
   * The relocations that patch `target`, from every SHT_REL/SHT_RELA section whose sh_info
   * names it. Symbol indexes refer to the SHT_SYMTAB (an object has at most one).
   */
  relocationsFor(target: ElfSection): ElfRelocation[] {
    const out: ElfRelocation[] = [];
    for (const sec of this.sections) {
      if ((sec.type !== SHT_REL && sec.type !== SHT_RELA) || sec.info !== target.index) continue;
      const rela = sec.type === SHT_RELA;
      const entsize = this.is64 ? (rela ? 24 : 16) : rela ? 12 : 8;
      this.checkTable(sec, entsize);
      this.needSection(sec);
      const nsyms = this.symbolTableOf(sec).size / (this.is64 ? 24 : 16);
      for (let at = sec.offset; at < sec.offset + sec.size; at += entsize) {
        let offset: bigint;
        let symbol: number;
        let type: number;
        let addend: bigint | undefined;
        if (this.is64) {
          offset = this.u64(at);
          symbol = this.u32(at + (this.littleEndian ? 12 : 8));
          type = this.u32(at + (this.littleEndian ? 8 : 12));
          addend = rela ? this.view.getBigInt64(at + 16, this.littleEndian) : undefined;
        } else {
          offset = BigInt(this.u32(at));
          const info = this.u32(at + 4);
          symbol = info >>> 8;
          type = info & 0xff;
          addend = rela ? BigInt(this.view.getInt32(at + 8, this.littleEndian)) : undefined;
        }
        if (symbol >= nsyms)
          throw new ElfFormatError(`relocation in ${sec.name} names symbol ${String(symbol)} past the table`);
        out.push({ offset, type, symbol, addend });
      }
    }
    return out;
  }

  private readSections(): ElfSection[] {
    const shoff = this.safe(this.is64 ? this.u64(40) : BigInt(this.u32(32)), 'e_shoff');
    const shentsize = this.u16(this.is64 ? 58 : 46);
    let shnum = this.u16(this.is64 ? 60 : 48);
    let shstrndx = this.u16(this.is64 ? 62 : 50);
    if (shoff === 0) {
      if (shnum !== 0) throw new ElfFormatError('section count without a section header table');
      return [];
    }
    const want = this.is64 ? 64 : 40;
    if (shentsize !== want)
      throw new ElfFormatError(`e_shentsize ${String(shentsize)}, expected ${String(want)}`);
    if (shoff > this.bytes.length - want) throw new ElfFormatError('section header table outside the file');
    this.need(shoff, shoff + want);
    // Extended numbering: more than 0xff00 sections put the real count and string
    // table index in section 0.
    if (shnum === 0)
      shnum = this.safe(this.is64 ? this.u64(shoff + 32) : BigInt(this.u32(shoff + 20)), 'section count');
    if (shstrndx === SHN_XINDEX) shstrndx = this.u32(shoff + (this.is64 ? 40 : 24));
    if (shnum > (this.bytes.length - shoff) / want)
      throw new ElfFormatError(`${String(shnum)} section headers do not fit in the file`);
    this.need(shoff, shoff + shnum * want);
    if (shnum === 0) return [];
    if (shstrndx >= shnum)
      throw new ElfFormatError(`section name table index ${String(shstrndx)} is out of range`);
    const sections: ElfSection[] = [];
    // The name table first: every other header's name is looked up in it.
    const strtab = this.sectionHeader(shoff + shstrndx * want, shstrndx, '');
    if (strtab.type === SHT_NOBITS || strtab.type === SHT_NULL) {
      throw new ElfFormatError(`section name table index ${String(shstrndx)} is not a section with data`);
    }
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * want;
      sections.push(this.sectionHeader(at, i, this.sectionString(strtab, this.u32(at))));
    }
    return sections;
  }

  private sectionHeader(at: number, index: number, name: string): ElfSection {
    const h: ElfSection = this.is64
      ? new TableSection(
          this,
          at,
          index,
          name,
          this.u32(at + 4),
          this.u64n(at + 24, 'offset', index),
          this.u64n(at + 32, 'size', index),
          this.u32(at + 40),
          this.u32(at + 44),
          this.u64n(at + 56, 'entsize', index),
        )
      : new TableSection(
          this,
          at,
          index,
          name,
          this.u32(at + 4),
          this.u32(at + 16),
          this.u32(at + 20),
          this.u32(at + 24),
          this.u32(at + 28),
          this.u32(at + 36),
        );
    // Like the kernel's elf_validity_check: every section but NOBITS must lie in the file.
    if (h.type !== SHT_NOBITS && (h.offset > this.bytes.length || h.size > this.bytes.length - h.offset)) {
      throw new ElfFormatError(
        `section ${String(index)} lies outside the file (offset ${String(h.offset)}, size ${String(h.size)})`,
      );
    }
    return h;
  }

  /**
   * The symbols `keep` picks, in table order (each keeps its index); the others are checked
   * as symbols() checks them (an error is the same error) but no object is made for them.
   * A module has thousands of symbols, and a verdict looks at a few of them: the undefined
   * ones and the export bookkeeping. `keep` sees where the name starts in `bytes`, and a
   * limit it is NUL-terminated before (its end, or the string table's when that ends in a
   * NUL: then no name needs looking for its end unless it is kept).
   */
  selectSymbols(keep: SymbolFilter): ElfSymbol[] {
    return this.readSymbols(keep);
  }

  private readSymbols(keep?: SymbolFilter): ElfSymbol[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (symtab === undefined) return [];
    const entsize = this.is64 ? 24 : 16;
    this.checkTable(symtab, entsize);
    const strtab = this.sections[symtab.link];
    if (strtab === undefined || strtab.type !== SHT_STRTAB) {
      throw new ElfFormatError(`symbol table links to section ${String(symtab.link)}, not a string table`);
    }
    const count = symtab.size / entsize;
    const xindex = this.sections.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === symtab.index);
    if (xindex !== undefined && xindex.size < count * 4)
      throw new ElfFormatError('SHT_SYMTAB_SHNDX table too short');
    const strStart = strtab.offset;
    const strEnd = strtab.offset + strtab.size;
    this.needSection(symtab);
    this.needSection(strtab);
    if (xindex !== undefined) this.needSection(xindex);
    const out: ElfSymbol[] = keep === undefined ? new Array<ElfSymbol>(count) : [];
    // A table ending in NUL terminates every name inside it: no search per name to check that.
    const terminated = keep !== undefined && strtab.size > 0 && this.bytes[strEnd - 1] === 0;
    for (let i = 0; i < count; i++) {
      const at = symtab.offset + i * entsize;
      const nameOff = this.u32(at);
      let info: number, other: number, shndx: number;
      if (this.is64) {
        info = this.bytes[at + 4] as number;
        other = this.bytes[at + 5] as number;
        shndx = this.u16(at + 6);
      } else {
        info = this.bytes[at + 12] as number;
        other = this.bytes[at + 13] as number;
        shndx = this.u16(at + 14);
      }
      let special = shndx >= SHN_LORESERVE;
      if (shndx === SHN_XINDEX && xindex !== undefined) {
        shndx = this.u32(xindex.offset + i * 4);
        special = false;
      }
      if (nameOff >= strtab.size)
        throw new ElfFormatError(`symbol ${String(i)} name offset outside the string table`);
      if (terminated) {
        const start = strStart + nameOff;
        if (keep(this.bytes, start, strEnd, shndx, special, info))
          out.push(
            new TableSymbol(this, i, at, start, this.bytes.indexOf(0, start), info, other, shndx, special),
          );
        continue;
      }
      const nul = this.bytes.indexOf(0, strStart + nameOff);
      if (nul < 0 || nul >= strEnd) throw new ElfFormatError(`symbol ${String(i)} name unterminated`);
      if (keep === undefined)
        out[i] = new TableSymbol(this, i, at, strStart + nameOff, nul, info, other, shndx, special);
      else if (keep(this.bytes, strStart + nameOff, nul, shndx, special, info))
        out.push(new TableSymbol(this, i, at, strStart + nameOff, nul, info, other, shndx, special));
    }
    return out;
  }

  /** sh_flags, sh_addr or sh_addralign of the section header at `at` (read when asked for). */
  sectionHeaderWordAt(at: number, field: 'flags' | 'addr' | 'addralign'): bigint {
    if (this.is64) return this.u64(at + (field === 'flags' ? 8 : field === 'addr' ? 16 : 48));
    return BigInt(this.u32(at + (field === 'flags' ? 8 : field === 'addr' ? 12 : 32)));
  }

  /** st_value and st_size of the symbol table entry at `at` (read when a symbol is asked for them). */
  symbolValueAt(at: number): bigint {
    return this.is64 ? this.u64(at + 8) : BigInt(this.u32(at + 4));
  }

  symbolSizeAt(at: number): bigint {
    return this.is64 ? this.u64(at + 16) : BigInt(this.u32(at + 8));
  }

  private symbolTableOf(rel: ElfSection): ElfSection {
    const symtab = this.sections[rel.link];
    if (symtab === undefined || symtab.type !== SHT_SYMTAB) {
      throw new ElfFormatError(
        `relocation section ${rel.name} links to section ${String(rel.link)}, not a symbol table`,
      );
    }
    this.checkTable(symtab, this.is64 ? 24 : 16);
    return symtab;
  }

  /** A table section must hold whole entries of the size the ELF class dictates. */
  private checkTable(sec: ElfSection, entsize: number): void {
    if (sec.type === SHT_NOBITS) throw new ElfFormatError(`table section ${sec.name} has no data`);
    if (sec.entsize !== entsize) {
      throw new ElfFormatError(
        `section ${sec.name} has entry size ${String(sec.entsize)}, expected ${String(entsize)}`,
      );
    }
    if (sec.size % entsize !== 0)
      throw new ElfFormatError(`section ${sec.name} size is not a multiple of its entry size`);
  }

  private safe(v: bigint, what: string): number {
    if (v > MAX_SAFE) throw new ElfFormatError(`${what} is implausibly large (${v.toString()})`);
    return Number(v);
  }

  private u16(at: number): number {
    return this.view.getUint16(at, this.littleEndian);
  }

  private u32(at: number): number {
    return this.view.getUint32(at, this.littleEndian);
  }

  /** A 64-bit offset or size as a number; beyond 2^53 no file can hold it. */
  private u64n(at: number, what: string, index: number): number {
    const hi = this.u32(at + (this.littleEndian ? 4 : 0));
    const lo = this.u32(at + (this.littleEndian ? 0 : 4));
    if (hi > 0x1fffff) throw new ElfFormatError(`section ${String(index)} ${what} is implausibly large`);
    return hi * 0x100000000 + lo;
  }

  private u64(at: number): bigint {
    return this.view.getBigUint64(at, this.littleEndian);
  }
}

/**
 * A section header. The 64-bit words nothing but a few callers read (flags, address,
 * alignment) are read when asked for: a module has 50-80 sections, and three BigInts each
 * were a good part of reading a kernel's 4,000 modules.
 */
class TableSection implements ElfSection {
  constructor(
    private readonly file: ElfFile,
    private readonly at: number,
    readonly index: number,
    readonly name: string,
    readonly type: number,
    readonly offset: number,
    readonly size: number,
    readonly link: number,
    readonly info: number,
    readonly entsize: number,
  ) {}

  get flags(): bigint {
    return this.file.sectionHeaderWordAt(this.at, 'flags');
  }

  get addr(): bigint {
    return this.file.sectionHeaderWordAt(this.at, 'addr');
  }

  get addralign(): bigint {
    return this.file.sectionHeaderWordAt(this.at, 'addralign');
  }
}

/**
 * A symbol table entry. Its name (checked to be terminated inside the string table when the
 * table is read), value and size are decoded when first asked for: a module has hundreds to
 * thousands of symbols, and readers look at the names of a few (the undefined ones, the
 * export bookkeeping) — decoding them all was most of the time of reading a module.
 */
class TableSymbol implements ElfSymbol {
  private decodedName: string | undefined;
  readonly bind: number;
  readonly type: number;

  constructor(
    private readonly file: ElfFile,
    readonly index: number,
    private readonly at: number,
    /** The name's bytes in the file: [nameStart, nameEnd). */
    private readonly nameStart: number,
    private readonly nameEnd: number,
    info: number,
    readonly other: number,
    readonly shndx: number,
    readonly special: boolean,
  ) {
    this.bind = info >> 4;
    this.type = info & 0xf;
  }

  get name(): string {
    this.decodedName ??= decodeString(this.file.bytes, this.nameStart, this.nameEnd);
    return this.decodedName;
  }

  get value(): bigint {
    return this.file.symbolValueAt(this.at);
  }

  get size(): bigint {
    return this.file.symbolSizeAt(this.at);
  }

  /** name.startsWith(prefix) for an ASCII prefix, on the bytes (UTF-8 keeps ASCII bytes as they are). */
  nameStartsWith(prefix: string): boolean {
    if (this.nameEnd - this.nameStart < prefix.length) return false;
    const bytes = this.file.bytes;
    for (let i = 0; i < prefix.length; i++) {
      if (bytes[this.nameStart + i] !== prefix.charCodeAt(i)) return false;
    }
    return true;
  }
}

/** Whether a symbol's name starts with an ASCII `prefix`, without decoding the name when it can. */
export function symbolNameStartsWith(sym: ElfSymbol, prefix: string): boolean {
  return sym instanceof TableSymbol ? sym.nameStartsWith(prefix) : sym.name.startsWith(prefix);
}

/**
 * Parse the ELF headers of `bytes`; throws ElfFormatError on anything malformed. With
 * `loaded`, `bytes` is a sparse image and reading outside those ranges throws ElfUnloadedError.
 */
export function parseElf(bytes: Uint8Array, loaded?: LoadedRanges): ElfFile {
  return new ElfFile(bytes, loaded);
}
