// A module's own exports, as 6.1 lays them out in a .ko:
// - EXPORT_SYMBOL[_GPL][_NS] puts the name and the namespace ("" for none) in
//   __ksymtab_strings (local symbols __kstrtab_<sym>, __kstrtabns_<sym>) and a
//   struct kernel_symbol in ___ksymtab[_gpl]+<sym> (local symbol __ksymtab_<sym>); the module
//   linker script (scripts/module.lds.S) sorts those into __ksymtab / __ksymtab_gpl by name.
//   On x86_64 (CONFIG_HAVE_ARCH_PREL32_RELOCATIONS) the struct is three int offsets filled by
//   R_X86_64_PC32 relocations; elsewhere three pointers (R_386_32 on i386).
// - modpost writes SYMBOL_CRC(sym, crc, sec) into the .mod.c: a plain u32 in
//   ___kcrctab[_gpl]+<sym>, sorted the same way into __kcrctab / __kcrctab_gpl, with a local
//   symbol __crc_<sym> pointing at it. The loader pairs __ksymtab[i] with __kcrctab[i].
// modpost builds Module.symvers from the symbols (in symbol-table order): that is the view
// used here, so the module's own symvers lines come out as kbuild wrote them. When those
// local symbols were stripped, the sections and their relocations (the loader's view) still
// say what is exported.
import { EM_386, EM_X86_64, ElfFormatError, SHN_ABS, symbolNameStartsWith } from './elf.js';
import type { ElfFile, ElfRelocation, ElfSection, ElfSymbol } from './elf.js';

export type ExportType = 'EXPORT_SYMBOL' | 'EXPORT_SYMBOL_GPL';

export interface ExportedSymbol {
  readonly symbol: string;
  /** The CRC from __kcrctab; undefined when the module was built without CONFIG_MODVERSIONS. */
  readonly crc: number | undefined;
  readonly exportType: ExportType;
  /** "" when the symbol is in no namespace. */
  readonly namespace: string;
}

const KSYMTAB = '__ksymtab_';
const KSTRTABNS = '__kstrtabns_';
const CRC = '__crc_';
/** The name prefixes exportsFromSymbols looks at. */
export const EXPORT_SYMBOL_PREFIXES: readonly string[] = [KSYMTAB, KSTRTABNS, CRC];
const STT_SECTION = 3;

/** Export type from the section holding __ksymtab_<sym>: the .ko's merged name or the .o's input name. */
function exportTypeOf(sectionName: string): ExportType | undefined {
  if (sectionName === '__ksymtab' || sectionName.startsWith('___ksymtab+')) return 'EXPORT_SYMBOL';
  if (sectionName === '__ksymtab_gpl' || sectionName.startsWith('___ksymtab_gpl+'))
    return 'EXPORT_SYMBOL_GPL';
  return undefined;
}

function offsetOf(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ElfFormatError(`symbol value ${value.toString()} out of range`);
  return Number(value);
}

/** Exports the way modpost reads them: __ksymtab_*, __kstrtabns_*, __crc_* symbols, in table order. */
export function exportsFromSymbols(
  elf: ElfFile,
  symbols: readonly ElfSymbol[] = elf.symbols(),
): ExportedSymbol[] {
  const found: { symbol: string; exportType: ExportType }[] = [];
  const namespaces = new Map<string, string>();
  const crcs = new Map<string, number>();
  for (const sym of symbols) {
    // Fast reject on the name's bytes: most symbols are none of the three kinds.
    const kind = symbolNameStartsWith(sym, KSYMTAB)
      ? KSYMTAB
      : symbolNameStartsWith(sym, KSTRTABNS)
        ? KSTRTABNS
        : symbolNameStartsWith(sym, CRC)
          ? CRC
          : undefined;
    if (kind === undefined) continue;
    if (sym.type === STT_SECTION) continue; // a toolchain naming its section symbols must not export "gpl"
    const name = sym.name;
    if (kind === KSYMTAB) {
      const sec = elf.sectionOf(sym);
      const exportType = sec === undefined ? undefined : exportTypeOf(sec.name);
      if (exportType !== undefined) found.push({ symbol: name.slice(KSYMTAB.length), exportType });
    } else if (kind === KSTRTABNS) {
      const sec = elf.sectionOf(sym);
      if (sec !== undefined)
        namespaces.set(name.slice(KSTRTABNS.length), elf.sectionString(sec, offsetOf(sym.value)));
    } else {
      const crc = crcOfSymbol(elf, sym);
      if (crc !== undefined) crcs.set(name.slice(CRC.length), crc);
    }
  }
  return found.map(({ symbol, exportType }) => ({
    symbol,
    crc: crcs.get(symbol),
    exportType,
    namespace: namespaces.get(symbol) ?? '',
  }));
}

/** kmod's kmod_elf_resolve_crc: an absolute __crc_ symbol is the CRC (older kernels); else it points at the u32. */
function crcOfSymbol(elf: ElfFile, sym: ElfSymbol): number | undefined {
  if (sym.shndx === SHN_ABS) return Number(sym.value & 0xffffffffn);
  const sec = elf.sectionOf(sym);
  if (sec === undefined) return undefined;
  return Number(elf.readSectionUint(sec, offsetOf(sym.value), 4));
}

/** struct kernel_symbol fields: 4-byte PREL32 offsets or pointer-sized absolute addresses. */
interface Layout {
  readonly fieldSize: 4 | 8;
}

// Relocation types a kernel_symbol field may carry, per machine. Others: not understood.
const R_X86_64_64 = 1;
const R_X86_64_PC32 = 2;
const R_386_32 = 1;

function layoutFor(elf: ElfFile, relocs: readonly ElfRelocation[]): Layout | undefined {
  if (relocs.length === 0) return undefined;
  if (elf.machine === EM_X86_64 && elf.is64) {
    if (relocs.every((r) => r.type === R_X86_64_PC32)) return { fieldSize: 4 };
    if (relocs.every((r) => r.type === R_X86_64_64)) return { fieldSize: 8 };
  }
  if (elf.machine === EM_386 && !elf.is64 && relocs.every((r) => r.type === R_386_32)) {
    return { fieldSize: 4 };
  }
  return undefined;
}

/**
 * Exports the way the loader sees them: struct kernel_symbol entries of __ksymtab and
 * __ksymtab_gpl, names and namespaces found through their relocations, CRCs from
 * __kcrctab[_gpl] by index. Handles the 5.4+ three-field entry on x86_64 and i386;
 * undefined when the layout is not one of those.
 */
export function exportsFromKsymtab(elf: ElfFile): ExportedSymbol[] | undefined {
  const out: ExportedSymbol[] = [];
  for (const [secName, crcName, exportType] of [
    ['__ksymtab', '__kcrctab', 'EXPORT_SYMBOL'],
    ['__ksymtab_gpl', '__kcrctab_gpl', 'EXPORT_SYMBOL_GPL'],
  ] as const) {
    const sec = elf.section(secName);
    if (sec === undefined || sec.size === 0) continue;
    const relocs = elf.relocationsFor(sec);
    const layout = layoutFor(elf, relocs);
    if (layout === undefined) return undefined;
    const entrySize = 3 * layout.fieldSize;
    if (sec.size % entrySize !== 0) return undefined;
    const count = sec.size / entrySize;
    const byOffset = new Map<number, ElfRelocation>();
    for (const r of relocs) byOffset.set(offsetOf(r.offset), r);
    const crcSec = elf.section(crcName);
    if (crcSec !== undefined && crcSec.size !== count * 4) {
      throw new ElfFormatError(
        `${crcName} holds ${String(crcSec.size / 4)} CRCs for ${String(count)} exports`,
      );
    }
    const crcRelocs = new Map<number, ElfRelocation>();
    if (crcSec !== undefined)
      for (const r of elf.relocationsFor(crcSec)) crcRelocs.set(offsetOf(r.offset), r);
    for (let i = 0; i < count; i++) {
      const base = i * entrySize;
      const nameRef = byOffset.get(base + layout.fieldSize);
      if (nameRef === undefined || !byOffset.has(base)) return undefined;
      const symbol = stringAt(elf, sec, base + layout.fieldSize, nameRef, layout);
      const nsRef = byOffset.get(base + 2 * layout.fieldSize);
      const namespace =
        nsRef === undefined ? '' : stringAt(elf, sec, base + 2 * layout.fieldSize, nsRef, layout);
      const crc = crcSec === undefined ? undefined : crcAt(elf, crcSec, i * 4, crcRelocs.get(i * 4));
      out.push({ symbol, crc, exportType, namespace });
    }
  }
  return out;
}

/** The string a relocated field refers to: symbol + addend (RELA) or + the field's bytes (REL). */
function stringAt(
  elf: ElfFile,
  sec: ElfSection,
  fieldOffset: number,
  r: ElfRelocation,
  layout: Layout,
): string {
  const sym = elf.symbols()[r.symbol];
  const target = sym === undefined ? undefined : elf.sectionOf(sym);
  if (sym === undefined || target === undefined) {
    throw new ElfFormatError(`${sec.name} entry at ${String(fieldOffset)} refers to no section`);
  }
  let addend = r.addend;
  if (addend === undefined) {
    const raw = elf.readSectionUint(sec, fieldOffset, layout.fieldSize);
    addend = layout.fieldSize === 4 ? BigInt.asIntN(32, raw) : BigInt.asIntN(64, raw);
  }
  return elf.sectionString(target, offsetOf(sym.value + addend));
}

/** A __kcrctab word: the stored u32, or an absolute __crc_ symbol it is relocated against (older kernels). */
function crcAt(elf: ElfFile, crcSec: ElfSection, offset: number, r: ElfRelocation | undefined): number {
  const stored = elf.readSectionUint(crcSec, offset, 4);
  if (r === undefined) return Number(stored);
  const sym = elf.symbols()[r.symbol];
  if (sym?.shndx !== SHN_ABS)
    throw new ElfFormatError(`${crcSec.name} entry at ${String(offset)} is relocated against a section`);
  return Number((sym.value + (r.addend ?? stored)) & 0xffffffffn);
}
