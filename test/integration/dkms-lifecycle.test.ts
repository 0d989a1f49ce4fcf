// dkms >= 3.1's kernel lifecycle on Debian 13 (dkms 3.2.2 in the chroot of
// scripts/trixie-chroot.sh). A kernel package runs its hooks in run-parts order, dkms-abi's
// 05dkms-abi before Debian's dkms:
//   preinst.d:  dkms-abi kernel preinst K,  then dkms kernel_preinst -k K (unbuilds every
//               AUTOINSTALL module of K on a same-name upgrade or reinstall)
//   postinst.d: dkms-abi kernel add K,      then dkms autoinstall (kernel_postinst)
//   prerm.d:    dkms-abi kernel remove K,   then dkms kernel_prerm -k K (unbuilds everything)
// Kernel A owns the shared builds (they were made for it); B is a same-ABI kernel that uses
// them. Also dkms >= 3.1.8's BUILD_DEPENDS abort (exit 13), whose reason must reach the user.
import { lstat, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { debian13, platformCli, platformDkms } from '../helpers/platforms.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const p = debian13();
const [A] = p.kernels;
const B = A.replace(/(\+deb\d+)-/, '$1u1-');
const M = 'hello-abi';
let sb: SandboxRoot;
const cli = (...args: string[]) => platformCli(p, sb, args);
const stock = (...args: string[]) => platformDkms(p, sb, args);

async function stockStatus(): Promise<string[]> {
  const r = await stock('status', '-m', M);
  expect(r.stderr).toBe('');
  return r.stdout.trim().split('\n').sort();
}

const HEALTHY = [`${M}/1.0, ${A}, x86_64: installed`, `${M}/1.0, ${B}, x86_64: installed`];

/** make.log files under the DKMS tree: one per compiler run that left a build. */
async function makeLogs(): Promise<string[]> {
  const vdir = sb.host(`var/lib/dkms/${M}/1.0`);
  const out: string[] = [];
  for (const k of await readdir(vdir).catch(() => [] as string[])) {
    if ((await readFile(path.join(vdir, k, 'x86_64/log/make.log')).catch(() => undefined)) !== undefined)
      out.push(k);
  }
  return out;
}

/** What lies in updates/dkms of a kernel: each entry and whether it is a symlink. */
async function updatesEntries(kernel: string): Promise<string[]> {
  const dir = sb.host(`lib/modules/${kernel}/updates/dkms`);
  const out: string[] = [];
  for (const n of await readdir(dir).catch(() => [] as string[])) {
    out.push(`${n}:${(await lstat(path.join(dir, n))).isSymbolicLink() ? 'link' : 'file'}`);
  }
  return out;
}

async function expectHealthy(): Promise<void> {
  expect(await stockStatus()).toEqual(HEALTHY);
  expect((await cli('status', M)).stdout.trim().split('\n')).toEqual([
    `${M}/1.0, ${A}, x86_64: installed`,
    `${M}/1.0, ${B}, x86_64: installed-abi (from ${A}; headers not checked)`,
  ]);
  // No copy in updates/dkms shadows the shared tree: only our links into it.
  for (const k of [A, B]) for (const e of await updatesEntries(k)) expect(e).toMatch(/:link$/);
  const v = await cli('verify');
  expect(v.stdout + v.stderr).not.toMatch(/damage/);
  expect(v.exitCode).toBe(0);
}

beforeAll(async () => {
  if (p.missing !== undefined) throw new Error(p.missing);
  sb = await makeSandboxRoot({ kernels: [A], system: p.system, withImageModules: true });
  await addSameAbiKernel(sb, A, B, { headers: false });
  await copyExampleSource(sb.root, M);
  expect((await cli('add', `${M}/1.0`)).exitCode).toBe(0);
  expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
  expect((await cli('kernel', 'add', B)).exitCode).toBe(0);
  await expectHealthy();
  expect(await makeLogs()).toEqual([A]);
});
afterAll(async () => {
  await sb?.cleanup();
});

describe('dkms 3.2.2 lifecycle of the kernel that owns the shared builds', () => {
  it('without dkms-abi’s preinst hook: status and verify say so, and the postinst hook restores the builds', async () => {
    const unbuild = await stock('kernel_preinst', '-k', A);
    expect(unbuild.exitCode).toBe(0);
    // Stock dkms has lost the build for every kernel of the ABI.
    expect((await stock('status', '-m', M)).stdout.trim()).toBe(`${M}/1.0: added`);
    const status = await cli('status', M);
    for (const line of status.stdout.trim().split('\n')) expect(line).toMatch(/, needs-repair$/);
    const v = await cli('verify');
    expect(v.exitCode).toBe(1);
    expect(v.stdout).toMatch(/damage dkms-build-missing /);
    // The kernel package's postinst: dkms-abi's hook first, then dkms's autoinstall.
    expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
    expect((await stock('autoinstall', '-k', A)).exitCode).toBe(0);
    await expectHealthy();
    // Restored from the tree (the make log went with dkms's unbuild): nothing was compiled.
    expect(await makeLogs()).toEqual([]);
  });

  it('verify --repair restores the builds kernel_preinst removed', async () => {
    expect((await stock('kernel_preinst', '-k', A)).exitCode).toBe(0);
    expect((await cli('verify')).exitCode).toBe(1);
    const r = await cli('verify', '--repair');
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    await expectHealthy();
  });

  it('same-name upgrade with the hooks: the builds survive, nothing is compiled, no copy shadows the tree', async () => {
    const pre = await cli('kernel', 'preinst', A);
    expect(pre.stderr).toBe('');
    expect(pre.exitCode).toBe(0);
    const unbuild = await stock('kernel_preinst', '-k', A);
    expect(unbuild.exitCode, unbuild.stdout + unbuild.stderr).toBe(0);
    // Between the package's preinst and postinst, B keeps its module for stock dkms too.
    expect(await stockStatus()).toContain(`${M}/1.0, ${B}, x86_64: installed`);
    expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
    const auto = await stock('autoinstall', '-k', A);
    expect(auto.exitCode, auto.stdout + auto.stderr).toBe(0);
    await expectHealthy();
    // Nothing was compiled.
    expect(await makeLogs()).toEqual([]);
  });

  it('removal: dkms-abi kernel remove, then dkms kernel_prerm: the other kernel keeps the module', async () => {
    expect((await cli('kernel', 'remove', A)).exitCode).toBe(0);
    expect((await stock('kernel_prerm', '-k', A)).exitCode).toBe(0);
    expect(await stockStatus()).toEqual([`${M}/1.0, ${B}, x86_64: installed`]);
    expect((await cli('status', M)).stdout).toBe(
      `${M}/1.0, ${B}, x86_64: installed-abi (from ${A}; headers not checked)\n`,
    );
    expect((await cli('verify')).exitCode).toBe(0);
  });
});

describe('dkms 3.2.2 BUILD_DEPENDS abort', () => {
  it('keeps dkms’s reason (exit 13: the dependency is not added)', async () => {
    await copyExampleSource(sb.root, 'abi-consumer');
    expect((await cli('add', 'abi-consumer/1.0')).exitCode).toBe(0);
    const r = await cli('build', 'abi-consumer/1.0', '-k', A);
    expect(r.exitCode).toBe(3);
    // The build's two progress lines, then dkms's reason, once.
    expect(r.stderr.trim().split('\n')).toEqual([
      `abi-consumer/1.0: building for ${A}…`,
      'abi-consumer/1.0: build failed',
      expect.stringMatching(
        /^dkms-abi: dkms refused to build abi-consumer\/1\.0 for .*: missing BUILD_DEPENDS: abi-provider \(dkms exit 13\)/,
      ),
    ]);
  });
});
