// Ground truth for sharing: modules dkms-abi built for another kernel release of the same
// ABI are installed-abi on the real Debian 6.1.0-47 kernel, and its module loader accepts
// them from the shared tree through lib/modules/<kver>/extra.
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';
import { bootAndLoad } from './qemu-harness.js';

const REAL = '6.1.0-47-amd64';
const CLONE = '6.1.0-47.1-amd64';
const EXAMPLES = ['hello-abi', 'abi-provider', 'abi-consumer', 'blobdrv'];

describe('shared modules under the real kernel', () => {
  it('loads modules built for a same-ABI release through the extra link', async () => {
    const sb = await makeSandboxRoot({ kernels: [REAL], withImageModules: true });
    await addSameAbiKernel(sb, REAL, CLONE, { headers: true });
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    for (const m of EXAMPLES) {
      await copyExampleSource(sb.root, m);
      expect((await cli('add', `${m}/1.0`)).exitCode).toBe(0);
    }
    // Built for the clone only; the real kernel gets them without a compiler run.
    expect((await cli('kernel', 'add', CLONE)).exitCode).toBe(0);
    const r = await cli('kernel', 'add', REAL);
    expect(r.exitCode).toBe(0);
    expect(await readdir(sb.host(`var/lib/dkms/hello-abi/1.0`))).not.toContain('build');
    const status = await cli('status', '-k', REAL);
    expect(status.stdout.trim().split('\n')).toEqual(
      EXAMPLES.slice()
        .sort()
        .map((m) => `${m}/1.0, ${REAL}, x86_64: installed-abi (from ${CLONE})`),
    );

    const report = await bootAndLoad({
      root: sb.root,
      kver: REAL,
      steps: [
        { kind: 'modprobe', name: 'hello_abi' },
        { kind: 'modprobe', name: 'abi_consumer' },
        { kind: 'modprobe', name: 'blobdrv' },
      ],
    });
    expect(report.kernelRelease).toBe(REAL);
    expect(report.steps.map((s) => [s.moduleName, s.outcome, s.loaded])).toEqual([
      ['hello_abi', 'loaded', true],
      ['abi_consumer', 'loaded', true],
      ['blobdrv', 'loaded', true],
    ]);
    // The consumer pulled its provider in via modules.dep.
    expect(report.loadedModules).toContain('abi_provider');
  });
});
