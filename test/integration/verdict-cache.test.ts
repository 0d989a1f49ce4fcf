// The verdict cache must never outlive the file it judged: a module rewritten in place, with
// its size kept and its mtime put back (touch -r), is judged again.
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';

describe('the verdict cache', () => {
  it('judges again a module rewritten with the same size and mtime', async () => {
    const sb = await makeSandboxRoot({ kernels: [A] });
    try {
      const cli = (...args: string[]) => runCli(args, { root: sb.root });
      await copyExampleSource(sb.root, 'hello-abi');
      expect((await cli('add', 'hello-abi/1.0')).exitCode).toBe(0);
      expect((await cli('install', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
      expect((await cli('status')).stdout).toBe(`hello-abi/1.0, ${A}, x86_64: installed\n`);

      // Same length, another vermagic: "SMP preempt" → "SMP preempQ".
      const ko = sb.host('lib/modules/kernel-abi-amd64-1/dkms/hello_abi.ko');
      const before = await stat(ko);
      await mkdir(sb.host('tmp'), { recursive: true });
      const ref = sb.host('tmp/hello_abi.ko.ref');
      await copyFile(ko, ref, constants.COPYFILE_EXCL);
      execFileSync('touch', ['-r', ko, ref]); // exact to the nanosecond, unlike utimes
      const bytes = await readFile(ko);
      const at = bytes.indexOf('SMP preempt');
      expect(at).toBeGreaterThan(0);
      bytes.write('SMP preempQ', at, 'latin1');
      await writeFile(ko, bytes);
      execFileSync('touch', ['-r', ref, ko]);
      const after = await stat(ko);
      expect([after.size, after.mtimeMs]).toEqual([before.size, before.mtimeMs]);

      const s = await cli('status');
      expect(s.stdout).toMatch(new RegExp(`^hello-abi/1\\.0, ${A}, x86_64: abi-mismatch \\(.*vermagic`));
    } finally {
      await sb.cleanup();
    }
  });
});
