// The transaction journal (<state>/journal/<id>/plan.json): what applying a plan changes and
// what each path was before, so a run that died can be rolled back by the next one
// (src/system/txn.ts). Written with a format version and read back by a checked parser: a
// journal this program cannot read is refused, never undone by guesswork.
import { JOURNAL_FORMAT_VERSION, versionProblem } from './format-version.js';
import type { Operation } from './plan.js';

/** State of a path before the plan: absent, a symlink (with target), or present. */
export type PriorState = { kind: 'absent' } | { kind: 'symlink'; target: string } | { kind: 'present' };

/** What the journal remembers per operation to undo it. */
export interface JournalEntry {
  readonly op: Operation['op'];
  readonly path: string;
  readonly from?: string;
  readonly target?: string;
  readonly before: PriorState;
}

export interface Journal {
  readonly id: string;
  readonly description: string;
  /** The root the plan was checked against; undo never acts through a link leading out of it. */
  readonly root?: string;
  readonly entries: readonly JournalEntry[];
  readonly depmod: readonly string[];
  /** Where depmod's index files were kept before it ran (see keepIndexes in txn.ts). */
  readonly depmodDirs?: readonly string[];
}

export function serializeJournal(j: Journal): string {
  return JSON.stringify({ format: JOURNAL_FORMAT_VERSION, ...j }, null, 1);
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
 * Parses plan.json; returns the journal or the problem as text. A journal without "format"
 * was written before journals were versioned: the same layout as version 1.
 */
export function parseJournal(text: string): Journal | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (!isRecord(v)) return 'not an object';
  const problem = versionProblem(v['format'], JOURNAL_FORMAT_VERSION, 'journal format');
  if (problem !== undefined) return problem;
  const { id, description, root, entries, depmod, depmodDirs } = v;
  if (typeof id !== 'string' || id === '' || id.includes('/')) return '"id" must be a journal name';
  if (typeof description !== 'string') return '"description" must be a string';
  if (root !== undefined && !isAbsolute(root)) return '"root" must be an absolute path';
  if (!isStrings(depmod)) return '"depmod" must list kernels';
  if (depmodDirs !== undefined && !(isStrings(depmodDirs) && depmodDirs.every(isAbsolute)))
    return '"depmodDirs" must list absolute paths';
  if (!Array.isArray(entries)) return '"entries" must be a list';
  const parsed: JournalEntry[] = [];
  for (const [i, e] of entries.entries()) {
    const entry = parseEntry(e);
    if (typeof entry === 'string') return `entry ${i}: ${entry}`;
    parsed.push(entry);
  }
  return {
    id,
    description,
    ...(root !== undefined ? { root: root } : {}),
    entries: parsed,
    depmod,
    ...(depmodDirs !== undefined ? { depmodDirs: depmodDirs } : {}),
  };
}

function parseEntry(e: unknown): JournalEntry | string {
  if (!isRecord(e)) return 'not an object';
  const { op, path, from, target, before } = e;
  if (typeof op !== 'string' || !OPS.has(op)) return `unknown operation ${JSON.stringify(op)}`;
  if (!isAbsolute(path)) return '"path" must be an absolute path';
  if (from !== undefined && !isAbsolute(from)) return '"from" must be an absolute path';
  if (target !== undefined && typeof target !== 'string') return '"target" must be a string';
  const prior = parsePriorState(before);
  if (prior === undefined) return '"before" must be absent, present or a symlink with its target';
  return {
    op: op as Operation['op'],
    path,
    ...(from !== undefined ? { from: from } : {}),
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
