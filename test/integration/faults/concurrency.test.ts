// Concurrent commands on one root, as package installs, the boot unit and an admin may run
// them: eight real processes started together must serialise on the root's lock and end in
// exactly the state a serial run of the same commands reaches. And the lock as a user meets
// it: a command waits for a live holder, says so, and gives up after [abi] lock_timeout.
import { execa, type ResultPromise } from 'execa';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../../helpers/cli.js';
import { addSameAbiKernel } from '../../helpers/kernel-clone.js';
import type { SandboxRoot } from '../../helpers/sandbox.js';
import {
  A,
  B,
  D,
  MODULES,
  buildTemplate,
  cli,
  copyRoot,
  expectConsistent,
  removeRoot,
  snap,
} from './roots.js';

/** A third kernel of A's ABI, without headers. */
const B2 = '6.1.0-47.3-amd64';

const COMMANDS: readonly (readonly string[])[] = [
  ['install', 'hello-abi/1.0', '-k', A],
  ['install', 'abi-provider/1.0', '-k', A],
  ['kernel', 'add', B],
  ['kernel', 'add', B2],
  ['kernel', 'add', D],
  ['autoinstall', '-k', A],
  ['--json', 'status'],
  ['verify'],
];

function spawnCli(root: string, args: readonly string[], env: Record<string, string> = {}): ResultPromise {
  return execa(process.execPath, [BIN, '--root', root, ...args], {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', ...env },
    stdin: 'ignore',
    timeout: 300_000,
  });
}

describe('concurrent commands on one root', () => {
  let template: SandboxRoot;
  let base: string; // both modules installed for A; B, B2 and D not registered

  beforeAll(async () => {
    template = await buildTemplate();
    await addSameAbiKernel(template, A, B2, { headers: false, image: false, bootSymvers: true });
    for (const m of MODULES) await cli(template.root, ['install', `${m}/1.0`, '-k', A]);
    base = template.root;
  });

  afterAll(async () => {
    await template?.cleanup();
  });

  it('8 processes started together end where the same commands run one after another end', async () => {
    const serial = await copyRoot(base);
    const roots = [serial];
    try {
      for (const args of COMMANDS) {
        const r = await runCli(args, { root: serial });
        expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const status = async (root: string) => (await runCli(['--json', 'status'], { root })).stdout;
      const serialStatus = JSON.parse(await status(serial)) as unknown;
      const serialSnap = await snap(serial);
      // Started in the listed order, then in reverse: whoever gets the lock first, the end is the same.
      for (const order of ['listed', 'reversed'] as const) {
        const parallel = await copyRoot(base);
        roots.push(parallel);
        const commands = order === 'listed' ? [...COMMANDS] : [...COMMANDS].reverse();
        const t0 = Date.now();
        const runs = await Promise.all(commands.map((args) => spawnCli(parallel, args)));
        const wall = Date.now() - t0;
        const waited: string[] = [];
        for (const [i, r] of runs.entries()) {
          const args = commands[i] ?? [];
          expect(r.exitCode, `${args.join(' ')}:\n${String(r.stdout)}\n${String(r.stderr)}`).toBe(0);
          // No run found something half-done by another (they serialise on the lock).
          expect(String(r.stderr)).not.toMatch(/interrupted change|problem\(s\) found/);
          if (/waiting for the lock held by pid \d+ \(/.test(String(r.stderr))) waited.push(args.join(' '));
          // The status printed in the middle of it all is whole.
          if (args.includes('status'))
            expect(
              (JSON.parse(String(r.stdout)) as { entries: unknown[] }).entries.length,
            ).toBeGreaterThanOrEqual(2);
        }
        // The processes really met at the lock.
        expect(waited.length).toBeGreaterThan(0);
        console.log(
          `8 concurrent commands (${order} order): ${wall} ms wall; ${waited.length} waited for the lock (${waited.join('; ')})`,
        );
        await expectConsistent(parallel);
        expect(JSON.parse(await status(parallel))).toEqual(serialStatus);
        expect(await snap(parallel)).toEqual(serialSnap);
      }
      const kernels = await runCli(['kernel', 'list'], { root: serial });
      expect(kernels.stdout).toBe(
        [
          `${A}: amd64-1 (kernel-abi-amd64-1)`,
          `${B}: amd64-1 (kernel-abi-amd64-1)`,
          `${D}: amd64-2 (kernel-abi-amd64-2)`,
          `${B2}: amd64-1 (kernel-abi-amd64-1)`,
          '',
        ].join('\n'),
      );
    } finally {
      for (const r of roots) await removeRoot(r);
    }
  });

  describe('a lock held by a live process', () => {
    /** A process holding the root's lock through dkms-abi's own lock code until told to let go. */
    async function holdLock(root: string): Promise<{ pid: number; release: () => Promise<void> }> {
      const lockModule = new URL('../../../dist/system/lock.js', import.meta.url).href;
      const holder = execa(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { acquireLock } from ${JSON.stringify(lockModule)};
           const lock = await acquireLock(process.argv[1], { timeoutSeconds: 5, command: 'package-install blobdrv' });
           process.stdout.write('held\\n');
           process.stdin.once('data', async () => { await lock.release(); process.exit(0); });`,
          path.join(root, 'var/lib/dkms-abi/lock'),
        ],
        { stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', reject: false },
      );
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        void holder.then((r) => reject(new Error(`lock holder exited: ${r.exitCode}`)));
      });
      return {
        pid: holder.pid ?? -1,
        release: async () => {
          holder.stdin.write('go\n');
          await holder;
        },
      };
    }

    const config = (root: string, seconds: number) =>
      writeFile(path.join(root, 'etc/dkms-abi.conf'), `[abi]\nlock_timeout = ${seconds}\n`);

    it('a command waits, says for whom, and goes on once the holder lets go', async () => {
      const root = await copyRoot(base);
      try {
        await config(root, 60);
        const holder = await holdLock(root);
        const t0 = Date.now();
        const run = spawnCli(root, ['kernel', 'add', B]);
        // Released once the command has said it waits.
        let stderr = '';
        run.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        while (!stderr.includes('waiting for the lock')) {
          expect(Date.now() - t0, 'no waiting message').toBeLessThan(30_000);
          await new Promise((r) => setTimeout(r, 50));
        }
        const saidAfter = Date.now() - t0;
        await new Promise((r) => setTimeout(r, 1000));
        await holder.release();
        const r = await run;
        expect(r.exitCode, String(r.stderr)).toBe(0);
        expect(String(r.stderr).split('\n')[0]).toBe(
          `waiting for the lock held by pid ${holder.pid} (package-install blobdrv)…`,
        );
        expect(String(r.stderr).match(/waiting for the lock/g)).toHaveLength(1);
        expect(String(r.stdout)).toMatch(new RegExp(`hello-abi/1\\.0, ${B.replaceAll('.', '\\.')}: linked`));
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
        console.log(`waiting reported ${saidAfter} ms after start; done ${Date.now() - t0} ms after start`);
        await expectConsistent(root);
      } finally {
        await removeRoot(root);
      }
    });

    it('after [abi] lock_timeout seconds it gives up: exit 3, one line naming the holder, nothing changed', async () => {
      const root = await copyRoot(base);
      try {
        await config(root, 2);
        const before = await snap(root);
        const holder = await holdLock(root);
        try {
          for (const args of [['kernel', 'add', B], ['verify']]) {
            const t0 = Date.now();
            const r = await runCli(args, { root });
            const took = Date.now() - t0;
            expect(r.exitCode).toBe(3);
            const lines = r.stderr.trimEnd().split('\n');
            expect(lines).toHaveLength(2);
            expect(lines[0]).toBe(
              `waiting for the lock held by pid ${holder.pid} (package-install blobdrv)…`,
            );
            expect(lines[1]).toMatch(
              new RegExp(
                `^dkms-abi: timed out after 2s waiting for the lock .*/var/lib/dkms-abi/lock, held by pid ${holder.pid} \\(package-install blobdrv\\) since .* \\(raise lock_timeout in \\[abi\\] of dkms-abi\\.conf, or wait for that run to finish\\)$`,
              ),
            );
            expect(took).toBeGreaterThanOrEqual(2000);
            expect(took).toBeLessThan(10_000);
            console.log(`${args.join(' ')}: gave up after ${took} ms (lock_timeout = 2)`);
          }
          // lock_timeout = 0: no waiting at all.
          await config(root, 0);
          const t0 = Date.now();
          const r = await runCli(['install', 'hello-abi/1.0', '-k', A], { root });
          expect(r.exitCode).toBe(3);
          expect(r.stderr).toMatch(/timed out after 0s waiting for the lock/);
          expect(Date.now() - t0).toBeLessThan(5000);
          await config(root, 2);
        } finally {
          await holder.release();
        }
        expect(await snap(root)).toEqual(before);
      } finally {
        await removeRoot(root);
      }
    });
  });
});
