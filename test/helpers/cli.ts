// Runs the built CLI (bin/dkms-abi → the bundle dist/cli.mjs) as a subprocess on a sandbox root,
// the way users and hooks run it. `npm test` builds first; when running vitest alone, `npm run
// build` (it writes the bundle, and the same sources compiled file by file into dist/).
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import path from 'node:path';

export const BIN = path.resolve(import.meta.dirname, '../../bin/dkms-abi');
/** The same CLI with the fault switches honoured (the shipped BIN ignores them). */
export const FAULT_ENTRY = path.resolve(import.meta.dirname, 'fault-entry.js');
const FAULT_SWITCHES = ['DKMS_ABI_FAULT_AT', 'DKMS_ABI_FAULT_TRACE', 'DKMS_ABI_FAULT_PAUSE'];
const DIST_CLI = path.resolve(import.meta.dirname, '../../dist/cli.mjs');

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  /** Passed as --root (required: tests never run on the real "/"). */
  readonly root: string;
  /** Added to a clean environment (PATH, HOME, LC_ALL=C). */
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly timeoutMs?: number;
  /**
   * Run bin/dkms-abi even when the environment sets a fault switch (a run that sets one
   * otherwise goes through FAULT_ENTRY, the only entry that honours them).
   */
  readonly shipped?: boolean;
}

/** How a CLI run ended, a signal included (a fault test kills it on purpose). */
export interface CliEnding {
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI and reports however it ended; runCli wants an exit code. */
export async function spawnCli(args: readonly string[], opts: CliOptions): Promise<CliEnding> {
  if (!existsSync(DIST_CLI)) throw new Error(`${DIST_CLI} is missing: run npm run build first`);
  if (path.resolve(opts.root) === '/') throw new Error('runCli: tests never run on the real root');
  const faults = opts.shipped !== true && FAULT_SWITCHES.some((k) => opts.env?.[k] !== undefined);
  const entry = faults ? FAULT_ENTRY : BIN;
  const result = await execa(process.execPath, [entry, '--root', opts.root, ...args], {
    reject: false,
    extendEnv: false,
    env: {
      PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: process.env['HOME'] ?? '/root',
      LC_ALL: 'C',
      ...opts.env,
    },
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    timeout: opts.timeoutMs ?? 600_000,
    stripFinalNewline: false,
  });
  return { exitCode: result.exitCode, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

export async function runCli(args: readonly string[], opts: CliOptions): Promise<CliResult> {
  const r = await spawnCli(args, opts);
  if (r.exitCode === undefined) {
    throw new Error(`dkms-abi ${args.join(' ')} did not exit (${r.signal ?? 'timeout'}): ${r.stderr}`);
  }
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** runCli with --json, parsing stdout (fails the test with the output when it is not JSON). */
export async function runCliJson<T>(
  args: readonly string[],
  opts: CliOptions,
): Promise<CliResult & { readonly json: T }> {
  const r = await runCli(['--json', ...args], opts);
  try {
    return { ...r, json: JSON.parse(r.stdout) as T };
  } catch {
    throw new Error(
      `dkms-abi --json ${args.join(' ')} printed no JSON (exit ${r.exitCode}):\n${r.stdout}\n${r.stderr}`,
    );
  }
}
