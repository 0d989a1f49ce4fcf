// Shared shape of the per-group wiring files in this folder. A wiring file only declares
// commander commands and options, and lazy-imports the command module when it runs.
import type { Command } from 'commander';
import { checkKernelRelease } from '../core/release.js';
import type { ExitCode } from '../core/errors.js';
import type { Context } from '../system/context.js';

/** A command implementation: a plain async function over a context and typed options. */
export type CommandFn<O> = (ctx: Context, opts: O) => Promise<ExitCode>;

/**
 * A command that works on the files it is given, and needs the root's context (config,
 * paths, state checks) only for some arguments: it gets the output at once and the context
 * when it asks. Making the context reads the config and walks the state directory, a few
 * milliseconds a diff of two files need not pay.
 */
export type FileCommandFn<O> = (
  io: Pick<Context, 'json' | 'out'>,
  opts: O,
  context: () => Promise<Context>,
) => Promise<ExitCode>;

export interface Dispatch {
  /** Runs a lazily loaded command with the global options resolved into a Context. */
  <O>(load: () => Promise<CommandFn<O>>, opts: O): Promise<void>;
  /** Runs a lazily loaded FileCommandFn; the Context is made on its first call for it. */
  files<O>(load: () => Promise<FileCommandFn<O>>, opts: O): Promise<void>;
}

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
