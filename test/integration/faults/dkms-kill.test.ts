// A real SIGKILL inside dkms's own build, in the window dkms 3.0.x leaves between creating
// <dkmstree>/M/V/<kver>/<arch>/{log,module} and copying the module there (its `strip -g`
// step, made slow by a strip on the tools' PATH). Stock dkms then refuses every later build
// ("Directory … already exists"): dkms-abi must see the half-made build (status `added`, as
// dkms says; verify reports it), remove it on the next build, and build again.
import { spawn } from 'node:child_process';
import { chmod, cp, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli, runCliJson } from '../../helpers/cli.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../../helpers/sandbox.js';

const A = '6.1.0-47-amd64';

describe('a kill inside dkms build', () => {
  let sb: SandboxRoot;
  let bin: string;
  const buildDir = () => sb.host(`var/lib/dkms/hello-abi/1.0/${A}/x86_64`);

  beforeAll(async () => {
    sb = await makeSandboxRoot({ kernels: [A] });
    await copyExampleSource(sb.root, 'hello-abi');
    expect((await runCli(['add', 'hello-abi/1.0'], { root: sb.root })).exitCode).toBe(0);
    bin = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-slowstrip-'));
    // Says it was reached, then waits to be killed.
    await writeFile(path.join(bin, 'strip'), `#!/bin/sh\ntouch ${bin}/reached\nexec sleep 300\n`);
    await chmod(path.join(bin, 'strip'), 0o755);
  });
  afterAll(async () => {
    await sb.cleanup();
    await rm(bin, { recursive: true, force: true });
  });

  it('is killed with the build directory made and no module in it', async () => {
    const child = spawn(process.execPath, [BIN, '--root', sb.root, 'install', 'hello-abi/1.0', '-k', A], {
      detached: true, // its own process group: dkms, make and strip die with it
      stdio: 'ignore',
      env: {
        PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: process.env['HOME'] ?? '/root',
        LC_ALL: 'C',
        DKMS_ABI_PATH: `${bin}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      },
    });
    const ended = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 300_000;
    while (!(await stat(path.join(bin, 'reached')).catch(() => undefined)) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    process.kill(-(child.pid as number), 'SIGKILL');
    await ended;
    expect((await readdir(buildDir())).sort()).toEqual(['log', 'module']);
    expect(await readdir(path.join(buildDir(), 'module'))).toEqual([]);
  });

  it('status says added, as stock dkms does', async () => {
    const r = await runCli(['status'], { root: sb.root });
    expect(r).toEqual({ exitCode: 0, stdout: 'hello-abi/1.0: added\n', stderr: '' });
  });

  it('verify reports the half-made build', async () => {
    const r = await runCliJson<{ findings: { kind: string; path: string }[] }>(['verify'], { root: sb.root });
    expect(r.exitCode).toBe(1);
    expect(r.json.findings.map((f) => `${f.kind} ${f.path}`)).toContain(
      `dkms-build-incomplete /var/lib/dkms/hello-abi/1.0/${A}/x86_64`,
    );
  });

  it('verify --repair removes it (kept aside here for the next test)', async () => {
    await cp(buildDir(), sb.host('tmp/build-aside'), { recursive: true });
    const r = await runCliJson<{ repaired: string[] }>(['verify', '--repair'], { root: sb.root });
    expect(r.json.repaired, JSON.stringify(r.json)).toContain(
      `dkms-build-incomplete /var/lib/dkms/hello-abi/1.0/${A}/x86_64: remove it (the next install or autoinstall builds again)`,
    );
    expect(await stat(buildDir()).catch(() => undefined)).toBeUndefined();
    await rename(sb.host('tmp/build-aside'), buildDir());
  });

  it('the next install removes it and builds again', async () => {
    const r = await runCli(['install', 'hello-abi/1.0', '-k', A], { root: sb.root });
    expect([r.exitCode, r.stderr]).toEqual([0, expect.any(String)]);
    expect(await readdir(path.join(buildDir(), 'module'))).toEqual(['hello_abi.ko']);
    expect((await runCli(['status'], { root: sb.root })).stdout).toBe(
      `hello-abi/1.0, ${A}, x86_64: installed\n`,
    );
    expect((await runCli(['verify'], { root: sb.root })).exitCode).toBe(0);
  });
});
