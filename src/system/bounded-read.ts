// Reads a whole input file that must be a regular file of bounded size. Opened without
// blocking and checked after open (the object read is the object checked): a FIFO or device
// at an input path would otherwise hang the command, and a huge file would fail later with a
// misleading message (a string too long to decode reads as "not UTF-8").
import { constants, open } from 'node:fs/promises';
import { InputError } from '../core/errors.js';

/**
 * The file's bytes. Errors from opening (ENOENT, EACCES…) are thrown as they are, for the
 * caller to word; a directory throws an EISDIR error the same way; a FIFO, device or socket,
 * and a file over maxBytes, are InputErrors naming `shown` and `what` the file should be.
 */
export async function readBoundedFile(
  host: string,
  shown: string,
  maxBytes: number,
  what: string,
): Promise<Buffer> {
  const fh = await open(host, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: ${host}`), { code: 'EISDIR' });
    if (!st.isFile()) throw new InputError(shown, 'not a regular file');
    if (st.size > maxBytes)
      throw new InputError(shown, `too large for ${what} (${st.size} bytes; at most ${maxBytes} are read)`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}
