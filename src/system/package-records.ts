// Where package-install keeps what it did to a root: <state>/packages/<name>.json (the
// format is src/core/package-record.ts), read by package-remove and by a repeated install.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { sameAbi } from '../core/abi-id.js';
import { InputError } from '../core/errors.js';
import type { Operation } from '../core/plan.js';
import { parseRecord, serializeRecord, type PackageRecord } from '../core/package-record.js';
import { type TreeModule, treeModulesOf } from '../core/snapshot.js';
import type { Context } from './context.js';
import type { PlanBuilder } from './plan-helpers.js';
import { scanRoot } from './scan.js';

/** Inside-root path of a host path under the root, as records keep paths. */
export const innerPath = (ctx: Context, host: string): string => `/${path.relative(ctx.paths.root, host)}`;

export function recordsDir(ctx: Context): string {
  return path.join(ctx.paths.stateDir, 'packages');
}

export function recordFile(ctx: Context, name: string): string {
  return path.join(recordsDir(ctx), `${name}.json`);
}

export async function readRecord(ctx: Context, name: string): Promise<PackageRecord | undefined> {
  const file = recordFile(ctx, name);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const r = parseRecord(text);
  if (typeof r === 'string') throw new InputError(file, r);
  return r;
}

export async function readAllRecords(ctx: Context): Promise<PackageRecord[]> {
  const out: PackageRecord[] = [];
  for (const n of (await readdir(recordsDir(ctx)).catch(() => [] as string[])).sort()) {
    if (!n.endsWith('.json')) continue;
    const r = await readRecord(ctx, n.slice(0, -'.json'.length));
    if (r !== undefined) out.push(r);
  }
  return out;
}

/** The records of the other packages installed into the same ABI tree as `record`. */
export async function otherRecordsOfAbi(ctx: Context, record: PackageRecord): Promise<PackageRecord[]> {
  return (await readAllRecords(ctx)).filter(
    (r) => r.package !== record.package && sameAbi(r.abi, record.abi),
  );
}

export function createdDirs(ctx: Context, ops: readonly Operation[]): string[] {
  return ops.filter((o) => o.op === 'mkdir').map((o) => innerPath(ctx, o.path));
}

export async function writeRecord(ctx: Context, plan: PlanBuilder, r: PackageRecord): Promise<void> {
  await plan.add({ op: 'write', path: recordFile(ctx, r.package), data: Buffer.from(serializeRecord(r)) });
}

/** The tree module a record installed, when it is still there unchanged. */
export async function recordedModule(ctx: Context, r: PackageRecord): Promise<TreeModule | undefined> {
  const snap = await scanRoot(ctx.paths);
  return treeModulesOf(snap, r.abi).find(
    (t) =>
      t.module === r.module &&
      t.version === r.version &&
      t.arch === r.arch &&
      t.builtFor === r.builtFor &&
      sameFiles(t.files, r.files),
  );
}

export function sameFiles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((f, i) => f === [...b].sort()[i]);
}
