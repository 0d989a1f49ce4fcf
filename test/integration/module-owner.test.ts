// Issue 13, item 6: one module file, one owner. Two DKMS packages that ship a module of the
// same name meet in one shared tree the way they meet in a kernel's updates/dkms under stock
// dkms: the newer module version replaces the older, an equal or older one is refused (dkms's
// check_version_sanity), and uninstalling either never deletes the file the other owns. A
// dkms.conf naming one BUILT_MODULE_NAME twice installs one file, listed once, and a manifest
// an older dkms-abi wrote with it twice no longer breaks uninstall, remove or kernel remove.
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { stockDkms } from '../helpers/stock-dkms.js';
import { execa } from 'execa';

const A = '6.1.0-47-amd64';
const TREE = 'lib/modules/kernel-abi-amd64-1';
const FILE = `${TREE}/dkms/hello_abi.ko`;
const manifestOf = (pkg: string, v: string) => `${TREE}/.dkms-abi/${pkg}/${v}/manifest.json`;
const filesIn = async (file: string): Promise<unknown> =>
  (JSON.parse(await readFile(file, 'utf8')) as { files: unknown }).files;

/** hello-abi's source again, as package `pkg` whose module says MODULE_VERSION(`modVersion`). */
async function forkOfHello(sb: SandboxRoot, pkg: string, version: string, modVersion: string): Promise<void> {
  const src = await copyExampleSource(sb.root, 'hello-abi', version, pkg);
  const conf = await readFile(`${src}/dkms.conf`, 'utf8');
  await writeFile(
    `${src}/dkms.conf`,
    conf
      .replace('PACKAGE_NAME="hello-abi"', `PACKAGE_NAME="${pkg}"`)
      .replace(/PACKAGE_VERSION="[^"]*"/, `PACKAGE_VERSION="${version}"`),
  );
  const c = await readFile(`${src}/hello_abi.c`, 'utf8');
  await writeFile(
    `${src}/hello_abi.c`,
    c.replace('MODULE_VERSION("1.0")', `MODULE_VERSION("${modVersion}")`),
  );
}

async function sha(file: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

async function modVersion(file: string): Promise<string> {
  return (await execa('modinfo', ['-F', 'version', file])).stdout;
}

async function rootWithHello(): Promise<{
  sb: SandboxRoot;
  cli: (...a: string[]) => ReturnType<typeof runCli>;
}> {
  const sb = await makeSandboxRoot({ kernels: [A] });
  await copyExampleSource(sb.root, 'hello-abi');
  const cli = (...args: string[]) => runCli(args, { root: sb.root });
  expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
  expect((await cli('install', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
  return { sb, cli };
}

describe('one module file, one owner', () => {
  it('a package whose module is not newer is refused, as dkms refuses it; the owner keeps its file', async () => {
    const { sb, cli } = await rootWithHello();
    await forkOfHello(sb, 'hello-fork', '1.0', '1.0');
    expect((await cli('add', 'hello-fork/1.0')).exitCode).toBe(0);
    const before = await sha(sb.host(FILE));
    const manifest = await readFile(sb.host(manifestOf('hello-abi', '1.0')), 'utf8');

    const r = await cli('install', 'hello-fork/1.0', '-k', A);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `dkms-abi: cannot install hello-fork/1.0 for ${A}: dkms/hello_abi.ko in kernel-abi-amd64-1 belongs to hello-abi/1.0, ` +
        `whose module version (1.0) is not older than this one's (1.0); dkms would not replace it either (uninstall hello-abi/1.0 first)`,
    );
    expect(await sha(sb.host(FILE))).toBe(before);
    expect(await readFile(sb.host(manifestOf('hello-abi', '1.0')), 'utf8')).toBe(manifest);
    expect((await cli('status', 'hello-fork')).stdout).not.toContain('installed');
    expect((await cli('verify')).exitCode).toBe(0);

    // Stock dkms, on the same trees, refuses the same file for the same reason.
    // --no-depmod: dkms would run depmod on the host's /lib/modules.
    const stock = await stockDkms(sb, 'install', 'hello-fork/1.0', '-k', A, '--no-depmod');
    expect(stock.stderr + stock.stdout).toContain('exactly matches what is already found in kernel');
    expect(await sha(sb.host(FILE))).toBe(before);
  });

  it('a newer module takes the file over; uninstalling the old owner leaves it, its own uninstall removes it', async () => {
    const { sb, cli } = await rootWithHello();
    await forkOfHello(sb, 'hello-fork', '2.0', '2.0');
    expect((await cli('add', 'hello-fork/2.0')).exitCode).toBe(0);

    const r = await cli('install', 'hello-fork/2.0', '-k', A);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`hello-fork/2.0, ${A}, x86_64: installed\n`);
    expect(r.stderr).toContain(
      'hello-fork/2.0: replaces dkms/hello_abi.ko of hello-abi/1.0 in kernel-abi-amd64-1 (a newer version, as dkms replaces it)',
    );
    expect(await modVersion(sb.host(FILE))).toBe('2.0');
    expect(await filesIn(sb.host(manifestOf('hello-abi', '1.0')))).toEqual([]);
    expect(await filesIn(sb.host(manifestOf('hello-fork', '2.0')))).toEqual(['dkms/hello_abi.ko']);
    expect((await cli('verify')).exitCode).toBe(0);

    const u = await cli('uninstall', 'hello-abi/1.0', '-k', A);
    expect(u.exitCode).toBe(0);
    expect(await modVersion(sb.host(FILE))).toBe('2.0');
    expect((await cli('status', 'hello-fork')).stdout).toBe(`hello-fork/2.0, ${A}, x86_64: installed\n`);
    expect((await cli('verify')).exitCode).toBe(0);

    expect((await cli('uninstall', 'hello-fork/2.0', '-k', A)).exitCode).toBe(0);
    await expect(readFile(sb.host(FILE))).rejects.toThrow(/ENOENT/);
    expect((await cli('verify')).exitCode).toBe(0);
  });

  it('a file two manifests list (an older dkms-abi) is left by the uninstall of either until the last', async () => {
    const { sb, cli } = await rootWithHello();
    await forkOfHello(sb, 'hello-fork', '2.0', '2.0');
    expect((await cli('add', 'hello-fork/2.0')).exitCode).toBe(0);
    expect((await cli('install', 'hello-fork/2.0', '-k', A)).exitCode).toBe(0);
    // What an older dkms-abi left: both manifests name the file.
    const m = manifestOf('hello-abi', '1.0');
    const old = JSON.parse(await readFile(sb.host(m), 'utf8')) as Record<string, unknown>;
    await writeFile(sb.host(m), `${JSON.stringify({ ...old, files: ['dkms/hello_abi.ko'] }, null, 2)}\n`);

    expect((await cli('uninstall', 'hello-fork/2.0', '-k', A)).exitCode).toBe(0);
    expect(await modVersion(sb.host(FILE))).toBe('2.0');
    expect((await cli('uninstall', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
    await expect(readFile(sb.host(FILE))).rejects.toThrow(/ENOENT/);
  });

  it('one BUILT_MODULE_NAME listed twice: one file, listed once; uninstall, remove and kernel remove work', async () => {
    const sb = await makeSandboxRoot({ kernels: [A] });
    const src = await copyExampleSource(sb.root, 'hello-abi');
    await writeFile(
      `${src}/dkms.conf`,
      `${await readFile(`${src}/dkms.conf`, 'utf8')}BUILT_MODULE_NAME[1]="hello_abi"\nDEST_MODULE_LOCATION[1]="/extra"\n`,
    );
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
    expect((await cli('install', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
    const m = sb.host(manifestOf('hello-abi', '1.0'));
    expect(await filesIn(m)).toEqual(['dkms/hello_abi.ko']);
    expect((await cli('uninstall', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
    expect((await cli('install', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);

    // A manifest an older dkms-abi wrote, the file in it twice: every later command works.
    const written = JSON.parse(await readFile(m, 'utf8')) as Record<string, unknown>;
    await writeFile(
      m,
      `${JSON.stringify({ ...written, files: ['dkms/hello_abi.ko', 'dkms/hello_abi.ko'] })}\n`,
    );
    const rm = await cli('remove', 'hello-abi/1.0', '--all');
    expect(rm.stderr).toBe('');
    expect(rm.exitCode).toBe(0);
    await expect(readFile(sb.host(FILE))).rejects.toThrow(/ENOENT/);

    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
    expect((await cli('install', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
    await writeFile(
      m,
      `${JSON.stringify({ ...written, files: ['dkms/hello_abi.ko', 'dkms/hello_abi.ko'] })}\n`,
    );
    const kr = await cli('kernel', 'remove', A);
    expect(kr.exitCode).toBe(0);
    expect((await cli('verify')).exitCode).toBe(0);
  });
});
