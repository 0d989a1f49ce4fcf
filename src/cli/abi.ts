import type { Command } from 'commander';
import { kernelRelease, type Wiring } from './wiring.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The `abi` group: identity (show), the packager's archive (update) and check, per-module verdicts (compat). */
export const wiring: Wiring = (program, dispatch) => {
  const abi: Command = program
    .command('abi')
    .description("kernel ABI identities, the packager's ABI check and update, per-module verdicts");

  // --- identity and archive ---
  abi
    .command('show')
    .argument('<kver>', 'kernel release', kernelRelease)
    .description("a kernel's ABI identity (flavour, abiver, tree) and where it comes from")
    .action(async (kver: string) => {
      await dispatch(async () => (await import('../commands/abi-identity.js')).abiShow, { kernel: kver });
    });
  abi
    .command('update')
    .argument('<kver>', 'kernel release', kernelRelease)
    .description(
      "archive the kernel's Module.symvers as its flavour's ABI reference, bumping abiver on breakage",
    )
    .action(async (kver: string) => {
      await dispatch(async () => (await import('../commands/abi-identity.js')).abiUpdate, { kernel: kver });
    });

  // --- packager check and per-module verdicts ---
  abi
    .command('check')
    .argument('<ref>', 'reference Module.symvers, or an archived ABI id FLAVOUR-ABIVER')
    .argument('<new>', 'new Module.symvers, or an archived ABI id FLAVOUR-ABIVER')
    .description('what changed from REF to NEW; exit 1 when a symbol changed, was removed or moved')
    .option('--strict', 'added symbols fail the check too', false)
    .option('--ignore <glob>', 'accept changes of symbols matching GLOB (repeatable)', collect, [])
    .option(
      '--ignore-module <glob>',
      'accept changes of exports of modules matching GLOB (repeatable)',
      collect,
      [],
    )
    .option(
      '--whitelist <file>',
      'only the symbols of this kABI whitelist (Module.kabi or a symbol list) count',
    )
    .action(
      async (
        ref: string,
        next: string,
        o: { strict: boolean; ignore: string[]; ignoreModule: string[]; whitelist?: string },
      ) => {
        await dispatch.files(async () => (await import('../commands/abi-check.js')).abiCheck, {
          ref,
          new: next,
          strict: o.strict,
          ignore: o.ignore,
          ignoreModule: o.ignoreModule,
          ...(o.whitelist !== undefined ? { whitelist: o.whitelist } : {}),
        });
      },
    );
  abi
    .command('compat')
    .argument('<ko...>', 'module files, directories or whole module trees')
    .description("would the kernel's module loader accept these modules? every reason, per module")
    .option(
      '-k, --kernel <kver>',
      'judge against this kernel of the root (its symvers, config, shared tree)',
      kernelRelease,
    )
    .option('--symvers <file>', 'judge against this Module.symvers alone')
    .option('--vermagic <string>', 'the vermagic to expect (with --symvers; overrides the kernel’s)')
    .option(
      '--built-headers <file>',
      'the headers.sha256 the modules were built with (.dkms-abi/<m>/<v>/ in a tree): compare with the kernel’s headers',
    )
    .option(
      '--headers <dir>',
      'compare --built-headers with this headers directory (default: the -k kernel’s)',
    )
    .action(
      async (
        modules: string[],
        o: { kernel?: string; symvers?: string; vermagic?: string; builtHeaders?: string; headers?: string },
      ) => {
        await dispatch(async () => (await import('../commands/abi-compat.js')).abiCompat, {
          modules,
          ...(o.kernel !== undefined ? { kernel: o.kernel } : {}),
          ...(o.symvers !== undefined ? { symvers: o.symvers } : {}),
          ...(o.vermagic !== undefined ? { vermagic: o.vermagic } : {}),
          ...(o.builtHeaders !== undefined ? { builtHeaders: o.builtHeaders } : {}),
          ...(o.headers !== undefined ? { headers: o.headers } : {}),
        });
      },
    );
};
