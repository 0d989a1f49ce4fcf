import type { Wiring } from './wiring.js';

export const wiring: Wiring = (program, dispatch) => {
  program
    .command('setup-hooks')
    .description(
      'install the kernel postinst/prerm/header_postinst hooks, the kernel-install plugin, the boot unit and the depmod search order into the root',
    )
    .option('--dry-run', 'print what would change')
    .action(async (opts: { dryRun?: boolean }) => {
      await dispatch(async () => (await import('../commands/setup-hooks.js')).setupHooks, opts);
    });
};
