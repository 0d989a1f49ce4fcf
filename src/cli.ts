// The command-line entry: global options, one wiring file per command group, and the
// single place that turns errors into the contract's exit codes.
import { Command, CommanderError } from 'commander';
import { DkmsAbiError, UsageError, exitCodeOf } from './core/errors.js';
import { printable } from './core/printable.js';
import { processOutput, writeStderr, writeStdout } from './system/output.js';
import type { CommandFn, Dispatch, FileCommandFn, Wiring } from './cli/wiring.js';
import type { Context } from './system/context.js';
import { wiring as modules } from './cli/modules.js';
import { wiring as kernel } from './cli/kernel.js';
import { wiring as abi } from './cli/abi.js';
import { wiring as hooks } from './cli/hooks.js';
import { wiring as verify } from './cli/verify.js';
import { wiring as packages } from './cli/package.js';

// Parsing any command line (and --help) needs every command declared, so the declarations are
// imported statically: the bundle keeps them in dist/cli.mjs, read with the entry. Each
// command's code is imported only when it runs (dispatch below).
const WIRINGS: readonly Wiring[] = [modules, kernel, abi, hooks, verify, packages];

export async function main(argv: readonly string[]): Promise<void> {
  const out = processOutput();
  const program = new Command('dkms-abi')
    .description('One DKMS build per kernel ABI: shared module trees, exact ABI verdicts, packaging')
    .version(await packageVersion())
    .option('--root <dir>', 'operate on the system installed under DIR', '/')
    .option('--config <file>', 'read this config file instead of <root>/etc/dkms-abi.conf[.d]')
    .option('--json', 'print one JSON document on stdout', false)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => writeStdout(s),
      // Commander's own errors are reported by our handler as one line.
      writeErr: (s) => {
        if (!s.startsWith('error:')) writeStderr(s);
      },
    });

  const globals = () => program.opts<{ root: string; config?: string; json: boolean }>();
  const context = async (): Promise<Context> => {
    const g = globals();
    // Loaded here, not at start: --help and usage errors need no config, paths or root.
    const { makeContext } = await import('./system/context.js');
    return makeContext(
      { root: g.root, json: g.json, ...(g.config !== undefined ? { config: g.config } : {}) },
      out,
    );
  };
  const dispatch: Dispatch = Object.assign(
    async <O>(load: () => Promise<CommandFn<O>>, opts: O) => {
      const ctx = await context();
      const command = await load();
      process.exitCode = await command(ctx, opts);
    },
    {
      files: async <O>(load: () => Promise<FileCommandFn<O>>, opts: O) => {
        let made: Promise<Context> | undefined;
        const command = await load();
        process.exitCode = await command({ json: globals().json, out }, opts, () => (made ??= context()));
      },
    },
  );
  for (const wiring of WIRINGS) wiring(program, dispatch);

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    process.exitCode = reportError(err);
  }
}

/** Prints one line for what ended the command and returns its exit code. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0.
    if (err.exitCode === 0) return 0;
    writeStderr(`dkms-abi: ${err.message.replace(/^error: /, '')}\n`);
    return new UsageError(err.message).exitCode;
  }
  if (err instanceof DkmsAbiError) {
    writeStderr(`dkms-abi: ${printable(err.message)}\n`);
    return err.exitCode;
  }
  // A bug: still one line by default, asking for a report; the stack only when asked for.
  const message = err instanceof Error ? err.message : String(err);
  writeStderr(
    `dkms-abi: internal error (a bug in dkms-abi; please report it with the command that ran it and, from a run with DKMS_ABI_DEBUG=1, the stack): ${printable(message)}\n`,
  );
  if (process.env['DKMS_ABI_DEBUG'] !== undefined && err instanceof Error) writeStderr(`${err.stack}\n`);
  return exitCodeOf(err);
}

// Inlined from package.json by the bundler (scripts/build.js): --version reads no file.
declare const DKMS_ABI_VERSION: string | undefined;

async function packageVersion(): Promise<string> {
  if (typeof DKMS_ABI_VERSION === 'string') return DKMS_ABI_VERSION;
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
