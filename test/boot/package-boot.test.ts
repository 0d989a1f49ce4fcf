// Ground truth for binary packages: blobdrv, built once on a build root with headers and
// packaged for its ABI, installed by dpkg into a root that has no headers and no compiler,
// is loaded by the real Debian 6.1.0-47 kernel's module loader from that root.
import { execa } from 'execa';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { bootFilesOnly, dpkgOnRoot, initDpkgDatabase, makeToolDir } from '../helpers/dpkg-root.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';
import { bootAndLoad } from './qemu-harness.js';

const REAL = '6.1.0-47-amd64';
const CLONE = '6.1.0-47.1-amd64';
const DEB = 'blobdrv-modules-amd64-1_1.0-1_amd64.deb';

describe('a module package under the real kernel', () => {
  it('loads blobdrv installed by dpkg into a root without headers or compiler', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-out-'));
    try {
      const build = await makeSandboxRoot({ kernels: [REAL] });
      await copyExampleSource(build.root, 'blobdrv');
      expect((await runCli(['add', 'blobdrv/1.0'], { root: build.root })).exitCode).toBe(0);
      const pkg = await runCli(
        [
          'package',
          'blobdrv/1.0',
          '-k',
          REAL,
          '-o',
          out,
          '--maintainer',
          'Test Builder <builder@example.org>',
        ],
        { root: build.root },
      );
      expect(pkg.exitCode).toBe(0);

      const target = await makeSandboxRoot({ kernels: [REAL], withHeaders: false, withImageModules: true });
      await bootFilesOnly(target, REAL);
      await addSameAbiKernel(target, REAL, CLONE, { headers: false });
      await initDpkgDatabase(target.root);
      await writeFile(target.host('usr/lib/os-release'), await readFile('/etc/os-release'));
      await execa('depmod', ['-a', '-b', target.root, REAL]);
      const tools = await makeToolDir();
      const r = await dpkgOnRoot(target.root, tools, ['--force-depends', '-i', path.join(out, DEB)]);
      expect(r.stderr).not.toContain('dkms-abi:');
      expect(r.exitCode).toBe(0);
      expect((await runCli(['status'], { root: target.root })).stdout).toBe(
        `blobdrv/1.0, ${REAL}, x86_64: installed\nblobdrv/1.0, ${CLONE}, x86_64: installed-abi (from ${REAL})\n`,
      );
      expect(await tools.tripped()).toEqual([]);
      expect(await readdir(target.host('usr/src'))).toEqual([]);

      const report = await bootAndLoad({
        root: target.root,
        kver: REAL,
        steps: [{ kind: 'modprobe', name: 'blobdrv' }],
      });
      expect(report.kernelRelease).toBe(REAL);
      expect(report.steps.map((s) => [s.moduleName, s.outcome, s.loaded])).toEqual([
        ['blobdrv', 'loaded', true],
      ]);
      // Proprietary licence: the kernel marks itself tainted (P), as it does for nvidia.
      expect(report.steps[0]?.moduleTaint).toContain('P');
      process.stderr.write(
        `package-boot: ${report.accel} boot ${report.bootMs} ms, initramfs ${report.initramfsBytes} bytes\n`,
      );
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
