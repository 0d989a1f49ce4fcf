// Issue 13, item 8: one truncated .ko in a shared tree says nothing about a new kernel's ABI.
// It used to count as "the loader refuses it", and a same-ABI kernel added next moved to a
// tree of its own for good. Now the kernel joins its tree, and the damaged file is installed
// again from the DKMS build it came from (or, when that is gone too, left for verify to name).
import { execa } from 'execa';
import { readFile, rm, truncate } from 'node:fs/promises';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI, no headers: it can only reuse
const ARCH = os.machine();
const FILE = 'lib/modules/kernel-abi-amd64-1/dkms/hello_abi.ko';

async function damagedRoot(): Promise<{
  sb: SandboxRoot;
  cli: (...a: string[]) => ReturnType<typeof runCli>;
}> {
  const sb = await makeSandboxRoot({ kernels: [A] });
  await addSameAbiKernel(sb, A, B, { headers: false, image: false, bootSymvers: true });
  await copyExampleSource(sb.root, 'hello-abi');
  const cli = (...args: string[]) => runCli(args, { root: sb.root });
  expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
  expect((await cli('install', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
  await truncate(sb.host(FILE), 100);
  return { sb, cli };
}

async function treeOf(cli: (...a: string[]) => ReturnType<typeof runCli>, kernel: string): Promise<string> {
  const list = JSON.parse((await cli('--json', 'kernel', 'list')).stdout) as {
    kernels: { kernel: string; tree: string }[];
  };
  return list.kernels.find((k) => k.kernel === kernel)?.tree ?? 'none';
}

describe('a damaged module file in a shared tree', () => {
  it('a same-ABI kernel joins the tree; the file is installed again from the DKMS build', async () => {
    const { sb, cli } = await damagedRoot();
    expect((await cli('verify')).stdout).toContain('module-unreadable');

    const r = await cli('kernel', 'add', B);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('does not match');
    expect(r.stderr).toContain(
      `hello-abi/1.0: the tree's copy was damaged: installed again from DKMS's build for ${A}`,
    );
    expect(await treeOf(cli, B)).toBe('kernel-abi-amd64-1');
    expect((await execa('modinfo', ['-F', 'version', sb.host(FILE)])).stdout).toBe('1.0');
    expect((await cli('status', 'hello-abi')).stdout).toBe(
      `hello-abi/1.0, ${A}, ${ARCH}: installed\nhello-abi/1.0, ${B}, ${ARCH}: installed-abi (from ${A}; headers not checked)\n`,
    );
    expect((await cli('verify')).exitCode).toBe(0);
  });

  it('the DKMS build gone too: the kernel still joins its tree; the module fails (no headers), verify names the file', async () => {
    const { sb, cli } = await damagedRoot();
    await rm(sb.host(`var/lib/dkms/hello-abi/1.0/${A}`), { recursive: true });

    const r = await cli('kernel', 'add', B);
    expect(r.stderr).not.toContain('does not match');
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe(
      `hello-abi/1.0, ${B}: FAILED (cannot build hello-abi/1.0 for ${B}: no kernel headers (install linux-headers-${B}))\n`,
    );
    expect(await treeOf(cli, B)).toBe('kernel-abi-amd64-1');
    // Nothing of the damaged tree was dropped: it waits for a person (reinstall).
    expect((await readFile(sb.host(FILE))).length).toBe(100);
    const v = await cli('verify');
    expect(v.exitCode).toBe(1);
    expect(v.stdout).toContain('module-unreadable');
  });
});
