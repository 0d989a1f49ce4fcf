import type { Wiring } from './wiring.js';

export const wiring: Wiring = (program, dispatch) => {
  program
    .command('verify')
    .description(
      'check the root: links, trees without kernels, DKMS entries against the shared trees, stale modules.dep, saved symvers, interrupted changes; exit 1 when damaged',
    )
    .option('--repair', 'fix what is safe to fix (under the lock), then check again')
    .action(async (opts: { repair?: boolean }) => {
      await dispatch(async () => (await import('../commands/verify.js')).verify, opts);
    });
};
