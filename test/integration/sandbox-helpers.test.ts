// The helpers every integration test stands on: a sandbox root that looks like a Debian system
// (real headers, real in-tree modules, chroot-semantics paths), example sources, the CLI runner.
import { access, lstat, readFile, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveInRoot } from '../../src/system/rootfs.js';
import { runCli } from '../helpers/cli.js';
import { IMAGES_DIR, copyExampleSource, makeSandboxRoot, privateCopy } from '../helpers/sandbox.js';

const K47 = '6.1.0-47-amd64';

describe('makeSandboxRoot', () => {
  it('lays out headers Debian-style, resolvable with chroot semantics, and cleans up after the test', async () => {
    const sb = await makeSandboxRoot({ kernels: [K47] });
    for (const d of ['var/lib/dkms', 'usr/src', 'etc', 'boot', 'tmp']) {
      expect((await stat(sb.host(d))).isDirectory()).toBe(true);
    }
    expect(await readFile(sb.host('etc/os-release'), 'utf8')).toBe(await readFile('/etc/os-release', 'utf8'));
    expect(await readlink(sb.host(`lib/modules/${K47}/build`))).toBe(`/usr/src/linux-headers-${K47}`);
    // build -> /usr/src/… and scripts -> ../../lib/linux-kbuild-6.1/scripts both stay inside the root.
    const signFile = await resolveInRoot(sb.root, `/lib/modules/${K47}/build/scripts/sign-file`);
    expect(signFile).toBe(sb.host('usr/lib/linux-kbuild-6.1/scripts/sign-file'));
    await access(signFile);
    const inRoot = await stat(path.join(sb.headersDir(K47), 'Module.symvers'));
    const onHost = await stat(`/usr/src/linux-headers-${K47}/Module.symvers`);
    expect(inRoot.ino).toBe(onHost.ino);
    expect(await readdir(sb.host(`lib/modules/${K47}`))).toEqual(['build']);
    const root = sb.root;
    await sb.cleanup();
    await expect(lstat(root)).rejects.toThrow(/ENOENT/);
  });

  it('adds the real in-tree modules, modules.order/builtin, config and System.map when asked', async () => {
    const sb = await makeSandboxRoot({ kernels: [K47], withHeaders: false, withImageModules: true });
    const modDir = sb.host(`lib/modules/${K47}`);
    expect((await readdir(modDir)).sort()).toEqual([
      'kernel',
      'modules.builtin',
      'modules.builtin.modinfo',
      'modules.order',
    ]);
    const order = (await readFile(path.join(modDir, 'modules.order'), 'utf8')).trim().split('\n');
    expect(order.length).toBeGreaterThan(4000);
    await access(path.join(modDir, order[0] ?? ''));
    for (const f of [`config-${K47}`, `System.map-${K47}`]) {
      expect((await stat(sb.host(`boot/${f}`))).ino).toBe(
        (await stat(path.join(IMAGES_DIR, K47, 'boot', f))).ino,
      );
    }
    await expect(lstat(path.join(modDir, 'build'))).rejects.toThrow(/ENOENT/);
  });

  it('privateCopy detaches a hard-linked file before it is edited in place', async () => {
    const sb = await makeSandboxRoot({ kernels: [K47] });
    const inner = `/usr/src/linux-headers-${K47}/Module.symvers`;
    const file = await privateCopy(sb.root, inner);
    expect((await stat(file)).ino).not.toBe((await stat(inner)).ino);
    // Buffer.equals: a deep toEqual over 1.7 MB takes seconds.
    expect((await readFile(file)).equals(await readFile(inner))).toBe(true);
  });
});

describe('copyExampleSource', () => {
  it('puts examples/<name> at <root>/usr/src/<name>-1.0, keeping the PRE_BUILD script executable', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const dir = await copyExampleSource(sb.root, 'blobdrv');
    expect(dir).toBe(sb.host('usr/src/blobdrv-1.0'));
    expect((await readdir(dir)).sort()).toEqual([
      'Makefile',
      'blob',
      'blobdrv_glue.c',
      'build-blob.sh',
      'dkms.conf',
    ]);
    expect((await stat(path.join(dir, 'build-blob.sh'))).mode & 0o111).toBe(0o111);
  });
});

describe('runCli', () => {
  it('runs the built CLI on the root and returns exit code, stdout and stderr', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const version = JSON.parse(
      await readFile(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'),
    ) as {
      version: string;
    };
    expect(await runCli(['--version'], { root: sb.root })).toEqual({
      exitCode: 0,
      stdout: `${version.version}\n`,
      stderr: '',
    });
    const bad = await runCli(['no-such-command'], { root: sb.root });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/unknown command 'no-such-command'/);
  });

  it('refuses to run on the real root', async () => {
    await expect(runCli(['status'], { root: '/' })).rejects.toThrow(/never run on the real root/);
  });
});
