// A sandbox root as a compiler-less target machine sees it, and dpkg/apt run on it: kernels
// known only by /boot/symvers-<k>.gz and /boot/config-<k> (no headers), dpkg's database
// inside the root, the built CLI on PATH as `dkms-abi` for the maintainer scripts, and
// tripwires named like the build tools that record any call (nothing may compile there).
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { onTestFinished } from 'vitest';
import { BIN } from './cli.js';
import { HOST_HEADERS_DIR, type SandboxRoot } from './sandbox.js';

/** /boot/symvers-<k>.gz and /boot/config-<k> from the host's headers of `k`, as RHEL/SUSE ship them. */
export async function bootFilesOnly(sb: SandboxRoot, kernel: string): Promise<void> {
  const headers = path.join(HOST_HEADERS_DIR, `linux-headers-${kernel}`);
  await writeFile(
    sb.host(`boot/symvers-${kernel}.gz`),
    gzipSync(await readFile(path.join(headers, 'Module.symvers'))),
  );
  const config = sb.host(`boot/config-${kernel}`);
  if ((await readFile(config).catch(() => undefined)) === undefined)
    await writeFile(config, await readFile(path.join(headers, '.config')));
}

/** dpkg's administrative directory inside the root (dpkg --root uses <root>/var/lib/dpkg). */
export async function initDpkgDatabase(root: string): Promise<void> {
  const admin = path.join(root, 'var/lib/dpkg');
  await mkdir(path.join(admin, 'info'), { recursive: true });
  await mkdir(path.join(admin, 'updates'), { recursive: true });
  await writeFile(path.join(admin, 'status'), '');
  await writeFile(path.join(admin, 'available'), '');
}

const TRIPWIRES = ['gcc', 'cc', 'make', 'ld', 'dkms', 'kbuild'];

export interface ToolDir {
  readonly dir: string;
  /** PATH with the tool directory first. */
  readonly path: string;
  /** Build tools something tried to run. */
  tripped(): Promise<string[]>;
  /** The argument lists dkms-abi was called with, one per call. */
  calls(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** Removed when the test ends; outside a test (beforeAll) the caller cleans up. */
function whenTestEnds(fn: () => Promise<void>): void {
  try {
    onTestFinished(fn);
  } catch {
    // not inside a test
  }
}

/**
 * A directory of tripwires (and a recording dkms-abi) to put first in PATH. `tripwires` names
 * the tools that must not run (default: the build tools and dkms).
 */
export async function makeToolDir(opts: { readonly tripwires?: readonly string[] } = {}): Promise<ToolDir> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-tools-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  whenTestEnds(cleanup);
  const calls = path.join(dir, 'calls.log');
  // Records each call's arguments (what the maintainer scripts passed), then runs the built CLI.
  await writeFile(
    path.join(dir, 'dkms-abi'),
    `#!/bin/sh\necho "$*" >> ${calls}\nexec ${process.execPath} ${BIN} "$@"\n`,
  );
  await chmod(path.join(dir, 'dkms-abi'), 0o755);
  const log = path.join(dir, 'tripped.log');
  for (const t of opts.tripwires ?? TRIPWIRES) {
    await writeFile(
      path.join(dir, t),
      `#!/bin/sh\necho ${t} >> ${log}\necho "${t}: no build tools here" >&2\nexit 1\n`,
    );
    await chmod(path.join(dir, t), 0o755);
  }
  return {
    dir,
    path: `${dir}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    tripped: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    calls: async () => (await readFile(calls, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    cleanup,
  };
}

/** dpkg on the root, its log kept out of the host's /var/log. */
export function dpkgOnRoot(root: string, tools: ToolDir, args: readonly string[]) {
  return execa(
    'dpkg',
    [`--root=${root}`, '--force-script-chrootless', `--log=${path.join(tools.dir, 'dpkg.log')}`, ...args],
    { reject: false, env: { PATH: tools.path }, extendEnv: true, stdin: 'ignore' },
  );
}

export interface AptSandbox {
  readonly dir: string;
  run(tool: 'apt-get' | 'apt-cache', args: readonly string[], cwd?: string): ReturnType<typeof execa>;
}

/** apt with every directory under `dir` and one source: the flat repository. */
export async function makeAptSandbox(repo: string): Promise<AptSandbox> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-apt-'));
  whenTestEnds(() => rm(dir, { recursive: true, force: true }));
  for (const d of [
    'etc/apt/apt.conf.d',
    'etc/apt/preferences.d',
    'var/lib/apt/lists/partial',
    'var/cache/apt/archives/partial',
  ])
    await mkdir(path.join(dir, d), { recursive: true });
  await initDpkgDatabase(dir);
  await writeFile(path.join(dir, 'etc/apt/sources.list'), `deb [trusted=yes] file:${repo} ./\n`);
  const options = [
    `Dir=${dir}`,
    `Dir::State::status=${dir}/var/lib/dpkg/status`,
    `Dir::Etc::sourcelist=${dir}/etc/apt/sources.list`,
    'Dir::Etc::sourceparts=-',
    'Dir::Bin::methods=/usr/lib/apt/methods',
    'APT::Architecture=amd64',
    'APT::Sandbox::User=root',
    'Debug::NoLocking=1',
  ].flatMap((o) => ['-o', o]);
  return {
    dir,
    run: (tool, args, cwd) =>
      execa(tool, [...options, ...args], { reject: false, cwd: cwd ?? dir, stdin: 'ignore' }),
  };
}
