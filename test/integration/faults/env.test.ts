// The environment failing under real commands: depmod failing or missing, a module whose
// build fails, a kernel without headers, a full disk, a read-only root — and one bad input.
// Each must end with the contract's exit code (2 bad input, 3 environment), one error line
// (no stack trace), and the root as it was (the lock file aside), unless stated otherwise.
// Real mounts (tmpfs, read-only remounts; the tests run as root); a fake depmod only to
// inject its failure (through DKMS_ABI_PATH, the PATH dkms-abi gives its tools).
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.js';
import { EXAMPLES_DIR, type SandboxRoot } from '../../helpers/sandbox.js';
import type { TreeSnapshot } from '../../helpers/tree-snapshot.js';
import {
  A,
  B,
  D,
  FULL,
  MODULES,
  buildTemplate,
  cli,
  copyRoot,
  expectConsistent,
  removeRoot,
  snap,
  vendorBytes,
} from './roots.js';

/** A kernel of another ABI with the host's headers, not registered. */
const K50 = '6.1.0-50-amd64';

/** The error line: exactly one "dkms-abi:" line, the last one, no stack trace. */
function errorLine(r: CliResult): string {
  const lines = r.stderr.trimEnd().split('\n');
  expect(r.stderr).not.toMatch(/^\s+at |internal error/m);
  expect(lines.filter((l) => l.startsWith('dkms-abi: '))).toHaveLength(1);
  return lines.at(-1) ?? '';
}

/** Keys whose values differ between two snapshots. */
function changed(a: TreeSnapshot, b: TreeSnapshot): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).sort();
}

/** broken-abi: hello-abi renamed, whose Makefile stops the build. */
async function addBrokenExample(root: string): Promise<void> {
  const dir = path.join(root, 'usr/src/broken-abi-1.0');
  await mkdir(dir, { recursive: true });
  const rename = (t: string) => t.replaceAll('hello-abi', 'broken-abi').replaceAll('hello_abi', 'broken_abi');
  const src = (f: string) => readFile(path.join(EXAMPLES_DIR, 'hello-abi', f), 'utf8');
  await writeFile(path.join(dir, 'dkms.conf'), rename(await src('dkms.conf')));
  await writeFile(path.join(dir, 'broken_abi.c'), rename(await src('hello_abi.c')));
  await writeFile(
    path.join(dir, 'Makefile'),
    rename(await src('Makefile')).replace(
      'obj-m := broken_abi.o',
      'obj-m := broken_abi.o\n$(error injected failure: this Makefile refuses to build)',
    ),
  );
  await cli(root, ['add', 'broken-abi/1.0']);
}

/** A fresh 64 MiB tmpfs for the test's root, unmounted and removed after `fn`. */
async function onTmpfs<T>(prefix: string, fn: (mnt: string) => Promise<T>): Promise<T> {
  const mnt = await mkdtemp(path.join(os.tmpdir(), prefix));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=755', 'tmpfs', mnt]);
  try {
    return await fn(mnt);
  } finally {
    execFileSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  }
}

describe('the environment failing', () => {
  let template: SandboxRoot;
  let installed: string; // hello-abi and abi-provider installed for A
  const roots: string[] = [];
  const scratch: string[] = [];

  async function fresh(from: string): Promise<string> {
    const r = await copyRoot(from);
    roots.push(r);
    return r;
  }

  /**
   * The tools' PATH with a depmod that fails first, or (script undefined) one directory
   * holding links to every tool of /usr/bin and /usr/sbin but depmod.
   */
  async function depmodPath(script: string | undefined): Promise<Record<string, string>> {
    const bin = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-fakebin-'));
    scratch.push(bin);
    if (script !== undefined) {
      await writeFile(path.join(bin, 'depmod'), script);
      await chmod(path.join(bin, 'depmod'), 0o755);
      return { DKMS_ABI_PATH: `${bin}:${process.env['PATH'] ?? ''}` };
    }
    for (const dir of ['/usr/bin', '/usr/sbin'])
      for (const name of await readdir(dir))
        if (name !== 'depmod')
          await symlink(path.join(dir, name), path.join(bin, name)).catch(() => undefined);
    return { DKMS_ABI_PATH: bin };
  }

  beforeAll(async () => {
    template = await buildTemplate({ moreKernelsWithHeaders: [K50] });
    installed = await copyRoot(template.root);
    for (const m of MODULES) await cli(installed, ['install', `${m}/1.0`, '-k', A]);
  });

  afterAll(async () => {
    for (const r of [...roots, installed]) if (r !== undefined) await removeRoot(r);
    for (const d of scratch) await rm(d, { recursive: true, force: true });
    await template?.cleanup();
  });

  describe('depmod', () => {
    const FAILING = '#!/bin/sh\necho "depmod: FATAL: could not open modules.dep.tmp: injected" >&2\nexit 1\n';

    it('failing during install or uninstall: exit 3, its message, the change rolled back', async () => {
      for (const [from, args] of [
        [template.root, ['install', 'hello-abi/1.0', '-k', A]],
        [installed, ['uninstall', 'hello-abi/1.0']],
      ] as const) {
        const root = await fresh(from);
        const before = await snap(root);
        const r = await runCli(args, { root, env: await depmodPath(FAILING) });
        expect(r.exitCode).toBe(3);
        expect(r.stdout).toBe('');
        expect(errorLine(r)).toMatch(
          new RegExp(
            `^dkms-abi: depmod .* ${A.replaceAll('.', '\\.')} exited with code 1: depmod: FATAL: could not open modules\\.dep\\.tmp: injected \\(depmod failed for ${A.replaceAll('.', '\\.')}; the change was rolled back\\)$`,
          ),
        );
        expect(changed(before, await snap(root))).toEqual([]);
        await expectConsistent(root);
      }
    });

    it('hanging: stopped after [abi] depmod_timeout, exit 3, the change rolled back', async () => {
      const root = await fresh(template.root);
      await mkdir(path.join(root, 'etc'), { recursive: true });
      await writeFile(path.join(root, 'etc/dkms-abi.conf'), '[abi]\ndepmod_timeout = 2\n');
      const before = await snap(root);
      const r = await runCli(['install', 'hello-abi/1.0', '-k', A], {
        root,
        env: await depmodPath('#!/bin/sh\nexec sleep 600\n'),
      });
      expect(r.exitCode).toBe(3);
      expect(errorLine(r)).toMatch(
        new RegExp(
          `^dkms-abi: depmod .* ${A.replaceAll('.', '\\.')} did not finish within 2 s and was stopped \\(depmod failed for ${A.replaceAll('.', '\\.')}; the change was rolled back\\)$`,
        ),
      );
      expect(changed(before, await snap(root))).toEqual([]);
    });

    it('missing: exit 3, "command not found", nothing changed', async () => {
      const root = await fresh(template.root);
      const before = await snap(root);
      const r = await runCli(['install', 'hello-abi/1.0', '-k', A], {
        root,
        env: await depmodPath(undefined),
      });
      expect(r.exitCode).toBe(3);
      expect(errorLine(r)).toMatch(
        /^dkms-abi: depmod .* depmod: command not found .*the change was rolled back/,
      );
      expect(changed(before, await snap(root))).toEqual([]);
    });

    it('failing at the end of kernel add: exit 3 saying what stays; only modules.dep is behind, repair completes it', async () => {
      // kernel add runs depmod once when all its changes are committed (session.ts): those
      // stay, and the message must not claim a rollback.
      const root = await fresh(installed);
      const reference = await fresh(installed);
      await cli(reference, ['kernel', 'add', B]);
      const r = await runCli(['kernel', 'add', B], { root, env: await depmodPath(FAILING) });
      expect(r.exitCode).toBe(3);
      expect(errorLine(r)).toMatch(
        new RegExp(
          `\\(depmod failed for ${B.replaceAll('.', '\\.')}; the changes made stay, ${B.replaceAll('.', '\\.')}'s modules\\.dep is out of date until depmod succeeds: fix it, then run the command again or dkms-abi verify --repair\\)$`,
        ),
      );
      expect(r.stderr).not.toMatch(/rolled back/);
      // The reference differs only by B's depmod output.
      expect(
        changed(await snap(reference), await snap(root)).every((k) =>
          k.startsWith(`lib/modules/${B}/modules.`),
        ),
      ).toBe(true);
      const v = await runCli(['verify'], { root });
      expect(v.exitCode).toBe(1);
      expect(v.stdout).toBe(
        `damage needs-depmod /lib/modules/${B}/modules.dep: is out of date (there is no modules.dep) [repair: run depmod]\n`,
      );
      expect((await runCli(['verify', '--repair'], { root })).exitCode).toBe(0);
      expect(await snap(root)).toEqual(await snap(reference));
    });
  });

  describe('a module whose build fails', () => {
    for (const [verb, kernel] of [
      ['install', A],
      ['install', K50],
      ['build', K50],
    ] as const) {
      it(`${verb} on ${kernel === A ? 'a registered kernel' : 'a kernel not registered yet'}: exit 3 naming make.log; only dkms's build log is new`, async () => {
        const root = await fresh(template.root);
        await addBrokenExample(root);
        const before = await snap(root);
        const r = await runCli([verb, 'broken-abi/1.0', '-k', kernel], { root });
        expect(r.exitCode).toBe(3);
        expect(r.stderr).toMatch(/injected failure: this Makefile refuses to build/);
        expect(errorLine(r)).toBe(
          `dkms-abi: broken-abi/1.0 failed to build for ${kernel}: Bad return status for module build on kernel: ${kernel} (x86_64) Consult ${root}/var/lib/dkms/broken-abi/1.0/build/make.log for more information. (see ${root}/var/lib/dkms/broken-abi/1.0/build/make.log)`,
        );
        // dkms keeps its build directory with the log the message names; nothing else moved
        // (the kernel not registered stays so: no tree, no extra/ link, no reference).
        const diff = changed(before, await snap(root));
        expect(diff.filter((k) => !k.startsWith('var/lib/dkms/broken-abi/1.0/build'))).toEqual([]);
        expect(diff).toContain('var/lib/dkms/broken-abi/1.0/build/make.log');
        expect((await runCli(['kernel', 'list'], { root })).stdout).toContain(
          `${K50}: not registered (flavour amd64)`,
        );
        await expectConsistent(root);
      });
    }
  });

  describe('a kernel without headers', () => {
    it('install on a kernel with only /boot/symvers (and a real extra/ of another package): exit 3, nothing touched', async () => {
      const root = await fresh(template.root);
      const before = await snap(root);
      const r = await runCli(['install', 'hello-abi/1.0', '-k', D], { root });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toBe(
        `dkms-abi: cannot build hello-abi/1.0 for ${D}: no kernel headers (install linux-headers-${D})\n`,
      );
      expect(changed(before, await snap(root))).toEqual([]);
      for (const [rel, bytes] of await vendorBytes())
        expect((await readFile(path.join(root, `lib/modules/${D}/extra`, rel))).equals(bytes)).toBe(true);
    });

    it('install on a kernel whose build link dangles (headers package removed): exit 3, nothing touched', async () => {
      const root = await fresh(template.root);
      const K = '6.1.0-99-amd64';
      await mkdir(path.join(root, `lib/modules/${K}`), { recursive: true });
      await symlink(`/usr/src/linux-headers-${K}`, path.join(root, `lib/modules/${K}/build`));
      const before = await snap(root);
      const r = await runCli(['install', 'hello-abi/1.0', '-k', K], { root });
      expect(r.exitCode).toBe(3);
      expect(errorLine(r)).toMatch(
        new RegExp(
          `^dkms-abi: no Module\\.symvers for ${K} \\(looked in /lib/modules/${K}/build/Module\\.symvers, .*\\(install linux-headers-${K} or its image /boot/vmlinuz-${K}, `,
        ),
      );
      expect(r.stderr.split('\n')).toHaveLength(2);
      expect(changed(before, await snap(root))).toEqual([]);
    });
  });

  describe('a full disk (tmpfs)', () => {
    it('install with 0 KiB to 1 MiB free: each run installs completely or fails with ENOSPC leaving the root as it was', async () => {
      const reference = await fresh(template.root);
      await cli(reference, ['install', 'hello-abi/1.0', '-k', A]);
      const after = await snap(reference);
      const before = await snap(template.root);
      const outcomes: string[] = [];
      await onTmpfs('dkms-abi-full-', async (mnt) => {
        // Every 4 KiB up to 64 (CI: a sample reaching the lock, the journal, the staged copy,
        // depmod's output, and success), then plenty.
        const levels = FULL
          ? [...Array.from({ length: 17 }, (_, i) => i * 4), 128, 1024]
          : [0, 4, 12, 32, 64, 1024];
        for (const kib of levels) {
          for (const name of await readdir(mnt))
            await rm(path.join(mnt, name), { recursive: true, force: true });
          await execa('cp', ['-a', `${template.root}/.`, mnt]);
          const st = await statfs(mnt);
          const free = st.bavail * st.bsize;
          const fill = Math.max(0, free - kib * 1024);
          await writeFile(path.join(mnt, 'tmp/filler'), Buffer.alloc(fill));
          const r = await runCli(['install', 'hello-abi/1.0', '-k', A], { root: mnt });
          const now = await snap(mnt);
          if (r.exitCode === 0) {
            expect(now).toEqual(after);
            outcomes.push(`${kib} KiB: installed`);
          } else {
            expect(r.exitCode, r.stderr).toBe(3);
            expect(errorLine(r)).toMatch(/ENOSPC|no space left on device/i);
            expect(changed(before, now)).toEqual([]);
            expect(await readdir(path.join(mnt, 'var/lib/dkms-abi/journal')).catch(() => [])).toEqual([]);
            const line = errorLine(r);
            const where = /cannot use the lock/.test(line)
              ? 'the lock'
              : /nothing was changed/.test(line)
                ? 'the journal'
                : /^dkms-abi: depmod /.test(line)
                  ? 'depmod, rolled back'
                  : 'a staged file, rolled back';
            outcomes.push(`${kib} KiB: ENOSPC at ${where}`);
          }
        }
      });
      console.log(`disk full: ${outcomes.join('; ')}`);
      // Both sides of the edge were reached.
      expect(outcomes.some((o) => !o.endsWith('installed'))).toBe(true);
      expect(outcomes.some((o) => o.endsWith('installed'))).toBe(true);
    });

    it('verify and status on a full disk: the lock cannot be written, both read without it (exit 0)', async () => {
      await onTmpfs('dkms-abi-full-', async (mnt) => {
        await execa('cp', ['-a', `${installed}/.`, mnt]);
        const st = await statfs(mnt);
        await writeFile(path.join(mnt, 'tmp/filler'), Buffer.alloc(st.bavail * st.bsize));
        const before = await snap(mnt);
        const v = await runCli(['verify'], { root: mnt });
        expect(v.stderr).toMatch(/: ENOSPC: verifying without it\nverify: consistent\n$/);
        expect(v.exitCode).toBe(0);
        const s = await runCli(['status'], { root: mnt });
        expect(s.exitCode).toBe(0);
        expect(s.stdout).toContain(`hello-abi/1.0, ${A}, ${os.machine()}: installed`);
        expect(await snap(mnt)).toEqual(before);
      });
    });
  });

  describe('a read-only DKMS tree', () => {
    it('var/lib/dkms read-only: install, uninstall and kernel add (same ABI, new ABI) refused with exit 3, nothing changed, verify clean', async () => {
      for (const [from, args] of [
        [template.root, ['install', 'hello-abi/1.0', '-k', A]],
        [installed, ['uninstall', 'hello-abi/1.0']],
        [installed, ['kernel', 'add', B]],
        [installed, ['kernel', 'add', D]],
      ] as const) {
        const root = await fresh(from);
        const before = await snap(root);
        const dkms = path.join(root, 'var/lib/dkms');
        execFileSync('mount', ['--bind', dkms, dkms]);
        let r: CliResult;
        try {
          execFileSync('mount', ['-o', 'remount,bind,ro', dkms]);
          r = await runCli([...args], { root });
        } finally {
          execFileSync('umount', [dkms]);
        }
        // Refused before any plan: DKMS's marks come after the kernel's registration.
        expect(r.exitCode, `${args.join(' ')}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toBe(`dkms-abi: cannot write the DKMS tree ${dkms}: EROFS (nothing was changed)\n`);
        expect(changed(before, await snap(root))).toEqual([]);
        await expectConsistent(root);
      }
    });
  });

  describe('a read-only root', () => {
    it('the whole root read-only (tmpfs remounted ro): changes refused with exit 3 at the lock; verify and status still work', async () => {
      await onTmpfs('dkms-abi-ro-', async (mnt) => {
        await execa('cp', ['-a', `${installed}/.`, mnt]);
        const before = await snap(mnt);
        execFileSync('mount', ['-o', 'remount,ro', mnt]);
        for (const args of [
          ['install', 'abi-provider/1.0', '-k', A],
          ['kernel', 'add', D],
          ['uninstall', 'hello-abi/1.0'],
        ]) {
          const r = await runCli(args, { root: mnt });
          expect(r.exitCode).toBe(3);
          expect(r.stderr).toBe(`dkms-abi: cannot use the lock ${mnt}/var/lib/dkms-abi/lock: EROFS\n`);
        }
        const v = await runCli(['verify'], { root: mnt });
        expect(v.exitCode).toBe(0);
        expect(v.stderr).toMatch(/EROFS: verifying without it\nverify: consistent\n$/);
        expect((await runCli(['status'], { root: mnt })).exitCode).toBe(0);
        expect(await snap(mnt)).toEqual(before);
      });
    });

    it('lib/modules read-only, the state directory writable: install and kernel add roll back, exit 3', async () => {
      const root = await fresh(installed);
      const before = await snap(root);
      const modules = path.join(root, 'lib/modules');
      execFileSync('mount', ['--bind', modules, modules]);
      try {
        execFileSync('mount', ['-o', 'remount,bind,ro', modules]);
        for (const [args, description] of [
          [['install', 'hello-abi/1.0', '-k', A], 'install hello-abi/1.0 into kernel-abi-amd64-1'],
          [['kernel', 'add', D], `register ${D} in kernel-abi-amd64-2`],
        ] as const) {
          const r = await runCli(args, { root });
          expect(r.exitCode).toBe(3);
          expect(errorLine(r)).toMatch(
            new RegExp(
              `^dkms-abi: cannot apply "${description.replaceAll('.', '\\.')}": EROFS: read-only file system, .* \\(the change was rolled back\\)$`,
            ),
          );
          expect(await readdir(path.join(root, 'var/lib/dkms-abi/journal'))).toEqual([]);
          expect(changed(before, await snap(root))).toEqual([]);
        }
      } finally {
        execFileSync('umount', [modules]);
      }
      await expectConsistent(root);
    });
  });

  it('bad input: an invalid config value is exit 2, one line naming the file, nothing changed', async () => {
    const root = await fresh(template.root);
    await writeFile(path.join(root, 'etc/dkms-abi.conf'), '[abi]\nlock_timeout = soon\n');
    const before = await snap(root);
    const r = await runCli(['install', 'hello-abi/1.0', '-k', A], { root });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(errorLine(r)).toBe(
      `dkms-abi: ${root}/etc/dkms-abi.conf:2: [abi] lock_timeout must be whole seconds from 0 to 86400, got "soon"`,
    );
    expect(changed(before, await snap(root))).toEqual([]);
  });
});
