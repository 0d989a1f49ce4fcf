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
  program
    .command('adopt')
    .description(
      "take over what stock dkms installed: register every installed kernel, turn dkms's copies into shared-tree links",
    )
    .option(
      '--undo',
      'put plain dkms copies back in updates/dkms for every kernel (before removing dkms-abi)',
    )
    .action(async (opts: { undo?: boolean }) => {
      await dispatch(async () => (await import('../commands/adopt.js')).adopt, opts);
    });
};
