// Test fixtures made from real modules by editing a copy in place, keeping every length
// the same: a changed vermagic, a __versions entry renamed away, a removed namespace
// import. A signed module whose bytes change fails the signature check outright
// (EKEYREJECTED, even without enforcement), so edited copies are unsigned first.

const SIG_MAGIC = Buffer.from('~Module signature appended~\n');
// struct module_signature: algo, hash, id_type, signer_len, key_id_len, pad[3], be32 sig_len
const SIG_INFO_SIZE = 12;
const VERSION_ENTRY_SIZE = 64; // 64-bit: u64 crc + char name[56]
const VERSION_NAME_SIZE = 56;

export function isSigned(ko: Buffer): boolean {
  return ko.length > SIG_MAGIC.length && ko.subarray(ko.length - SIG_MAGIC.length).equals(SIG_MAGIC);
}

/** A copy without the appended signature (what `strip` of the signature would leave). */
export function stripSignature(ko: Buffer): Buffer {
  if (!isSigned(ko)) return Buffer.from(ko);
  const info = ko.length - SIG_MAGIC.length - SIG_INFO_SIZE;
  const signerLen = ko.readUInt8(info + 3);
  const keyIdLen = ko.readUInt8(info + 4);
  const sigLen = ko.readUInt32BE(info + 8);
  return Buffer.from(ko.subarray(0, info - sigLen - keyIdLen - signerLen));
}

/** File offset and size of a section of a 64-bit little-endian ELF object. */
export function elfSection(ko: Buffer, name: string): { readonly offset: number; readonly size: number } {
  if (ko.readUInt32BE(0) !== 0x7f454c46 || ko[4] !== 2 || ko[5] !== 1)
    throw new Error('not an ELF64 LSB object');
  const shoff = Number(ko.readBigUInt64LE(0x28));
  const shentsize = ko.readUInt16LE(0x3a);
  const shnum = ko.readUInt16LE(0x3c);
  const shstrndx = ko.readUInt16LE(0x3e);
  const header = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return {
      name: ko.readUInt32LE(at),
      offset: Number(ko.readBigUInt64LE(at + 0x18)),
      size: Number(ko.readBigUInt64LE(at + 0x20)),
    };
  };
  const strtab = header(shstrndx);
  for (let i = 1; i < shnum; i++) {
    const h = header(i);
    const start = strtab.offset + h.name;
    const end = ko.indexOf(0, start);
    if (ko.toString('latin1', start, end) === name) return { offset: h.offset, size: h.size };
  }
  throw new Error(`no section ${name}`);
}

/** A copy with `from` replaced by `to` (same length) at its first occurrence inside the section. */
export function replaceInSection(ko: Buffer, section: string, from: string, to: string): Buffer {
  if (from.length !== to.length) throw new Error('replacement must keep the length');
  const { offset, size } = elfSection(ko, section);
  const at = ko.subarray(offset, offset + size).indexOf(from, 0, 'latin1');
  if (at < 0) throw new Error(`"${from}" not found in ${section}`);
  const copy = Buffer.from(ko);
  copy.write(to, offset + at, 'latin1');
  return copy;
}

/** A copy whose __versions entry for `symbol` is renamed to `newName`, so the symbol has no version. */
export function renameVersionEntry(ko: Buffer, symbol: string, newName: string): Buffer {
  if (newName.length >= VERSION_NAME_SIZE) throw new Error('name too long for a __versions entry');
  const { offset, size } = elfSection(ko, '__versions');
  const copy = Buffer.from(ko);
  for (let at = offset; at + VERSION_ENTRY_SIZE <= offset + size; at += VERSION_ENTRY_SIZE) {
    const nameAt = at + 8;
    const end = copy.indexOf(0, nameAt);
    if (copy.toString('latin1', nameAt, end) !== symbol) continue;
    copy.fill(0, nameAt, nameAt + VERSION_NAME_SIZE);
    copy.write(newName, nameAt, 'latin1');
    return copy;
  }
  throw new Error(`no __versions entry for ${symbol}`);
}
