// The transaction journal (<state>/journal/<id>/plan.json): what applying a plan changes and
// what each path was before, so a run that died can be rolled back by the next one
// (src/system/txn.ts). Written with a format version and read back by a checked parser: a
// journal this program cannot read is refused, never undone by guesswork.
//
// Paths are written as seen from inside the root ("/lib/modules/…", chroot semantics), never
// as host paths: a root copied or moved after a crash is recovered where it now is, and a
// copy's recovery can never act on the root it was copied from. In memory they are host
// paths under the root the journal is read for.
import path from 'node:path';
import { JOURNAL_FORMAT_VERSION, versionProblem } from './format-version.js';
import type { Operation } from './plan.js';

/** State of a path before the plan: absent, a symlink (with target), or present. */
export type PriorState = { kind: 'absent' } | { kind: 'symlink'; target: string } | { kind: 'present' };

/** What the journal remembers per operation to undo it. */
export interface JournalEntry {
  readonly op: Operation['op'];
  readonly path: string;
  /** A rename's source (the only one undo needs). */
  readonly from?: string;
  readonly target?: string;
  readonly before: PriorState;
}

export interface Journal {
  readonly id: string;
  readonly description: string;
  /**
   * Host path of the root the journal is applied to (not written: the root is wherever the
   * journal is read); undo never acts through a link leading out of it.
   */
  readonly root: string;
  readonly entries: readonly JournalEntry[];
  readonly depmod: readonly string[];
  /** Where depmod's index files were kept before it ran (see keepIndexes in txn.ts). */
  readonly depmodDirs?: readonly string[];
}

/** plan.json's text: every path relative to the journal's root (see the top). */
export function serializeJournal(j: Journal): string {
  const inner = (p: string): string => innerPath(j.root, p);
  const { root: _root, entries, depmodDirs, ...rest } = j;
  return JSON.stringify(
    {
      format: JOURNAL_FORMAT_VERSION,
      ...rest,
      entries: entries.map((e) => ({
        ...e,
        path: inner(e.path),
        ...(e.from !== undefined && e.op === 'rename' ? { from: inner(e.from) } : {}),
      })),
      ...(depmodDirs !== undefined ? { depmodDirs: depmodDirs.map(inner) } : {}),
    },
    null,
    1,
  );
}

/** "/lib/modules/…" for a host path under root; throws for one outside it (a bug: plans are checked). */
function innerPath(root: string, host: string): string {
  const rel = path.posix.relative(path.posix.resolve(root), path.posix.resolve(host));
  if (rel.startsWith('..') || path.posix.isAbsolute(rel))
    throw new Error(`journal path ${host} is outside the root ${root}`);
  return `/${rel}`;
}

const OPS: ReadonlySet<string> = new Set<Operation['op']>([
  'mkdir',
  'write',
  'copy',
  'symlink',
  'rename',
  'remove',
]);

/**
 * Parses plan.json for the root at host path `root`; returns the journal (host paths under
 * `root`) or the problem as text. Format 2 holds paths inside the root. Format 1 (and a
 * journal without "format", written before journals were versioned) held host paths: those
 * under the root it names are moved to `root` (the root may have been moved or copied since);
 * a path outside it is refused.
 */
export function parseJournal(text: string, root: string): Journal | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (!isRecord(v)) return 'not an object';
  const problem = versionProblem(v['format'], JOURNAL_FORMAT_VERSION, 'journal format');
  if (problem !== undefined) return problem;
  const { format, id, description, root: written, entries, depmod, depmodDirs } = v;
  if (typeof id !== 'string' || id === '' || id.includes('/')) return '"id" must be a journal name';
  if (typeof description !== 'string') return '"description" must be a string';
  const host = format === JOURNAL_FORMAT_VERSION ? fromInner(root) : fromFormat1(root, written);
  if (typeof host === 'string') return host;
  if (!isStrings(depmod)) return '"depmod" must list kernels';
  let dirs: string[] | undefined;
  if (depmodDirs !== undefined) {
    if (!isStrings(depmodDirs)) return '"depmodDirs" must list absolute paths';
    dirs = [];
    for (const d of depmodDirs) {
      const h = host(d);
      if (h === undefined) return `"depmodDirs": ${pathProblem(d)}`;
      dirs.push(h);
    }
  }
  if (!Array.isArray(entries)) return '"entries" must be a list';
  const parsed: JournalEntry[] = [];
  for (const [i, e] of entries.entries()) {
    const entry = parseEntry(e, host);
    if (typeof entry === 'string') return `entry ${i}: ${entry}`;
    parsed.push(entry);
  }
  return {
    id,
    description,
    root,
    entries: parsed,
    depmod,
    ...(dirs !== undefined ? { depmodDirs: dirs } : {}),
  };
}

/** Maps a path read from the journal to a host path under the root; undefined when it cannot be one. */
type HostOf = (p: unknown) => string | undefined;

/** Format 2: "/lib/modules/…", normalized (no "." or ".." component): it stays inside the root. */
function fromInner(root: string): HostOf {
  return (p) => {
    if (!isAbsolute(p)) return undefined;
    const parts = p.split('/').slice(1);
    if (parts.some((c) => c === '' || c === '.' || c === '..')) return undefined;
    return path.posix.join(path.posix.resolve(root), p);
  };
}

/** Format 1: host paths, under the root the journal names (when it names one). */
function fromFormat1(root: string, written: unknown): HostOf | string {
  if (written !== undefined && !isAbsolute(written)) return '"root" must be an absolute path';
  const from = path.posix.resolve(written ?? root);
  return (p) => {
    if (!isAbsolute(p)) return undefined;
    const rel = path.posix.relative(from, path.posix.resolve(p));
    if (rel.startsWith('..') || path.posix.isAbsolute(rel)) return undefined;
    return path.posix.join(path.posix.resolve(root), rel);
  };
}

function pathProblem(p: unknown): string {
  return `${JSON.stringify(p)} is not a path inside the root`;
}

function parseEntry(e: unknown, host: HostOf): JournalEntry | string {
  if (!isRecord(e)) return 'not an object';
  const { op, path: p, from, target, before } = e;
  if (typeof op !== 'string' || !OPS.has(op)) return `unknown operation ${JSON.stringify(op)}`;
  const hostPath = host(p);
  if (hostPath === undefined) return `"path": ${pathProblem(p)}`;
  // Only a rename's source is undone; a copy's (format 1 wrote it) may lie outside the root.
  const hostFrom = from === undefined || op !== 'rename' ? undefined : host(from);
  if (op === 'rename' && from !== undefined && hostFrom === undefined) return `"from": ${pathProblem(from)}`;
  if (target !== undefined && typeof target !== 'string') return '"target" must be a string';
  const prior = parsePriorState(before);
  if (prior === undefined) return '"before" must be absent, present or a symlink with its target';
  return {
    op: op as Operation['op'],
    path: hostPath,
    ...(hostFrom !== undefined ? { from: hostFrom } : {}),
    ...(target !== undefined ? { target } : {}),
    before: prior,
  };
}

function parsePriorState(b: unknown): PriorState | undefined {
  if (!isRecord(b)) return undefined;
  switch (b['kind']) {
    case 'absent':
      return { kind: 'absent' };
    case 'present':
      return { kind: 'present' };
    case 'symlink':
      return typeof b['target'] === 'string' ? { kind: 'symlink', target: b['target'] } : undefined;
    default:
      return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

function isAbsolute(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith('/') && !v.includes('\0');
}
