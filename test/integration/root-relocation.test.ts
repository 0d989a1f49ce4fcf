// A root can be moved or copied (docs/safety.md, "A root can move"): nothing kept inside it
// names its host path (journals, manifests, links, caches, dkms's source links and build
// logs); a moved root works as it did; repairing a copy made after a crash repairs the copy
// and never touches the original; a root from before source links were kept relative finds
// its sources again.
import { execa } from 'execa';
import {
  lstat,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  unlink,
} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInRootSync } from '../../src/system/rootfs.js';
import { runCli, spawnCli } from '../helpers/cli.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

const A = '6.1.0-47-amd64';
const MODULES = ['hello-abi', 'abi-provider'] as const;

/** Copies of the host's own files (hard links to them, see sandbox.ts): they cannot name a sandbox. */
const hostFiles = (rel: string): boolean =>
  rel.startsWith('usr/src/linux-headers-') || rel.startsWith('usr/lib');

/** What the commands never write, or write only as timestamps (the lock's owner, the verdict cache, the generation). */
const unwatched = (rel: string): boolean =>
  hostFiles(rel) || rel === 'var/lib/dkms-abi/lock' || rel.startsWith('var/lib/dkms-abi/cache');

/** Every file, link target and directory name in the root that contains `needle`. */
async function mentions(root: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const bytes = Buffer.from(needle);
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (hostFiles(rel)) continue;
      const st = await lstat(full);
      if (st.isSymbolicLink()) {
        if ((await readlink(full)).includes(needle)) found.push(`${rel} (link)`);
      } else if (st.isDirectory()) await walk(full);
      else if (st.isFile() && (await readFile(full)).includes(bytes)) found.push(rel);
    }
  }
  await walk(root);
  return found.sort();
}

/** Links whose host resolution differs from the resolution inside the root (as in a chroot). */
async function linksNotChrootSafe(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (hostFiles(rel)) continue;
      const st = await lstat(full);
      if (st.isDirectory()) await walk(full);
      else if (st.isSymbolicLink()) {
        const target = await readlink(full);
        const inRoot = resolveInRootSync(root, `/${rel}`);
        // Resolved by the host: absolute targets leave the root (Debian's build link, which
        // names the headers inside the root, is resolved inside it by every reader).
        if (target.startsWith('/')) continue;
        const onHost = await realOrNothing(full);
        if (onHost !== (await realOrNothing(inRoot))) out.push(`${rel} -> ${target}`);
      }
    }
  }
  await walk(root);
  return out.sort();
}

async function realOrNothing(p: string): Promise<string> {
  const st = await stat(p).catch(() => undefined);
  return st === undefined ? '(nothing)' : `${st.dev}:${st.ino}`;
}

async function cli(root: string, args: readonly string[]): Promise<string> {
  const r = await runCli(args, { root });
  if (r.exitCode !== 0)
    throw new Error(`dkms-abi ${args.join(' ')} exited ${r.exitCode}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

describe('a root moved or copied', () => {
  let sb: SandboxRoot;
  /** Where the tests put moved and copied roots; removed at the end. */
  let scratch: string;
  let statusBefore: string;

  beforeAll(async () => {
    sb = await makeSandboxRoot({ kernels: [A] });
    scratch = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-moved-'));
    for (const m of MODULES) {
      await copyExampleSource(sb.root, m);
      await cli(sb.root, ['add', `${m}/1.0`]);
    }
    await cli(sb.root, ['kernel', 'add', A]);
    statusBefore = await cli(sb.root, ['status']);
  });
  afterAll(async () => {
    await sb.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  it('names its host path nowhere, and every link inside it resolves the same run from the host or as "/"', async () => {
    expect(statusBefore).toBe(
      `abi-provider/1.0, ${A}, x86_64: installed\nhello-abi/1.0, ${A}, x86_64: installed\n`,
    );
    expect(await mentions(sb.root, sb.root)).toEqual([]);
    expect(await linksNotChrootSafe(sb.root)).toEqual([]);
    expect(await readlink(sb.host('var/lib/dkms/hello-abi/1.0/source'))).toBe(
      '../../../../../usr/src/hello-abi-1.0',
    );
  });

  it('moved (mv): status, verify, uninstall, a rebuild and install work from the new place', async () => {
    const moved = path.join(scratch, 'moved');
    await rename(sb.root, moved);
    try {
      expect(await cli(moved, ['status'])).toBe(statusBefore);
      expect(await runCli(['verify'], { root: moved })).toEqual({
        exitCode: 0,
        stdout: '',
        stderr: 'verify: consistent\n',
      });
      await cli(moved, ['uninstall', 'hello-abi/1.0']);
      // A fresh dkms build from the moved root's own sources.
      await cli(moved, ['remove', 'hello-abi/1.0', '--all']);
      await cli(moved, ['add', 'hello-abi/1.0']);
      expect(await cli(moved, ['install', 'hello-abi/1.0', '-k', A])).toContain('installed');
      expect(await cli(moved, ['status'])).toBe(statusBefore);
      expect(await runCli(['verify'], { root: moved })).toEqual({
        exitCode: 0,
        stdout: '',
        stderr: 'verify: consistent\n',
      });
      expect(await mentions(moved, moved)).toEqual([]);
      expect(await mentions(moved, sb.root)).toEqual([]);
    } finally {
      await rename(moved, sb.root);
    }
  });

  it('copied after a crash: repairing the copy rolls back the copy; the original keeps its pending change', async () => {
    const copy = path.join(scratch, 'copy');
    const healthy = await snapshotTree(sb.root, { ignore: unwatched });
    // Killed half-way through its plan: the uninstall's journal is pending in the original.
    const killed = await spawnCli(['uninstall', 'hello-abi/1.0'], {
      root: sb.root,
      env: { DKMS_ABI_FAULT_AT: '3' },
    });
    expect(killed.signal).toBe('SIGKILL');
    const journal = await readdir(sb.host('var/lib/dkms-abi/journal'));
    expect(journal).toHaveLength(1);
    const crashed = await snapshotTree(sb.root, { ignore: unwatched });
    expect(crashed).not.toEqual(healthy);
    await execa('cp', ['-a', sb.root, copy]);

    const repair = await runCli(['verify', '--repair'], { root: copy });
    expect(repair.stderr).toContain('rolled back an interrupted change: uninstall hello-abi/1.0');
    expect(repair.exitCode).toBe(0);
    expect(await snapshotTree(copy, { ignore: unwatched })).toEqual(healthy);
    // The original is exactly as the crash left it, its journal still pending.
    expect(await snapshotTree(sb.root, { ignore: unwatched })).toEqual(crashed);
    expect(await readdir(sb.host('var/lib/dkms-abi/journal'))).toEqual(journal);

    expect((await runCli(['verify', '--repair'], { root: sb.root })).exitCode).toBe(0);
    expect(await snapshotTree(sb.root, { ignore: unwatched })).toEqual(healthy);
  });

  it('a root whose dkms source links still name where it was built finds its sources after a move', async () => {
    // As `dkms add` writes it, and dkms-abi kept it before source links were relative.
    const link = sb.host('var/lib/dkms/abi-provider/1.0/source');
    await unlink(link);
    await symlink('/srv/images/old-place/usr/src/abi-provider-1.0', link);
    await cli(sb.root, ['uninstall', 'abi-provider/1.0']);
    expect(await readlink(link)).toBe('../../../../../usr/src/abi-provider-1.0');
    await cli(sb.root, ['remove', 'abi-provider/1.0', '--all']);
    await cli(sb.root, ['add', 'abi-provider/1.0']);
    await cli(sb.root, ['install', 'abi-provider/1.0', '-k', A]);
    expect(await cli(sb.root, ['status'])).toBe(statusBefore);
  });
});
