// Issue 12, item 3: a kernel package upgraded in place — same release, new symbol CRCs
// (dkms-project/dkms#364). 6.1.0-47-amd64 is upgraded to Debian's 6.1.0-50 build presented
// under 6.1.0-47's release (its image, symvers, config and headers). DKMS still holds the
// builds made for the old 6.1.0-47; dkms-abi must move the kernel to a new tree, reuse the
// builds another kernel of the new ABI already has, rebuild the stale ones (discarding DKMS's
// old build for that release only), and then say what the upgraded kernel's loader says.
import { execa } from 'execa';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { upgradeInPlace } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { saysLessThanDkms, statusLines, stockDkms } from '../helpers/stock-dkms.js';
import { bootAndLoad, defaultVmlinuz, type BootReport } from './qemu-harness.js';

const K47 = '6.1.0-47-amd64'; // the release that gets upgraded in place
const K50 = '6.1.0-50-amd64'; // the ABI it is upgraded to, registered as a kernel of its own
const ARCH = 'x86_64';
const BOTH = ['hello-abi', 'blobdrv']; // built for both kernels before the upgrade
const OLD_ONLY = ['abi-provider', 'abi-consumer']; // built for the old 6.1.0-47 only
const KO: Record<string, string> = {
  'hello-abi': 'hello_abi',
  blobdrv: 'blobdrv',
  'abi-provider': 'abi_provider',
  'abi-consumer': 'abi_consumer',
};

interface StatusJson {
  entries: { module: string; kernel: string; state: string; builtFor: string; reason: string | null }[];
}

let sb: SandboxRoot;
const cli = (...args: string[]) => runCli(args, { root: sb.root });
const dkmsKo = (m: string, k: string) =>
  sb.host(`var/lib/dkms/${m}/1.0/${k}/${ARCH}/module/${KO[m] ?? m}.ko`);

/** The CRC of module_layout a .ko was built against (modprobe --dump-modversions, kmod's answer). */
async function moduleLayoutOf(ko: string): Promise<string | undefined> {
  const { stdout } = await execa('modprobe', ['--dump-modversions', ko]);
  return stdout
    .split('\n')
    .find((l) => l.endsWith('\tmodule_layout'))
    ?.split('\t')[0];
}

async function kernelModuleLayout(kernel: string): Promise<string | undefined> {
  const symvers = await readFile(sb.host(`usr/src/linux-headers-${kernel}/Module.symvers`), 'utf8');
  // Both spell it 0x%08x.
  return symvers
    .split('\n')
    .find((l) => l.split('\t')[1] === 'module_layout')
    ?.split('\t')[0];
}

describe('same release, new ABI: a kernel package upgraded in place', () => {
  let report: BootReport;

  beforeAll(async () => {
    sb = await makeSandboxRoot({ kernels: [K47, K50] });
    for (const m of [...BOTH, ...OLD_ONLY]) await copyExampleSource(sb.root, m);
    for (const m of BOTH) expect((await cli('add', `${m}/1.0`)).exitCode).toBe(0);
    for (const k of [K47, K50]) expect((await cli('kernel', 'add', k)).exitCode).toBe(0);
    for (const m of OLD_ONLY) {
      expect((await cli('add', `${m}/1.0`)).exitCode).toBe(0);
      const r = await cli('install', `${m}/1.0`, '-k', K47);
      expect(r.exitCode, r.stderr).toBe(0);
    }
    // The old builds, kept to show the upgraded kernel's loader refusing them.
    await mkdir(sb.host('stale'));
    for (const m of OLD_ONLY) await copyFile(dkmsKo(m, K47), sb.host(`stale/${KO[m] ?? m}.ko`));
    return () => sb.cleanup();
  });

  it('before the upgrade: every module installed on 6.1.0-47 from its own build', async () => {
    const s = await cli('status', '-k', K47);
    expect(s.stdout.trim().split('\n')).toEqual(
      [...BOTH, ...OLD_ONLY].sort().map((m) => `${m}/1.0, ${K47}, ${ARCH}: installed`),
    );
  });

  it('kernel add after the upgrade: moved to a new tree, stale builds rebuilt, the others reused', async () => {
    const staleLayout = await moduleLayoutOf(sb.host('stale/abi_provider.ko'));
    await upgradeInPlace(sb, K47, K50, { headers: true });
    const newLayout = await kernelModuleLayout(K47);
    expect(newLayout).toBeDefined();
    expect(staleLayout).not.toBe(newLayout);

    const r = await cli('kernel', 'add', K47);
    expect(r.exitCode, r.stderr).toBe(0);
    const s = await runCliJson<StatusJson>(['status', '-k', K47], { root: sb.root });
    expect(s.json.entries.map((e) => [e.module, e.state, e.builtFor, e.reason])).toEqual(
      [
        ...BOTH.map((m) => [m, 'installed-abi', K50, null]),
        ...OLD_ONLY.map((m) => [m, 'installed', K47, null]),
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    // DKMS holds no stale build for 6.1.0-47 any more: the rebuilt ones were made against the
    // upgraded kernel's headers, the reused ones are 6.1.0-50's builds.
    for (const m of [...BOTH, ...OLD_ONLY])
      expect([m, await moduleLayoutOf(dkmsKo(m, K47))]).toEqual([m, newLayout]);
    // 6.1.0-47's tree is not 6.1.0-50's old one, and 6.1.0-50 kept its modules.
    const list = await runCliJson<{ kernels: { kernel: string; tree: string }[] }>(['kernel', 'list'], {
      root: sb.root,
    });
    const trees = new Map(list.json.kernels.map((k) => [k.kernel, k.tree]));
    expect(trees.get(K47)).not.toBe('kernel-abi-amd64-1');
    const s50 = statusLines((await cli('status', '-k', K50)).stdout);
    for (const m of BOTH)
      expect(s50.find((l) => l.key === `${m}/1.0, ${K50}, ${ARCH}`)?.state).toBe('installed');
  });

  it('stock dkms on the same trees says no more than dkms-abi', async () => {
    const abi = statusLines((await cli('status')).stdout);
    const stock = await stockDkms(sb, 'status');
    expect(stock.exitCode).toBe(0);
    expect(saysLessThanDkms(statusLines(stock.stdout), abi)).toEqual([]);
  });

  it('the upgraded kernel’s loader refuses the stale builds and loads every module status calls installed', async () => {
    report = await bootAndLoad({
      root: sb.root,
      kver: K47,
      // The upgraded package's image is 6.1.0-50's build; its uname -r says so, hence insmod
      // by path rather than modprobe (which looks in /lib/modules/$(uname -r)).
      vmlinuz: defaultVmlinuz(K50),
      steps: [
        { kind: 'insmod', path: '/stale/abi_provider.ko' },
        ...['hello_abi', 'blobdrv', 'abi_provider', 'abi_consumer'].map((name) => ({
          kind: 'insmod' as const,
          path: `/lib/modules/${K47}/extra/dkms/${name}.ko`,
        })),
      ],
    });
    expect(report.steps.map((s) => [path.basename((s.step as { path: string }).path), s.outcome])).toEqual([
      ['abi_provider.ko', 'disagrees-about-version'],
      ['hello_abi.ko', 'loaded'],
      ['blobdrv.ko', 'loaded'],
      ['abi_provider.ko', 'loaded'],
      ['abi_consumer.ko', 'loaded'],
    ]);
    expect(report.steps[0]?.symbols).toContain('module_layout');
    // Status and loader agree, module by module.
    const s = await runCliJson<StatusJson>(['status', '-k', K47], { root: sb.root });
    for (const e of s.json.entries) {
      const loaded = report.loadedModules.includes(KO[e.module] ?? e.module);
      expect([e.module, loaded]).toEqual([e.module, e.state === 'installed' || e.state === 'installed-abi']);
    }
  });
});
