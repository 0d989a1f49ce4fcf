// What a kernel image exports, read from the image itself: Debian's linux-image packages ship
// no Module.symvers (it is in linux-headers) and a stub System.map, yet the loader checks a
// module's CRCs against exactly these tables, so a kernel without headers can still be judged.
// - An x86 bzImage (Documentation/arch/x86/boot.rst) carries the compressed vmlinux at
//   payload_offset/payload_length (protocol 2.08+), the decompressed size appended in its last
//   4 bytes by the build (size_append).
// - vmlinux keeps its section headers (the decompressor's copy is only stripped of symbols):
//   __ksymtab[_gpl] hold struct kernel_symbol, __kcrctab[_gpl] the CRCs in the same order
//   (kernel/module/version.c pairs entry i with CRC i). On x86_64 (PREL32 relocations) each
//   entry is three int offsets, relative to the field, to the value, the name and the
//   namespace (both in __ksymtab_strings); elsewhere three pointers.
import { EM_386, EM_X86_64, ElfFormatError, parseElf, type ElfFile, type ElfSection } from './elf.js';
import type { ExportedSymbol, ExportType } from './ko-exports.js';

export type ImageCompression = 'gzip' | 'xz' | 'zstd' | 'lzma' | 'bzip2' | 'lz4' | 'lzo' | 'none';

export interface ImagePayload {
  readonly compression: ImageCompression;
  readonly data: Uint8Array;
}

const MAGICS: readonly (readonly [ImageCompression, readonly number[]])[] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lzma', [0x5d, 0x00, 0x00]],
  ['none', [0x7f, 0x45, 0x4c, 0x46]],
];

/** The compressed vmlinux inside an x86 bzImage; a plain vmlinux ELF is its own payload. */
export function bzImagePayload(image: Uint8Array): ImagePayload {
  if (startsWith(image, 0, [0x7f, 0x45, 0x4c, 0x46])) return { compression: 'none', data: image };
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (image.length < 0x250 || view.getUint32(0x202, true) !== 0x53726448 /* "HdrS" */)
    throw new ElfFormatError('not an x86 bzImage (no "HdrS" boot header) nor an ELF vmlinux');
  const version = view.getUint16(0x206, true);
  if (version < 0x208)
    throw new ElfFormatError(
      `boot protocol ${(version >> 8).toString()}.${(version & 0xff).toString()} has no payload fields`,
    );
  const setupSects = image[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + view.getUint32(0x248, true);
  const length = view.getUint32(0x24c, true);
  if (length < 8 || start + length > image.length) throw new ElfFormatError('payload outside the image');
  // The build appends the decompressed size (4 bytes): not part of the compressed stream.
  const data = image.subarray(start, start + length - 4);
  const found = MAGICS.find(([, magic]) => startsWith(data, 0, magic));
  if (found === undefined) throw new ElfFormatError('payload in an unknown compression format');
  return { compression: found[0], data };
}

function startsWith(bytes: Uint8Array, at: number, magic: readonly number[]): boolean {
  return magic.every((b, i) => bytes[at + i] === b);
}

const TABLES: readonly (readonly [string, string, ExportType])[] = [
  ['__ksymtab', '__kcrctab', 'EXPORT_SYMBOL'],
  ['__ksymtab_gpl', '__kcrctab_gpl', 'EXPORT_SYMBOL_GPL'],
];

/** vmlinux's exports in table order; CRCs undefined when built without CONFIG_MODVERSIONS. */
export function vmlinuxExports(bytes: Uint8Array): ExportedSymbol[] {
  const elf = parseElf(bytes);
  const strings = elf.section('__ksymtab_strings');
  if (strings === undefined) throw new ElfFormatError('no __ksymtab_strings section (no exports to read)');
  // x86_64 uses PREL32 offsets, i386 32-bit pointers: both 12-byte entries.
  if (elf.machine !== EM_X86_64 && elf.machine !== EM_386)
    throw new ElfFormatError(`ELF machine ${elf.machine.toString()}: only x86 kernel images are read`);
  const prel32 = elf.machine === EM_X86_64;
  const entrySize = 12;
  const out: ExportedSymbol[] = [];
  for (const [symtab, crctab, exportType] of TABLES) {
    const table = elf.section(symtab);
    if (table === undefined) continue;
    if (table.size % entrySize !== 0)
      throw new ElfFormatError(`${symtab}: ${table.size.toString()} bytes is not a whole number of entries`);
    const count = table.size / entrySize;
    const crcs = elf.section(crctab);
    if (crcs !== undefined && crcs.size !== count * 4)
      throw new ElfFormatError(
        `${crctab} has ${(crcs.size / 4).toString()} CRCs for ${count.toString()} exports`,
      );
    const data = elf.sectionData(table);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const crcView = crcs === undefined ? undefined : sectionView(elf, crcs);
    for (let i = 0; i < count; i++) {
      const at = i * entrySize;
      // A zero field is a null pointer (kernel_symbol_namespace(): no namespace; the assembly
      // EXPORT_SYMBOL of asm-generic/export.h writes one), not an offset to the field itself.
      const field = (k: number): bigint => {
        const raw = prel32
          ? view.getInt32(at + 4 * k, elf.littleEndian)
          : view.getUint32(at + 4 * k, elf.littleEndian);
        if (raw === 0) return 0n;
        return prel32 ? table.addr + BigInt(at + 4 * k) + BigInt(raw) : BigInt(raw);
      };
      const symbol = stringAt(elf, strings, field(1));
      if (symbol === '') throw new ElfFormatError(`${symtab}[${i.toString()}]: empty name`);
      out.push({
        symbol,
        crc: crcView?.getUint32(i * 4, elf.littleEndian),
        exportType,
        namespace: stringAt(elf, strings, field(2)),
      });
    }
  }
  return out;
}

function sectionView(elf: ElfFile, sec: ElfSection): DataView {
  const data = elf.sectionData(sec);
  return new DataView(data.buffer, data.byteOffset, data.byteLength);
}

/** The NUL-terminated string at a virtual address inside `sec`; "" for a null namespace pointer. */
function stringAt(elf: ElfFile, sec: ElfSection, addr: bigint): string {
  if (addr === 0n) return '';
  const offset = addr - sec.addr;
  if (offset < 0n || offset >= BigInt(sec.size))
    throw new ElfFormatError(`a ksymtab entry points outside ${sec.name}`);
  const data = elf.sectionData(sec);
  const start = Number(offset);
  const end = data.indexOf(0, start);
  if (end < 0) throw new ElfFormatError(`unterminated string in ${sec.name}`);
  return new TextDecoder().decode(data.subarray(start, end));
}
