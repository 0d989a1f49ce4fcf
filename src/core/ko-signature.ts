// The signature a signed module carries after its ELF image (scripts/sign-file):
//   [ELF][signer][key id][signature][struct module_signature][MODULE_SIG_STRING]
// struct module_signature (include/linux/module_signature.h) is 12 bytes:
//   u8 algo, hash, id_type, signer_len, key_id_len, pad[3]; __be32 sig_len.
// The loader (kernel/module/signing.c) cuts the file the same way before reading the ELF.
import { ElfFormatError, requireLoaded, type LoadedRanges } from './elf.js';

export const MODULE_SIG_STRING = '~Module signature appended~\n';
const MAGIC = new TextEncoder().encode(MODULE_SIG_STRING);
const INFO_SIZE = 12;

const ID_TYPES = ['PGP', 'X509', 'PKCS#7'] as const;

export interface ModuleSignature {
  /** Key identifier type: 'PKCS#7' for every module signed by kbuild since 4.x. */
  readonly idType: (typeof ID_TYPES)[number] | number;
  /** The signer's name field; null when empty, as with PKCS#7, whose signer lives inside the message. */
  readonly signer: string | null;
  readonly keyIdLength: number;
  readonly signatureLength: number;
  /** Length of the ELF image in front of the signature. */
  readonly elfLength: number;
}

export interface SplitModule {
  readonly elf: Uint8Array;
  readonly signature: ModuleSignature | null;
}

export function hasSignatureMagic(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC.length) return false;
  const base = bytes.length - MAGIC.length;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[base + i] !== MAGIC[i]) return false;
  return true;
}

/** The ELF image and the signature description; a magic with impossible lengths is malformed. */
export function splitSignature(bytes: Uint8Array, loaded?: LoadedRanges): SplitModule {
  requireLoaded(loaded, bytes.length - MAGIC.length - INFO_SIZE, bytes.length, bytes.length);
  if (!hasSignatureMagic(bytes)) return { elf: bytes, signature: null };
  const infoAt = bytes.length - MAGIC.length - INFO_SIZE;
  if (infoAt < 0) throw new ElfFormatError('signature trailer too short for its information block');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idType = bytes[infoAt + 2] as number;
  const signerLen = bytes[infoAt + 3] as number;
  const keyIdLen = bytes[infoAt + 4] as number;
  const sigLen = view.getUint32(infoAt + 8, false);
  const elfLength = infoAt - sigLen - keyIdLen - signerLen;
  if (sigLen === 0 || elfLength <= 0) {
    throw new ElfFormatError(
      `module signature lengths do not fit the file (signature ${String(sigLen)} bytes)`,
    );
  }
  requireLoaded(loaded, elfLength, elfLength + signerLen, bytes.length);
  const signerBytes = bytes.subarray(elfLength, elfLength + signerLen);
  return {
    elf: bytes.subarray(0, elfLength),
    signature: {
      idType: ID_TYPES[idType] ?? idType,
      signer: signerLen === 0 ? null : new TextDecoder().decode(signerBytes),
      keyIdLength: keyIdLen,
      signatureLength: sigLen,
      elfLength,
    },
  };
}
