// __versions: one CRC per imported symbol, written by modpost into the .mod.c as
// struct modversion_info { unsigned long crc; char name[64 - sizeof(unsigned long)]; }
// so 64 bytes per entry: {u64 crc; char name[56]} on 64-bit, {u32 crc; char name[60]}
// on 32-bit, in the ELF's byte order. The loader (kernel/module/version.c) compares the
// whole `unsigned long` with the exporter's 32-bit CRC, so high bits, if any, never match.
import { ElfFormatError, decodeString } from './elf.js';
import type { ElfFile, ElfSection } from './elf.js';

export const MODVERSION_ENTRY_SIZE = 64;

export interface ModVersion {
  /** Symbol name as stored (kmod's dump strips one leading '.', a PPC64 ELFv1 habit). */
  readonly name: string;
  /** Low 32 bits of the stored CRC: the value symvers files and the exporter's __kcrctab hold. */
  readonly crc: number;
  /** High 32 bits of the stored value on 64-bit objects (0 as modpost writes them; 0 on 32-bit). */
  readonly crcHigh: number;
}

export function readModVersions(elf: ElfFile, sec: ElfSection): ModVersion[] {
  if (sec.size % MODVERSION_ENTRY_SIZE !== 0) {
    throw new ElfFormatError(
      `__versions size ${String(sec.size)} is not a multiple of ${String(MODVERSION_ENTRY_SIZE)}`,
    );
  }
  const data = elf.sectionData(sec);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const crcSize = elf.is64 ? 8 : 4;
  const out: ModVersion[] = [];
  for (let at = 0; at < data.length; at += MODVERSION_ENTRY_SIZE) {
    let crc: number;
    let crcHigh = 0;
    if (elf.is64) {
      const lo = view.getUint32(at + (elf.littleEndian ? 0 : 4), elf.littleEndian);
      crcHigh = view.getUint32(at + (elf.littleEndian ? 4 : 0), elf.littleEndian);
      crc = lo;
    } else {
      crc = view.getUint32(at, elf.littleEndian);
    }
    const nameStart = at + crcSize;
    const nameEnd = at + MODVERSION_ENTRY_SIZE;
    const nul = data.indexOf(0, nameStart);
    if (nul < 0 || nul >= nameEnd) {
      throw new ElfFormatError(
        `__versions entry ${String(at / MODVERSION_ENTRY_SIZE)} has an unterminated name`,
      );
    }
    out.push({ name: decodeString(data, nameStart, nul), crc, crcHigh });
  }
  return out;
}

/** As `modprobe --dump-modversions` prints the CRC: "0x%08" PRIx64 of the stored value. */
export function formatModVersionCrc(v: Pick<ModVersion, 'crc' | 'crcHigh'>): string {
  if (v.crcHigh === 0) return `0x${v.crc.toString(16).padStart(8, '0')}`;
  return `0x${v.crcHigh.toString(16)}${v.crc.toString(16).padStart(8, '0')}`;
}
