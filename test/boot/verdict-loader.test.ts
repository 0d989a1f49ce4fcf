// Ground truth for the verdict: small modules written here, built with plain kbuild against
// the real Debian 6.1.0-47 (and -50) headers, edited where kbuild refuses to build the case,
// judged by `dkms-abi abi compat`, then loaded on the real 6.1.0-47 kernel under qemu. For
// every case the verdict must equal the loader's answer. `depmod -e -E` judges the same files;
// where it differs from the loader is recorded here and in docs/verdicts.md.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliJson } from '../helpers/cli.js';
import { makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { renameVersionEntry, replaceInSection } from './ko-fixtures.js';
import type { LoadOutcome } from './loader-messages.js';
import { bootAndLoad, type BootReport, type BootStep, type StepResult } from './qemu-harness.js';

const K47 = '6.1.0-47-amd64';
const K50 = '6.1.0-50-amd64';
const EXTRA = `/lib/modules/${K47}/extra/vd`;

// --- the modules -----------------------------------------------------------------------
const HEAD = '#include <linux/init.h>\n#include <linux/kernel.h>\n#include <linux/module.h>\n';
const tail = (name: string, license = 'GPL v2') =>
  `static int __init ${name}_init(void) { pr_info("${name}: %d\\n", ${name}_value()); return 0; }\n` +
  `static void __exit ${name}_exit(void) { }\nmodule_init(${name}_init);\nmodule_exit(${name}_exit);\n` +
  `MODULE_LICENSE("${license}");\n`;
const provider = (name: string) =>
  `${HEAD}int ${name}_add(int a, int b) { return a + b; }\nEXPORT_SYMBOL(${name}_add);\n` +
  `int ${name}_secret(void) { return 7; }\nEXPORT_SYMBOL_GPL(${name}_secret);\n` +
  `int ${name}_ns(void) { return 9; }\nEXPORT_SYMBOL_NS_GPL(${name}_ns, VDP_NS);\n` +
  `static int ${name}_value(void) { return 1; }\n${tail(name)}`;
const consumer = (name: string, uses: string, imports = false) =>
  `${HEAD}${imports ? 'MODULE_IMPORT_NS(VDP_NS);\n' : ''}${uses
    .split(' ')
    .map((s) => `int ${s}(${s.endsWith('_add') ? 'int, int' : 'void'});\n`)
    .join('')}static int ${name}_value(void) { return ${uses
    .split(' ')
    .map((s) => (s.endsWith('_add') ? `${s}(1, 2)` : `${s}()`))
    .join(' + ')}; }\n${tail(name)}`;
const plain = (name: string) => `${HEAD}static int ${name}_value(void) { return 3; }\n${tail(name)}`;

/** Built for 6.1.0-47. */
const SOURCES_47: Record<string, string> = {
  vdp_ok: provider('vdp_ok'),
  vdc_ok: consumer('vdc_ok', 'vdp_ok_add vdp_ok_secret vdp_ok_ns', true),
  vdp_ghost: provider('vdp_ghost'),
  vdc_orphan: consumer('vdc_orphan', 'vdp_ghost_add'),
  vd_nover: plain('vd_nover'),
  vd_magic: plain('vd_magic'),
  vdc_prop: consumer('vdc_prop', 'vdp_ok_add vdp_ok_secret'),
  vdc_nons: consumer('vdc_nons', 'vdp_ok_ns', true),
  vdp_prop: provider('vdp_prop'),
  vdc_inh: consumer('vdc_inh', 'vdp_prop_secret'),
};
/** Built for 6.1.0-50: another ABI. */
const SOURCES_50: Record<string, string> = { vdp_old: provider('vdp_old'), vd_other: plain('vd_other') };
/** Built for 6.1.0-47 against vdp_old's 6.1.0-50 Module.symvers. */
const SOURCES_DEP: Record<string, string> = { vdc_dep: consumer('vdc_dep', 'vdp_old_add') };

/** Edits for cases kbuild would refuse to build (modpost checks licences and namespaces too). */
const EDITS: Record<string, (ko: Buffer) => Buffer> = {
  vd_nover: (ko) => renameVersionEntry(ko, '_printk', 'renamed_printk'),
  vd_magic: (ko) => replaceInSection(ko, '.modinfo', 'mod_unload modversions', 'mod_unload modversionX'),
  vdc_prop: (ko) => replaceInSection(ko, '.modinfo', 'license=GPL v2', 'license=Closed'),
  vdp_prop: (ko) => replaceInSection(ko, '.modinfo', 'license=GPL v2', 'license=Closed'),
  vdc_nons: (ko) => replaceInSection(ko, '.modinfo', 'import_ns=VDP_NS', 'import_ns=VDP_NX'),
};
/** Built, but not installed: its consumer's provider is absent. */
const NOT_INSTALLED = new Set(['vdp_ghost']);

// --- the cases: the step, and what the loader and the verdict must both say ----------------
interface Case {
  readonly step: BootStep;
  readonly module: string;
  /** The loader's outcome for the step. */
  readonly outcome: LoadOutcome;
  /** The verdict's problem kinds for the module, in order ([] = usable). */
  readonly kinds: readonly string[];
  /** The symbol both name. */
  readonly symbol?: string;
}
const insmod = (m: string): BootStep => ({ kind: 'insmod', path: `${EXTRA}/${m}.ko` });
const CASES = {
  sameKernel: { step: { kind: 'modprobe', name: 'vdc_ok' }, module: 'vdc_ok', outcome: 'loaded', kinds: [] },
  otherAbi: {
    step: insmod('vd_other'),
    module: 'vd_other',
    outcome: 'disagrees-about-version',
    kinds: ['module-layout'],
    symbol: 'module_layout',
  },
  consumerWithoutProvider: {
    step: insmod('vdc_orphan'),
    module: 'vdc_orphan',
    outcome: 'unknown-symbol',
    kinds: ['missing-symbol'],
    symbol: 'vdp_ghost_add',
  },
  missingVersionEntry: {
    step: insmod('vd_nover'),
    module: 'vd_nover',
    outcome: 'no-symbol-version',
    kinds: ['no-symbol-version'],
    symbol: '_printk',
  },
  gplOnlyByNonGpl: {
    step: insmod('vdc_prop'),
    module: 'vdc_prop',
    outcome: 'unknown-symbol',
    kinds: ['gpl-only'],
    symbol: 'vdp_ok_secret',
  },
  namespaceNotImported: {
    step: insmod('vdc_nons'),
    module: 'vdc_nons',
    outcome: 'namespace-not-imported',
    kinds: ['namespace'],
    symbol: 'vdp_ok_ns',
  },
  gplUserOfProprietaryExporter: {
    step: { kind: 'modprobe', name: 'vdc_inh' },
    module: 'vdc_inh',
    outcome: 'gpl-only-symbol',
    kinds: ['gpl-only'],
    symbol: 'vdp_prop_secret',
  },
  dependencyUnusable: {
    step: { kind: 'modprobe', name: 'vdc_dep' },
    module: 'vdc_dep',
    // modprobe loads vdp_old first; the loader refuses it, and vdc_dep is never tried.
    outcome: 'disagrees-about-version',
    kinds: ['dependency'],
    symbol: 'module_layout',
  },
  vermagic: {
    step: insmod('vd_magic'),
    module: 'vd_magic',
    outcome: 'vermagic-mismatch',
    kinds: ['vermagic'],
  },
  providerFromOtherAbi: {
    step: insmod('vdp_old'),
    module: 'vdp_old',
    outcome: 'disagrees-about-version',
    kinds: ['module-layout'],
    symbol: 'module_layout',
  },
} satisfies Record<string, Case>;
type CaseName = keyof typeof CASES;
const NAMES = Object.keys(CASES) as CaseName[];

interface Verdict {
  path: string;
  name: string;
  usable: boolean;
  problems: { kind: string; symbol: string | null; expected: string | null; actual: string | null }[];
}

let work: string;
let sb: SandboxRoot;
let report: BootReport;
let verdicts: Map<string, Verdict>;
let depmodSays: Map<string, string[]>;

async function build(dir: string, kver: string, sources: Record<string, string>, extraSymbols?: string) {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(sources)) await writeFile(path.join(dir, `${name}.c`), text);
  await writeFile(
    path.join(dir, 'Makefile'),
    `obj-m := ${Object.keys(sources)
      .map((n) => `${n}.o`)
      .join(' ')}\n`,
  );
  await execa(
    'make',
    [
      '-C',
      `/usr/src/linux-headers-${kver}`,
      `M=${dir}`,
      ...(extraSymbols !== undefined ? [`KBUILD_EXTRA_SYMBOLS=${extraSymbols}`] : []),
      'modules',
    ],
    { env: { LC_ALL: 'C' } },
  );
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-vd-'));
  await build(path.join(work, '47'), K47, SOURCES_47);
  await build(path.join(work, '50'), K50, SOURCES_50);
  await build(path.join(work, 'dep'), K47, SOURCES_DEP, path.join(work, '50', 'Module.symvers'));

  sb = await makeSandboxRoot({ kernels: [K47], withImageModules: true });
  await mkdir(sb.host(EXTRA), { recursive: true });
  const built: [string, string][] = [
    ...Object.keys(SOURCES_47).map((n) => [n, path.join(work, '47', `${n}.ko`)] as [string, string]),
    ...Object.keys(SOURCES_50).map((n) => [n, path.join(work, '50', `${n}.ko`)] as [string, string]),
    ...Object.keys(SOURCES_DEP).map((n) => [n, path.join(work, 'dep', `${n}.ko`)] as [string, string]),
  ];
  for (const [name, file] of built) {
    if (NOT_INSTALLED.has(name)) continue;
    const edit = EDITS[name] ?? ((ko: Buffer) => ko);
    await writeFile(sb.host(`${EXTRA}/${name}.ko`), edit(await readFile(file)));
  }
  await execa('depmod', ['-b', sb.root, K47]);

  // The verdict: every installed module judged as present together, on the real 47 kernel.
  const compat = await runCliJson<{ results: Verdict[] }>(['abi', 'compat', '-k', K47, sb.host(EXTRA)], {
    root: sb.root,
  });
  expect(compat.exitCode).toBe(1);
  verdicts = new Map(compat.json.results.map((r) => [r.name, r]));

  // depmod's view of the same files: -e reports unknown symbols, -E checks CRCs against
  // the kernel's Module.symvers. -n writes the indexes to stdout instead of the root.
  const dm = await execa(
    'depmod',
    ['-b', sb.root, '-n', '-e', '-E', `/usr/src/linux-headers-${K47}/Module.symvers`, K47],
    { reject: false, env: { LC_ALL: 'C' } },
  );
  depmodSays = new Map();
  for (const line of dm.stderr.split('\n')) {
    const m = /WARNING: (\S+\.ko) (needs unknown symbol|disagrees about version of symbol) (\S+)$/.exec(line);
    if (m === null) continue;
    const name = path.basename(m[1] as string, '.ko');
    const list = depmodSays.get(name) ?? [];
    list.push(`${m[2] === 'needs unknown symbol' ? 'unknown' : 'disagrees'}:${m[3]}`);
    depmodSays.set(name, list);
  }

  report = await bootAndLoad({ root: sb.root, kver: K47, steps: NAMES.map((n) => CASES[n].step) });
  console.log(
    `booted ${report.kernelRelease} under ${report.accel} in ${report.bootMs} ms; loader said:\n` +
      report.steps
        .map(
          (s) =>
            `  ${NAMES[s.index]}: ${s.moduleName} ${s.outcome}${s.symbols.length > 0 ? ` [${s.symbols.join(', ')}]` : ''}` +
            s.kernelMessages.map((m) => `\n      | ${m}`).join(''),
        )
        .join('\n'),
  );
  console.log(
    `depmod -e -E said:\n${[...depmodSays]
      .sort()
      .map(([m, w]) => `  ${m}: ${w.join(', ')}`)
      .join('\n')}`,
  );
}, 600_000);

afterAll(async () => {
  await sb?.cleanup();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

const step = (name: CaseName): StepResult => {
  const s = report.steps[NAMES.indexOf(name)];
  if (s === undefined) throw new Error(`no result for ${name}`);
  return s;
};
const verdictOf = (module: string): Verdict => {
  const v = verdicts.get(module);
  if (v === undefined) throw new Error(`no verdict for ${module}`);
  return v;
};

describe(`the verdict equals the ${K47} loader's answer`, () => {
  for (const name of NAMES) {
    const c: Case = CASES[name];
    it(`${name}: ${c.module} ${c.outcome === 'loaded' ? 'loads' : `is refused (${c.outcome})`}`, () => {
      const s = step(name);
      const v = verdictOf(c.module);
      expect(s.outcome).toBe(c.outcome);
      expect(s.loaded).toBe(c.outcome === 'loaded');
      // The verdict agrees: usable exactly when loaded, and for the loader's reason.
      expect(v.usable).toBe(s.loaded);
      const kinds = v.problems.map((p) => p.kind);
      expect(kinds.slice(0, c.kinds.length)).toEqual(c.kinds);
      if (c.symbol !== undefined) {
        expect(s.symbols).toContain(c.symbol);
        if (c.kinds[0] !== 'dependency') expect(v.problems[0]?.symbol).toBe(c.symbol);
      }
    });
  }

  it('otherAbi and providerFromOtherAbi: the loader stops at module_layout; the verdict says it first', () => {
    for (const m of ['vd_other', 'vdp_old']) {
      expect(verdictOf(m).problems[0]).toMatchObject({ kind: 'module-layout', symbol: 'module_layout' });
    }
    expect(step('otherAbi').kernelMessages).toEqual([
      'vd_other: disagrees about version of symbol module_layout',
    ]);
  });

  it('dependencyUnusable: the verdict names the unusable provider, which the loader refused', () => {
    expect(verdictOf('vdc_dep').problems).toEqual([
      {
        kind: 'dependency',
        symbol: 'vdp_old',
        expected: null,
        actual: expect.stringMatching(/^module_layout: CRC 0x[0-9a-f]{8} != 0x160c03af$/) as string,
      },
    ]);
    expect(step('dependencyUnusable').kernelMessages).toContain(
      'vdp_old: disagrees about version of symbol module_layout',
    );
    expect(report.loadedModules).not.toContain('vdc_dep');
    expect(report.loadedModules).not.toContain('vdp_old');
  });

  it('providers of loadable cases loaded, proprietary one included (it taints, it is not refused)', () => {
    expect(report.loadedModules).toEqual(expect.arrayContaining(['vdp_ok', 'vdc_ok', 'vdp_prop']));
    for (const m of ['vdp_ok', 'vdp_prop']) expect(verdictOf(m).usable).toBe(true);
  });

  it('every installed module has a verdict, and exactly the loaded ones are usable', () => {
    const usable = [...verdicts.values()].filter((v) => v.usable).map((v) => v.name);
    expect(usable.sort()).toEqual(['vdc_ok', 'vdp_ok', 'vdp_prop']);
    expect(verdicts.size).toBe(
      Object.keys({ ...SOURCES_47, ...SOURCES_50, ...SOURCES_DEP }).length - NOT_INSTALLED.size,
    );
  });
});

describe('depmod -e -E on the same files (documented in docs/verdicts.md)', () => {
  it('agrees where a symbol is unknown', () => {
    expect(depmodSays.get('vdc_orphan')).toEqual(['unknown:vdp_ghost_add']);
  });

  it('never checks vermagic, licences, namespaces or the dependency chain', () => {
    for (const m of ['vd_magic', 'vdc_prop', 'vdc_nons', 'vdc_inh', 'vdc_dep']) {
      expect(verdictOf(m).usable).toBe(false);
      expect(depmodSays.get(m), m).toBeUndefined();
    }
  });

  it('checks the __versions entries, module_layout included, against vmlinux in the symvers', () => {
    for (const m of ['vd_other', 'vdp_old']) {
      const crcProblems = verdictOf(m)
        .problems.filter((p) => p.kind === 'module-layout' || p.kind === 'crc-mismatch')
        .map((p) => `disagrees:${p.symbol}`);
      expect(depmodSays.get(m)).toEqual(crcProblems);
      expect(crcProblems[0]).toBe('disagrees:module_layout');
    }
  });

  it('reports a stripped version entry as a CRC disagreement, and the stray entry as an unknown symbol', () => {
    // The loader: "no symbol version for _printk". depmod compares _printk's missing CRC (0)
    // and looks up the renamed __versions entry as if the module imported it.
    expect(depmodSays.get('vd_nover')).toEqual(['disagrees:_printk', 'unknown:renamed_printk']);
    expect(verdictOf('vd_nover').problems.map((p) => `${p.kind}:${p.symbol}`)).toEqual([
      'no-symbol-version:_printk',
    ]);
  });

  it('is silent on the usable ones', () => {
    for (const m of ['vdp_ok', 'vdc_ok', 'vdp_prop']) expect(depmodSays.get(m)).toBeUndefined();
  });
});
