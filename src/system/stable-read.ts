// Reading a root without its lock, yet never a state that did not exist. status takes no lock
// (it must answer at boot and in hooks while a change waits, and be fast), so a writer may
// change the trees while it reads: it then printed states that existed neither before nor
// after the change. Every change to the trees is a journaled plan (src/system/txn.ts): its
// journal exists before the first change and is removed only after the generation file was
// rewritten. A read that found no live change's journal before and after, the same journals
// and the same generation, overlapped no change. Otherwise it is read again, for a bounded time.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { EnvironmentError } from '../core/errors.js';
import type { Context } from './context.js';
import { isAlive, readOwner, type LockOwner } from './lock.js';

/** The longest a reader waits for a stable view (lock_timeout when shorter). */
const MAX_WAIT_SECONDS = 10;

interface ChangeMark {
  readonly generation: string;
  readonly journals: string;
  /** The journal directory's mtime in ns: also moves when the generation cannot be written. */
  readonly journalDirTime: string;
}

/**
 * Runs `read` until one run overlapped no change to the trees, and returns what it read.
 * A journal left by a run that died (no live lock owner) is a state like any other: read.
 */
export async function readStable<T>(ctx: Context, read: () => Promise<T>): Promise<T> {
  const { paths } = ctx;
  const waitMs = Math.min(ctx.config.lockTimeoutSeconds, MAX_WAIT_SECONDS) * 1000;
  const started = Date.now();
  let writer: LockOwner | undefined;
  for (let attempt = 1; ; attempt++) {
    const before = mark(paths.generationFile, paths.journalDir);
    writer = before.journals === '' ? undefined : await liveOwner(paths.lockFile);
    if (writer === undefined) {
      const value = await read();
      const after = mark(paths.generationFile, paths.journalDir);
      if (same(before, after)) {
        writer = after.journals === '' ? undefined : await liveOwner(paths.lockFile);
        if (writer === undefined) return value;
      }
    }
    const waited = Date.now() - started;
    if (waited >= waitMs) {
      const who = writer === undefined ? '' : `, pid ${writer.pid} (${writer.command}) is changing them`;
      throw new EnvironmentError(
        `the trees kept changing while they were read (${attempt} reads in ${(waited / 1000).toFixed(1)} s${who})`,
        'run it again when that change is done',
      );
    }
    await sleep(Math.min(5 * attempt, 100, Math.max(waitMs - waited, 1)));
  }
}

function mark(generationFile: string, journalDir: string): ChangeMark {
  let generation = '';
  try {
    generation = readFileSync(generationFile, 'latin1');
  } catch {
    // None yet (no change closed since this version), or unreadable: the journals still count.
  }
  let journals = '';
  let journalDirTime = '';
  try {
    journals = readdirSync(journalDir).sort().join('\n');
    journalDirTime = String(statSync(journalDir, { bigint: true }).mtimeNs);
  } catch {
    // No journal directory: no change ever started here.
  }
  return { generation, journals, journalDirTime };
}

function same(a: ChangeMark, b: ChangeMark): boolean {
  return a.generation === b.generation && a.journals === b.journals && a.journalDirTime === b.journalDirTime;
}

/** The lock's owner while it is alive; a lock that cannot be read counts as no owner. */
async function liveOwner(lockFile: string): Promise<LockOwner | undefined> {
  const owner = await readOwner(lockFile).catch(() => undefined);
  if (owner === undefined) return undefined;
  return (await isAlive(owner)) ? owner : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
