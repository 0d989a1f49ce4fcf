import { kernelRelease, type Wiring } from './wiring.js';

export const wiring: Wiring = (program, dispatch) => {
  const kernel = program.command('kernel').description('register, unregister and list kernels');
  kernel
    .command('add')
    .argument('<kver>', 'kernel release', kernelRelease)
    .description(
      'decide its ABI, link extra/ to the shared tree, reuse or build every AUTOINSTALL module, depmod',
    )
    .action(async (kver: string) => {
      await dispatch(async () => (await import('../commands/kernel.js')).kernelAdd, { kernel: kver });
    });
  kernel
    .command('remove')
    .argument('<kver>', 'kernel release', kernelRelease)
    .description('unregister it; prune its ABI tree when no other kernel uses it')
    .action(async (kver: string) => {
      await dispatch(async () => (await import('../commands/kernel.js')).kernelRemove, { kernel: kver });
    });
  kernel
    .command('preinst')
    .argument('<kver>')
    .description(
      "before a same-name upgrade or reinstall of its package: move the builds it shares with its ABI to another kernel, out of reach of dkms's kernel_preinst",
    )
    .action(async (kver: string) => {
      await dispatch(async () => (await import('../commands/kernel.js')).kernelPreinst, { kernel: kver });
    });
  kernel
    .command('list')
    .description('kernels with their flavour, abiver and tree')
    .action(async () => {
      await dispatch(async () => (await import('../commands/kernel.js')).kernelList, {});
    });
};
