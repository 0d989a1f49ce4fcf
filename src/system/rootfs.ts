// Resolve paths inside a root directory with chroot semantics: an absolute symlink
// target (Debian's lib/modules/<kver>/build -> /usr/src/linux-headers-<kver>) is taken
// relative to the root, and ".." never climbs above it. Lets every command run on a
// sandbox root exactly as it would on "/".
import {
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import path from 'node:path';
import { EnvironmentError } from '../core/errors.js';

const MAX_LINKS = 40; // the kernel's own limit for nested symlinks

/**
 * Host path of `inner` (an absolute path as seen inside `root`), following symlinks
 * inside the root. Components that do not exist are kept as they are, so the result
 * also names where a new file would go. The lstat/readlink calls are synchronous inside
 * (one per component: a thread-pool round trip each cost more than the call; status
 * resolves every kernel's candidate files).
 */
export function resolveInRoot(root: string, inner: string): Promise<string> {
  return Promise.resolve().then(() => resolveInRootSync(root, inner));
}

export function resolveInRootSync(root: string, inner: string): string {
  const hostRoot = path.resolve(root);
  let pending = splitComponents(inner);
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const [head, ...rest] = pending;
    pending = rest;
    if (head === undefined || head === '.' || head === '') continue;
    if (head === '..') {
      done.pop();
      continue;
    }
    const candidate = path.join(hostRoot, ...done, head);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      // Missing: the rest cannot be symlinks either.
      done.push(head, ...rest.filter((c) => c !== '' && c !== '.'));
      return normalizeUnder(hostRoot, done);
    }
    if (!isLink) {
      done.push(head);
      continue;
    }
    if (++hops > MAX_LINKS) {
      throw new EnvironmentError(`too many levels of symbolic links resolving ${inner} under ${hostRoot}`);
    }
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) done.length = 0;
    pending = [...splitComponents(target), ...pending];
  }
  return normalizeUnder(hostRoot, done);
}

function splitComponents(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

function normalizeUnder(hostRoot: string, components: string[]): string {
  const out: string[] = [];
  for (const c of components) {
    if (c === '..') out.pop();
    else if (c !== '.' && c !== '') out.push(c);
  }
  return path.join(hostRoot, ...out);
}

/** True when `hostPath` lies inside `root` (or is it). */
export function isInsideRoot(root: string, hostPath: string): boolean {
  const rel = path.relative(path.resolve(root), path.resolve(hostPath));
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The real path of `p`, or of its nearest ancestor that exists (libc's realpath, what
 * fs.promises.realpath calls; synchronous: it is called right before the step it guards).
 */
export function realExistingAncestor(p: string): string {
  let cur = p;
  for (;;) {
    try {
      return realpathSync.native(cur);
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return cur;
      cur = up;
    }
  }
}

/** The real path of the root (the root as given when it cannot be resolved). */
export function realRootOf(root: string): string {
  try {
    return realpathSync.native(root);
  } catch {
    return path.resolve(root);
  }
}

/** A directory held open: what is done through it acts on that directory, wherever it is now. */
export interface HeldDir {
  /** The path it was opened as (for messages). */
  readonly dir: string;
  /** A name in the held directory, as a path the kernel resolves through the open directory. */
  at(name: string): string;
  /** fsync of the directory; best effort (some file systems refuse it). */
  sync(): void;
  close(): void;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Whether /proc/self/fd/N paths resolve through the open directory (Linux with /proc mounted):
 * the only way Node offers to act relative to a directory (it has no openat or renameat).
 */
const PROC_FD = (() => {
  try {
    return lstatSync('/proc/self/fd').isDirectory();
  } catch {
    return false;
  }
})();

/**
 * Opens `dir`, which must lie under `root`, one component at a time from the real root, each
 * with O_NOFOLLOW (no symlink is followed by the kernel): a symlink on the way is read and
 * followed here — a relative one within what was walked (".." never above the root), an
 * absolute one only when it names a path inside the real root (host semantics, as realpath) —
 * and one leading out of the root is refused. The directory returned is the one that was
 * inside the root when it was opened, even if it is swapped for a symlink a moment later.
 * Without /proc, the directory is re-checked by realpath instead and named by its path.
 */
export function openDirBeneath(
  root: string,
  dir: string,
  refusing: string,
  opts: { readonly create?: boolean } = {},
): HeldDir {
  const realRoot = realRootOf(root);
  const rel = path.relative(path.resolve(root), path.resolve(dir));
  if (rel.startsWith('..') || path.isAbsolute(rel))
    throw new EnvironmentError(`refusing to change ${refusing}: outside the root ${root}`);
  const leadsOut = (where: string): EnvironmentError =>
    new EnvironmentError(
      `refusing to change ${refusing}: a symlink in its path leads outside the root (${where})`,
    );
  if (!PROC_FD) {
    const real = realExistingAncestor(dir);
    if (!isInsideRoot(realRoot, real)) throw leadsOut(real);
    if (opts.create === true) mkdirSync(dir, { recursive: true });
    return {
      dir,
      at: (name) => path.join(dir, name),
      sync: () => syncPath(dir),
      close: () => undefined,
    };
  }
  // The directories walked so far, held open, with the path each was reached by.
  const held: { fd: number; path: string }[] = [{ fd: openSync(realRoot, DIR_FLAGS), path: realRoot }];
  const at = (fd: number, name: string): string => `/proc/self/fd/${fd}/${name}`;
  const top = (): { fd: number; path: string } => held[held.length - 1] as { fd: number; path: string };
  let pending = splitComponents(rel);
  let hops = 0;
  try {
    while (pending.length > 0) {
      const [c = '', ...rest] = pending;
      pending = rest;
      if (c === '..') {
        if (held.length > 1) closeSync((held.pop() as { fd: number }).fd);
        continue;
      }
      const { fd: parent, path: parentPath } = top();
      try {
        held.push({ fd: openSync(at(parent, c), DIR_FLAGS), path: path.join(parentPath, c) });
        continue;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' && opts.create === true) {
          // mkdir never follows a link at its name: one planted meanwhile is EEXIST, read next round.
          try {
            mkdirSync(at(parent, c), 0o755);
          } catch (mkErr) {
            if ((mkErr as NodeJS.ErrnoException).code !== 'EEXIST')
              throw renamed(mkErr, `/proc/self/fd/${parent}`, parentPath);
          }
          pending = [c, ...pending];
          continue;
        }
        if (code !== 'ELOOP' && code !== 'ENOTDIR') throw renamed(err, `/proc/self/fd/${parent}`, parentPath);
        if (!lstatSync(at(parent, c)).isSymbolicLink())
          throw renamed(err, `/proc/self/fd/${parent}`, parentPath);
      }
      if (++hops > MAX_LINKS)
        throw new EnvironmentError(`too many levels of symbolic links resolving ${dir} under ${root}`);
      const target = readlinkSync(at(parent, c));
      if (target.startsWith('/')) {
        if (!isInsideRoot(realRoot, target)) throw leadsOut(target);
        while (held.length > 1) closeSync((held.pop() as { fd: number }).fd);
        pending = [...splitComponents(path.relative(realRoot, target)), ...pending];
      } else pending = [...splitComponents(target), ...pending];
    }
  } catch (err) {
    for (const h of held) closeSync(h.fd);
    throw err;
  }
  const fd = (held.pop() as { fd: number }).fd;
  for (const other of held) closeSync(other.fd);
  return {
    dir,
    at: (name) => at(fd, name),
    sync: () => {
      try {
        fsyncSync(fd);
      } catch {
        // Some file systems refuse fsync on directories; the rename is still atomic.
      }
    },
    close: () => closeSync(fd),
  };
}

function syncPath(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * An error from a call made through held directories, its message naming the directories'
 * paths instead of /proc/self/fd/N (what the user can look at).
 */
export function realNames(err: unknown, ...held: readonly HeldDir[]): unknown {
  for (const h of held) renamed(err, h.at('').replace(/\/$/, ''), h.dir);
  return err;
}

function renamed(err: unknown, from: string, to: string): unknown {
  if (err instanceof Error && from !== to && from !== '')
    err.message = err.message.replaceAll(`${from}/`, `${to}/`);
  return err;
}
