// The formats dkms-abi reads back (the state layout, the journal) as the CLI meets them: a
// state directory or journal written by a newer dkms-abi stops every command with exit 2 and
// one line naming the file and both versions, before anything is changed; a state directory
// from before layout versions works and gets its version with the next change. And the
// fault switches of the tests are ignored by the shipped program.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.js';
import { makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

const STATE = 'var/lib/dkms-abi';
const LAYOUT = `${STATE}/layout-version`;
const HOOK = 'etc/kernel/postinst.d/05dkms-abi';

let sb: SandboxRoot;
beforeEach(async () => {
  sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
});
const readLayout = () => readFile(sb.host(LAYOUT), 'utf8');
const exists = (inner: string) =>
  readFile(sb.host(inner)).then(
    () => true,
    () => false,
  );

describe('the state layout version', () => {
  it('is written with the first change, and only then', async () => {
    expect((await runCli(['status'], { root: sb.root })).exitCode).toBe(0);
    expect(await runCli(['setup-hooks', '--dry-run'], { root: sb.root })).toMatchObject({ exitCode: 0 });
    expect(await exists(LAYOUT)).toBe(false);
    // A change that fails leaves no version behind: it is part of the same transaction.
    const failed = await spawnCli(['setup-hooks'], { root: sb.root, env: { DKMS_ABI_FAULT_AT: '0:fail' } });
    expect(failed.exitCode).toBe(3);
    expect(await exists(LAYOUT)).toBe(false);
    expect(await exists(HOOK)).toBe(false);
    expect((await runCli(['setup-hooks'], { root: sb.root })).exitCode).toBe(0);
    expect(await readLayout()).toBe('1\n');
    expect(await exists(HOOK)).toBe(true);
  });

  it('a root from before layout versions (state, no version file) works and gets version 1 with the next change', async () => {
    expect((await runCli(['setup-hooks'], { root: sb.root })).exitCode).toBe(0);
    await rm(sb.host(LAYOUT));
    await rm(sb.host(HOOK));
    expect((await runCli(['status'], { root: sb.root })).exitCode).toBe(0);
    expect((await runCli(['verify'], { root: sb.root })).exitCode).toBe(0);
    expect(await exists(LAYOUT)).toBe(false);
    const r = await runCli(['setup-hooks'], { root: sb.root });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('installed /etc/kernel/postinst.d/05dkms-abi');
    expect(await readLayout()).toBe('1\n');
  });

  it.each([
    [
      'a newer',
      '2\n',
      'state layout version 2 is newer than this dkms-abi reads (version 1): use the dkms-abi that wrote it, or a newer one',
    ],
    ['an unknown', 'two\n', 'unknown state layout version "two" (this dkms-abi reads version 1)'],
  ])('%s version: every command exits 2 with one line, nothing changed', async (_what, text, problem) => {
    await mkdir(sb.host(STATE), { recursive: true });
    await writeFile(sb.host(LAYOUT), text);
    const before = await snapshotTree(sb.root);
    for (const args of [['status'], ['setup-hooks'], ['verify', '--repair'], ['autoinstall']]) {
      const r = await runCli(args, { root: sb.root });
      expect({ args, ...r }).toEqual({
        args,
        exitCode: 2,
        stdout: '',
        stderr: `dkms-abi: ${sb.host(LAYOUT)}: ${problem}\n`,
      });
    }
    expect(await snapshotTree(sb.root)).toEqual(before);
  });
});

describe('the journal format', () => {
  it('a journal from a newer dkms-abi: the next change exits 2 naming it, and leaves it and the root alone', async () => {
    expect((await runCli(['setup-hooks'], { root: sb.root })).exitCode).toBe(0);
    await rm(sb.host(HOOK));
    const journal = sb.host(`${STATE}/journal/zz-newer/plan.json`);
    await mkdir(path.dirname(journal), { recursive: true });
    await writeFile(journal, JSON.stringify({ format: 3, id: 'zz-newer', operations: [] }));
    const before = await snapshotTree(sb.root, { ignore: (rel) => rel === `${STATE}/lock` });
    const r = await runCli(['setup-hooks'], { root: sb.root });
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: `dkms-abi: ${journal}: journal format version 3 is newer than this dkms-abi reads (version 2): use the dkms-abi that wrote it, or a newer one\n`,
    });
    expect(await snapshotTree(sb.root, { ignore: (rel) => rel === `${STATE}/lock` })).toEqual(before);
    expect(await exists(`${STATE}/lock`)).toBe(false);
  });
});

describe('the fault switches', () => {
  let trace: string;
  beforeEach(() => {
    trace = path.join(os.tmpdir(), `dkms-abi-fault-trace-${process.pid}-${Date.now()}`);
  });
  afterEach(() => rm(trace, { force: true }));

  it('the test entry honours them (the test below would prove nothing otherwise)', async () => {
    const r = await spawnCli(['setup-hooks'], {
      root: sb.root,
      env: { DKMS_ABI_FAULT_AT: '0', DKMS_ABI_FAULT_TRACE: trace },
    });
    expect(r.signal).toBe('SIGKILL');
    expect(await readFile(trace, 'utf8')).toBe('0 0 setup-hooks\n');
  });

  it('the shipped bin/dkms-abi ignores DKMS_ABI_FAULT_AT, DKMS_ABI_FAULT_TRACE and DKMS_ABI_FAULT_PAUSE', async () => {
    const r = await spawnCli(['setup-hooks'], {
      root: sb.root,
      env: { DKMS_ABI_FAULT_AT: '0', DKMS_ABI_FAULT_TRACE: trace, DKMS_ABI_FAULT_PAUSE: 'plan' },
      shipped: true,
      timeoutMs: 60_000,
    });
    expect([r.exitCode, r.signal, r.stderr]).toEqual([0, undefined, '']);
    expect(await exists(HOOK)).toBe(true);
    expect(await exists(LAYOUT)).toBe(true);
    await expect(readFile(trace)).rejects.toThrow(/ENOENT/);
    await rm(sb.host(HOOK));
    const notFailed = await spawnCli(['setup-hooks'], {
      root: sb.root,
      env: { DKMS_ABI_FAULT_AT: '+0:fail' },
      shipped: true,
    });
    expect([notFailed.exitCode, notFailed.stderr]).toEqual([0, '']);
    expect(await exists(HOOK)).toBe(true);
  });
});
