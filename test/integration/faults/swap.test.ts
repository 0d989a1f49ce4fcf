// The real uninstall, stopped at the moment it acts on the shared tree's module file (its
// directory checked and held: DKMS_ABI_FAULT_AT=+n:stop-act); the tree's directory is then
// swapped for a symlink to an outside directory holding a file of the same name. The
// command goes on: it must act on the directory it checked (moved aside, inside the root) and
// never rename, remove or stage anything outside (docs/safety.md, "Nothing escapes the root").
import { execa } from 'execa';
import { cp, mkdtemp, readFile, readdir, rename, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_ENTRY, runCli } from '../../helpers/cli.js';
import type { SandboxRoot } from '../../helpers/sandbox.js';
import { snapshotTree } from '../../helpers/tree-snapshot.js';
import { A, buildTemplate, cli } from './roots.js';

const ENV = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: process.env['HOME'] ?? '/root',
  LC_ALL: 'C',
};
const TREE_DIR = 'lib/modules/kernel-abi-amd64-1/dkms';

function startStopped(root: string, args: readonly string[], at: string) {
  return execa(process.execPath, [FAULT_ENTRY, '--root', root, ...args], {
    reject: false,
    extendEnv: false,
    env: { ...ENV, DKMS_ABI_FAULT_AT: at },
    stdin: 'ignore',
  });
}

async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    const state = text?.slice(text.lastIndexOf(')') + 2).split(' ')[0];
    if (state === 'T') return;
    if (state === undefined || state === 'Z') throw new Error(`${pid} ended before it stopped`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`${pid} never stopped`);
}

describe('a directory swapped for a link out of the root while uninstall acts in it', () => {
  let sb: SandboxRoot;
  let outside: string;

  beforeAll(async () => {
    sb = await buildTemplate();
    outside = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-swap-outside-'));
    for (const m of ['hello-abi', 'abi-provider']) await cli(sb.root, ['install', `${m}/1.0`, '-k', A]);
  });
  afterAll(async () => {
    await sb.cleanup();
    await rm(outside, { recursive: true, force: true });
  });

  it('the module file outside keeps its name and bytes; the command refuses what goes through the link', async () => {
    // Which step removes the tree's hello_abi.ko: read from the journal of a run stopped at its first act.
    const probe = startStopped(sb.root, ['uninstall', 'hello-abi/1.0'], '+0:stop-act');
    await waitStopped(probe.pid ?? 0);
    const [id = ''] = await readdir(sb.host('var/lib/dkms-abi/journal'));
    const journal = JSON.parse(
      await readFile(sb.host(`var/lib/dkms-abi/journal/${id}/plan.json`), 'utf8'),
    ) as {
      entries: { op: string; path: string }[];
    };
    process.kill(probe.pid ?? 0, 'SIGKILL');
    await probe;
    expect((await runCli(['verify', '--repair'], { root: sb.root })).exitCode).toBe(0);
    const step = journal.entries.findIndex(
      (e) => e.op === 'remove' && e.path === `/${TREE_DIR}/hello_abi.ko`,
    );
    expect(step).toBeGreaterThanOrEqual(0);

    const writer = startStopped(sb.root, ['uninstall', 'hello-abi/1.0'], `+${step}:stop-act`);
    await waitStopped(writer.pid ?? 0);
    // The swap: the real directory moved aside inside the root, a look-alike outside behind a link.
    const away = path.join(outside, 'dkms');
    await cp(sb.host(TREE_DIR), away, { recursive: true, verbatimSymlinks: true });
    await rename(sb.host(TREE_DIR), sb.host(`${TREE_DIR}.moved`));
    await symlink(away, sb.host(TREE_DIR));
    const before = await snapshotTree(outside);
    process.kill(writer.pid ?? 0, 'SIGCONT');
    const r = await writer;

    expect(await snapshotTree(outside)).toEqual(before);
    expect(Object.keys(before)).toContain('dkms/hello_abi.ko');
    // Acted on the directory it checked: the file is gone from there (set aside or rolled back
    // into it), never looked for behind the link.
    const moved = await readdir(sb.host(`${TREE_DIR}.moved`));
    expect(moved.some((n) => n === 'hello_abi.ko' || n.endsWith('.gone'))).toBe(true);
    if (r.exitCode !== 0) {
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/leads outside the root/);
    }
    // A later command refuses to act through the link, and changes nothing outside either.
    const again = await runCli(['verify', '--repair'], { root: sb.root });
    expect(again.exitCode).not.toBe(0);
    expect(await snapshotTree(outside)).toEqual(before);
  });
});
