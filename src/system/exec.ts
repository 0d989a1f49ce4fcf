// The one place that spawns processes. Always an argv array, never a shell string;
// stdin ignored; an explicit environment so a hook's odd environment cannot leak in.
import { spawn, type ChildProcess } from 'node:child_process';
import { CommandFailedError } from '../core/errors.js';
import { writeStderr } from './output.js';

export interface RunOptions {
  readonly cwd?: string;
  /** Added to the base environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Stream child output to our stderr (long builds) instead of capturing it. */
  readonly inheritOutput?: boolean;
  /** Exit codes that are answers, not failures (e.g. dkms 77 = skipped). */
  readonly okExitCodes?: readonly number[];
  readonly hint?: string;
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The environment every child gets: PATH, locale fixed to C so we can parse messages. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env['DKMS_ABI_PATH'] ?? process.env['PATH'] ?? BASE_PATH,
    LC_ALL: 'C',
    LANG: 'C',
    HOME: process.env['HOME'] ?? '/root',
  };
  for (const key of ['TMPDIR', 'CI']) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  return env;
}

export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runCollecting(argv, opts);
  return { exitCode: r.exitCode, stdout: decode(r.stdout), stderr: r.stderr };
}

/** run() for a tool whose output is bytes (a decompressor): stdout as it came. */
export async function runBytes(
  argv: readonly string[],
  opts: RunOptions = {},
): Promise<{ readonly exitCode: number; readonly stdout: Buffer }> {
  const r = await runCollecting(argv, opts);
  return { exitCode: r.exitCode, stdout: r.stdout };
}

async function runCollecting(
  argv: readonly string[],
  opts: RunOptions,
): Promise<{ readonly exitCode: number; readonly stdout: Buffer; readonly stderr: string }> {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('run: empty argv');
  let result: Outcome;
  try {
    result = await spawnAndCollect(file, args, opts);
  } catch (err) {
    throw new CommandFailedError(
      { argv, exitCode: undefined, signal: undefined, stderrTail: String(err) },
      opts.hint,
    );
  }
  const { stdout, stderr } = result;
  const code = result.exitCode;
  if (result.failed && (code === undefined || !(opts.okExitCodes ?? []).includes(code))) {
    const notFound = result.code === 'ENOENT';
    throw new CommandFailedError(
      {
        argv,
        exitCode: code,
        signal: result.signal,
        stderrTail: notFound ? `${file}: command not found` : tail(stderr || decode(stdout), 4000),
        ...(result.timedOut && opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      },
      opts.hint ?? (notFound ? 'run scripts/setup-system.sh to install the tools dkms-abi uses' : undefined),
    );
  }
  return { exitCode: code ?? 0, stdout, stderr };
}

/** What a finished child gave: exit code (undefined when killed or never started), signal, output. */
interface Outcome {
  readonly failed: boolean;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** The spawn error's code (ENOENT: no such program). */
  readonly code: string | undefined;
  readonly timedOut: boolean;
  readonly stdout: Buffer;
  readonly stderr: string;
}

const MAX_BUFFER = 256 * 1024 * 1024;
/** After a timeout's SIGTERM, SIGKILL if the child is still there (execa's forceKillAfterDelay). */
const FORCE_KILL_AFTER_MS = 5000;

/** Children still running: killed if this process exits first (execa's `cleanup`). */
const live = new Set<ChildProcess>();
let exitHook = false;

/**
 * node:child_process directly (it was execa, whose ~100 modules took ~180 ms of CPU to load:
 * more than dkms-abi's own start, paid by every command that runs a tool). The same
 * behaviour as the execa call it replaces: exactly the given environment, stdin ignored or
 * fed `input`, output captured as UTF-8 (and copied to our stderr with inheritOutput),
 * SIGTERM on timeout, refusal beyond 256 MiB of output.
 */
function spawnAndCollect(file: string, args: readonly string[], opts: RunOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      env: { ...baseEnv(), ...opts.env },
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let overflow = false;
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      live.delete(child);
      for (const t of timers) clearTimeout(t);
      resolve({
        failed: spawnError !== undefined || overflow || timedOut || exitCode !== 0,
        exitCode: exitCode ?? undefined,
        signal: signal ?? undefined,
        code: spawnError?.code,
        timedOut,
        stdout: Buffer.concat(out),
        stderr: decode(err),
      });
    };
    const collect =
      (into: Buffer[]) =>
      (chunk: Buffer): void => {
        if (overflow) return;
        size += chunk.length;
        if (size > MAX_BUFFER) {
          overflow = true;
          child.kill('SIGTERM');
          return;
        }
        into.push(chunk);
        if (opts.inheritOutput === true) writeStderr(chunk);
      };
    child.stdout?.on('data', collect(out));
    child.stderr?.on('data', collect(err));
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError ??= e;
      // Never started (no such program, no permission): no 'close' to wait for.
      if (child.pid === undefined) finish(null, null);
    });
    child.on('close', finish);
    if (child.pid === undefined) return;
    live.add(child);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const c of live) c.kill('SIGTERM');
      });
    }
    if (opts.timeoutMs !== undefined) {
      timers.push(
        setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          timers.push(setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_AFTER_MS).unref());
        }, opts.timeoutMs),
      );
    }
    if (opts.input !== undefined && child.stdin !== null) {
      // A child that exits without reading its input is its own answer, not an EPIPE crash.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

const utf8 = new TextDecoder();

function decode(chunks: readonly Buffer[] | Buffer): string {
  const bytes = Buffer.isBuffer(chunks) ? chunks : Buffer.concat(chunks);
  return bytes.length === 0 ? '' : utf8.decode(bytes);
}

function tail(text: string, max: number): string {
  return text.length <= max ? text : text.slice(text.length - max);
}
