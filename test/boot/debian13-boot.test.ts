// Ground truth on Debian 13 (Linux 6.12, dkms 3.2.2, the chroot of scripts/trixie-chroot.sh):
// modules dkms-abi built for one 6.12 point release are judged for the next one and that
// kernel's loader, booted under qemu, agrees module by module; and a 6.1 module meets the
// 6.4+ check of .gnu.linkonce.this_module's size first, as the verdict says.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { debian13, platformCli } from '../helpers/platforms.js';
import { IMAGES_DIR, copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';
import { bootAndLoad } from './qemu-harness.js';

const EXAMPLES = ['abi-consumer', 'abi-provider', 'hello-abi'];
const OLD_SERIES = '6.1.0-47-amd64';

describe('Debian 13 under the real 6.12 kernel', () => {
  it('loads exactly the modules the verdict shares from the previous point release', async () => {
    const p = debian13();
    if (p.missing !== undefined) throw new Error(p.missing);
    const [A, C] = p.kernels;
    const sb = await makeSandboxRoot({ kernels: [A, C], system: p.system, withImageModules: true });
    const cli = (...args: string[]) => platformCli(p, sb, args);
    // The CRC verdict alone decides here (the point releases' headers differ in files these
    // modules read, which header_drift = rebuild would rebuild for): what the loader is asked
    // to prove is the verdict's per-module answer.
    await writeFile(sb.host('etc/dkms-abi.conf'), '[abi]\nheader_drift = warn\n');
    for (const m of EXAMPLES) {
      await copyExampleSource(sb.root, m);
      expect((await cli('add', `${m}/1.0`)).exitCode).toBe(0);
    }
    expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
    expect((await cli('kernel', 'add', C)).exitCode).toBe(0);
    const status = JSON.parse((await cli('--json', 'status', '-k', C)).stdout) as {
      entries: { module: string; state: string; builtFor: string }[];
    };
    // What the verdict decided for C: reuse A's build (installed-abi) or a rebuild.
    const shared = status.entries.filter((e) => e.state === 'installed-abi').map((e) => e.module);
    expect(status.entries.map((e) => e.state).every((s) => s === 'installed' || s === 'installed-abi')).toBe(
      true,
    );
    // hello-abi imports only symbols a point release keeps (printk's family, module_layout):
    // its load below is a build for A accepted by C's loader.
    expect(shared).toContain('hello-abi');

    // A Linux 6.1 module in the root, to be loaded by path: 6.12 checks the struct module
    // size (0x380 in 6.1, 0x500 in 6.12) before module_layout.
    const oldKo = path.join(IMAGES_DIR, OLD_SERIES, 'lib/modules', OLD_SERIES, 'kernel/fs/fat/fat.ko');
    await mkdir(sb.host('opt/old'), { recursive: true });
    await copyFile(oldKo, sb.host('opt/old/fat.ko'));
    const compat = JSON.parse(
      (await platformCli(p, sb, ['--json', 'abi', 'compat', '-k', C, path.join(sb.inner, 'opt/old/fat.ko')]))
        .stdout,
    ) as { results: { usable: boolean; problems: { kind: string }[] }[] };
    expect(compat.results[0]?.usable).toBe(false);
    expect(compat.results[0]?.problems[0]?.kind).toBe('struct-module-size');

    const report = await bootAndLoad({
      root: sb.root,
      kver: C,
      steps: [
        { kind: 'modprobe', name: 'hello_abi' },
        { kind: 'modprobe', name: 'abi_consumer' },
        { kind: 'insmod', path: '/opt/old/fat.ko' },
      ],
    });
    expect(report.kernelRelease).toBe(C);
    expect(report.steps.map((s) => [s.moduleName, s.outcome, s.loaded])).toEqual([
      ['hello_abi', 'loaded', true],
      ['abi_consumer', 'loaded', true],
      ['fat', expect.stringMatching(/.+/), false],
    ]);
    expect(report.steps[2]?.kernelMessages.join('\n')).toContain(
      '.gnu.linkonce.this_module section size must match',
    );
    expect(report.loadedModules).toContain('abi_provider');
  });
});
