// Runs depmod on a root, one kernel at a time; dkms-abi's only writer of modules.dep.
import { depmodArgv } from '../core/depmod-argv.js';
import { run } from './exec.js';
import type { Context } from './context.js';

/**
 * A depmod running past the configured bound ([abi] depmod_timeout) is stopped as stuck.
 * `hint` says what a failure means for the change that asked for the depmod; by default
 * (depmod as a transaction's last step) that it was rolled back.
 */
export async function depmod(
  { paths, config }: Pick<Context, 'paths' | 'config'>,
  kernels: readonly string[],
  hint: (kernel: string) => string = (k) => `depmod failed for ${k}; the change was rolled back`,
): Promise<void> {
  for (const k of new Set(kernels))
    await run(depmodArgv(paths.root, k), { hint: hint(k), timeoutMs: config.depmodTimeoutSeconds * 1000 });
}
