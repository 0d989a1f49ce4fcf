// The demo's scenario on every platform (test/helpers/platforms.ts): Debian 12's dkms 3.0.10,
// upstream dkms built from Debian's source, and Debian 13's dkms 3.2.2 with Linux 6.12. Kernel A
// builds, B (a same-ABI rebuild without headers) reuses A's builds without a compiler, C
// (the other real kernel) reuses exactly what the loader's verdict allows and rebuilds the rest,
// and stock dkms's status agrees line for line. Three small
// examples keep it short: a plain module, and a provider/consumer pair (merged symvers).
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { allPlatforms, platformCli, platformDkms, type Platform } from '../helpers/platforms.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const EXAMPLES = ['abi-consumer', 'abi-provider', 'hello-abi'];

describe.each(allPlatforms().map((p) => [p.name, p] as const))('sharing on %s', (_name, p: Platform) => {
  const [A, C] = p.kernels;
  const B = sameAbiRelease(A);
  let sb: SandboxRoot;
  const cli = (...args: string[]) => platformCli(p, sb, args);

  async function makeLogs(): Promise<string[]> {
    const out: string[] = [];
    for (const m of EXAMPLES) {
      const vdir = sb.host(`var/lib/dkms/${m}/1.0`);
      for (const k of await readdir(vdir).catch(() => [] as string[])) {
        const log = path.join(vdir, k, 'x86_64', 'log', 'make.log');
        if ((await readFile(log).catch(() => undefined)) !== undefined) out.push(`${m}/${k}`);
      }
    }
    return out.sort();
  }

  async function kernelTree(k: string): Promise<string | undefined> {
    const list = JSON.parse((await cli('--json', 'kernel', 'list')).stdout) as {
      kernels: { kernel: string; tree: string }[];
    };
    return list.kernels.find((x) => x.kernel === k)?.tree;
  }

  beforeAll(async () => {
    if (p.missing !== undefined) throw new Error(p.missing);
    sb = await makeSandboxRoot({ kernels: [A, C], system: p.system, withImageModules: true });
    for (const m of EXAMPLES) {
      await copyExampleSource(sb.root, m);
      const r = await cli('add', `${m}/1.0`);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
    }
  });
  afterAll(async () => {
    await sb?.cleanup();
  });

  it('builds everything for kernel A', async () => {
    const r = await cli('kernel', 'add', A);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await cli('status', '-k', A)).stdout.trim().split('\n')).toEqual(
      EXAMPLES.map((m) => `${m}/1.0, ${A}, x86_64: installed`),
    );
    expect(await makeLogs()).toEqual(EXAMPLES.map((m) => `${m}/${A}`));
  });

  it('reuses A’s builds for a same-ABI kernel without headers, compiling nothing; stock dkms agrees', async () => {
    await addSameAbiKernel(sb, A, B, { headers: false });
    const r = await cli('kernel', 'add', B);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await makeLogs()).toEqual(EXAMPLES.map((m) => `${m}/${A}`));
    expect((await cli('status', '-k', B)).stdout.trim().split('\n')).toEqual(
      // B has no headers to compare A's header record with: the CRC verdict alone decides.
      EXAMPLES.map((m) => `${m}/1.0, ${B}, x86_64: installed-abi (from ${A}; headers not checked)`),
    );
    expect(await kernelTree(B)).toBe(await kernelTree(A));
    const stock = await platformDkms(p, sb, ['status', '-k', B]);
    expect(stock.stderr).toBe('');
    expect(stock.stdout.trim().split('\n').sort()).toEqual(
      EXAMPLES.map((m) => `${m}/1.0, ${B}, x86_64: installed`),
    );
    // Stock autoinstall finds nothing to do: nothing is compiled.
    const auto = await platformDkms(p, sb, ['autoinstall', '-k', B]);
    expect(auto.exitCode, auto.stdout + auto.stderr).toBe(0);
    expect(await makeLogs()).toEqual(EXAMPLES.map((m) => `${m}/${A}`));
  });

  it('for C, the other real kernel, reuses exactly what the verdict allows and rebuilds the rest; stock dkms agrees', async () => {
    const r = await cli('kernel', 'add', C);
    expect(r.exitCode, r.stderr).toBe(0);
    // Two halves decide, as kernel add does: the loader's verdict on A's builds for C (Debian
    // 12's ABI bump through module_layout refuses them all; Debian 13's point releases may keep
    // every CRC these modules use) and the headers each build read (a point release that
    // changed one of them means a rebuild, header_drift = rebuild).
    const tree = path.join(sb.inner, 'lib/modules', (await kernelTree(A)) ?? '');
    const reusable = new Map<string, boolean>();
    for (const m of EXAMPLES) {
      const build = path.join(sb.inner, `var/lib/dkms/${m}/1.0/${A}/x86_64/module`);
      const record = path.join(tree, `.dkms-abi/${m}/1.0/headers.sha256`);
      const compat = await platformCli(p, sb, [
        '--json',
        'abi',
        'compat',
        '-k',
        C,
        '--built-headers',
        record,
        build,
      ]);
      const v = JSON.parse(compat.stdout) as { results: { usable: boolean }[]; headers: string };
      expect(v.results).toHaveLength(1);
      expect(['same', 'differ']).toContain(v.headers);
      reusable.set(m, v.results[0]?.usable === true && v.headers === 'same');
    }
    const status = JSON.parse((await cli('--json', 'status', '-k', C)).stdout) as {
      entries: { module: string; state: string; builtFor: string }[];
    };
    expect(status.entries.map((e) => [e.module, e.state, e.builtFor])).toEqual(
      EXAMPLES.map((m) => (reusable.get(m) === true ? [m, 'installed-abi', A] : [m, 'installed', C])),
    );
    expect(await makeLogs()).toEqual(
      EXAMPLES.flatMap((m) => (reusable.get(m) === true ? [`${m}/${A}`] : [`${m}/${A}`, `${m}/${C}`])).sort(),
    );
    const ours = (await cli('status')).stdout.trim().split('\n').sort();
    const stock = await platformDkms(p, sb, ['status']);
    expect(stock.stderr).toBe('');
    expect(stock.stdout.trim().split('\n').sort()).toEqual(
      ours.map((l) => l.replace(/: installed-abi \(from [^)]*\)/, ': installed')),
    );
    expect(ours).toHaveLength(EXAMPLES.length * 3);
  });
});

/** Another release string of the same ABI, as a rebuilt kernel package would carry. */
function sameAbiRelease(kernel: string): string {
  // 6.12.117+deb13-amd64 → 6.12.117+deb13u1-amd64; 6.1.0-47-amd64 → 6.1.0-47.1-amd64
  if (/\+deb\d+-/.test(kernel)) return kernel.replace(/(\+deb\d+)-/, '$1u1-');
  return kernel.replace(/-([a-z0-9]+)$/, '.1-$1');
}
