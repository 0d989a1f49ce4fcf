// Ground truth for header drift on two real kernels (issue 15, item 4). scripts/drift-kernels.sh
// builds them at set-up from Debian's linux-source-6.1 with one small config: 6.1.99-1-amd64
// (minmax_get() as upstream) and 6.1.99-1.1-amd64 (the same source but for that static inline's
// body, which returns 1000 more). Every symbol CRC is equal, so the loader and the CRC
// verdict accept the first one's build on the second. Installed from their own .debs into a
// sandbox root, booted under qemu:
// - drift-user reused without the header check (header_drift = ignore) runs the first kernel's
//   body on the second: minmax_get=7 where the second kernel's headers say 1007;
// - dkms-abi's default rebuilds it for the second kernel, which then runs its own body;
// - drift-free, which does not include the changed header, is reused, although the two
//   kernels' headers also differ everywhere the release is written.
import { execa } from 'execa';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { bootAndLoad, type BootReport } from './qemu-harness.js';

const CACHE = process.env['DKMS_ABI_CACHE'] ?? '/var/cache/dkms-abi';
const DEBS = path.join(CACHE, 'drift-kernels', 'debs');
const K1 = '6.1.99-1-amd64';
const K2 = '6.1.99-1.1-amd64';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/drift');

/** A root holding both kernels as their packages install them, and both fixtures added. */
async function rootWithKernels(policy: 'rebuild' | 'ignore'): Promise<SandboxRoot> {
  const names = await readdir(DEBS).catch(() => {
    throw new Error(`${DEBS}: missing; run scripts/setup-system.sh (it builds the drift kernels)`);
  });
  const sb = await makeSandboxRoot({ kernels: [] });
  for (const deb of names.filter((n) => n.endsWith('.deb')))
    await execa('dpkg-deb', ['-x', path.join(DEBS, deb), sb.root]);
  await writeFile(sb.host('etc/dkms-abi.conf'), `[abi]\nheader_drift = ${policy}\n`);
  for (const m of ['drift-user', 'drift-free'])
    await cp(path.join(FIXTURES, m), sb.host(`usr/src/${m}-1.0`), { recursive: true });
  return sb;
}

/** Both modules built for K1, then K2 added under `policy`. */
async function secondAdded(policy: 'rebuild' | 'ignore') {
  const sb = await rootWithKernels(policy);
  const cli = (...args: string[]) => runCli(args, { root: sb.root });
  expect((await cli('add', 'drift-user/1.0')).exitCode).toBe(0);
  expect((await cli('add', 'drift-free/1.0')).exitCode).toBe(0);
  expect((await cli('kernel', 'add', K1)).exitCode).toBe(0);
  const add = await cli('kernel', 'add', K2);
  expect(add.exitCode, add.stderr).toBe(0);
  return { sb, cli, add };
}

/** The module's own line ("drift_user: minmax_get=…"), not the kernel's taint notice about it. */
function computed(report: BootReport, name: string, prefix: string): string {
  const step = report.steps.find((s) => s.moduleName === name);
  expect(step?.loaded, `${name}: ${step?.toolOutput.join(' | ') ?? 'no step'}`).toBe(true);
  const line = step?.kernelMessages.find((m) => m.includes(prefix)) ?? '';
  return line.slice(line.indexOf(prefix));
}

async function bootSecond(sb: SandboxRoot): Promise<BootReport> {
  const report = await bootAndLoad({
    root: sb.root,
    kver: K2,
    vmlinuz: sb.host(`boot/vmlinuz-${K2}`),
    steps: [
      { kind: 'modprobe', name: 'drift_user' },
      { kind: 'modprobe', name: 'drift_free' },
    ],
  });
  expect(report.kernelRelease).toBe(K2);
  return report;
}

describe('header drift between two real kernels of one ABI', () => {
  it('the two kernels share every symbol CRC; their headers differ in minmax_get() and the release only', async () => {
    const sb = await rootWithKernels('rebuild');
    const symvers = async (k: string) =>
      readFile(sb.host(`usr/src/linux-headers-${k}/Module.symvers`), 'utf8');
    const [s1, s2] = [await symvers(K1), await symvers(K2)];
    expect(s1.split('\n').length).toBeGreaterThan(10);
    expect(s2).toBe(s1);
    const diff = await execa(
      'diff',
      ['-rq', sb.host(`usr/src/linux-headers-${K1}/include`), sb.host(`usr/src/linux-headers-${K2}/include`)],
      { reject: false },
    );
    const differing = diff.stdout
      .split('\n')
      .map((l) => /^Files \S+?\/include\/(\S+) and/.exec(l)?.[1])
      .filter((f) => f !== undefined)
      .sort();
    expect(differing).toContain('linux/win_minmax.h');
    // Everything else that differs is where the release is written, or the build's date
    // (generated/utsversion.h, which init/version.c reads, no module).
    const stamp = (t: string) => t.replace(/^#define UTS_VERSION .*$/m, '#define UTS_VERSION …');
    for (const f of differing.filter((x) => x !== 'linux/win_minmax.h')) {
      const a = await readFile(sb.host(`usr/src/linux-headers-${K1}/include/${f}`), 'utf8');
      const b = await readFile(sb.host(`usr/src/linux-headers-${K2}/include/${f}`), 'utf8');
      expect(stamp(b.replaceAll(K2, K1)), f).toBe(stamp(a));
    }
    const expected = [
      'config/kernel.release',
      'generated/compile.h',
      'generated/utsrelease.h',
      'generated/utsversion.h',
      'linux/win_minmax.h',
    ];
    expect(differing.filter((f) => !expected.includes(f))).toEqual([]);
  });

  it('reused without the check, the first kernel build runs its old body on the second', async () => {
    const { sb, add } = await secondAdded('ignore');
    expect(add.stdout).toContain(`drift-user/1.0, ${K2}: linked (installed-abi, no build)`);
    const report = await bootSecond(sb);
    expect(computed(report, 'drift_user', 'drift_user: minmax_get=')).toBe('drift_user: minmax_get=7');
  });

  it("dkms-abi rebuilds the module that read the changed header: the second kernel's body runs; the other is reused", async () => {
    const { sb, cli, add } = await secondAdded('rebuild');
    expect(add.stderr).toContain('headers differ: include/linux/win_minmax.h');
    expect(add.stdout).toContain(`drift-user/1.0, ${K2}: built and installed`);
    expect(add.stdout).not.toContain(`drift-free/1.0, ${K2}: built`);
    const status = (await cli('status', 'drift-free', '-k', K2)).stdout;
    expect(status).toMatch(
      new RegExp(
        `^drift-free/1\\.0, ${K2.replaceAll('.', '\\.')}, \\S+: installed-abi \\(from ${K1.replaceAll('.', '\\.')}\\)`,
      ),
    );
    const report = await bootSecond(sb);
    expect(computed(report, 'drift_user', 'drift_user: minmax_get=')).toBe('drift_user: minmax_get=1007');
    expect(computed(report, 'drift_free', 'drift_free: loaded')).toBe('drift_free: loaded');
  });
});
