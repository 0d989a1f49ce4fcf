// What a writer leaves for readers that take no lock (status, src/system/stable-read.ts):
// - the generation file (<state>/cache/generation), rewritten whenever a change ends: before
//   a journal is removed (src/system/txn.ts), and after a change made outside a journal;
// - the changing mark (<state>/cache/changing), holding the writer's pid while it makes a
//   change outside a journal (depmod at the end of a session or after a recovery).
// Both live in the cache: losing them costs a reader a retry, never a wrong answer.
import { closeSync, constants, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Paths } from './paths.js';
import { isInsideRoot, realExistingAncestor, realRootOf } from './rootfs.js';

/** Length of the generation file: rewritten in place, so a full disk never refuses it. */
const GENERATION_BYTES = 64;

/**
 * Writes `id` (what ended: a journal's id) into the generation file, in place over the same
 * bytes (no block to allocate on a full disk once the file exists). Best effort: a reader
 * that cannot rely on it also compares the journal directory.
 */
export function bumpGeneration(file: string, id: string): void {
  const text = Buffer.alloc(GENERATION_BYTES, ' ');
  text.write(`${id}\n`.slice(0, GENERATION_BYTES));
  let fd: number | undefined;
  try {
    try {
      fd = openSync(file, constants.O_WRONLY | constants.O_NOFOLLOW);
    } catch {
      mkdirSync(path.dirname(file), { recursive: true });
      fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
    }
    writeSync(fd, text, 0, text.length, 0);
  } catch {
    // Unwritable state directory: readers fall back on the journal directory.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Runs `change` (made outside a journal, under the lock) so that readers see it happen: the
 * changing mark is set first; when it is done, the generation moves, then the mark goes.
 */
export async function announcedChange<T>(paths: Paths, what: string, change: () => Promise<T>): Promise<T> {
  const mark = changingMark(paths);
  const confined = isInsideRoot(realRootOf(paths.root), realExistingAncestor(path.dirname(mark)));
  if (confined) {
    try {
      mkdirSync(path.dirname(mark), { recursive: true });
      writeFileSync(mark, `${process.pid}\n`);
    } catch {
      // Unwritable: the generation still tells a reader that overlapped the change.
    }
  }
  try {
    return await change();
  } finally {
    if (confined) {
      bumpGeneration(paths.generationFile, `${what} ${process.pid} ${Date.now()}`);
      rmSync(mark, { force: true });
    }
  }
}

export function changingMark(paths: Paths): string {
  return path.join(paths.stateDir, 'cache', 'changing');
}
