// A kernel put into an ABI tree by a wrong declaration (here: the config says 6.1.0-50 is
// amd64-1, the ABI of 6.1.0-47) sees modules its loader would refuse: status says
// abi-mismatch with the reason, and autoinstall moves the kernel to a tree of its own and
// rebuilds there instead of using them. The reuse policy decides whether a passing build
// from another tree is copied (module, the default) or rebuilt (tree).
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const C = '6.1.0-50-amd64';

describe('verdicts gate sharing', () => {
  it('reports a wrongly declared kernel as abi-mismatch, then splits it off and rebuilds', async () => {
    const sb = await makeSandboxRoot({ kernels: [A, C] });
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    await copyExampleSource(sb.root, 'hello-abi');
    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
    expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
    // The "packager" declares C to be of A's ABI by linking its extra/ to A's tree.
    await symlink('../kernel-abi-amd64-1', sb.host(`lib/modules/${C}/extra`));

    const s = await cli('status', '-k', C);
    expect(s.stdout).toMatch(
      new RegExp(`^hello-abi/1\\.0, ${C}, x86_64: abi-mismatch \\([^)]*0x[0-9a-f]{8} != 0x[0-9a-f]{8}\\)`),
    );
    const r = await cli('autoinstall', '-k', C);
    expect(r.stderr).toContain(`${C} does not match kernel-abi-amd64-1`);
    expect(r.stdout).toContain(`hello-abi/1.0, ${C}: built and installed`);
    expect(r.exitCode).toBe(0);
    expect((await cli('status', '-k', C)).stdout).toBe(`hello-abi/1.0, ${C}, x86_64: installed\n`);
    expect((await cli('status', '-k', A)).stdout).toBe(`hello-abi/1.0, ${A}, x86_64: installed\n`);
    expect((await cli('kernel', 'list')).stdout).toContain(`${C}: amd64-2 (kernel-abi-amd64-2)`);
  });

  it.each([
    ['module', 'reused from kernel-abi-amd64-1 (no build)'],
    ['tree', 'built and installed'],
  ])('with reuse = %s, a same-ABI kernel declared into another tree gets: %s', async (policy, action) => {
    const D = '6.1.0-47.3-amd64';
    const sb = await makeSandboxRoot({ kernels: [A] });
    await addSameAbiKernel(sb, A, D, { headers: true });
    await mkdir(sb.host('etc'), { recursive: true });
    await writeFile(sb.host('etc/dkms-abi.conf'), `[abi]\nreuse = ${policy}\n\n[kernel:${D}]\nabiver = 7\n`);
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    await copyExampleSource(sb.root, 'hello-abi');
    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
    expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
    const r = await cli('kernel', 'add', D);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`hello-abi/1.0, ${D}: ${action}\n`);
    expect(await readdir(sb.host('lib/modules'))).toContain('kernel-abi-amd64-7');
    expect((await cli('status', '-k', D)).stdout).toMatch(/: installed/);
  });
});
