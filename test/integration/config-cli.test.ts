// The configuration as the CLI meets it: a bad file stops any command with exit 2 and one
// line naming the file and line, before the command touches the root.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

let root: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-config-cli-'));
  await mkdir(path.join(root, 'etc/dkms-abi.conf.d'), { recursive: true });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('configuration errors at the command line', () => {
  it('names the bad drop-in file and line, exits 2, and changes nothing', async () => {
    await writeFile(path.join(root, 'etc/dkms-abi.conf'), '[abi]\nreuse = tree\n');
    await writeFile(path.join(root, 'etc/dkms-abi.conf.d/50-site.conf'), '[abi]\n\nlock_timeout = soon\n');
    const r = await runCli(['setup-hooks'], { root });
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: `dkms-abi: ${root}/etc/dkms-abi.conf.d/50-site.conf:3: [abi] lock_timeout must be whole seconds from 0 to 86400, got "soon"\n`,
    });
    expect((await readdir(root)).sort()).toEqual(['etc']);
  });

  it('exits 2 for a --config file that does not exist', async () => {
    const missing = path.join(root, 'nowhere.conf');
    const r = await runCli(['--config', missing, 'setup-hooks'], { root });
    expect([r.exitCode, r.stderr]).toEqual([2, `dkms-abi: ${missing}: no such file\n`]);
  });

  it('refuses reserved section and key names such as [__proto__]', async () => {
    await writeFile(path.join(root, 'etc/dkms-abi.conf'), '[__proto__]\npolluted = yes\n');
    const r = await runCli(['setup-hooks'], { root });
    expect([r.exitCode, r.stderr]).toEqual([
      2,
      `dkms-abi: ${root}/etc/dkms-abi.conf:1: unsupported section name [__proto__]\n`,
    ]);
    expect((await readdir(root)).sort()).toEqual(['etc']);
  });

  it('refuses a FIFO at the configuration path instead of waiting for a writer', async () => {
    const fifo = path.join(root, 'etc/dkms-abi.conf');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = await runCli(['status'], { root });
    expect([r.exitCode, r.stderr]).toEqual([2, `dkms-abi: ${fifo}: not a regular file\n`]);
  });

  it.each([
    [['status', '-k', '../../x'], '../../x', 'only letters, digits and . _ + - are allowed'],
    [['uninstall', 'm/1', '-k', 'a/b'], 'a/b', 'only letters, digits and . _ + - are allowed'],
    [
      ['kernel', 'add', 'kernel-abi-amd64-1'],
      'kernel-abi-amd64-1',
      'names a shared ABI tree ("kernel-abi-…"), not a kernel',
    ],
    [['abi', 'show', '.hidden'], '.hidden', 'starts with "."'],
  ])('refuses an unsafe kernel release before the command runs: %j', async (argv, kver, problem) => {
    const r = await runCli(argv, { root });
    expect(r).toEqual({
      exitCode: 2,
      stdout: '',
      stderr: `dkms-abi: invalid kernel release "${kver}": ${problem}\n`,
    });
    expect((await readdir(root)).sort()).toEqual(['etc']);
  });
});
