import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, readOwner, withLock } from '../../src/system/lock.js';

let dir: string;
let lockFile: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-lock-'));
  lockFile = path.join(dir, 'state/lock');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lockModule = new URL('../../dist/system/lock.js', import.meta.url).href;

describe('root lock', () => {
  it('records its owner and is gone after release; nested use in one process shares it', async () => {
    const outer = await acquireLock(lockFile, { timeoutSeconds: 1, command: 'install' });
    const owner = await readOwner(lockFile);
    expect(owner?.pid).toBe(process.pid);
    expect(owner?.command).toBe('install');
    const inner = await acquireLock(lockFile, { timeoutSeconds: 1, command: 'autoinstall' });
    await inner.release();
    expect((await readOwner(lockFile))?.pid).toBe(process.pid);
    await outer.release();
    expect(await readOwner(lockFile)).toBeUndefined();
  });

  it('times out naming the live owner, after telling the caller it waits', async () => {
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { acquireLock } from ${JSON.stringify(lockModule)};
         await acquireLock(process.argv[1], { timeoutSeconds: 5, command: 'kernel add' });
         process.stdout.write('held\\n');
         setTimeout(() => {}, 60000);`,
        lockFile,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
      const waited: number[] = [];
      await expect(
        acquireLock(lockFile, {
          timeoutSeconds: 0.3,
          command: 'status',
          onWait: (o) => waited.push(o?.pid ?? -1),
        }),
      ).rejects.toThrow(new RegExp(`held by pid ${holder.pid} \\(kernel add\\)`));
      expect(waited).toEqual([holder.pid]);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('takes over a lock left by a dead process', async () => {
    const dead = spawnSync('true');
    expect(dead.status).toBe(0);
    await withLock(lockFile, { timeoutSeconds: 1, command: 'seed' }, () => Promise.resolve());
    await writeFile(
      lockFile,
      JSON.stringify({ pid: dead.pid, start: '1', host: hostname(), command: 'autoinstall', since: 'then' }),
    );
    const lock = await acquireLock(lockFile, { timeoutSeconds: 2, command: 'verify' });
    expect((await readOwner(lockFile))?.command).toBe('verify');
    await lock.release();
  });

  it('takes over a lock whose owner was killed but not yet reaped (a zombie)', async () => {
    // The background job exits once its parent has become `sleep 30`, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const pid = Number(
        await new Promise<string>((resolve) =>
          parent.stdout.once('data', (d: Buffer) => resolve(d.toString())),
        ),
      );
      let stat = '';
      for (let i = 0; i < 100 && !/^\d+ \(.*\) Z /.test(stat); i++) {
        await new Promise((r) => setTimeout(r, 20));
        stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      }
      expect(stat).toMatch(/^\d+ \(.*\) Z /);
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      await withLock(lockFile, { timeoutSeconds: 1, command: 'seed' }, () => Promise.resolve());
      await writeFile(
        lockFile,
        JSON.stringify({ pid, start, host: hostname(), command: 'install', since: 'then' }),
      );
      const lock = await acquireLock(lockFile, { timeoutSeconds: 2, command: 'verify' });
      expect((await readOwner(lockFile))?.command).toBe('verify');
      await lock.release();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('serialises 8 processes doing read-modify-write under the lock', async () => {
    const counter = path.join(dir, 'counter');
    await writeFile(counter, '0');
    const script = `
      import { readFileSync, writeFileSync } from 'node:fs';
      import { withLock } from ${JSON.stringify(lockModule)};
      const [lock, counter] = process.argv.slice(1);
      for (let i = 0; i < 5; i++) {
        await withLock(lock, { timeoutSeconds: 30, command: 'test', pollMs: 5 }, async () => {
          const n = Number(readFileSync(counter, 'utf8'));
          await new Promise((r) => setTimeout(r, 2));
          writeFileSync(counter, String(n + 1));
        });
      }`;
    const children = Array.from({ length: 8 }, () =>
      spawn(process.execPath, ['--input-type=module', '-e', script, lockFile, counter], { stdio: 'inherit' }),
    );
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('exit', r))));
    expect(codes).toEqual(Array(8).fill(0));
    expect(await readFile(counter, 'utf8')).toBe('40');
  });
});
