// Small effectful helpers for building plans: what exists already decides what to add.
import { lstat, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Operation } from '../core/plan.js';

export async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}

/** mkdir operations for every missing directory from `dir` up to (not including) `root`. */
export async function mkdirOps(
  root: string,
  dir: string,
  planned: ReadonlySet<string> = new Set(),
): Promise<Operation[]> {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  const top = path.resolve(root);
  while (cur !== top && cur.startsWith(top + path.sep) && !planned.has(cur) && !(await exists(cur))) {
    missing.unshift(cur);
    cur = path.dirname(cur);
  }
  return missing.map((p) => ({ op: 'mkdir', path: p }));
}

/** True when `file` already holds exactly `data`. */
export async function sameContent(file: string, data: Uint8Array): Promise<boolean> {
  const current = await readFile(file).catch(() => undefined);
  return current !== undefined && Buffer.compare(current, data) === 0;
}

export async function linkTarget(p: string): Promise<string | undefined> {
  return readlink(p).catch(() => undefined);
}

/** Collects operations, creating each needed directory once. */
export class PlanBuilder {
  readonly operations: Operation[] = [];
  private readonly dirs = new Set<string>();
  constructor(private readonly root: string) {}

  async ensureDir(dir: string): Promise<void> {
    const ops = await mkdirOps(this.root, dir, this.dirs);
    for (const o of ops) this.dirs.add(o.path);
    this.operations.push(...ops);
  }

  async add(o: Operation): Promise<void> {
    await this.ensureDir(path.dirname(o.path));
    this.operations.push(o);
  }
}
