import { kernelRelease, parseModuleVersion, type Wiring } from './wiring.js';

export const wiring: Wiring = (program, dispatch) => {
  program
    .command('status')
    .argument('[module]', 'MODULE or MODULE/VERSION')
    .option('-k, --kernel <kver>', 'only this kernel', kernelRelease)
    .description(
      'one line per module/version/kernel/arch: added, built, installed, installed-abi (from K0), abi-mismatch (reason)[, needs-depmod][, needs-repair]',
    )
    .action(async (target: string | undefined, o: { kernel?: string }) => {
      const mv = target === undefined ? {} : parseModuleVersion(target);
      await dispatch(async () => (await import('../commands/status.js')).status, { ...mv, ...o });
    });
  program
    .command('add')
    .argument('<module/version>', 'the source in <root>/usr/src/<module>-<version>')
    .description('dkms add inside the root')
    .action(async (target: string) => {
      await dispatch(async () => (await import('../commands/dkms-verbs.js')).add, parseModuleVersion(target));
    });
  program
    .command('build')
    .argument('<module/version>')
    .requiredOption('-k, --kernel <kver>', 'kernel to build for', kernelRelease)
    .description(
      "dkms build against the kernel's headers, linking against the exports of the modules in its ABI tree",
    )
    .action(async (target: string, o: { kernel: string }) => {
      await dispatch(async () => (await import('../commands/dkms-verbs.js')).build, {
        ...parseModuleVersion(target),
        ...o,
      });
    });
  program
    .command('install')
    .argument('<module/version>')
    .requiredOption('-k, --kernel <kver>', 'kernel to build for and install on', kernelRelease)
    .description(
      'build if needed, install into the shared ABI tree, mark installed for every kernel of that ABI the verdict accepts',
    )
    .action(async (target: string, o: { kernel: string }) => {
      await dispatch(async () => (await import('../commands/dkms-verbs.js')).install, {
        ...parseModuleVersion(target),
        ...o,
      });
    });
  program
    .command('uninstall')
    .argument('<module[/version]>')
    .option('-k, --kernel <kver>', "only from this kernel's ABI tree", kernelRelease)
    .option('--all-sharing', 'with -k: also from the other kernels sharing that tree (refused otherwise)')
    .description('remove from the shared ABI trees (DKMS keeps the builds)')
    .action(async (target: string, o: { kernel?: string; allSharing?: boolean }) => {
      await dispatch(async () => (await import('../commands/dkms-verbs.js')).uninstall, {
        ...parseModuleVersion(target),
        ...o,
      });
    });
  program
    .command('remove')
    .argument('<module/version>')
    .option('--all', 'every kernel')
    .option('-k, --kernel <kver>', 'one kernel', kernelRelease)
    .option(
      '--all-sharing',
      'with -k: also uninstall from the other kernels sharing its tree (refused otherwise)',
    )
    .description('uninstall, then dkms remove inside the root')
    .action(async (target: string, o: { all?: boolean; kernel?: string; allSharing?: boolean }) => {
      await dispatch(async () => (await import('../commands/dkms-verbs.js')).remove, {
        ...parseModuleVersion(target),
        ...o,
      });
    });
  program
    .command('autoinstall')
    .option('-k, --kernel <kver>', 'kernel (default: the running one)', kernelRelease)
    .description(
      'every AUTOINSTALL module: reuse a same-ABI build when the verdict allows, else build and install',
    )
    .action(async (o: { kernel?: string }) => {
      await dispatch(async () => (await import('../commands/autoinstall.js')).autoinstall, o);
    });
};
