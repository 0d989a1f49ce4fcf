// abi compat through the built CLI on the real in-tree modules of the Debian 6.1.0-47 image:
// all usable on 6.1.0-47, all refused by 6.1.0-50 (module_layout first, then the CRCs that
// changed, cross-checked on a sample with kmod's --dump-modversions).
import { mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const K47 = '6.1.0-47-amd64';
const K50 = '6.1.0-50-amd64';
const TOTAL = 4022;

interface Problem {
  kind: string;
  symbol: string | null;
  expected: string | null;
  actual: string | null;
}
interface CompatJson {
  results: { path: string; name: string; kernel: string; usable: boolean; problems: Problem[] }[];
}

let sb: SandboxRoot;
const modulesOf = (k: string) => sb.host(`/lib/modules/${k}/kernel`);

beforeAll(async () => {
  sb = await makeSandboxRoot({ kernels: [K47, K50], withImageModules: true });
});
afterAll(async () => {
  await sb.cleanup();
});

describe('abi compat on the real 6.1.0-47 modules', () => {
  it(`all ${TOTAL} are usable on ${K47} (the whole module directory, build/ skipped), exit 0`, async () => {
    const started = Date.now();
    const r = await runCliJson<CompatJson>(['abi', 'compat', '-k', K47, sb.host(`/lib/modules/${K47}`)], {
      root: sb.root,
    });
    console.log(
      `abi compat: ${r.json.results.length} modules of ${K47} on ${K47} in ${Date.now() - started} ms`,
    );
    expect(r.exitCode).toBe(0);
    expect(r.json.results).toHaveLength(TOTAL);
    expect(r.json.results.filter((x) => !x.usable)).toEqual([]);
    expect(r.json.results.find((x) => x.path.endsWith('/kernel/lib/crc7.ko'))).toEqual({
      path: path.join(modulesOf(K47), 'lib/crc7.ko'),
      name: 'crc7',
      kernel: K47,
      usable: true,
      problems: [],
    });
  });

  it(`all are refused by ${K50}: module_layout first, then the changed CRCs; exit 1`, async () => {
    const started = Date.now();
    const r = await runCliJson<CompatJson>(['abi', 'compat', '-k', K50, modulesOf(K47)], { root: sb.root });
    const ms = Date.now() - started;
    expect(r.exitCode).toBe(1);
    expect(r.json.results).toHaveLength(TOTAL);
    for (const x of r.json.results) {
      expect(x.usable).toBe(false);
      expect(x.problems[0]).toEqual({
        kind: 'module-layout',
        symbol: 'module_layout',
        expected: '0xbce1a965',
        actual: '0x160c03af',
      });
    }
    const byKind = new Map<string, number>();
    for (const x of r.json.results)
      for (const p of x.problems) byKind.set(p.kind, (byKind.get(p.kind) ?? 0) + 1);
    console.log(
      `abi compat: ${TOTAL} modules of ${K47} on ${K50} in ${ms} ms; problems: ${JSON.stringify(Object.fromEntries(byKind))}`,
    );
    // Only what the 50 loader would say: no other kind of problem.
    expect([...byKind.keys()].sort()).toEqual(['crc-mismatch', 'dependency', 'module-layout']);

    // kmod as the oracle for a sample: CRCs in __versions against 50's vmlinux exports.
    const symvers50 = new Map(
      readFileSync(`/usr/src/linux-headers-${K50}/Module.symvers`, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t'))
        .map((f) => [f[1] as string, { crc: Number.parseInt(f[0] as string, 16), module: f[2] as string }]),
    );
    const sample = r.json.results.filter((_, i) => i % 400 === 0);
    for (const x of sample) {
      const { stdout } = await execa('modprobe', ['--dump-modversions', x.path]);
      const expected = stdout
        .split('\n')
        .map((l) => l.split('\t'))
        .filter(([crc, sym]) => {
          const e = symvers50.get(sym as string);
          return (
            sym !== 'module_layout' && e?.module === 'vmlinux' && e.crc !== Number.parseInt(crc as string, 16)
          );
        })
        .map(([, sym]) => sym)
        .sort();
      const found = x.problems
        .filter((p) => p.kind === 'crc-mismatch')
        .map((p) => p.symbol)
        .sort();
      expect(found, x.path).toEqual(expected);
    }
  });

  it('text report: one line per module, its problems indented, a count', async () => {
    const r = await runCli(['abi', 'compat', '-k', K50, path.join(modulesOf(K47), 'lib/crc7.ko')], {
      root: sb.root,
    });
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe(
      [
        `${path.join(modulesOf(K47), 'lib/crc7.ko')}: unusable on ${K50}`,
        '  module-layout: module_layout: module has 0x160c03af, kernel exports 0xbce1a965',
        '1 module: 0 usable, 1 unusable on 6.1.0-50-amd64',
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe(
      `judging against /lib/modules/${K50}/build/Module.symvers; vermagic from in-tree module\n`,
    );
  });

  it('--symvers FILE with --vermagic: the release inside it is not compared, the rest is', async () => {
    const crc7 = path.join(modulesOf(K47), 'lib/crc7.ko');
    const s47 = `/usr/src/linux-headers-${K47}/Module.symvers`;
    const ok = await runCliJson<CompatJson>(
      [
        'abi',
        'compat',
        '--symvers',
        s47,
        '--vermagic',
        'other-release SMP preempt mod_unload modversions ',
        crc7,
      ],
      { root: sb.root },
    );
    expect(ok.exitCode).toBe(0);
    expect(ok.json.results[0]).toMatchObject({ kernel: 'other-release', usable: true });
    const bad = await runCliJson<CompatJson>(
      ['abi', 'compat', '--symvers', s47, '--vermagic', `${K47} SMP mod_unload modversions `, crc7],
      { root: sb.root },
    );
    expect(bad.exitCode).toBe(1);
    expect(bad.json.results[0]?.problems).toEqual([
      {
        kind: 'vermagic',
        symbol: null,
        expected: `${K47} SMP mod_unload modversions `,
        actual: `${K47} SMP preempt mod_unload modversions `,
      },
    ]);
  });

  it('bad usage and input exit 2; a kernel without Module.symvers exits 3', async () => {
    const crc7 = path.join(modulesOf(K47), 'lib/crc7.ko');
    const neither = await runCli(['abi', 'compat', crc7], { root: sb.root });
    expect(neither.exitCode).toBe(2);
    expect(neither.stderr).toContain('give either -k KVER or --symvers FILE');
    const empty = sb.host('/tmp/empty');
    await mkdir(empty, { recursive: true });
    const none = await runCli(['abi', 'compat', '-k', K47, empty], { root: sb.root });
    expect(none).toMatchObject({ exitCode: 2 });
    expect(none.stderr).toContain(`${empty}: no kernel modules`);
    const notKo = await runCli(['abi', 'compat', '-k', K47, `/usr/src/linux-headers-${K47}/Makefile`], {
      root: sb.root,
    });
    expect(notKo.exitCode).toBe(2);
    expect(notKo.stderr).toContain('not a kernel module');
    const noKernel = await runCli(['abi', 'compat', '-k', '6.1.0-99-amd64', crc7], { root: sb.root });
    expect(noKernel.exitCode).toBe(3);
    expect(noKernel.stderr).toContain('no Module.symvers for 6.1.0-99-amd64');
  });
});
