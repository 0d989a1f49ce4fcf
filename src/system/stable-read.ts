// Reading a root without its lock, yet never a state that did not exist. status takes no lock
// (it must answer at boot and in hooks while a change waits, and be fast), so a writer may
// change the trees while it reads: it then printed states that existed neither before nor
// after the change. Every change dkms-abi makes to the trees is a journaled plan
// (src/system/txn.ts) or announced by the changing mark (depmod after the plans,
// src/system/change-marks.ts): the journal or mark exists before the first change and is
// removed only after the generation file was rewritten. A read that found no live writer's
// journal or mark before and after, the same journals and the same generation, overlapped no
// such change. Otherwise it is read again, for a bounded time.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { EnvironmentError } from '../core/errors.js';
import { changingMark } from './change-marks.js';
import type { Context } from './context.js';
import { isAlive, readOwner, type LockOwner } from './lock.js';
import type { Paths } from './paths.js';

/** The longest a reader waits for a stable view (lock_timeout when shorter). */
const MAX_WAIT_SECONDS = 10;

interface ChangeMark {
  readonly generation: string;
  /** The pid in the changing mark ('' without one). */
  readonly changing: string;
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
    const before = mark(paths);
    writer = await changingWriter(paths.lockFile, before);
    if (writer === undefined) {
      const value = await read();
      const after = mark(paths);
      if (same(before, after)) {
        writer = await changingWriter(paths.lockFile, after);
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

function mark(paths: Paths): ChangeMark {
  const text = (file: string): string => {
    try {
      return readFileSync(file, 'latin1');
    } catch {
      // None (no change ended since this version, no change outside a journal now), or
      // unreadable: the journals still count.
      return '';
    }
  };
  let journals = '';
  let journalDirTime = '';
  try {
    journals = readdirSync(paths.journalDir).sort().join('\n');
    journalDirTime = String(statSync(paths.journalDir, { bigint: true }).mtimeNs);
  } catch {
    // No journal directory: no change ever started here.
  }
  return {
    generation: text(paths.generationFile),
    changing: text(changingMark(paths)).trim(),
    journals,
    journalDirTime,
  };
}

function same(a: ChangeMark, b: ChangeMark): boolean {
  return (
    a.generation === b.generation &&
    a.changing === b.changing &&
    a.journals === b.journals &&
    a.journalDirTime === b.journalDirTime
  );
}

/**
 * The lock's owner when it is alive and changing the trees: a journal is open, or the
 * changing mark holds its pid. A journal or mark left by a run that died is a state.
 */
async function changingWriter(lockFile: string, m: ChangeMark): Promise<LockOwner | undefined> {
  if (m.journals === '' && m.changing === '') return undefined;
  const owner = await readOwner(lockFile).catch(() => undefined);
  if (owner === undefined || !(await isAlive(owner))) return undefined;
  if (m.journals === '' && m.changing !== String(owner.pid)) return undefined;
  return owner;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
