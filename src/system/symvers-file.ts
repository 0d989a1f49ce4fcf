// Reads a Module.symvers from disk: plain, or gzip-compressed like RHEL's and SUSE's
// /boot/symvers-<kver>.gz (recognised by magic bytes, so a misnamed file still reads).
// Problems name the file: InputError for a missing or malformed file (exit 2),
// EnvironmentError when the disk lets us down (exit 3).
import { EnvironmentError, InputError } from '../core/errors.js';
import { parseSymvers, type Symvers } from '../core/symvers.js';
import { readBoundedFile } from './bounded-read.js';

/** Far above any kernel's (a 6.1 amd64 file is 1.7 MB): a bound for corrupt or hostile input. */
const MAX_SYMVERS_BYTES = 256 << 20;

/**
 * The file's text, decompressed when it is gzip data. `shownAs` is the name messages use
 * (the path inside --root, say); the host path by default.
 */
export async function readSymversText(file: string, shownAs: string = file): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readBoundedFile(file, shownAs, MAX_SYMVERS_BYTES, 'a Module.symvers');
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new InputError(shownAs, 'no such file');
    if (code === 'EISDIR') throw new InputError(shownAs, 'is a directory, not a Module.symvers');
    throw new EnvironmentError(`cannot read ${shownAs}: ${code ?? String(err)}`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      // zlib is loaded only for a compressed file: most never are, and loading it costs every run.
      const { gunzip } = await import('node:zlib');
      const { promisify } = await import('node:util');
      bytes = await promisify(gunzip)(bytes, { maxOutputLength: MAX_SYMVERS_BYTES });
    } catch (err) {
      throw new InputError(shownAs, `corrupt gzip data: ${(err as Error).message}`);
    }
  }
  if (bytes.includes(0)) throw new InputError(shownAs, 'not a text file (contains NUL bytes)');
  // Strict UTF-8, so that writing the text back reproduces the bytes. (Not latin1 for ASCII
  // files: Node makes a text over 1 MB an external string, which every later indexOf and
  // charCodeAt of the table scan pays for: abi check measured 7 ms slower.)
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InputError(shownAs, 'not UTF-8 text');
  }
}

/** The parsed model; errors name `shownAs` (and the line, for a malformed one). */
export async function readSymversFile(file: string, shownAs: string = file): Promise<Symvers> {
  return parseSymversOnce(await readSymversText(file, shownAs), shownAs);
}

/**
 * parseSymvers, remembered per name while the text is the same: `kernel add` reads a
 * kernel's Module.symvers to decide its ABI and again to judge its modules, and parsing a
 * 24,600-line file costs tens of milliseconds where comparing the texts costs one.
 */
export function parseSymversOnce(text: string, shownAs: string): Symvers {
  const hit = parsed.get(shownAs);
  if (hit !== undefined && hit.text === text) return hit.model;
  const model = parseSymvers(text, shownAs);
  parsed.set(shownAs, { text, model });
  return model;
}

const parsed = new Map<string, { readonly text: string; readonly model: Symvers }>();
