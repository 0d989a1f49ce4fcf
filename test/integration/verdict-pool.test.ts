// The worker pool of `abi compat --symvers` (src/system/verdict-pool.ts), which runs only when
// DKMS_ABI_THREADS asks for threads: through the built CLI (whose bundle must carry the
// worker's script, or a run asking for threads fails), the report and the JSON on real
// modules, dependencies between them included, are byte for byte those judged on one thread;
// and a module that cannot be read is the same one-line error.
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const KERNEL = '/var/cache/dkms-abi/images/6.1.0-47-amd64/lib/modules/6.1.0-47-amd64/kernel';
const SYMVERS = (k: string) => `/usr/src/linux-headers-${k}/Module.symvers`;
const DIRS = [`${KERNEL}/net/netfilter`, `${KERNEL}/drivers/scsi`, `${KERNEL}/fs`];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-pool-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const compat = (args: readonly string[], threads: string) =>
  runCli(['abi', 'compat', ...args], { root: dir, env: { DKMS_ABI_THREADS: threads } });

describe('abi compat on worker threads', () => {
  it('reports what one thread reports, dependencies between the modules included', async () => {
    for (const k of ['6.1.0-47-amd64', '6.1.0-50-amd64']) {
      for (const json of [[], ['--json']]) {
        const args = [...json, '--symvers', SYMVERS(k), ...DIRS];
        const one = await compat(args, '0');
        const two = await compat(args, '2');
        expect(two).toEqual(one);
        expect(one.exitCode).toBe(k === '6.1.0-47-amd64' ? 0 : 1);
        if (k === '6.1.0-50-amd64' && json.length === 0) expect(one.stdout).toContain('  dependency: needs ');
      }
    }
  }, 300_000);

  it('names the first file that cannot be read, as one thread does', async () => {
    const bad = path.join(dir, 'm01-bad.ko');
    await writeFile(bad, 'not a module');
    const worse = path.join(dir, 'm99-worse.ko');
    await copyFile(`${KERNEL}/fs/ext4/ext4.ko`, worse);
    await writeFile(worse, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 9]));
    const args = [
      '--symvers',
      SYMVERS('6.1.0-47-amd64'),
      `${KERNEL}/drivers/scsi`,
      bad,
      `${KERNEL}/fs`,
      worse,
    ];
    const one = await compat(args, '0');
    const two = await compat(args, '2');
    expect(two).toEqual(one);
    expect(one.exitCode).toBe(2);
    expect(one.stderr).toContain('m01-bad.ko');
  }, 300_000);
});
