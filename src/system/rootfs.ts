// Resolve paths inside a root directory with chroot semantics: an absolute symlink
// target (Debian's lib/modules/<kver>/build -> /usr/src/linux-headers-<kver>) is taken
// relative to the root, and ".." never climbs above it. Lets every command run on a
// sandbox root exactly as it would on "/".
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
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
