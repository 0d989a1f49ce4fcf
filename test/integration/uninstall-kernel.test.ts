// Issue 12, item 6: stock dkms's `uninstall -k KVER` affects that kernel only. A shared tree
// cannot lose a module for one of its kernels alone, so dkms-abi refuses an uninstall (or
// remove -k) that would reach other kernels, naming them, unless --all-sharing confirms it.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI as A, no headers
const C = '6.1.0-50-amd64'; // another ABI, a tree of its own

describe('uninstall -k KVER on a shared tree', () => {
  it('refuses to take a module from the other kernels of the tree, then does so with --all-sharing', async () => {
    const sb = await makeSandboxRoot({ kernels: [A, C] });
    await addSameAbiKernel(sb, A, B, { headers: false });
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    await copyExampleSource(sb.root, 'hello-abi');
    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
    for (const k of [A, B, C]) expect((await cli('kernel', 'add', k)).exitCode).toBe(0);

    const ignore = (rel: string) => rel.startsWith('usr/');
    const before = await snapshotTree(sb.root, { ignore });
    for (const args of [
      ['uninstall', 'hello-abi/1.0', '-k', B],
      ['uninstall', 'hello-abi', '-k', A],
      ['remove', 'hello-abi/1.0', '-k', B],
    ]) {
      const r = await cli(...args);
      expect(r.exitCode).toBe(2);
      const other = args[3] === A ? B : A;
      expect(r.stderr).toContain(`hello-abi/1.0 on ${args[3]} is shared with ${other} (kernel-abi-amd64-1)`);
      expect(r.stderr).toContain('--all-sharing');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(await snapshotTree(sb.root, { ignore })).toEqual(before);
    }

    // The only kernel of its tree: nothing to refuse.
    const c = await cli('uninstall', 'hello-abi/1.0', '-k', C);
    expect(c.exitCode).toBe(0);
    expect(c.stdout).toBe(`hello-abi/1.0, ${C}, x86_64: uninstalled\n`);
    expect((await cli('status', 'hello-abi/1.0', '-k', C)).stdout).toBe(
      `hello-abi/1.0, ${C}, x86_64: built\n`,
    );

    const r = await cli('uninstall', 'hello-abi/1.0', '-k', B, '--all-sharing');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(
      `hello-abi/1.0, ${A}, x86_64: uninstalled\nhello-abi/1.0, ${B}, x86_64: uninstalled\n`,
    );
    for (const k of [A, B]) {
      expect(await readFile(sb.host(`lib/modules/${k}/modules.dep`), 'utf8')).not.toContain('hello_abi');
    }
    expect((await cli('status', 'hello-abi/1.0')).stdout).toBe(
      [A, C].map((k) => `hello-abi/1.0, ${k}, x86_64: built\n`).join(''),
    );
    expect((await cli('verify')).exitCode).toBe(0);
  });
});
