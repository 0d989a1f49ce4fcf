// What dkms-abi needs to know about one kernel module (.ko), read from its bytes:
// .modinfo, the CRCs it requires (__versions), the symbols it imports, the symbols it
// exports with their CRCs, the size of its struct module and its signature. Pure: the
// bytes come from src/system/ko-file.ts (which also decompresses).
import {
  ElfFile,
  ElfFormatError,
  ET_REL,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
  STB_GLOBAL,
  STB_WEAK,
  decodeString,
  parseElf,
  type ElfSymbol,
  type LoadedRanges,
} from './elf.js';
import { EXPORT_SYMBOL_PREFIXES, exportsFromKsymtab, exportsFromSymbols } from './ko-exports.js';
import type { ExportedSymbol } from './ko-exports.js';
import { parseModinfo } from './ko-modinfo.js';
import type { Modinfo } from './ko-modinfo.js';
import { ModuleImports } from './ko-imports.js';
import { splitSignature } from './ko-signature.js';
import type { ModuleSignature } from './ko-signature.js';
import { readModVersions } from './ko-versions.js';
import type { ModVersions } from './ko-versions.js';

export type { ExportedSymbol } from './ko-exports.js';
export { ModuleImports } from './ko-imports.js';
export type { Modinfo, ModinfoRecord } from './ko-modinfo.js';
export { modinfoValues } from './ko-modinfo.js';
export type { ModuleSignature } from './ko-signature.js';
export { ModVersions, formatModVersionCrc } from './ko-versions.js';

export interface KernelModuleInfo {
  readonly elfClass: 32 | 64;
  readonly littleEndian: boolean;
  /** e_machine (62 = x86_64). */
  readonly machine: number;
  readonly modinfo: Modinfo;
  /** __versions in section order; null when the module has no such section (built without modversions). */
  readonly versions: ModVersions | null;
  /**
   * Undefined global and weak symbols, in symbol-table order: what the module imports.
   * Like modpost's list (scripts/mod/modpost.c, handle_symbol + ignore_undef_symbol) it
   * leaves out __this_module and _GLOBAL_OFFSET_TABLE_ (and the register save/restore
   * helpers of PPC, PPC64 and s390 that the final link supplies). module_layout, which
   * modpost adds to __versions without any symbol, is not here.
   */
  readonly imports: ModuleImports;
  /** Own exports, in the order modpost lists them in Module.symvers. */
  readonly exports: readonly ExportedSymbol[];
  /** Size of .gnu.linkonce.this_module (sizeof(struct module) of the build); null when absent. */
  readonly thisModuleSize: number | null;
  /** The appended signature; null for an unsigned module. */
  readonly signature: ModuleSignature | null;
}

const EM_PPC = 20;
const EM_PPC64 = 21;
const EM_S390 = 22;

/**
 * Read a module; throws ElfFormatError (the caller names the file) on malformed input.
 * With `loaded`, `bytes` is a sparse image of the file (see moduleReadRanges) and needing a
 * byte outside those ranges throws ElfUnloadedError naming them.
 */
export function readKernelModule(bytes: Uint8Array, loaded?: LoadedRanges): KernelModuleInfo {
  const { elf: image, signature } = splitSignature(bytes, loaded);
  const elf = parseElf(image, loaded);
  if (elf.type !== ET_REL) throw new ElfFormatError(`not a relocatable object (e_type ${String(elf.type)})`);
  // No .modinfo is no vermagic: a verdict for the caller to give, not a malformed file.
  const modinfoSec = elf.section('.modinfo');
  const versionsSec = elf.section('__versions');
  const thisModule = elf.section('.gnu.linkonce.this_module');
  return {
    elfClass: elf.is64 ? 64 : 32,
    littleEndian: elf.littleEndian,
    machine: elf.machine,
    modinfo: parseModinfo(modinfoSec === undefined ? new Uint8Array(0) : elf.sectionData(modinfoSec)),
    ...importsAndExports(elf, versionsSec === undefined ? null : readModVersions(elf, versionsSec)),
    thisModuleSize: thisModule === undefined ? null : thisModule.size,
    signature,
  };
}

/** Sections whose data readKernelModule reads, besides the symbol table and its strings. */
const VERDICT_SECTIONS: ReadonlySet<string> = new Set([
  '.modinfo',
  '__versions',
  // __kstrtabns_* names point into it; __crc_* symbols into the CRC tables.
  '__ksymtab_strings',
  '__kcrctab',
  '__kcrctab_gpl',
]);

/**
 * The file ranges readKernelModule reads of a module, known from its headers (and trailer):
 * a reader can read just those by position instead of the whole file (the code, data and
 * relocations, ~90 % of it, are never looked at). Throws ElfUnloadedError while the headers
 * themselves are not read. A module that needs more (exports without their symbols) says so
 * the same way when it is read.
 */
export function moduleReadRanges(bytes: Uint8Array, loaded: LoadedRanges): (readonly [number, number])[] {
  const { elf: image } = splitSignature(bytes, loaded);
  const elf = parseElf(image, loaded);
  const out: (readonly [number, number])[] = [];
  const add = (sec: Parameters<typeof ElfFile.rangeOf>[0] | undefined): void => {
    const r = sec === undefined ? undefined : ElfFile.rangeOf(sec);
    if (r !== undefined) out.push(r);
  };
  for (const sec of elf.sections) {
    if (VERDICT_SECTIONS.has(sec.name) || sec.type === SHT_SYMTAB_SHNDX) add(sec);
    else if (sec.type === SHT_SYMTAB) {
      add(sec);
      add(elf.sections[sec.link]);
    }
  }
  return out;
}

/** Name prefixes of the symbols that say what a module exports (as exportsFromSymbols reads them). */
const EXPORT_PREFIX_BYTES = EXPORT_SYMBOL_PREFIXES.map((p) => Array.from(p, (c) => c.charCodeAt(0)));

/**
 * Imports and exports from one pass over the symbol table that makes objects only for the
 * symbols either needs: undefined ones and the export bookkeeping (__ksymtab_*, …).
 */
function importsAndExports(
  elf: ElfFile,
  versions: ModVersions | null,
): Pick<KernelModuleInfo, 'versions' | 'imports' | 'exports'> {
  // Undefined global and weak symbols, in table order: the imports, made here from the name's
  // bytes (no symbol object for the ~50 % of a module's kept symbols they are).
  const names: string[] = [];
  const weakAt = new Set<number>();
  const symbols = elf.selectSymbols((bytes, start, limit, shndx, special, info) => {
    if (shndx === 0 && !special) {
      const bind = info >> 4;
      if (bytes[start] === 0 || (bind !== STB_GLOBAL && bind !== STB_WEAK)) return false;
      const name = decodeString(bytes, start, bytes.indexOf(0, start));
      if (!ignoredUndefined(elf.machine, name)) {
        if (bind === STB_WEAK) weakAt.add(names.length);
        names.push(name);
      }
      // An undefined symbol is in no section: it exports nothing (exportsFromSymbols skips it).
      return false;
    }
    // Every prefix starts with "__": most names are rejected on their first bytes. A name
    // shorter than a prefix fails on its NUL (no prefix byte is 0) before `limit`.
    if (limit - start < 6 || bytes[start] !== 0x5f || bytes[start + 1] !== 0x5f) return false;
    return EXPORT_PREFIX_BYTES.some((p) => {
      if (limit - start < p.length) return false;
      for (let i = 2; i < p.length; i++) if (bytes[start + i] !== p[i]) return false;
      return true;
    });
  });
  return {
    versions,
    imports: ModuleImports.linked(names, weakAt, versions),
    exports: exportsOf(elf, symbols),
  };
}

function ignoredUndefined(machine: number, name: string): boolean {
  if (name === '__this_module' || name === '_GLOBAL_OFFSET_TABLE_') return true;
  const starts = (...prefixes: string[]): boolean => prefixes.some((p) => name.startsWith(p));
  if (machine === EM_PPC)
    return starts('_restgpr_', '_savegpr_', '_rest32gpr_', '_save32gpr_', '_restvr_', '_savevr_');
  if (machine === EM_PPC64)
    return starts('_restgpr0_', '_savegpr0_', '_restvr_', '_savevr_') || name === '.TOC.';
  if (machine === EM_S390) return starts('__s390_indirect_jump_r');
  return false;
}

/** Symbols give kbuild's order; a module stripped of its local symbols still has the sections. */
function exportsOf(elf: ElfFile, symbols: readonly ElfSymbol[]): ExportedSymbol[] {
  const fromSymbols = exportsFromSymbols(elf, symbols);
  if (fromSymbols.length > 0) return fromSymbols;
  const tables = ['__ksymtab', '__ksymtab_gpl'].map((n) => elf.section(n)?.size ?? 0);
  if (tables.every((size) => size === 0)) return [];
  const fromTables = exportsFromKsymtab(elf);
  if (fromTables === undefined) {
    throw new ElfFormatError(
      `exports in __ksymtab without __ksymtab_* symbols, in a layout not understood (machine ${String(elf.machine)})`,
    );
  }
  return fromTables;
}

/** The module's own Module.symvers lines (no trailing newline), as modpost's write_dump prints them. */
export function symversLinesFor(info: Pick<KernelModuleInfo, 'exports'>, modulePath: string): string[] {
  return info.exports.map(
    (e) =>
      `0x${(e.crc ?? 0).toString(16).padStart(8, '0')}\t${e.symbol}\t${modulePath}\t${e.exportType}\t${e.namespace}`,
  );
}
