// abi show / abi update: Mandriva's packager step on the real Debian symvers, in a sandbox.
import { mkdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { makeSandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64';
const C = '6.1.0-50-amd64';

describe('abi show and abi update', () => {
  it('archives references, joins compatible kernels and bumps abiver on breakage', async () => {
    const sb = await makeSandboxRoot({ kernels: [A, C] });
    await addSameAbiKernel(sb, A, B, { headers: false });
    const cli = (...args: string[]) => runCli(args, { root: sb.root });

    expect((await cli('abi', 'show', A)).stdout).toContain(
      'matches no archived reference: kernel add would allocate amd64-1',
    );
    expect((await cli('abi', 'update', A)).stdout).toBe(
      `${A}: first reference of flavour amd64: archived as amd64-1\n`,
    );
    const shown = await runCliJson<{
      flavour: string;
      abiver: string;
      tree: string;
      source: string;
      symvers: string;
    }>(['abi', 'show', A], { root: sb.root });
    expect(shown.json).toMatchObject({
      flavour: 'amd64',
      abiver: '1',
      tree: 'kernel-abi-amd64-1',
      source: 'symvers',
      symvers: `/lib/modules/${A}/build/Module.symvers`,
    });
    // B has no headers: its Module.symvers, read from its image, is A's: compatible, nothing to archive.
    expect((await cli('abi', 'update', B)).stdout).toBe(
      `${B}: compatible with amd64-1; reference unchanged\n`,
    );
    const c = await cli('abi', 'update', C);
    expect(c.exitCode).toBe(0);
    expect(c.stdout).toMatch(
      new RegExp(
        `^${C}: ABI break against amd64-1 \\(\\d+ symbols changed or removed\\): abiver bumped, archived as amd64-2\\n$`,
      ),
    );
    expect((await cli('abi', 'show', C)).stdout).toContain(
      'abi:     amd64-2 (its Module.symvers matches the archived reference',
    );
  });

  it('says how to declare the ABI when a kernel has no symvers at all (exit 3)', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    await mkdir(sb.host('lib/modules/6.1.0-99-amd64'), { recursive: true });
    const r = await runCli(['abi', 'show', '6.1.0-99-amd64'], { root: sb.root });
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(
      /^dkms-abi: no Module\.symvers for 6\.1\.0-99-amd64 \(looked in .*\) \(install linux-headers-6\.1\.0-99-amd64 or its image \/boot\/vmlinuz-6\.1\.0-99-amd64, or declare its ABI/,
    );
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
