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
// Its signing key stays in the root (dkms would make /var/lib/dkms/mok.key on the host).
import { stockDkms } from '../helpers/stock-dkms.js';

const A = '6.1.0-47-amd64';
const C = '6.1.0-50-amd64';
const ARCH = os.machine();

/** hello-abi added, built and installed for the kernels by stock dkms alone, then depmod of the root. */
async function plainDkmsRoot(kernels: readonly string[] = [A]): Promise<SandboxRoot> {
  const sb = await makeSandboxRoot({ kernels });
  await copyExampleSource(sb.root, 'hello-abi');
  expect((await stockDkms(sb, 'add', '-m', 'hello-abi', '-v', '1.0')).exitCode).toBe(0);
  for (const k of kernels) await stockInstall(sb, k);
  return sb;
}

async function stockInstall(sb: SandboxRoot, A: string): Promise<void> {
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
  expect(await modulesDep(sb, A)).toContain('hello_abi.ko');
}

const modulesDep = (sb: SandboxRoot, k = A) => readFile(sb.host(`lib/modules/${k}/modules.dep`), 'utf8');

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

describe('adopt', () => {
  it('registers every kernel and turns the copies into tree links; --undo puts plain copies back', async () => {
    const sb = await plainDkmsRoot([A, C]);
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    const copy = sb.host(`lib/modules/${A}/updates/dkms/hello_abi.ko`);
    const bytes = await readFile(copy);

    const r = await cli('adopt');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      [
        `${A}: registered in kernel-abi-amd64-1`,
        `${C}: registered in kernel-abi-amd64-2`,
        `hello-abi/1.0, ${A}, ${ARCH}: adopted, installed`,
        `hello-abi/1.0, ${C}, ${ARCH}: adopted, installed`,
        '',
      ].join('\n'),
    );
    for (const k of [A, C]) {
      const link = sb.host(`lib/modules/${k}/updates/dkms/hello_abi.ko`);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      expect(await modulesDep(sb, k)).toContain('hello_abi.ko');
    }
    expect((await cli('status')).stdout).toBe(
      `hello-abi/1.0, ${A}, ${ARCH}: installed\nhello-abi/1.0, ${C}, ${ARCH}: installed\n`,
    );
    expect((await cli('verify')).exitCode).toBe(0);
    // Once is enough: a second adopt changes nothing.
    expect((await cli('adopt')).stdout).toBe(
      `hello-abi/1.0, ${A}, ${ARCH}: adopted, installed\nhello-abi/1.0, ${C}, ${ARCH}: adopted, installed\n`,
    );

    const u = await cli('adopt', '--undo');
    expect(u.exitCode, u.stderr).toBe(0);
    for (const k of [A, C]) {
      const file = sb.host(`lib/modules/${k}/updates/dkms/hello_abi.ko`);
      expect((await lstat(file)).isFile()).toBe(true);
      expect(await lstat(sb.host(`lib/modules/${k}/extra`)).catch(() => undefined)).toBe(undefined);
      expect(await modulesDep(sb, k)).toMatch(/^updates\/dkms\/hello_abi\.ko:/m);
    }
    expect(await readFile(copy)).toEqual(bytes);
    // What stock dkms sees once dkms-abi is gone: installed, as before adopt.
    expect((await stockDkms(sb, 'status')).stdout.trim()).toBe(
      `hello-abi/1.0, ${A}, ${ARCH}: installed\nhello-abi/1.0, ${C}, ${ARCH}: installed`,
    );
  });
});
