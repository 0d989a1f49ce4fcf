// The state directory is confined like the trees (docs/safety.md): when it, a directory on
// the way to it or anything it holds leads out of the root, every command refuses before it
// reads or writes there — exit 3, one line naming the link — and nothing outside the root or
// inside it changes. (status used to write its verdict cache through such a link.)
import { cp, mkdir, mkdtemp, rename, rm, symlink, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

const A = '6.1.0-47-amd64';
const STATE = 'var/lib/dkms-abi';

const hostFiles = (rel: string): boolean =>
  rel.startsWith('usr/src/linux-headers-') || rel.startsWith('usr/lib');

describe('a state directory leading out of the root', () => {
  let sb: SandboxRoot;
  let outside: string;

  beforeAll(async () => {
    sb = await makeSandboxRoot({ kernels: [A] });
    outside = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-outside-'));
    await copyExampleSource(sb.root, 'hello-abi');
    for (const args of [['add', 'hello-abi/1.0'], ['kernel', 'add', A], ['status']]) {
      const r = await runCli(args, { root: sb.root });
      expect(r.exitCode, r.stderr).toBe(0);
    }
    // status wrote its verdict cache.
    expect(Object.keys(await snapshotTree(sb.host(`${STATE}/cache/verdicts`)))).toEqual([`${A}.json`]);
  });
  afterAll(async () => {
    await sb.cleanup();
    await rm(outside, { recursive: true, force: true });
  });

  // [what, the path inside the root made a link, where its contents go outside]
  it.each([
    ['the state directory', STATE],
    ['a directory on the way to it', 'var/lib'],
    ['the cache', `${STATE}/cache`],
    ['the verdict cache', `${STATE}/cache/verdicts`],
    ['the journal directory', `${STATE}/journal`],
    ['the ABI archive', `${STATE}/abi`],
  ])(
    '%s (%s): status, install, uninstall, kernel add and verify refuse; nothing changes',
    async (_what, rel) => {
      const inner = sb.host(rel);
      const away = path.join(outside, path.basename(rel));
      await mkdir(inner, { recursive: true });
      await rename(inner, away);
      await symlink(away, inner);
      try {
        const before = await snapshotTree(sb.root, { ignore: hostFiles });
        const beforeOutside = await snapshotTree(outside);
        for (const args of [
          ['status'],
          ['--json', 'status'],
          ['install', 'hello-abi/1.0', '-k', A],
          ['uninstall', 'hello-abi/1.0'],
          ['kernel', 'add', A],
          ['verify', '--repair'],
        ]) {
          const r = await runCli(args, { root: sb.root });
          expect({ args, ...r }).toEqual({
            args,
            exitCode: 3,
            stdout: '',
            stderr: `dkms-abi: refusing to use the state directory: ${inner} leads outside the root ${sb.root} (to ${away})\n`,
          });
        }
        expect(await snapshotTree(sb.root, { ignore: hostFiles })).toEqual(before);
        expect(await snapshotTree(outside)).toEqual(beforeOutside);
      } finally {
        await unlink(inner);
        await rename(away, inner);
      }
    },
  );

  it('a link planted among the verdict caches, even a dangling one, is refused the same way', async () => {
    const planted = sb.host(`${STATE}/cache/verdicts/6.1.0-99-amd64.json`);
    await symlink(path.join(outside, 'nothing-here.json'), planted);
    try {
      const r = await runCli(['status'], { root: sb.root });
      expect(r).toEqual({
        exitCode: 3,
        stdout: '',
        stderr: `dkms-abi: refusing to use the state directory: ${planted} leads outside the root ${sb.root} (to ${outside})\n`,
      });
    } finally {
      await unlink(planted);
    }
  });

  it('a state directory moved elsewhere inside the root and linked is used as before', async () => {
    const elsewhere = sb.host('srv/dkms-abi-cache');
    await mkdir(path.dirname(elsewhere), { recursive: true });
    await cp(sb.host(`${STATE}/cache`), elsewhere, { recursive: true });
    await rm(sb.host(`${STATE}/cache`), { recursive: true });
    await symlink('../../../srv/dkms-abi-cache', sb.host(`${STATE}/cache`));
    const r = await runCli(['status'], { root: sb.root });
    expect(r).toEqual({ exitCode: 0, stdout: `hello-abi/1.0, ${A}, x86_64: installed\n`, stderr: '' });
    const u = await runCli(['uninstall', 'hello-abi/1.0'], { root: sb.root });
    expect(u.exitCode, u.stderr).toBe(0);
  });
});
