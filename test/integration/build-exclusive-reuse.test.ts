// Issue 12, item 2: BUILD_EXCLUSIVE_KERNEL/_ARCH/_CONFIG decide reuse as they decide a build
// in dkms: a same-ABI kernel that dkms would not build the module for gets nothing linked,
// whatever its ABI. dkms.conf is evaluated for that kernel; the config tested is the
// headers' .config as dkms reads it, or /boot/config-<kver> for a kernel without headers.
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
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

describe('BUILD_EXCLUSIVE on reuse', () => {
  it('BUILD_EXCLUSIVE_KERNEL: a same-ABI kernel it does not match gets no link', async () => {
    const { sb, cli } = await rootWith(`BUILD_EXCLUSIVE_KERNEL="^6\\.1\\.0-47-amd64$"`);
    const b = await cli('kernel', 'add', B);
    expect(b.exitCode).toBe(0);
    expect(b.stdout).toBe(
      `hello-abi/1.0, ${B}: skipped (${B} does not match BUILD_EXCLUSIVE_KERNEL ^6\\.1\\.0-47-amd64$)\n`,
    );
    expect(await stockStatus(sb)).toBe(`hello-abi/1.0, ${A}, ${ARCH}: installed`);
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
  });

  it('a kernel it matches reuses the build as before', async () => {
    const { sb, cli } = await rootWith('BUILD_EXCLUSIVE_CONFIG="CONFIG_ACPI"');
    const b = await cli('kernel', 'add', B);
    expect(b.stdout).toBe(`hello-abi/1.0, ${B}: linked (installed-abi, no build; headers not checked)\n`);
    expect(await stockStatus(sb)).toContain(`hello-abi/1.0, ${B}, ${ARCH}: installed`);
  });
});
