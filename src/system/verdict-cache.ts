// The verdict cache's file: <state>/cache/verdicts/<kernel>.json, the verdicts of a kernel's
// shared-tree modules with the two stamps they were computed under (kernel files, tree files).
// A missing, torn or foreign file is only a cache miss; one that cannot be written is skipped.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Usability } from '../core/status.js';
import { writeAtomically } from './atomic-write.js';
import type { Paths } from './paths.js';
import { exists, type PlanBuilder } from './plan-helpers.js';

/**
 * Drops the cached verdicts of kernels whose tree loses a module: they name it, and would
 * never be read again (the tree's stamp changed); a removed module leaves nothing behind.
 */
export async function planDropVerdictCaches(
  paths: Paths,
  kernels: readonly string[],
  plan: PlanBuilder,
): Promise<void> {
  for (const k of kernels) {
    const file = verdictCacheFile(paths, k);
    if (await exists(file)) await plan.add({ op: 'remove', path: file });
  }
}

/** <state>/cache/verdicts/<kernel>.json. */
export function verdictCacheFile(paths: Paths, kernel: string): string {
  return path.join(paths.stateDir, 'cache', 'verdicts', `${encodeURIComponent(kernel)}.json`);
}

/** Bumped when the verdict logic changes what it answers: old cache entries then never match. */
export const VERDICT_LOGIC_VERSION = 3;
const CACHE_FORMAT = 1;

export interface CacheFile {
  kernelStamp: string;
  treeStamp: string;
  verdicts: Record<string, Usability>;
  dirty: boolean;
}

export function readCache(file: string): CacheFile | undefined {
  let text: string;
  try {
    // Synchronous: one small file per kernel, read by every status.
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text) as Partial<CacheFile> & { format?: unknown };
    if (
      v.format !== CACHE_FORMAT ||
      typeof v.kernelStamp !== 'string' ||
      typeof v.treeStamp !== 'string' ||
      typeof v.verdicts !== 'object' ||
      v.verdicts === null
    )
      return undefined;
    return { kernelStamp: v.kernelStamp, treeStamp: v.treeStamp, verdicts: v.verdicts, dirty: false };
  } catch {
    // A torn or foreign file is only a cache miss.
    return undefined;
  }
}

/** Writes the entry (without its dirty flag) in the current format. */
export async function writeCache(file: string, c: CacheFile, root: string): Promise<void> {
  const { dirty: _dirty, ...content } = c;
  await writeAtomically(file, `${JSON.stringify({ format: CACHE_FORMAT, ...content })}\n`, root);
}
