// The closed error taxonomy. Each class maps to one exit code of the contract:
// 2 = bad usage or bad input, 3 = the environment failed. Expected negative answers
// (ABI broken, module unusable) are values returned by commands (exit 1), never errors.
// Anything else thrown is a bug in dkms-abi: exit 70 (EX_SOFTWARE in sysexits.h), so a
// script can tell "fix the machine" (3) from "report this" (70).

import { printable } from './printable.js';

export type ExitCode = 0 | 1 | 2 | 3;

export abstract class DkmsAbiError extends Error {
  abstract readonly exitCode: 2 | 3;
}

/** Bad command-line usage: unknown option, missing argument, malformed M/V. */
export class UsageError extends DkmsAbiError {
  readonly exitCode = 2;
  override name = 'UsageError';
}

/** A file the user gave us (or the trees hold) is malformed: names the file and, when known, the line. */
export class InputError extends DkmsAbiError {
  readonly exitCode = 2;
  override name = 'InputError';
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly line?: number,
  ) {
    // Both parts may quote a hostile file: the message stays one line whatever they hold.
    super(printable(line === undefined ? `${file}: ${problem}` : `${file}:${line}: ${problem}`));
  }
}

/** The machine let us down: a tool is missing or failed, permission, disk, lock. */
export class EnvironmentError extends DkmsAbiError {
  readonly exitCode = 3;
  override name = 'EnvironmentError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(hint === undefined ? message : `${message} (${hint})`);
  }
}

export interface CommandFailure {
  readonly argv: readonly string[];
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stderrTail: string;
  /** Set when the command was stopped for running longer than this. */
  readonly timeoutMs?: number;
}

/** A subprocess (dkms, depmod, make, dpkg-deb…) failed. */
export class CommandFailedError extends EnvironmentError {
  override name = 'CommandFailedError';
  constructor(
    readonly failure: CommandFailure,
    hint?: string,
  ) {
    super(formatCommandFailure(failure), hint);
  }
}

/**
 * One line: what ran, how it ended, and what it said last: its last "Error!" paragraph (dkms
 * states one error over several lines: the cause, then where the log is), else its last line.
 */
export function formatCommandFailure(f: CommandFailure): string {
  const cmd = f.argv.map(shellQuote).join(' ');
  const how =
    f.timeoutMs !== undefined
      ? `did not finish within ${String(Math.round(f.timeoutMs / 1000))} s and was stopped`
      : f.signal !== undefined
        ? `was killed by ${f.signal}`
        : `exited with code ${String(f.exitCode ?? 'unknown')}`;
  const said = errorParagraph(f.stderrTail) ?? lastLine(f.stderrTail);
  return said === '' ? `${cmd} ${how}` : `${cmd} ${how}: ${said}`;
}

/** From the last line starting with "Error!" to the end of its paragraph, at most 4 lines. */
function errorParagraph(text: string): string | undefined {
  const lines = text.split('\n').map((l) => l.trim());
  let start = -1;
  for (let i = lines.length - 1; i >= 0 && start < 0; i--) if (lines[i]?.startsWith('Error!')) start = i;
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && l === '');
  return lines
    .slice(start, end < 0 ? undefined : end)
    .slice(0, 4)
    .join(' ');
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i];
    if (l !== undefined && l !== '') return l;
  }
  return '';
}

export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Exit code of an internal error (a bug): sysexits.h's EX_SOFTWARE. */
export const INTERNAL_ERROR_EXIT = 70;

/** Exit code for anything thrown: our errors carry theirs; anything else is a bug. */
export function exitCodeOf(err: unknown): 2 | 3 | typeof INTERNAL_ERROR_EXIT {
  return err instanceof DkmsAbiError ? err.exitCode : INTERNAL_ERROR_EXIT;
}
