// The one place that spawns processes. Always an argv array, never a shell string;
// stdin ignored; an explicit environment so a hook's odd environment cannot leak in.
import { execa } from 'execa';
import { CommandFailedError } from '../core/errors.js';

export interface RunOptions {
  readonly cwd?: string;
  /** Added to the base environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Stream child output to our stderr (long builds) instead of capturing it. */
  readonly inheritOutput?: boolean;
  /** Exit codes that are answers, not failures (e.g. dkms 77 = skipped). */
  readonly okExitCodes?: readonly number[];
  readonly hint?: string;
  readonly input?: string;
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
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('run: empty argv');
  let result;
  try {
    result = await execa(file, args, {
      cwd: opts.cwd,
      env: { ...baseEnv(), ...opts.env },
      extendEnv: false,
      reject: false,
      stripFinalNewline: false,
      ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      stdout: opts.inheritOutput === true ? ['pipe', 2] : 'pipe',
      stderr: opts.inheritOutput === true ? ['pipe', 2] : 'pipe',
      ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (err) {
    throw new CommandFailedError(
      { argv, exitCode: undefined, signal: undefined, stderrTail: String(err) },
      opts.hint,
    );
  }
  const stdout = typeof result.stdout === 'string' ? result.stdout : '';
  const stderr = typeof result.stderr === 'string' ? result.stderr : '';
  const code = result.exitCode;
  if (result.failed && (code === undefined || !(opts.okExitCodes ?? []).includes(code))) {
    const notFound = (result as { code?: string }).code === 'ENOENT';
    throw new CommandFailedError(
      {
        argv,
        exitCode: code,
        signal: result.signal ?? undefined,
        stderrTail: notFound ? `${file}: command not found` : tail(stderr || stdout, 4000),
      },
      opts.hint ?? (notFound ? 'run scripts/setup-system.sh to install the tools dkms-abi uses' : undefined),
    );
  }
  return { exitCode: code ?? 0, stdout, stderr };
}

function tail(text: string, max: number): string {
  return text.length <= max ? text : text.slice(text.length - max);
}
