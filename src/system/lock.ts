// One lock per root, so concurrent autoinstall, kernel add, install and package scripts
// serialise. The lock is a file created with O_EXCL holding its owner's pid and process
// start time; an owner that is gone (or whose pid was reused) leaves a stale lock that the
// next run takes over. Takeover itself is guarded by a second O_EXCL file so two waiters
// cannot both break the same stale lock and both think they own the new one.
import { open, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { EnvironmentError } from '../core/errors.js';
import { mkdirParents } from './txn.js';

export interface LockOwner {
  readonly pid: number;
  /** Process start time in clock ticks since boot (/proc/<pid>/stat field 22): detects pid reuse. */
  readonly start: string;
  readonly host: string;
  readonly command: string;
  readonly since: string;
}

export interface HeldLock {
  readonly file: string;
  release(): Promise<void>;
}

export interface LockOptions {
  readonly timeoutSeconds: number;
  readonly command: string;
  /** Told once when we start waiting for another owner. */
  readonly onWait?: (owner: LockOwner | undefined) => void;
  readonly pollMs?: number;
}

/** A takeover guard older than this belongs to a process that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;

// Nested commands in one process (kernel add → autoinstall → install) share the lock.
const held = new Map<string, { count: number; lock: HeldLock }>();

export async function acquireLock(file: string, opts: LockOptions): Promise<HeldLock> {
  const mine = held.get(file);
  if (mine !== undefined) {
    mine.count++;
    return nestedHandle(file);
  }
  await mkdirParents(path.dirname(file)).catch((err: unknown) => {
    throw lockError(file, err);
  });
  const me: LockOwner = {
    pid: process.pid,
    start: (await processStat(process.pid)).start,
    host: hostname(),
    command: opts.command,
    since: new Date().toISOString(),
  };
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  const poll = opts.pollMs ?? 100;
  let told = false;
  for (;;) {
    if (await tryCreate(file, me)) break;
    const owner = await readOwner(file);
    if (owner === undefined || !(await isAlive(owner))) {
      await takeOverStale(file, owner);
      continue;
    }
    if (!told) {
      opts.onWait?.(owner);
      told = true;
    }
    if (Date.now() >= deadline) {
      throw new EnvironmentError(
        `timed out after ${opts.timeoutSeconds}s waiting for the lock ${file}, held by pid ${owner.pid} (${owner.command}) since ${owner.since}`,
        'raise lock_timeout in [abi] of dkms-abi.conf, or wait for that run to finish',
      );
    }
    await sleep(poll);
  }
  const lock: HeldLock = {
    file,
    release: async () => {
      const entry = held.get(file);
      if (entry === undefined) return;
      held.delete(file);
      const owner = await readOwner(file);
      if (owner !== undefined && owner.pid === me.pid && owner.start === me.start)
        await rm(file, { force: true });
    },
  };
  held.set(file, { count: 1, lock });
  return nestedHandle(file);
}

function nestedHandle(file: string): HeldLock {
  let released = false;
  return {
    file,
    release: async () => {
      if (released) return;
      released = true;
      const entry = held.get(file);
      if (entry === undefined) return;
      if (--entry.count === 0) await entry.lock.release();
    },
  };
}

/** Runs `fn` holding the lock, releasing it however `fn` ends. */
export async function withLock<T>(file: string, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await acquireLock(file, opts);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

async function tryCreate(file: string, owner: LockOwner): Promise<boolean> {
  let fh;
  try {
    fh = await open(file, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw lockError(file, err);
  }
  try {
    await fh.writeFile(`${JSON.stringify(owner)}\n`);
    await fh.sync();
  } catch (err) {
    // A full disk: the file is ours and empty or partial; leave no lock nobody owns.
    await fh.close().catch(() => undefined);
    await rm(file, { force: true }).catch(() => undefined);
    throw lockError(file, err);
  }
  await fh.close();
  return true;
}

export async function readOwner(file: string): Promise<LockOwner | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw lockError(file, err);
  }
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid === 'number' && typeof v.start === 'string') {
      return {
        pid: v.pid,
        start: v.start,
        host: String(v.host ?? ''),
        command: String(v.command ?? ''),
        since: String(v.since ?? ''),
      };
    }
  } catch {
    // An owner that died between create and write leaves an empty or partial file.
  }
  return undefined;
}

export async function isAlive(owner: LockOwner): Promise<boolean> {
  if (owner.host !== '' && owner.host !== hostname()) return true; // cannot tell: assume alive
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = await processStat(owner.pid);
  // A killed owner that nobody reaped yet (a zombie) still answers kill(0) but holds nothing.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return stat.start === '' || owner.start === '' || stat.start === owner.start;
}

async function takeOverStale(file: string, seen: LockOwner | undefined): Promise<void> {
  const guard = `${file}.takeover`;
  try {
    const fh = await open(guard, 'wx', 0o644);
    await fh.close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw lockError(guard, err);
    // Someone else is taking over; if they died doing it, clear their guard.
    try {
      const age = Date.now() - (await stat(guard)).mtimeMs;
      if (age > TAKEOVER_STALE_MS) await rm(guard, { force: true });
    } catch {
      // guard vanished: the other taker finished
    }
    await sleep(20);
    return;
  }
  try {
    // Re-read under the guard: only remove the exact stale lock we inspected. An empty
    // lock file (owner died before writing) is only broken once it is old enough.
    const now = await readOwner(file);
    const same =
      seen === undefined
        ? now === undefined && (await olderThan(file, TAKEOVER_STALE_MS / 10))
        : now !== undefined && now.pid === seen.pid && now.start === seen.start;
    if (same) await rm(file, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  try {
    return Date.now() - (await stat(file)).mtimeMs > ms;
  } catch {
    // Gone: released normally. Not "old": removing it now could remove a lock another
    // process creates between this check and the rm.
    return false;
  }
}

/** State (field 3) and start time (field 22) of a process from /proc/<pid>/stat; '' when unknown. */
async function processStat(pid: number): Promise<{ state: string; start: string }> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return { state: '', start: '' };
  }
}

/** The lock file cannot be made or read: the file system's errno says why. */
export class LockUnusableError extends EnvironmentError {
  constructor(
    file: string,
    readonly code: string,
  ) {
    super(`cannot use the lock ${file}: ${code}`);
  }
}

function lockError(file: string, err: unknown): EnvironmentError {
  return new LockUnusableError(file, (err as NodeJS.ErrnoException).code ?? String(err));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
