// Re-encodes a little-endian kernel module as big-endian, so the reader's big-endian paths
// run on real toolchain output: the ELF header, section headers, symbol and relocation
// tables, and the module sections whose contents are integers (__versions CRCs,
// __kcrctab words, __ksymtab fields). Machine code and other data are left alone: the
// reader never interprets them. Offsets are read straight from the bytes, per the ELF spec.

const SHT_SYMTAB = 2;
const SHT_RELA = 4;
const SHT_REL = 9;
const SHT_SYMTAB_SHNDX = 18;
const SHT_NOBITS = 8;

function swap(bytes: Uint8Array, at: number, size: number): void {
  bytes.subarray(at, at + size).reverse();
}

export function toBigEndian(input: Uint8Array): Uint8Array {
  if (input[5] !== 1) throw new Error('toBigEndian: input is not little-endian');
  const out = new Uint8Array(input); // a copy: Buffer#slice would share memory
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const is64 = input[4] === 2;
  const word = is64 ? 8 : 4;
  out[5] = 2;

  // ELF header: e_type, e_machine (2), e_version (4), e_entry/e_phoff/e_shoff (word), e_flags (4), 6 × 2.
  const header: [number, number][] = is64
    ? [
        [16, 2],
        [18, 2],
        [20, 4],
        [24, 8],
        [32, 8],
        [40, 8],
        [48, 4],
        [52, 2],
        [54, 2],
        [56, 2],
        [58, 2],
        [60, 2],
        [62, 2],
      ]
    : [
        [16, 2],
        [18, 2],
        [20, 4],
        [24, 4],
        [28, 4],
        [32, 4],
        [36, 4],
        [40, 2],
        [42, 2],
        [44, 2],
        [46, 2],
        [48, 2],
        [50, 2],
      ];
  for (const [at, size] of header) swap(out, at, size);

  const shoff = is64 ? Number(view.getBigUint64(40, true)) : view.getUint32(32, true);
  const shentsize = view.getUint16(is64 ? 58 : 46, true);
  const shnum = view.getUint16(is64 ? 60 : 48, true);
  const shstrndx = view.getUint16(is64 ? 62 : 50, true);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    const u = (off: number, size: number): number =>
      size === 8 ? Number(view.getBigUint64(at + off, true)) : view.getUint32(at + off, true);
    return is64
      ? { at, name: u(0, 4), type: u(4, 4), offset: u(24, 8), size: u(32, 8), entsize: u(56, 8) }
      : { at, name: u(0, 4), type: u(4, 4), offset: u(16, 4), size: u(20, 4), entsize: u(36, 4) };
  });
  const strtab = sections[shstrndx];
  const nameOf = (nameOff: number): string => {
    if (strtab === undefined) return '';
    const start = strtab.offset + nameOff;
    return new TextDecoder().decode(input.subarray(start, input.indexOf(0, start)));
  };

  for (const s of sections) {
    // Section header fields: name, type (4); flags, addr, offset, size (word); link, info (4); addralign, entsize (word).
    const fields = is64
      ? [
          [0, 4],
          [4, 4],
          [8, 8],
          [16, 8],
          [24, 8],
          [32, 8],
          [40, 4],
          [44, 4],
          [48, 8],
          [56, 8],
        ]
      : [
          [0, 4],
          [4, 4],
          [8, 4],
          [12, 4],
          [16, 4],
          [20, 4],
          [24, 4],
          [28, 4],
          [32, 4],
          [36, 4],
        ];
    for (const [at, size] of fields) swap(out, s.at + (at ?? 0), size ?? 0);
    if (s.type === SHT_NOBITS || s.size === 0) continue;
    const name = nameOf(s.name);
    const entries = (entsize: number, layout: readonly (readonly [number, number])[]): void => {
      for (let e = s.offset; e + entsize <= s.offset + s.size; e += entsize) {
        for (const [at, size] of layout) swap(out, e + at, size);
      }
    };
    if (s.type === SHT_SYMTAB) {
      entries(
        is64 ? 24 : 16,
        is64
          ? [
              [0, 4],
              [6, 2],
              [8, 8],
              [16, 8],
            ]
          : [
              [0, 4],
              [4, 4],
              [8, 4],
              [14, 2],
            ],
      );
    } else if (s.type === SHT_RELA || s.type === SHT_REL) {
      const rela = s.type === SHT_RELA;
      if (is64)
        entries(
          rela ? 24 : 16,
          rela
            ? [
                [0, 8],
                [8, 8],
                [16, 8],
              ]
            : [
                [0, 8],
                [8, 8],
              ],
        );
      else
        entries(
          rela ? 12 : 8,
          rela
            ? [
                [0, 4],
                [4, 4],
                [8, 4],
              ]
            : [
                [0, 4],
                [4, 4],
              ],
        );
    } else if (s.type === SHT_SYMTAB_SHNDX) {
      entries(4, [[0, 4]]);
    } else if (name === '__versions') {
      entries(64, [[0, word]]);
    } else if (name === '__kcrctab' || name === '__kcrctab_gpl') {
      entries(4, [[0, 4]]);
    } else if (name === '__ksymtab' || name === '__ksymtab_gpl') {
      // x86_64 PREL32 fields are 4 bytes; pointer-sized elsewhere. Zero in a .ko unless REL addends.
      const field = is64 && view.getUint16(18, true) !== 62 ? 8 : 4;
      entries(field, [[0, field]]);
    }
  }
  return out;
}
