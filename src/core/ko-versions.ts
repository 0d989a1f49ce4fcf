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

/**
 * __versions as columns, in section order: a kernel's modules hold ~190,000 entries, kept
 * until the whole set is judged, and an object (with a boxed number for every CRC above
 * 2^31) per entry was a fifth of what the collector had to copy.
 */
export class ModVersions {
  private constructor(
    private readonly names: readonly string[],
    private readonly crcs: Uint32Array,
    /** null when every high half is 0 (always, as modpost writes them). */
    private readonly crcHighs: Uint32Array | null,
  ) {}

  /** The reader's columns, taken as they are. */
  static fromColumns(names: readonly string[], crcs: Uint32Array, crcHighs: Uint32Array | null): ModVersions {
    return new ModVersions(names, crcs, crcHighs);
  }

  static of(list: readonly ModVersion[]): ModVersions {
    const highs = Uint32Array.from(list, (v) => v.crcHigh);
    return new ModVersions(
      list.map((v) => v.name),
      Uint32Array.from(list, (v) => v.crc),
      highs.some((h) => h !== 0) ? highs : null,
    );
  }

  get length(): number {
    return this.names.length;
  }

  name(i: number): string {
    return this.names[i] as string;
  }

  crc(i: number): number {
    return this.crcs[i] as number;
  }

  crcHigh(i: number): number {
    return this.crcHighs === null ? 0 : (this.crcHighs[i] as number);
  }

  /** The first entry for `name`, as the loader's linear search finds it; -1 when none. */
  indexOf(name: string): number {
    return this.names.indexOf(name);
  }

  toArray(): ModVersion[] {
    return this.names.map((name, i) => ({ name, crc: this.crc(i), crcHigh: this.crcHigh(i) }));
  }
}

export function readModVersions(elf: ElfFile, sec: ElfSection): ModVersions {
  if (sec.size % MODVERSION_ENTRY_SIZE !== 0) {
    throw new ElfFormatError(
      `__versions size ${String(sec.size)} is not a multiple of ${String(MODVERSION_ENTRY_SIZE)}`,
    );
  }
  const data = elf.sectionData(sec);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const crcSize = elf.is64 ? 8 : 4;
  const count = data.length / MODVERSION_ENTRY_SIZE;
  const names = new Array<string>(count);
  const crcs = new Uint32Array(count);
  let crcHighs: Uint32Array | null = null;
  for (let k = 0; k < count; k++) {
    const at = k * MODVERSION_ENTRY_SIZE;
    if (elf.is64) {
      crcs[k] = view.getUint32(at + (elf.littleEndian ? 0 : 4), elf.littleEndian);
      const high = view.getUint32(at + (elf.littleEndian ? 4 : 0), elf.littleEndian);
      if (high !== 0) (crcHighs ??= new Uint32Array(count))[k] = high;
    } else {
      crcs[k] = view.getUint32(at, elf.littleEndian);
    }
    const nameStart = at + crcSize;
    const nameEnd = at + MODVERSION_ENTRY_SIZE;
    const nul = data.indexOf(0, nameStart);
    if (nul < 0 || nul >= nameEnd) {
      throw new ElfFormatError(`__versions entry ${String(k)} has an unterminated name`);
    }
    names[k] = decodeString(data, nameStart, nul);
  }
  return ModVersions.fromColumns(names, crcs, crcHighs);
}

/** As `modprobe --dump-modversions` prints the CRC: "0x%08" PRIx64 of the stored value. */
export function formatModVersionCrc(v: Pick<ModVersion, 'crc' | 'crcHigh'>): string {
  if (v.crcHigh === 0) return `0x${v.crc.toString(16).padStart(8, '0')}`;
  return `0x${v.crcHigh.toString(16)}${v.crc.toString(16).padStart(8, '0')}`;
}
