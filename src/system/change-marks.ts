// What a writer leaves for readers that take no lock (status, src/system/stable-read.ts):
// - the generation file (<state>/cache/generation), rewritten whenever a change ends: before
//   a journal is removed (src/system/txn.ts), and after a change made outside a journal;
// - the changing mark (<state>/cache/changing), holding the writer's pid while it makes a
//   change outside a journal (depmod at the end of a session or after a recovery).
// Both live in the cache: losing them costs a reader a retry, never a wrong answer.
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Paths } from './paths.js';
import { openDirBeneath, type HeldDir } from './rootfs.js';

/** Length of the generation file: rewritten in place, so a full disk never refuses it. */
const GENERATION_BYTES = 64;

/**
 * Writes `id` (what ended: a journal's id) into the generation file, in place over the same
 * bytes (no block to allocate on a full disk once the file exists). Best effort: a reader
 * that cannot rely on it also compares the journal directory.
 */
export function bumpGeneration(root: string, file: string, id: string): void {
  const text = Buffer.alloc(GENERATION_BYTES, ' ');
  text.write(`${id}\n`.slice(0, GENERATION_BYTES));
  let dir: HeldDir | undefined;
  let fd: number | undefined;
  try {
    // Held beneath the root: never written through a state directory leading out of it.
    dir = openDirBeneath(root, path.dirname(file), file, { create: true });
    fd = openSync(
      dir.at(path.basename(file)),
      constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW,
      0o644,
    );
    writeSync(fd, text, 0, text.length, 0);
  } catch {
    // Unwritable, or leading out of the root: readers fall back on the journal directory.
  } finally {
    if (fd !== undefined) closeSync(fd);
    dir?.close();
  }
}

/**
 * Runs `change` (made outside a journal, under the lock) so that readers see it happen: the
 * changing mark is set first; when it is done, the generation moves, then the mark goes.
 */
export async function announcedChange<T>(paths: Paths, what: string, change: () => Promise<T>): Promise<T> {
  const mark = changingMark(paths);
  let dir: HeldDir | undefined;
  try {
    // Held beneath the root: never written through a state directory leading out of it.
    dir = openDirBeneath(paths.root, path.dirname(mark), mark, { create: true });
    const fd = openSync(
      dir.at(path.basename(mark)),
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Unwritable: the generation still tells a reader that overlapped the change.
  }
  try {
    return await change();
  } finally {
    bumpGeneration(paths.root, paths.generationFile, `${what} ${process.pid} ${Date.now()}`);
    if (dir !== undefined) {
      rmSync(dir.at(path.basename(mark)), { force: true });
      dir.close();
    }
  }
}

export function changingMark(paths: Paths): string {
  return path.join(paths.stateDir, 'cache', 'changing');
}
