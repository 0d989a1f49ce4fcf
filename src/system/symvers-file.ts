// Reads a Module.symvers from disk, gunzipping /boot/symvers-<kver>.gz (RHEL, SUSE) by magic.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { EnvironmentError, InputError } from '../core/errors.js';
import { parseSymvers, type Symvers } from '../core/symvers.js';

export async function readSymversText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InputError(file, 'no such file');
    if (code === 'EISDIR') throw new InputError(file, 'is a directory');
    throw new EnvironmentError(`cannot read ${file}: ${code ?? String(err)}`);
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new InputError(file, `corrupt gzip data: ${(err as Error).message}`);
    }
  }
  if (bytes.includes(0)) throw new InputError(file, 'not a text file (contains NUL bytes)');
  return bytes.toString('utf8');
}

export async function readSymversFile(file: string): Promise<Symvers> {
  return parseSymvers(await readSymversText(file), file);
}
