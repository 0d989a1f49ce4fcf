// Roots for the fault tests: one template built by the real commands (real dkms builds of
// hello-abi and abi-provider, real depmod), copied with `cp -a` for every case, and the
// helpers those tests share: running the CLI where it may be killed, snapshots that leave
// out what never changes (headers, boot files) or only records when things happened (the
// lock, the verdict cache).
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { runCli, spawnCli, type CliEnding } from '../../helpers/cli.js';
import { addSameAbiKernel } from '../../helpers/kernel-clone.js';
import {
  HOST_HEADERS_DIR,
  IMAGES_DIR,
  copyExampleSource,
  makeSandboxRoot,
  type SandboxRoot,
} from '../../helpers/sandbox.js';
import { snapshotTree, type TreeSnapshot } from '../../helpers/tree-snapshot.js';

/** The kernel with headers: modules are built for it. */
export const A = '6.1.0-47-amd64';
/** Same ABI as A, no headers, its exports in /boot/symvers-B.gz (RHEL-style: a root small enough for the tmpfs and kill tests): reuses A's builds. */
export const B = '6.1.0-47.1-amd64';
/**
 * A's symbols with one CRC changed (a symbol neither example imports), no headers: a new ABI
 * for the flavour (a new tree, kernel-abi-amd64-2) whose loader still accepts A's builds, so
 * `kernel add` reuses them by copying — no compiler run.
 */
export const D = '6.1.0-47.2-amd64';
export const CHANGED_SYMBOL = 'ata_scsi_ioctl';
export const MODULES = ['hello-abi', 'abi-provider'] as const;
/** Real modules from the Debian image, standing for another package's files in D's extra/. */
export const VENDOR_FILES: Readonly<Record<string, string>> = {
  'vendor.ko': 'kernel/drivers/misc/eeprom/eeprom_93cx6.ko',
  'vendor/sub.ko': 'kernel/drivers/misc/eeprom/eeprom_93cx6.ko',
};

/** Full run (every step) or the CI sample. */
export const FULL = process.env['DKMS_ABI_FULL_FAULTS'] === '1';

/** Paths a comparison leaves out: never written by the commands, or only timestamps/ownership. */
export function ignored(rel: string): boolean {
  return (
    rel === 'usr/src/linux-headers-6.1.0-47-amd64' ||
    rel.startsWith('usr/src/linux-headers-') ||
    rel.startsWith('usr/lib') ||
    rel.startsWith('boot') ||
    rel.startsWith('tmp') ||
    rel === 'var/lib/dkms-abi/lock' ||
    // Per-kernel verdict caches: stamped with inodes and times, a different file per run.
    rel.startsWith('var/lib/dkms-abi/cache')
  );
}

export function snap(root: string): Promise<TreeSnapshot> {
  return snapshotTree(root, { ignore: ignored });
}

export async function cli(
  root: string,
  args: readonly string[],
): Promise<{ stdout: string; stderr: string }> {
  const r = await runCli(args, { root });
  if (r.exitCode !== 0)
    throw new Error(`dkms-abi ${args.join(' ')} exited ${r.exitCode}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Runs the CLI with fault injection; never throws for a signal (runCli would). */
export function runFault(
  root: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<CliEnding> {
  return spawnCli(args, { root, env, timeoutMs: 300_000 });
}

/** A kernel of A's flavour whose Module.symvers differs from A's in one CRC. */
export async function addChangedAbiKernel(sb: SandboxRoot, from: string, to: string): Promise<void> {
  const hostHeaders = path.join(HOST_HEADERS_DIR, `linux-headers-${from}`);
  await mkdir(sb.host(`lib/modules/${to}`), { recursive: true });
  const config = (await readFile(path.join(hostHeaders, '.config'), 'utf8')).replaceAll(from, to);
  await writeFile(sb.host(`boot/config-${to}`), config);
  const lines = (await readFile(path.join(hostHeaders, 'Module.symvers'), 'utf8')).split('\n');
  let changed = 0;
  const out = lines.map((line) => {
    const f = line.split('\t');
    if (f[1] !== CHANGED_SYMBOL) return line;
    changed++;
    f[0] = `0x${((Number(f[0]) ^ 0x5a5a5a5a) >>> 0).toString(16).padStart(8, '0')}`;
    return f.join('\t');
  });
  if (changed !== 1) throw new Error(`${CHANGED_SYMBOL} is not exported once by ${from}`);
  await writeFile(sb.host(`boot/symvers-${to}.gz`), gzipSync(out.join('\n')));
}

export async function vendorBytes(): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const [rel, src] of Object.entries(VENDOR_FILES)) {
    const bytes = await readFile(path.join(IMAGES_DIR, A, 'lib/modules', A, src));
    // Each file its own content, so a file found by content is that file.
    out.set(rel, Buffer.concat([bytes, Buffer.from(`\0vendor ${rel}\0`)]));
  }
  return out;
}

/**
 * The template: kernels A (registered, kernel-abi-amd64-1), B and D (not registered yet; D
 * with a real extra/ directory of another package's files), hello-abi and abi-provider added
 * and built for A by real dkms, nothing installed. `moreKernelsWithHeaders`: kernels with the
 * host's headers, not registered.
 */
export async function buildTemplate(
  opts: { readonly moreKernelsWithHeaders?: readonly string[] } = {},
): Promise<SandboxRoot> {
  const sb = await makeSandboxRoot({ kernels: [A, ...(opts.moreKernelsWithHeaders ?? [])] });
  try {
    await addSameAbiKernel(sb, A, B, { headers: false, image: false, bootSymvers: true });
    await addChangedAbiKernel(sb, A, D);
    for (const [rel, bytes] of await vendorBytes()) {
      const file = sb.host(`lib/modules/${D}/extra/${rel}`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, bytes);
    }
    for (const m of MODULES) {
      await copyExampleSource(sb.root, m);
      await cli(sb.root, ['add', `${m}/1.0`]);
    }
    // Two builds at once: each is mostly one make job.
    // (allSettled: never clean the root up while the other build still runs in it.)
    const builds = await Promise.allSettled(MODULES.map((m) => cli(sb.root, ['build', `${m}/1.0`, '-k', A])));
    for (const b of builds) if (b.status === 'rejected') throw b.reason;
    return sb;
  } catch (err) {
    await sb.cleanup();
    throw err;
  }
}

/**
 * A fresh copy of a root (`cp -a`: modes, links and times kept); remove it with removeRoot.
 * The kernel headers and kbuild tools (thousands of files nothing writes, hard links to the
 * host's already, see sandbox.ts) are hard-linked again rather than copied.
 */
export async function copyRoot(from: string): Promise<string> {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-fault-'));
  const to = path.join(parent, 'root');
  await mkdir(path.join(to, 'usr/src'), { recursive: true });
  // [source, directory it goes into, hard links?]
  const jobs: [string, string, boolean][] = [];
  for (const name of await readdir(from)) if (name !== 'usr') jobs.push([path.join(from, name), to, false]);
  for (const name of await readdir(path.join(from, 'usr')))
    if (name !== 'src') jobs.push([path.join(from, 'usr', name), path.join(to, 'usr'), name === 'lib']);
  for (const name of await readdir(path.join(from, 'usr/src')))
    jobs.push([
      path.join(from, 'usr/src', name),
      path.join(to, 'usr/src'),
      name.startsWith('linux-headers-'),
    ]);
  for (const hard of [false, true]) {
    const byDest = new Map<string, string[]>();
    for (const [src, dest, h] of jobs) if (h === hard) byDest.set(dest, [...(byDest.get(dest) ?? []), src]);
    for (const [dest, srcs] of byDest) await execa('cp', [hard ? '-al' : '-a', ...srcs, dest]);
  }
  return to;
}

export async function removeRoot(root: string): Promise<void> {
  if (process.env['DKMS_ABI_KEEP_SANDBOX'] === '1') {
    process.stderr.write(`sandbox kept: ${root}\n`);
    return;
  }
  await rm(path.dirname(root), { recursive: true, force: true });
}

/** `verify` exit 0 with nothing found. */
export async function expectConsistent(root: string): Promise<void> {
  const v = await runCli(['verify'], { root });
  expect(v.stdout + v.stderr).toBe('verify: consistent\n');
  expect(v.exitCode).toBe(0);
}
