// Issue 3 end to end, with real dkms, kbuild, depmod and Debian headers in a sandbox root:
// one build serves every kernel of an ABI, stock dkms agrees, another ABI gets rebuilds.
import { execa } from 'execa';
import { mkdir, readFile, readdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { danglingLinks } from '../helpers/links.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI, no headers
const C = '6.1.0-50-amd64'; // another ABI
const EXAMPLES = ['hello-abi', 'abi-provider', 'abi-consumer', 'blobdrv'];
const TREE_A = 'kernel-abi-amd64-1';

let sb: SandboxRoot;
const cli = (...args: string[]) => runCli(args, { root: sb.root });

function stockDkms(...args: string[]) {
  return execa(
    'dkms',
    [
      ...args,
      '--dkmstree',
      sb.host('var/lib/dkms'),
      '--sourcetree',
      sb.host('usr/src'),
      '--installtree',
      sb.host('lib/modules'),
    ],
    {
      reject: false,
      env: {
        TMPDIR: sb.host('tmp'),
        mok_signing_key: sb.host('var/lib/dkms/mok.key'),
        mok_certificate: sb.host('var/lib/dkms/mok.pub'),
      },
    },
  );
}

async function makeLogs(): Promise<string[]> {
  const out: string[] = [];
  for (const m of EXAMPLES) {
    const vdir = sb.host(`var/lib/dkms/${m}/1.0`);
    for (const k of await readdir(vdir).catch(() => [] as string[])) {
      const log = path.join(vdir, k, 'x86_64', 'log', 'make.log');
      if ((await readFile(log).catch(() => undefined)) !== undefined) out.push(`${m}/${k}`);
    }
  }
  return out.sort();
}

beforeAll(async () => {
  sb = await makeSandboxRoot({ kernels: [A, C] });
  for (const m of EXAMPLES) {
    await copyExampleSource(sb.root, m);
    expect((await cli('add', `${m}/1.0`)).exitCode).toBe(0);
  }
});
afterAll(async () => {
  await sb.cleanup();
});

describe('sharing one build across an ABI', () => {
  it('builds a consumer only thanks to the merged symvers of its provider', async () => {
    expect((await cli('install', 'abi-provider/1.0', '-k', A)).exitCode).toBe(0);
    const r = await cli('install', 'abi-consumer/1.0', '-k', A);
    // Only the build's progress (issue 12, item 5: printed without a TTY too).
    expect(r.stderr).toMatch(
      new RegExp(`^abi-consumer/1\\.0: building for ${A}…\nabi-consumer/1\\.0: done in \\d+\\.\\d s\n$`),
    );
    expect(r.exitCode).toBe(0);
    const tree = sb.host(`lib/modules/${TREE_A}`);
    const saved = await readFile(path.join(tree, '.dkms-abi/abi-provider/1.0/Module.symvers'), 'utf8');
    expect(
      saved
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[1]),
    ).toEqual(['abi_provider_add', 'abi_provider_secret', 'abi_provider_ns_value']);
    // The consumer's recorded CRC of the provider's export is the provider's own.
    const ko = path.join(tree, 'dkms/abi_consumer.ko');
    const versions = (await execa('modprobe', ['--dump-modversions', ko])).stdout;
    const crc = saved
      .split('\n')
      .find((l) => l.includes('\tabi_provider_add\t'))
      ?.split('\t')[0];
    expect(versions).toContain(`${crc}\tabi_provider_add`);
    expect((await execa('modinfo', ['-F', 'depends', ko])).stdout).toBe('abi_provider');
  });

  it('kernel add installs the rest for the first kernel', async () => {
    const r = await cli('kernel', 'add', A);
    expect(r.exitCode).toBe(0);
    const s = await cli('status', '-k', A);
    expect(s.stdout.trim().split('\n')).toEqual(
      EXAMPLES.slice()
        .sort()
        .map((m) => `${m}/1.0, ${A}, x86_64: installed`),
    );
  });

  it('gives a same-ABI kernel without headers every module as installed-abi, compiling nothing', async () => {
    const logsBefore = await makeLogs();
    // As Debian installs it: vmlinuz, config and in-tree modules; no Module.symvers anywhere.
    await addSameAbiKernel(sb, A, B, { headers: false });
    const r = await cli('kernel', 'add', B);
    expect(r.exitCode).toBe(0);
    expect(await makeLogs()).toEqual(logsBefore);
    // Its exports, with their CRCs, read from the image and its modules: A's, line for line.
    expect(r.stderr).toContain(
      `${B}: no Module.symvers (no headers installed); reading the exports of /boot/vmlinuz-${B}`,
    );
    const derived = await readFile(sb.host(`var/lib/dkms-abi/kernels/${B}/Module.symvers`), 'utf8');
    const shipped = await readFile(sb.host(`usr/src/linux-headers-${A}/Module.symvers`), 'utf8');
    expect(derived.trim().split('\n').sort()).toEqual(shipped.trim().split('\n').sort());
    // Derived once: the next command reads the kept file.
    expect((await cli('kernel', 'add', B)).stderr).not.toContain('no Module.symvers');
    const s = await runCliJson<{
      entries: { module: string; kernel: string; state: string; builtFor: string }[];
    }>(['status', '-k', B], { root: sb.root });
    expect(s.json.entries.map((e) => [e.module, e.state, e.builtFor])).toEqual(
      EXAMPLES.slice()
        .sort()
        .map((m) => [m, 'installed-abi', A]),
    );
    expect((await cli('status', '-k', B)).stdout).toContain(
      `hello-abi/1.0, ${B}, x86_64: installed-abi (from ${A}; headers not checked)`,
    );
    // Stock dkms agrees, without warnings, and its autoinstall has nothing to do.
    const stock = await stockDkms('status', '-k', B);
    expect(stock.stdout.trim().split('\n').sort()).toEqual(
      EXAMPLES.slice()
        .sort()
        .map((m) => `${m}/1.0, ${B}, x86_64: installed`),
    );
    const auto = await stockDkms('autoinstall', '-k', B);
    expect(auto.exitCode).toBe(0);
    expect(await makeLogs()).toEqual(logsBefore);
  });

  it('rebuilds for a kernel of another ABI', async () => {
    const r = await cli('kernel', 'add', C);
    expect(r.exitCode).toBe(0);
    expect(await makeLogs()).toEqual(EXAMPLES.flatMap((m) => [`${m}/${A}`, `${m}/${C}`]).sort());
    const list = await runCliJson<{ kernels: { kernel: string; tree: string }[] }>(['kernel', 'list'], {
      root: sb.root,
    });
    expect(list.json.kernels.map((k) => [k.kernel, k.tree])).toEqual([
      [A, TREE_A],
      [B, TREE_A],
      [C, 'kernel-abi-amd64-2'],
    ]);
    expect((await cli('status', '-k', C)).stdout).toContain(`hello-abi/1.0, ${C}, x86_64: installed\n`);
  });

  it('reports needs-depmod when a module is newer than modules.dep, and autoinstall clears it', async () => {
    const hour = 3600_000;
    const modTime = new Date(Date.now() - hour / 2);
    const depTime = new Date(Date.now() - hour);
    await utimes(sb.host(`lib/modules/${TREE_A}/dkms/hello_abi.ko`), modTime, modTime);
    await utimes(sb.host(`lib/modules/${A}/modules.dep`), depTime, depTime);
    expect((await cli('status', 'hello-abi', '-k', A)).stdout).toBe(
      `hello-abi/1.0, ${A}, x86_64: installed, needs-depmod\n`,
    );
    expect((await cli('autoinstall', '-k', A)).exitCode).toBe(0);
    expect((await cli('status', 'hello-abi', '-k', A)).stdout).toBe(
      `hello-abi/1.0, ${A}, x86_64: installed\n`,
    );
  });

  it('moves the files of a pre-existing extra/ into the tree without losing any', async () => {
    const D = '6.1.0-47.2-amd64';
    await addSameAbiKernel(sb, A, D, { headers: false });
    await mkdir(sb.host(`lib/modules/${D}/extra/vendor`), { recursive: true });
    await writeFile(sb.host(`lib/modules/${D}/extra/vendor/vendor_drv.ko`), 'vendor bytes');
    expect((await cli('kernel', 'add', D)).exitCode).toBe(0);
    expect(await readFile(sb.host(`lib/modules/${D}/extra/vendor/vendor_drv.ko`), 'utf8')).toBe(
      'vendor bytes',
    );
    expect(await readFile(sb.host(`lib/modules/${B}/extra/vendor/vendor_drv.ko`), 'utf8')).toBe(
      'vendor bytes',
    );
  });

  it('uninstall and kernel removal leave no dangling links and prune the last tree', async () => {
    expect((await cli('uninstall', 'hello-abi/1.0')).exitCode).toBe(0);
    expect((await cli('status', 'hello-abi')).stdout).not.toContain('installed');
    expect(await danglingLinks(sb.root)).toEqual([]);
    // The kernel the shared binaries were built for goes first: the others keep working.
    expect((await cli('kernel', 'remove', A)).exitCode).toBe(0);
    expect(await danglingLinks(sb.root)).toEqual([]);
    expect((await cli('status', 'abi-consumer', '-k', B)).stdout).toBe(
      `abi-consumer/1.0, ${B}, x86_64: installed-abi (from ${A}; headers not checked)\n`,
    );
    expect((await stockDkms('status', '-m', 'abi-consumer', '-k', B)).stdout).toContain(': installed');
    for (const k of [B, '6.1.0-47.2-amd64']) expect((await cli('kernel', 'remove', k)).exitCode).toBe(0);
    expect(await readdir(sb.host('lib/modules'))).not.toContain(TREE_A);
    // What was derived from B's image goes with it.
    expect(await readdir(sb.host('var/lib/dkms-abi/kernels')).catch(() => [])).toEqual([]);
    expect(await danglingLinks(sb.root)).toEqual([]);
  });
});
