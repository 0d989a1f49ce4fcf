// One small file replaced whole (tmp + rename in its directory), for caches and logs dkms-abi
// can do without: a state directory it may not write is not an error. Confined to the root:
// never written through a directory that leads out of it.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isInsideRoot, realExistingAncestor, realRootOf } from './rootfs.js';

const UNWRITABLE = new Set(['EACCES', 'EROFS', 'EPERM', 'ENOSPC', 'EDQUOT']);

/** The errno of a file system that will not take a write here: read-only, denied, or full. */
export function isUnwritable(code: string | undefined): boolean {
  return code !== undefined && UNWRITABLE.has(code);
}

/**
 * tmp + rename in the same directory, only while that directory lies inside `root` (checked
 * before its parents are made and again right before the write and the rename; the temporary
 * file is created exclusively, so a link planted at its name is never followed). A state
 * directory we may not write, or one that leads out of the root, is skipped, not an error
 * (commands refuse such a state directory before they start: state-layout.ts).
 */
export async function writeAtomically(file: string, data: string, root: string): Promise<void> {
  const dir = path.dirname(file);
  const realRoot = realRootOf(root);
  const confined = (): boolean => isInsideRoot(realRoot, realExistingAncestor(dir));
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    if (!confined()) return;
    await mkdir(dir, { recursive: true });
    if (!confined()) return;
    await writeFile(tmp, data, { flag: 'wx' });
    if (!confined()) {
      await rm(tmp, { force: true });
      return;
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code ?? '';
    // A recursive mkdir on a read-only file system reports ENOENT, not EROFS.
    // EEXIST: something was planted at the temporary name.
    if (!isUnwritable(code) && code !== 'ENOENT' && code !== 'EEXIST') throw err;
  }
}
