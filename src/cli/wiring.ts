// Shared shape of the per-group wiring files in this folder. A wiring file only declares
// commander commands and options, and lazy-imports the command module when it runs.
import type { Command } from 'commander';
import { checkKernelRelease } from '../core/release.js';
import type { ExitCode } from '../core/errors.js';
import type { Context } from '../system/context.js';

/** A command implementation: a plain async function over a context and typed options. */
export type CommandFn<O> = (ctx: Context, opts: O) => Promise<ExitCode>;

/** Runs a lazily loaded command with the global options resolved into a Context. */
export type Dispatch = <O>(load: () => Promise<CommandFn<O>>, opts: O) => Promise<void>;

export type Wiring = (program: Command, dispatch: Dispatch) => void;

/** Parses "M/V" (module/version). */
export function parseModuleVersion(arg: string): { module: string; version?: string } {
  const slash = arg.indexOf('/');
  if (slash === -1) return { module: arg };
  return { module: arg.slice(0, slash), version: arg.slice(slash + 1) };
}

/** Commander's parser for -k/--kernel: every command refuses an unsafe release before it runs. */
export function kernelRelease(value: string): string {
  checkKernelRelease(value);
  return value;
}
