import type { Command } from 'commander';
import type { Wiring } from './wiring.js';

/** The `abi` group: identity (show), the packager's archive (update); check and compat join it. */
export const wiring: Wiring = (program, dispatch) => {
  const abi: Command = program
    .command('abi')
    .description("kernel ABI identities, the packager's ABI check and update, per-module verdicts");
  abi
    .command('show')
    .argument('<kver>')
    .description("a kernel's ABI identity (flavour, abiver, tree) and where it comes from")
    .action(async (kver: string) => {
      await dispatch(async () => (await import('../commands/abi-identity.js')).abiShow, { kernel: kver });
    });
  abi
    .command('update')
    .argument('<kver>')
    .description(
      "archive the kernel's Module.symvers as its flavour's ABI reference, bumping abiver on breakage",
    )
    .action(async (kver: string) => {
      await dispatch(async () => (await import('../commands/abi-identity.js')).abiUpdate, { kernel: kver });
    });
};
