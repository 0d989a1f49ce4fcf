// Small effectful helpers for building plans: what exists already decides what to add.
import { lstat, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Operation } from '../core/plan.js';
import { isInsideRoot } from './rootfs.js';

export async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}

/** True when `file` already holds exactly `data`. */
export async function sameContent(file: string, data: Uint8Array): Promise<boolean> {
  const current = await readFile(file).catch(() => undefined);
  return current !== undefined && Buffer.compare(current, data) === 0;
}

export async function linkTarget(p: string): Promise<string | undefined> {
  return readlink(p).catch(() => undefined);
}

/** What earlier operations of a plan did to a path (and what is below it). */
type Override =
  | { readonly kind: 'absent' }
  /** Created by the plan: exists, nothing below it yet. */
  | { readonly kind: 'new' }
  /** Renamed here from `from`: what was below `from` is below it now. */
  | { readonly kind: 'moved'; readonly from: string };

/**
 * Collects operations, creating each needed directory once. "Needed" is judged on the
 * root as the earlier operations of the plan will have left it: a directory the plan
 * removes (reinstalling a module removes its metadata directory, then writes into it
 * again) is created again.
 */
export class PlanBuilder {
  readonly operations: Operation[] = [];
  private readonly overrides = new Map<string, Override>();
  constructor(private readonly root: string) {}

  async ensureDir(dir: string): Promise<void> {
    const missing: string[] = [];
    let cur = path.resolve(dir);
    const top = path.resolve(this.root);
    // isInsideRoot, not a "<root>/" prefix: for the root "/" that prefix is "//" and no
    // directory was ever made (every first install on a real system failed with ENOENT).
    while (cur !== top && isInsideRoot(top, cur) && !(await this.existsAfterPlan(cur))) {
      missing.unshift(cur);
      cur = path.dirname(cur);
    }
    for (const p of missing) {
      this.operations.push({ op: 'mkdir', path: p });
      this.override(p, { kind: 'new' });
    }
  }

  async add(o: Operation): Promise<void> {
    await this.ensureDir(path.dirname(o.path));
    this.operations.push(o);
    if (o.op === 'remove') this.override(o.path, { kind: 'absent' });
    else if (o.op === 'rename') {
      this.override(o.from, { kind: 'absent' });
      this.override(o.path, { kind: 'moved', from: o.from });
    } else this.override(o.path, { kind: 'new' });
  }

  /** Whether `p` exists once the operations planned so far have run. */
  willExist(p: string): Promise<boolean> {
    return this.existsAfterPlan(path.resolve(p));
  }

  private async existsAfterPlan(p: string): Promise<boolean> {
    for (let cur = p; ; cur = path.dirname(cur)) {
      const o = this.overrides.get(cur);
      if (o !== undefined) {
        if (cur === p) return o.kind !== 'absent';
        return o.kind === 'moved' ? exists(path.join(o.from, path.relative(cur, p))) : false;
      }
      if (path.dirname(cur) === cur) return exists(p);
    }
  }

  private override(p: string, o: Override): void {
    for (const k of [...this.overrides.keys()]) if (k.startsWith(p + path.sep)) this.overrides.delete(k);
    this.overrides.set(p, o);
  }
}
