// Issue 12, item 2: BUILD_EXCLUSIVE_KERNEL/_ARCH/_CONFIG decide reuse as they decide a build
// in dkms: a same-ABI kernel that dkms would not build the module for gets nothing, whatever
// its ABI — no DKMS mark, and not the file either: it leaves the shared tree for one of its
// own holding the tree's other modules, so its extra/ link does not reach the module.
// dkms.conf is evaluated for that kernel; the config tested is the headers' .config as dkms
// reads it, or /boot/config-<kver> for a kernel without headers.
import { execa } from 'execa';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI, no headers
const ARCH = os.machine();

async function rootWith(
  exclusive: string,
): Promise<{ sb: SandboxRoot; cli: (...a: string[]) => ReturnType<typeof runCli> }> {
  const sb = await makeSandboxRoot({ kernels: [A] });
  await addSameAbiKernel(sb, A, B, { headers: false });
  const src = await copyExampleSource(sb.root, 'hello-abi');
  await writeFile(`${src}/dkms.conf`, `${await readFile(`${src}/dkms.conf`, 'utf8')}${exclusive}\n`);
  const cli = (...args: string[]) => runCli(args, { root: sb.root });
  expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
  const a = await cli('kernel', 'add', A);
  expect(a.stdout).toBe(`hello-abi/1.0, ${A}: built and installed\n`);
  return { sb, cli };
}

async function stockStatus(sb: SandboxRoot): Promise<string> {
  const d = await execa('dkms', [
    'status',
    '--dkmstree',
    sb.host('var/lib/dkms'),
    '--sourcetree',
    sb.host('usr/src'),
    '--installtree',
    sb.host('lib/modules'),
  ]);
  return d.stdout;
}

/** B does not reach hello-abi: not through its extra/ link, not in either status. */
async function expectUnreachable(
  sb: SandboxRoot,
  cli: (...a: string[]) => ReturnType<typeof runCli>,
): Promise<void> {
  const list = JSON.parse((await cli('--json', 'kernel', 'list')).stdout) as {
    kernels: { kernel: string; tree: string }[];
  };
  const tree = (k: string) => list.kernels.find((x) => x.kernel === k)?.tree;
  expect(tree(B)).not.toBe(tree(A));
  expect(await readdir(sb.host(`lib/modules/${B}/extra/dkms`)).catch(() => [])).not.toContain('hello_abi.ko');
  expect((await cli('status', 'hello-abi', '-k', B)).stdout).toBe('');
  expect(await stockStatus(sb)).not.toContain(`hello-abi/1.0, ${B}`);
}

describe('BUILD_EXCLUSIVE on reuse', () => {
  it('BUILD_EXCLUSIVE_KERNEL: a same-ABI kernel it does not match gets no link', async () => {
    const { sb, cli } = await rootWith(`BUILD_EXCLUSIVE_KERNEL="^6\\.1\\.0-47-amd64$"`);
    const b = await cli('kernel', 'add', B);
    expect(b.exitCode).toBe(0);
    expect(b.stdout).toBe(
      `hello-abi/1.0, ${B}: skipped (${B} does not match BUILD_EXCLUSIVE_KERNEL ^6\\.1\\.0-47-amd64$)\n`,
    );
    expect(b.stderr).toContain(
      `${B} does not match kernel-abi-amd64-1 (hello-abi: BUILD_EXCLUSIVE: ${B} does not match`,
    );
    expect(await stockStatus(sb)).toBe(`hello-abi/1.0, ${A}, ${ARCH}: installed`);
    await expectUnreachable(sb, cli);
  });

  it("BUILD_EXCLUSIVE_CONFIG: a headerless kernel's /boot/config decides", async () => {
    const { sb, cli } = await rootWith('BUILD_EXCLUSIVE_CONFIG="CONFIG_ACPI"');
    const cfg = sb.host(`boot/config-${B}`);
    const text = await readFile(cfg, 'utf8');
    expect(text).toMatch(/^CONFIG_ACPI=y$/m);
    await writeFile(cfg, text.replace(/^CONFIG_ACPI=y$/m, '# CONFIG_ACPI is not set'));
    const b = await cli('kernel', 'add', B);
    expect(b.exitCode).toBe(0);
    expect(b.stdout).toBe(`hello-abi/1.0, ${B}: skipped (the kernel config lacks CONFIG_ACPI)\n`);
    expect(await stockStatus(sb)).toBe(`hello-abi/1.0, ${A}, ${ARCH}: installed`);
    await expectUnreachable(sb, cli);
  });

  it('install into a tree whose other kernel it excludes: that kernel moves out, keeping the other modules', async () => {
    const sb = await makeSandboxRoot({ kernels: [A] });
    await addSameAbiKernel(sb, A, B, { headers: false });
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    // abi-provider serves A and B from one tree …
    await copyExampleSource(sb.root, 'abi-provider');
    expect((await cli('add', 'abi-provider/1.0')).exitCode).toBe(0);
    expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
    expect((await cli('kernel', 'add', B)).exitCode).toBe(0);
    // … then hello-abi, which dkms builds for A only, is installed for A.
    const src = await copyExampleSource(sb.root, 'hello-abi');
    await writeFile(
      `${src}/dkms.conf`,
      `${await readFile(`${src}/dkms.conf`, 'utf8')}BUILD_EXCLUSIVE_KERNEL="^6\\.1\\.0-47-amd64$"\n`,
    );
    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
    const r = await cli('install', 'hello-abi/1.0', '-k', A);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      [
        `hello-abi/1.0, ${A}, ${ARCH}: installed`,
        `abi-provider/1.0, ${B}: reused from kernel-abi-amd64-1 (no build; headers not checked)`,
        `hello-abi/1.0, ${B}: skipped (${B} does not match BUILD_EXCLUSIVE_KERNEL ^6\\.1\\.0-47-amd64$)`,
        '',
      ].join('\n'),
    );
    expect(await stockStatus(sb)).toBe(
      [
        `abi-provider/1.0, ${A}, ${ARCH}: installed`,
        `abi-provider/1.0, ${B}, ${ARCH}: installed`,
        `hello-abi/1.0, ${A}, ${ARCH}: installed`,
      ].join('\n'),
    );
    await expectUnreachable(sb, cli);
    expect(await readdir(sb.host(`lib/modules/${B}/extra/dkms`))).toEqual(['abi_provider.ko']);
  });

  it('a kernel it matches reuses the build as before', async () => {
    const { sb, cli } = await rootWith('BUILD_EXCLUSIVE_CONFIG="CONFIG_ACPI"');
    const b = await cli('kernel', 'add', B);
    expect(b.stdout).toBe(`hello-abi/1.0, ${B}: linked (installed-abi, no build; headers not checked)\n`);
    expect(await stockStatus(sb)).toContain(`hello-abi/1.0, ${B}, ${ARCH}: installed`);
  });
});
