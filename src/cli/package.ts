import { kernelRelease, parseModuleVersion, type Wiring } from './wiring.js';

/** Binary packages per ABI: `package`, and the hidden commands its maintainer scripts run. */
export const wiring: Wiring = (program, dispatch) => {
  program
    .command('package')
    .argument('<module/version>')
    .option('--abi <flavour-abiver>', 'package M/V as installed in the tree kernel-abi-FLAVOUR-ABIVER')
    .option(
      '-k, --kernel <kver>',
      "package M/V for KVER's ABI (building and installing it first if needed)",
      kernelRelease,
    )
    .option('-o, --output <dir>', 'where to write the .deb (default: the current directory)')
    .option('--repo <dir>', 'add the .deb to this flat apt repository and regenerate its indexes')
    .option('--revision <n>', 'Debian revision of the package version', '1')
    .option(
      '--maintainer <"name <address>">',
      'the Maintainer field (default: DEBFULLNAME and DEBEMAIL, else "dkms-abi <dkms-abi@localhost.invalid>")',
    )
    .option('--dkms-tarball', "also write dkms's binaries-only tarball of the build (for dkms ldtarball)")
    .description(
      'a binary .deb of M/V for every kernel of one ABI: no compiler or headers needed to install it',
    )
    .action(
      async (
        target: string,
        o: {
          abi?: string;
          kernel?: string;
          output?: string;
          repo?: string;
          revision: string;
          maintainer?: string;
        },
      ) => {
        await dispatch(async () => (await import('../commands/package.js')).packageModule, {
          ...parseModuleVersion(target),
          ...o,
        });
      },
    );
  program
    .command('package-install', { hidden: true })
    .argument('<dir>', "the package's payload directory, inside the root")
    .description("a module package's postinst: put its modules into the matching ABI tree")
    .action(async (dir: string) => {
      await dispatch(async () => (await import('../commands/package-install.js')).packageInstall, { dir });
    });
  program
    .command('package-remove', { hidden: true })
    .argument('<name>', 'the package name')
    .description("a module package's prerm: undo what package-install did")
    .action(async (name: string) => {
      await dispatch(async () => (await import('../commands/package-install.js')).packageRemove, { name });
    });
};
