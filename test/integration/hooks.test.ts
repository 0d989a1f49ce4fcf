// The hooks setup-hooks installs, run as the kernel packages run them (run-parts passes the
// release), against a sandbox root: a wrapper named dkms-abi on PATH adds --root.
import { execa } from 'execa';
import { chmod, mkdtemp, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64';

describe('kernel hooks', () => {
  it('installs hooks idempotently and they register and unregister kernels', async () => {
    const sb = await makeSandboxRoot({ kernels: [A] });
    const first = await runCli(['setup-hooks'], { root: sb.root });
    expect(first.exitCode).toBe(0);
    expect(first.stdout).toContain('installed /etc/kernel/postinst.d/05dkms-abi');
    const again = await runCli(['setup-hooks'], { root: sb.root });
    expect(again.stdout).not.toContain('installed ');
    expect((await stat(sb.host('etc/kernel/postinst.d/05dkms-abi'))).mode & 0o777).toBe(0o755);
    expect(await readlink(sb.host('etc/systemd/system/multi-user.target.wants/dkms-abi.service'))).toBe(
      '/etc/systemd/system/dkms-abi.service',
    );
    expect(await readFile(sb.host('etc/depmod.d/dkms-abi.conf'), 'utf8')).toContain(
      'search extra updates built-in',
    );

    await copyExampleSource(sb.root, 'hello-abi');
    expect((await runCli(['add', 'hello-abi/1.0'], { root: sb.root })).exitCode).toBe(0);
    expect((await runCli(['kernel', 'add', A], { root: sb.root })).exitCode).toBe(0);
    await addSameAbiKernel(sb, A, B, { headers: false });

    const bin = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-bin-'));
    await writeFile(
      path.join(bin, 'dkms-abi'),
      `#!/bin/sh\nexec ${process.execPath} ${BIN} --root ${sb.root} "$@"\n`,
    );
    await chmod(path.join(bin, 'dkms-abi'), 0o755);
    const env = { PATH: `${bin}:${process.env['PATH'] ?? ''}` };
    const hook = (p: string, ...args: string[]) => execa('sh', [sb.host(p), ...args], { env, reject: false });

    const post = await hook('etc/kernel/postinst.d/05dkms-abi', B);
    expect(post.exitCode).toBe(0);
    expect((await runCli(['status', '-k', B], { root: sb.root })).stdout).toBe(
      `hello-abi/1.0, ${B}, x86_64: installed-abi (from ${A}; headers not checked)\n`,
    );
    // A same-name upgrade of A, which owns the build B shares: the preinst hook moves it to B
    // (out of reach of dkms >= 3.1's kernel_preinst), the postinst hook restores A's own.
    const pre = await hook('etc/kernel/preinst.d/05dkms-abi', A);
    expect(pre.exitCode).toBe(0);
    expect(pre.stdout).toContain(`hello-abi/1.0, ${A}, x86_64: build moved to ${B}`);
    expect((await hook('etc/kernel/postinst.d/05dkms-abi', A)).exitCode).toBe(0);
    expect((await runCli(['status'], { root: sb.root })).stdout).toBe(
      `hello-abi/1.0, ${A}, x86_64: installed\nhello-abi/1.0, ${B}, x86_64: installed-abi (from ${A}; headers not checked)\n`,
    );
    expect((await runCli(['verify'], { root: sb.root })).exitCode).toBe(0);
    // The kernel-install plugin's remove, then add again, then the prerm hook.
    expect((await hook('etc/kernel/install.d/40-dkms-abi.install', 'remove', B)).exitCode).toBe(0);
    expect((await runCli(['kernel', 'list'], { root: sb.root })).stdout).toContain(`${B}: not registered`);
    expect(
      (await hook('etc/kernel/install.d/40-dkms-abi.install', 'add', B, '/boot/efi/x', '/boot/vmlinuz'))
        .exitCode,
    ).toBe(0);
    expect((await runCli(['kernel', 'list'], { root: sb.root })).stdout).toContain(`${B}: amd64-1`);
    expect((await hook('etc/kernel/prerm.d/05dkms-abi', B)).exitCode).toBe(0);
    expect((await runCli(['kernel', 'list'], { root: sb.root })).stdout).toContain(`${B}: not registered`);

    // A failing dkms-abi never fails the kernel package: the hook says so and exits 0.
    const broken = await execa('sh', [sb.host('etc/kernel/postinst.d/05dkms-abi'), '../../bad'], {
      env,
      reject: false,
    });
    expect(broken.exitCode).toBe(0);
    expect(broken.stderr).toContain('dkms will rebuild modules');
  });
});
