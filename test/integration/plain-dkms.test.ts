// Issue 12, item 4: a root where stock dkms installed a module itself (a copy in
// updates/dkms, its kernel-<kver>-<arch> mark, a kernel dkms-abi never registered). dkms-abi's
// status must never say less than `dkms status`; uninstall and remove take the copy away and
// run depmod, as stock dkms does, so modules.dep lists no file that is gone.
import { execa } from 'execa';
import { lstat, readFile } from 'node:fs/promises';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const ARCH = os.machine();

function stockDkms(sb: SandboxRoot, ...args: string[]) {
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
    { reject: false, env: { TMPDIR: sb.host('tmp') } },
  );
}

/** hello-abi added, built and installed for A by stock dkms alone, then depmod of the root. */
async function plainDkmsRoot(): Promise<SandboxRoot> {
  const sb = await makeSandboxRoot({ kernels: [A] });
  await copyExampleSource(sb.root, 'hello-abi');
  expect((await stockDkms(sb, 'add', '-m', 'hello-abi', '-v', '1.0')).exitCode).toBe(0);
  const build = await stockDkms(
    sb,
    'build',
    '-m',
    'hello-abi',
    '-v',
    '1.0',
    '-k',
    A,
    '--kernelsourcedir',
    sb.headersDir(A),
  );
  expect(build.exitCode, build.stderr).toBe(0);
  // --no-depmod: dkms would run depmod on the host's /lib/modules; the root gets its own.
  const inst = await stockDkms(sb, 'install', '-m', 'hello-abi', '-v', '1.0', '-k', A, '--no-depmod');
  expect(inst.exitCode, inst.stderr).toBe(0);
  await execa('depmod', ['-b', sb.root, A]);
  expect((await lstat(sb.host(`lib/modules/${A}/updates/dkms/hello_abi.ko`))).isFile()).toBe(true);
  expect(await modulesDep(sb)).toContain('hello_abi.ko');
  return sb;
}

const modulesDep = (sb: SandboxRoot) => readFile(sb.host(`lib/modules/${A}/modules.dep`), 'utf8');

describe('a module stock dkms installed, on a kernel dkms-abi has not registered', () => {
  it('status says installed, as dkms status does, and verify finds nothing wrong', async () => {
    const sb = await plainDkmsRoot();
    const line = `hello-abi/1.0, ${A}, ${ARCH}: installed\n`;
    expect((await stockDkms(sb, 'status')).stdout.trim()).toBe(line.trim());
    expect((await runCli(['status'], { root: sb.root })).stdout).toBe(line);
    const v = await runCli(['verify'], { root: sb.root });
    expect(v.exitCode, v.stdout).toBe(0);
  });

  it('uninstall deletes the copy and runs depmod', async () => {
    const sb = await plainDkmsRoot();
    const r = await runCli(['uninstall', 'hello-abi/1.0'], { root: sb.root });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(`hello-abi/1.0, ${A}, ${ARCH}: uninstalled\n`);
    expect(await lstat(sb.host(`lib/modules/${A}/updates/dkms/hello_abi.ko`)).catch(() => undefined)).toBe(
      undefined,
    );
    expect(await modulesDep(sb)).not.toContain('hello_abi');
    expect((await runCli(['status'], { root: sb.root })).stdout).toBe(
      `hello-abi/1.0, ${A}, ${ARCH}: built\n`,
    );
  });

  it('remove --all deletes the copy and runs depmod', async () => {
    const sb = await plainDkmsRoot();
    const r = await runCli(['remove', 'hello-abi/1.0', '--all'], { root: sb.root });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await modulesDep(sb)).not.toContain('hello_abi');
    expect((await runCli(['status'], { root: sb.root })).stdout).toBe('');
    expect((await stockDkms(sb, 'status')).stdout).toBe('');
  });
});
