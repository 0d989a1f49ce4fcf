// Runs depmod on a root, one kernel at a time; dkms-abi's only writer of modules.dep.
import { depmodArgv } from '../core/depmod-argv.js';
import { run } from './exec.js';
import type { Paths } from './paths.js';

export async function depmod(paths: Paths, kernels: readonly string[]): Promise<void> {
  for (const k of new Set(kernels)) {
    await run(depmodArgv(paths.root, k), { hint: `depmod failed for ${k}; the change was rolled back` });
  }
}
