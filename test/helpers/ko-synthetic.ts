// Synthetic kernel modules laid out the way 6.1's kbuild lays them out (see
// src/core/ko-exports.ts for the layout), in any ELF class and byte order: .modinfo,
// __versions, undefined imports, exports with __ksymtab*/__kcrctab*/__ksymtab_strings and
// their local symbols and relocations, .gnu.linkonce.this_module, optional signature.
import { Words, buildElf, concat } from './ko-elf-builder.js';
import type { RelocSpec, SectionSpec, SymbolSpec } from './ko-elf-builder.js';

export interface SyntheticExport {
  readonly symbol: string;
  readonly crc?: number;
  readonly gpl?: boolean;
  readonly namespace?: string;
}

export interface SyntheticModule {
  readonly is64: boolean;
  readonly littleEndian: boolean;
  /** e_machine; 62 (x86_64) and 3 (i386) get relocations the loader view understands. */
  readonly machine: number;
  /** Raw .modinfo strings ("key=value"), NUL-separated in order. */
  readonly modinfo: readonly string[];
  readonly versions?:
    readonly { readonly name: string; readonly crc: number; readonly crcHigh?: number }[] | null;
  readonly imports?: readonly { readonly name: string; readonly weak?: boolean }[];
  readonly exports?: readonly SyntheticExport[];
  /** Leave out the local symbols __ksymtab_*, __crc_* (as strip --strip-unneeded does). */
  readonly stripLocals?: boolean;
  readonly thisModuleSize?: number;
}

const enc = new TextEncoder();

export function buildModule(m: SyntheticModule): Uint8Array {
  const sections: SectionSpec[] = [];
  const symbols: SymbolSpec[] = [];
  const relocations: RelocSpec[] = [];
  const exports = m.exports ?? [];

  // .text with one function per export, so the value field has something to point at.
  sections.push({ name: '.text', data: new Uint8Array(Math.max(1, exports.length) * 16), flags: 6 });
  sections.push({ name: '.modinfo', data: enc.encode(m.modinfo.map((s) => `${s}\0`).join('')) });

  if (m.versions !== null && m.versions !== undefined) {
    const w = new Words(64 * m.versions.length, m.littleEndian);
    m.versions.forEach((v, i) => {
      const at = i * 64;
      if (m.is64) {
        w.u64(at, (BigInt(v.crcHigh ?? 0) << 32n) | BigInt(v.crc));
        w.bytes.set(enc.encode(v.name), at + 8);
      } else {
        w.u32(at, v.crc);
        w.bytes.set(enc.encode(v.name), at + 4);
      }
    });
    sections.push({ name: '__versions', data: w.bytes });
  }

  if (exports.length > 0) addExports(m, exports, sections, symbols, relocations);

  if (m.thisModuleSize !== undefined) {
    sections.push({ name: '.gnu.linkonce.this_module', data: new Uint8Array(m.thisModuleSize), flags: 3 });
    symbols.push({ name: '__this_module', section: '.gnu.linkonce.this_module', bind: 'global', type: 1 });
  }
  for (const imp of m.imports ?? [])
    symbols.push({ name: imp.name, bind: imp.weak === true ? 'weak' : 'global' });

  return buildElf({
    is64: m.is64,
    littleEndian: m.littleEndian,
    machine: m.machine,
    sections,
    symbols,
    relocations,
    rela: m.machine === 3 ? false : m.is64,
  });
}

function addExports(
  m: SyntheticModule,
  exports: readonly SyntheticExport[],
  sections: SectionSpec[],
  symbols: SymbolSpec[],
  relocations: RelocSpec[],
): void {
  // __ksymtab_strings: "sym\0ns\0" per export, in declaration order.
  const strings: Uint8Array[] = [];
  let at = 0;
  const strAt = new Map<string, { name: number; ns: number }>();
  for (const e of exports) {
    const name = enc.encode(`${e.symbol}\0`);
    const ns = enc.encode(`${e.namespace ?? ''}\0`);
    strAt.set(e.symbol, { name: at, ns: at + name.length });
    strings.push(name, ns);
    at += name.length + ns.length;
  }
  sections.push({ name: '__ksymtab_strings', data: concat(strings) });

  // PREL32 entries (3 x int) on x86_64, pointer triples elsewhere; sorted by name per
  // section as scripts/module.lds.S's SORT(___ksymtab+*) does.
  const fieldSize = m.is64 && m.machine !== 62 ? 8 : 4;
  const entry = 3 * fieldSize;
  const relType = m.machine === 62 ? 2 /* R_X86_64_PC32 */ : m.machine === 3 ? 1 /* R_386_32 */ : 0xff;
  const placeIn = new Map<string, { sec: string; index: number }>();
  for (const [gpl, ksym, kcrc] of [
    [false, '__ksymtab', '__kcrctab'],
    [true, '__ksymtab_gpl', '__kcrctab_gpl'],
  ] as const) {
    const list = exports
      .filter((e) => (e.gpl ?? false) === gpl)
      .sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
    if (list.length === 0) continue;
    sections.push({ name: ksym, data: new Uint8Array(entry * list.length) });
    const crcs = new Words(4 * list.length, m.littleEndian);
    list.forEach((e, i) => {
      crcs.u32(i * 4, e.crc ?? 0);
      placeIn.set(e.symbol, { sec: ksym, index: i });
      for (const [field, target] of [
        [0, e.symbol],
        [1, `__kstrtab_${e.symbol}`],
        [2, `__kstrtabns_${e.symbol}`],
      ] as const) {
        relocations.push({
          section: ksym,
          offset: i * entry + field * fieldSize,
          symbol: target,
          type: relType,
          addend: 0,
        });
      }
    });
    if (list.some((e) => e.crc !== undefined)) sections.push({ name: kcrc, data: crcs.bytes });
  }

  exports.forEach((e, i) => {
    const s = strAt.get(e.symbol);
    const place = placeIn.get(e.symbol);
    if (s === undefined || place === undefined) throw new Error('unreachable');
    symbols.push({
      name: `__kstrtab_${e.symbol}`,
      section: '__ksymtab_strings',
      value: s.name,
      bind: 'local',
    });
    symbols.push({
      name: `__kstrtabns_${e.symbol}`,
      section: '__ksymtab_strings',
      value: s.ns,
      bind: 'local',
    });
    if (m.stripLocals !== true) {
      symbols.push({
        name: `__ksymtab_${e.symbol}`,
        section: place.sec,
        value: place.index * entry,
        bind: 'local',
      });
      if (e.crc !== undefined) {
        const kcrc = place.sec === '__ksymtab' ? '__kcrctab' : '__kcrctab_gpl';
        symbols.push({ name: `__crc_${e.symbol}`, section: kcrc, value: place.index * 4, bind: 'local' });
      }
    }
    symbols.push({ name: e.symbol, section: '.text', value: i * 16, size: 16, bind: 'global', type: 2 });
  });
}

/** Append a PKCS#7-style signature trailer as scripts/sign-file does (contents are not a real signature). */
export function appendSignature(
  elf: Uint8Array,
  opts: { sigLength?: number; signer?: string; keyId?: Uint8Array } = {},
): Uint8Array {
  const signer = enc.encode(opts.signer ?? '');
  const keyId = opts.keyId ?? new Uint8Array(0);
  const sig = new Uint8Array(opts.sigLength ?? 439).fill(0x30);
  const info = new Words(12, false);
  info.u8(2, signer.length === 0 && keyId.length === 0 ? 2 : 1); // PKEY_ID_PKCS7 / X509
  info.u8(3, signer.length);
  info.u8(4, keyId.length);
  info.u32(8, sig.length);
  return concat([elf, signer, keyId, sig, info.bytes, enc.encode('~Module signature appended~\n')]);
}
