// Ground truth for header drift (issue 15): two kernels of one ABI whose symbol CRCs are all
// equal and whose headers differ only in the body of one static inline (minmax_get() in
// include/linux/win_minmax.h). The build made for the first, reused on the second, runs the
// first's body; dkms-abi (header_drift = rebuild, the default) gives the second its own build.
//
// Construction, honestly: the booted kernel is Debian's real 6.1.0-47-amd64 image with its
// real headers. The first kernel is the same image under another release (a same-ABI clone)
// whose headers have minmax_get() return 1000 more. The kernel binaries need not differ for
// this proof: the inline is compiled into the module, never called in the kernel.
import { cp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { MINMAX_DRIFT, driftCommonHeader } from '../helpers/header-drift.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { makeSandboxRoot } from '../helpers/sandbox.js';
import { bootAndLoad } from './qemu-harness.js';

const REAL = '6.1.0-47-amd64';
const OLD = '6.1.0-47.1-amd64';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/drift');

/** Builds drift-user for OLD (its headers' body), adds REAL under `policy`, boots REAL and loads it. */
async function computedOnReal(policy: 'rebuild' | 'ignore'): Promise<{ line: string; addOut: string }> {
  const sb = await makeSandboxRoot({ kernels: [REAL], withImageModules: true });
  try {
    await writeFile(sb.host('etc/dkms-abi.conf'), `[abi]\nheader_drift = ${policy}\n`);
    await addSameAbiKernel(sb, REAL, OLD, { headers: true });
    await driftCommonHeader(sb.root, OLD, MINMAX_DRIFT.rel, MINMAX_DRIFT.from, MINMAX_DRIFT.to);
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    await cp(path.join(FIXTURES, 'drift-user'), sb.host('usr/src/drift-user-1.0'), { recursive: true });
    expect((await cli('add', 'drift-user/1.0')).exitCode).toBe(0);
    expect((await cli('kernel', 'add', OLD)).exitCode).toBe(0);
    const add = await cli('kernel', 'add', REAL);
    expect(add.exitCode).toBe(0);
    const report = await bootAndLoad({
      root: sb.root,
      kver: REAL,
      steps: [{ kind: 'modprobe', name: 'drift_user' }],
    });
    expect(report.kernelRelease).toBe(REAL);
    const step = report.steps[0];
    expect(step?.loaded).toBe(true);
    const line = step?.kernelMessages.find((m) => m.includes('drift_user: minmax_get=')) ?? '';
    return { line: line.slice(line.indexOf('drift_user:')), addOut: add.stdout + add.stderr };
  } finally {
    await sb.cleanup();
  }
}

describe('header drift under the real kernel', () => {
  it('the build reused without the check runs the old inline body', async () => {
    const r = await computedOnReal('ignore');
    expect(r.addOut).toContain(`drift-user/1.0, ${REAL}: linked (installed-abi, no build)`);
    expect(r.line).toBe('drift_user: minmax_get=1007');
  });

  it('dkms-abi rebuilds for the kernel whose header changed: the new body runs', async () => {
    const r = await computedOnReal('rebuild');
    expect(r.addOut).toContain('headers differ: include/linux/win_minmax.h');
    expect(r.addOut).toContain(`drift-user/1.0, ${REAL}: built and installed`);
    expect(r.line).toBe('drift_user: minmax_get=7');
  });
});
