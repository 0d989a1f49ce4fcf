// Issue 12, item 5: inside apt stderr is no TTY, and a long build used to print nothing.
// dkms-abi prints dkms-style progress per module on stderr whether or not it has a TTY (the
// tests' CLI runs with pipes): building…, done in N s / reused from K0 / failed: see the
// log; never into --json's stdout. After remove, nothing of the module is left in the
// shared tree's metadata or the verdict cache.
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI, no headers

describe('progress lines without a TTY', () => {
  it('a build, a reuse and --json: progress on stderr, the document alone on stdout', async () => {
    const sb = await makeSandboxRoot({ kernels: [A] });
    await addSameAbiKernel(sb, A, B, { headers: false });
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    await copyExampleSource(sb.root, 'hello-abi');
    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);

    const a = await cli('--json', 'kernel', 'add', A);
    expect(a.exitCode).toBe(0);
    expect(a.stderr).toMatch(new RegExp(`^hello-abi/1\\.0: building for ${A}…$`, 'm'));
    expect(a.stderr).toMatch(/^hello-abi\/1\.0: done in \d+\.\d s$/m);
    expect(() => JSON.parse(a.stdout) as unknown).not.toThrow();

    const b = await cli('kernel', 'add', B);
    expect(b.exitCode).toBe(0);
    expect(b.stderr).toContain(`hello-abi/1.0: reused from ${A}\n`);
    expect(b.stderr).not.toContain('building');

    // remove: no empty .dkms-abi/hello-abi/, no verdict cache naming it.
    expect((await cli('status')).exitCode).toBe(0); // fills the verdict cache
    const cacheDir = sb.host('var/lib/dkms-abi/cache/verdicts');
    expect((await readdir(cacheDir)).length).toBeGreaterThan(0);
    const r = await cli('remove', 'hello-abi/1.0', '--all');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await readdir(sb.host('lib/modules/kernel-abi-amd64-1/.dkms-abi'))).toEqual([]);
    for (const f of await readdir(cacheDir).catch(() => [] as string[]))
      expect(await readFile(`${cacheDir}/${f}`, 'utf8')).not.toContain('hello-abi');
  });

  it('a failed build names its make.log', async () => {
    const sb = await makeSandboxRoot({ kernels: [A] });
    const src = await copyExampleSource(sb.root, 'hello-abi');
    await writeFile(`${src}/hello_abi.c`, 'this is not C;\n');
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
    const r = await cli('install', 'hello-abi/1.0', '-k', A);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^hello-abi/1\\.0: building for ${A}…$`, 'm'));
    const failed = /^hello-abi\/1\.0: failed: see (\S+make\.log)$/m.exec(r.stderr);
    expect(failed).not.toBeNull();
    expect(await readFile(failed?.[1] ?? '', 'utf8')).toMatch(/error/);
  });
});
