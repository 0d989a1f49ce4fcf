// The platforms the sharing scenario runs on, each a real dkms with real headers:
//   debian12        the machine itself: Debian 12, dkms 3.0.10, Linux 6.1;
//   dkms-upstream   the machine with upstream dkms built at set-up from Debian's newest dkms
//                   source (scripts/dkms-upstream.sh), chosen through DKMS_ABI_DKMS;
//   debian13        the Debian 13 chroot (scripts/trixie-chroot.sh): dkms 3.2.2, Linux 6.12,
//                   nodejs 20.19. dkms-abi, dkms and kbuild run inside it: 6.12's headers
//                   include their common half by an absolute path (/usr/src/linux-headers-
//                   <ver>-common/Makefile), which exists only there.
// All are made by scripts/setup-system.sh; a missing one fails its test, naming the script.
import { execa } from 'execa';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { CliResult } from './cli.js';
import type { SandboxRoot } from './sandbox.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(REPO, 'bin/dkms-abi');
const CACHE = process.env['DKMS_ABI_CACHE'] ?? '/var/cache/dkms-abi';
export const TRIXIE_CHROOT = path.join(CACHE, 'trixie-chroot');
export const UPSTREAM_DKMS = path.join(CACHE, 'dkms-upstream/usr/sbin/dkms');

export interface Platform {
  readonly name: string;
  /** Host path of the system the tools run in: "/" or a chroot. */
  readonly system: string;
  /** The dkms program as the system sees it. */
  readonly dkms: string;
  /** Two kernels of different ABIs whose headers the system has. */
  readonly kernels: readonly [string, string];
  /** Why the platform is not set up here, or undefined. */
  readonly missing: string | undefined;
}

const SETUP = 'run scripts/setup-system.sh';

export function debian12(): Platform {
  return {
    name: 'Debian 12, dkms 3.0.10, Linux 6.1',
    system: '/',
    dkms: 'dkms',
    kernels: ['6.1.0-47-amd64', '6.1.0-50-amd64'],
    missing: undefined,
  };
}

export function dkmsUpstream(): Platform {
  const versionFile = path.join(CACHE, 'dkms-upstream/VERSION');
  const version = existsSync(versionFile) ? readFileSync(versionFile, 'utf8').trim() : 'dkms (not built)';
  return {
    name: `Debian 12, upstream ${version} from source, Linux 6.1`,
    system: '/',
    dkms: UPSTREAM_DKMS,
    kernels: ['6.1.0-47-amd64', '6.1.0-50-amd64'],
    missing: existsSync(UPSTREAM_DKMS) ? undefined : `${UPSTREAM_DKMS} is missing: ${SETUP}`,
  };
}

export function debian13(): Platform {
  const kernelsFile = path.join(TRIXIE_CHROOT, '.kernels');
  const kernels = existsSync(kernelsFile)
    ? readFileSync(kernelsFile, 'utf8').split('\n').filter(Boolean)
    : [];
  const [a, c] = kernels;
  return {
    name: `Debian 13, dkms 3.2.2, Linux ${a ?? '6.12'}`,
    system: TRIXIE_CHROOT,
    dkms: 'dkms',
    kernels: [a ?? 'none', c ?? 'none'],
    missing:
      a !== undefined && c !== undefined
        ? undefined
        : `${TRIXIE_CHROOT} with two 6.12 ABIs (.kernels) is missing: ${SETUP}`,
  };
}

export function allPlatforms(): Platform[] {
  return [debian12(), dkmsUpstream(), debian13()];
}

export interface RunInOptions {
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/**
 * Runs argv in the platform's system. For a chroot: in a private mount namespace (the mounts
 * vanish with the process) with this repository (dist/, bin/) and its node_modules bound at
 * their own paths, and /proc.
 */
export async function runIn(
  p: Platform,
  argv: readonly string[],
  opts: RunInOptions = {},
): Promise<CliResult> {
  if (p.missing !== undefined) throw new Error(p.missing);
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LC_ALL: 'C',
    ...opts.env,
  };
  const [cmd, ...args] = p.system === '/' ? argv : chrootArgv(p.system, argv, env);
  if (cmd === undefined) throw new Error('runIn: empty argv');
  const r = await execa(cmd, args, {
    reject: false,
    extendEnv: false,
    env,
    stdin: 'ignore',
    timeout: opts.timeoutMs ?? 600_000,
    stripFinalNewline: false,
  });
  if (r.exitCode === undefined) throw new Error(`${argv.join(' ')} did not exit (${r.signal ?? 'timeout'})`);
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

const CHROOT_SCRIPT = `set -e
ch=$1; shift
while [ "$1" != -- ]; do mkdir -p "$ch$1"; mount --bind "$1" "$ch$1"; shift; done; shift
mount -t proc proc "$ch/proc"
exec chroot "$ch" "$@"`;

function chrootArgv(
  system: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): string[] {
  // The repository, and its node_modules where that is a link out of it (a git worktree's).
  const repo = realpathSync(REPO);
  const modules = realpathSync(path.join(REPO, 'node_modules'));
  const binds = modules.startsWith(`${repo}/`) ? [repo] : [repo, modules];
  return [
    'unshare',
    '--mount',
    '--propagation',
    'private',
    '--',
    'sh',
    '-c',
    CHROOT_SCRIPT,
    'sh',
    system,
    ...binds,
    '--',
    '/usr/bin/env',
    '-i',
    ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ...argv,
  ];
}

/** The built CLI on a sandbox root of the platform, with the platform's dkms. */
export function platformCli(
  p: Platform,
  sb: SandboxRoot,
  args: readonly string[],
  opts: RunInOptions = {},
): Promise<CliResult> {
  const env = { ...(p.dkms !== 'dkms' ? { DKMS_ABI_DKMS: p.dkms } : {}), ...opts.env };
  return runIn(p, ['node', BIN, '--root', sb.inner, ...args], { ...opts, env });
}

/** Stock dkms of the platform on a sandbox root's trees (signing keys and TMPDIR inside it). */
export function platformDkms(p: Platform, sb: SandboxRoot, args: readonly string[]): Promise<CliResult> {
  const inner = (rel: string) => path.join(sb.inner, rel);
  return runIn(
    p,
    [
      p.dkms,
      ...args,
      '--dkmstree',
      inner('var/lib/dkms'),
      '--sourcetree',
      inner('usr/src'),
      '--installtree',
      inner('lib/modules'),
    ],
    {
      env: {
        TMPDIR: inner('tmp'),
        mok_signing_key: inner('var/lib/dkms/mok.key'),
        mok_certificate: inner('var/lib/dkms/mok.pub'),
      },
    },
  );
}
