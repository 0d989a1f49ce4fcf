// The README's first command ends in `sh scripts/demo.sh`: run it as users do (with the
// built CLI, real dkms and headers) and hold it to what the README says it shows.
import { execa } from 'execa';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = path.resolve(import.meta.dirname, '../..');
const EXAMPLES = ['abi-consumer', 'abi-provider', 'blobdrv', 'hello-abi'];

describe('the demo', () => {
  let tmp: string | undefined;
  afterAll(async () => {
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
  });

  it('shares kernel A builds with B (no compiler) and rebuilds for C; stock dkms agrees', async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-demo-test-'));
    const r = await execa('sh', [path.join(REPO, 'scripts/demo.sh')], {
      env: { TMPDIR: tmp },
      reject: false,
      all: true,
    });
    expect(r.exitCode, r.all).toBe(0);
    // The sandbox root is the only thing created under TMPDIR.
    expect((await readdir(tmp)).filter((e) => e.startsWith('dkms-abi-demo.'))).toHaveLength(1);

    const ours = section(r.stdout, '== dkms-abi status', '==');
    const stock = section(r.stdout, '== stock dkms status on the same trees', '==');
    const want = EXAMPLES.flatMap((m) => [
      `${m}/1.0, 6.1.0-47-amd64, x86_64: installed`,
      `${m}/1.0, 6.1.0-47.1-amd64, x86_64: installed-abi (from 6.1.0-47-amd64; headers not checked)`,
      `${m}/1.0, 6.1.0-50-amd64, x86_64: installed`,
    ]);
    expect(ours).toEqual(want);
    expect(stock).toEqual(want.map((l) => l.replace(/: installed-abi .*/, ': installed')));
    // Kernel B was added without building anything.
    const kernelB = section(r.stdout, '== kernel B', '==');
    expect(kernelB.join('\n')).not.toMatch(/built/);
    expect(
      kernelB.filter((l) => l.endsWith(': linked (installed-abi, no build; headers not checked)')),
    ).toHaveLength(4);
    expect(section(r.stdout, '== dkms-abi kernel list', '==')).toEqual([
      '6.1.0-47-amd64: amd64-1 (kernel-abi-amd64-1)',
      '6.1.0-47.1-amd64: amd64-1 (kernel-abi-amd64-1)',
      '6.1.0-50-amd64: amd64-2 (kernel-abi-amd64-2)',
    ]);
  });
});

/** The lines after the heading that starts with `start`, up to the next heading. */
function section(text: string, start: string, next: string): string[] {
  const lines = text.split('\n');
  const from = lines.findIndex((l) => l.startsWith(start));
  if (from < 0) throw new Error(`no "${start}" in the demo's output`);
  const rest = lines.slice(from + 1);
  const end = rest.findIndex((l) => l.startsWith(next));
  return (end < 0 ? rest : rest.slice(0, end)).filter((l) => l !== '');
}
