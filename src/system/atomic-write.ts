// One small file replaced whole (tmp + rename in its directory), for caches dkms-abi can do
// without: a state directory it may not write is not an error.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

const UNWRITABLE = new Set(['EACCES', 'EROFS', 'EPERM', 'ENOSPC', 'EDQUOT']);

/** tmp + rename in the same directory; a state directory we may not write is not an error. */
export async function writeAtomically(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code ?? '';
    // A recursive mkdir on a read-only file system reports ENOENT, not EROFS.
    if (!UNWRITABLE.has(code) && code !== 'ENOENT') throw err;
  }
}
