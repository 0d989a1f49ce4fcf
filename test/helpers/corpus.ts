// Real Debian DKMS packages (bookworm), downloaded by scripts/setup-system.sh into
// /var/cache/dkms-abi/dkms-debs, taken through the life cycle a user's system goes through
// (issue 12, item 7): add → install for kernel A (real headers) → `kernel add` of a same-ABI
// kernel without headers, with tripwires in place of the compiler → `kernel add` of another ABI
// → status compared line by line with stock dkms on the same trees → uninstall → remove.
import { execa } from 'execa';
import { lstat, readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from './cli.js';
import { makeToolDir } from './dpkg-root.js';
import { addSameAbiKernel } from './kernel-clone.js';
import { danglingLinks } from './links.js';
import { makeSandboxRoot, type SandboxRoot } from './sandbox.js';
import { saysLessThanDkms, statusLines, stockDkms, type StatusLine } from './stock-dkms.js';

export const CORPUS_DIR = `${process.env['DKMS_ABI_CACHE'] ?? '/var/cache/dkms-abi'}/dkms-debs`;

export const A = '6.1.0-47-amd64'; // real headers: dkms builds here
export const B = '6.1.0-47.1-amd64'; // same ABI as A, no headers: its image and modules only, as Debian installs it
export const C = '6.1.0-50-amd64'; // another ABI, real headers
const ARCH = os.machine();
/** dahdi's 32 modules take 9–10 min to build on a loaded 2-CPU machine: more than runCli's default. */
const BUILD_TIMEOUT_MS = 1_800_000;

/** The names the build tools go by on Debian 12 (kbuild's CC is gcc-12); none may run for B. */
export const COMPILER_TRIPWIRES = ['gcc', 'gcc-12', 'x86_64-linux-gnu-gcc-12', 'cc', 'make', 'ld'];

export interface CorpusPackage {
  /** The binary package, as apt-get download names it. */
  readonly deb: string;
  /** dkms.conf's PACKAGE_NAME: the module dkms and dkms-abi are given. */
  readonly module: string;
  /** BUILT_MODULE_NAME[*]: every .ko stock dkms would install. */
  readonly kos: readonly string[];
  /** Modules built with another module of the package's exports: consumer → its providers. */
  readonly dependsWithin?: Readonly<Record<string, readonly string[]>>;
}

export interface CorpusRun {
  readonly sb: SandboxRoot;
  readonly version: string;
  /** "module/version". */
  readonly mv: string;
  cli(...args: string[]): Promise<CliResult>;
  /** Milliseconds each step took, for the report. */
  readonly timings: Map<string, number>;
}

/**
 * Unpacks the cached .deb into the root as dpkg would place its files (usr/src/<module>-<version>/
 * and its docs, which links in the source point to), without running its maintainer scripts.
 * Returns the version.
 */
export async function unpackCorpusSource(sb: SandboxRoot, pkg: CorpusPackage): Promise<string> {
  const debs = (await readdir(CORPUS_DIR).catch(() => [] as string[])).filter((f) =>
    f.startsWith(`${pkg.deb}_`),
  );
  const deb = debs[0];
  if (deb === undefined || debs.length > 1) {
    throw new Error(
      `want one ${pkg.deb}_*.deb in ${CORPUS_DIR}, found ${debs.length}: run scripts/setup-system.sh`,
    );
  }
  const before = new Set(await readdir(sb.host('usr/src')));
  await execa('dpkg-deb', ['-x', path.join(CORPUS_DIR, deb), sb.root]);
  const src = (await readdir(sb.host('usr/src'))).filter(
    (d) => !before.has(d) && d.startsWith(`${pkg.module}-`),
  );
  if (src.length !== 1 || src[0] === undefined)
    throw new Error(`${deb}: no usr/src/${pkg.module}-<version>/`);
  return src[0].slice(pkg.module.length + 1);
}

/** The modules.dep line of `ko` for kernel K, or undefined when depmod does not list it. */
export async function modulesDepLine(
  sb: SandboxRoot,
  kernel: string,
  ko: string,
): Promise<string | undefined> {
  return (await depLines(sb, kernel)).find((l) => path.basename(l.split(':')[0] ?? '') === `${ko}.ko`);
}

/**
 * modules.dep's lines for modules a package can have installed: the kernel's own modules
 * (kernel/, from its image package) are left out, since some packages build a module the kernel
 * also ships (tp-smapi's hdaps) and depmod lists the kernel's again once the package's is gone.
 */
async function depLines(sb: SandboxRoot, kernel: string): Promise<string[]> {
  const dep = await readFile(sb.host(`lib/modules/${kernel}/modules.dep`), 'utf8').catch(() => '');
  return dep.split('\n').filter((l) => l !== '' && !l.startsWith('kernel/'));
}

/** dkms-abi's and stock dkms's status of the module, line by line, on the same trees. */
export async function bothStatuses(run: CorpusRun): Promise<{ abi: StatusLine[]; stock: StatusLine[] }> {
  const abi = await run.cli('status', run.mv);
  expect(abi.stderr).toBe('');
  const [module = '', version = ''] = run.mv.split('/');
  const stock = await stockDkms(run.sb, 'status', '-m', module, '-v', version);
  expect(stock.exitCode).toBe(0);
  return { abi: statusLines(abi.stdout), stock: statusLines(stock.stdout) };
}

async function makeLogs(run: CorpusRun): Promise<string[]> {
  const vdir = run.sb.host(`var/lib/dkms/${run.mv}`);
  const out: string[] = [];
  for (const k of await readdir(vdir).catch(() => [] as string[])) {
    if ((await lstat(path.join(vdir, k, ARCH, 'log', 'make.log')).catch(() => undefined)) !== undefined)
      out.push(k);
  }
  return out.sort();
}

/** Every path in the root outside the package's own files naming the module or one of its .ko files. */
async function leftovers(sb: SandboxRoot, pkg: CorpusPackage): Promise<string[]> {
  const names = new Set([pkg.module, ...pkg.kos.map((k) => `${k}.ko`)]);
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const full = path.join(dir, name);
      const rel = path.relative(sb.root, full);
      // The package's own files (source, docs): dpkg owns them and stock dkms leaves them;
      // the kernel's own modules belong to its image package.
      if (rel === 'usr/src' || rel === 'usr/share' || /^lib\/modules\/[^/]+\/kernel$/.test(rel)) continue;
      if (names.has(name)) out.push(rel);
      const st = await lstat(full);
      if (st.isDirectory()) await walk(full);
    }
  }
  await walk(sb.root);
  for (const k of [A, B, C]) {
    const dep = await depLines(sb, k);
    for (const ko of pkg.kos)
      if (dep.some((l) => l.includes(`/${ko}.ko:`))) out.push(`lib/modules/${k}/modules.dep lists ${ko}.ko`);
  }
  return out.sort();
}

export interface LifecycleChecks {
  /** Checks the status of the module on a kernel where it is installed (default: the plain dkms line). */
  readonly statusOf?: (run: CorpusRun, kernel: string) => Promise<void>;
}

/** Registers the life cycle of one package: a describe block of ordered tests sharing one sandbox root. */
export function describeLifecycle(pkg: CorpusPackage, checks: LifecycleChecks = {}): void {
  describe(`${pkg.deb}: add → install → same-ABI kernel → other ABI → uninstall → remove`, () => {
    let run: CorpusRun;

    beforeAll(async () => {
      const sb = await makeSandboxRoot({ kernels: [A, C] });
      const version = await unpackCorpusSource(sb, pkg);
      const timings = new Map<string, number>();
      run = {
        sb,
        version,
        mv: `${pkg.module}/${version}`,
        timings,
        cli: async (...args) => {
          const start = Date.now();
          const r = await runCli(args, { root: sb.root, timeoutMs: BUILD_TIMEOUT_MS });
          const step = args.filter((a) => !a.startsWith('-')).join(' ');
          timings.set(step, (timings.get(step) ?? 0) + Date.now() - start);
          return r;
        },
      };
    });
    afterAll(async () => {
      if (run === undefined) return;
      const lines = [...run.timings].map(([step, ms]) => `${step}: ${(ms / 1000).toFixed(1)} s`);
      console.log(`${pkg.deb} ${run.version} timings:\n  ${lines.join('\n  ')}`);
      await run.sb.cleanup();
    });

    const expectInstalled = async (kernel: string, state: 'installed' | 'installed-abi') => {
      if (checks.statusOf !== undefined) return checks.statusOf(run, kernel);
      const r = await run.cli('status', run.mv, '-k', kernel);
      // B has no headers: A's header record cannot be compared there.
      const detail = state === 'installed-abi' ? ` (from ${A}; headers not checked)` : '';
      expect(r.stdout).toBe(`${run.mv}, ${kernel}, ${ARCH}: ${state}${detail}\n`);
    };

    const expectLoaderFindsAll = async (kernel: string) => {
      for (const ko of pkg.kos) {
        const line = await modulesDepLine(run.sb, kernel, ko);
        expect(line, `${kernel}'s modules.dep lists ${ko}.ko`).toBeDefined();
        for (const provider of pkg.dependsWithin?.[ko] ?? []) {
          expect(line, `${ko} depends on ${provider} on ${kernel}`).toMatch(
            new RegExp(`/${provider}\\.ko( |$)`),
          );
        }
      }
    };

    it('add: registered, and stock dkms says no more than dkms-abi', async () => {
      const r = await run.cli('add', run.mv);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      const { abi, stock } = await bothStatuses(run);
      expect(stock.map((l) => l.line)).toEqual([`${run.mv}: added`]);
      expect(saysLessThanDkms(stock, abi)).toEqual([]);
    });

    it(`install -k ${A}: built with the real headers, every module installed and found by depmod`, async () => {
      const r = await run.cli('install', run.mv, '-k', A);
      expect(r.exitCode, r.stderr).toBe(0);
      await expectInstalled(A, 'installed');
      await expectLoaderFindsAll(A);
      expect(await makeLogs(run)).toEqual([A]);
    });

    it(`kernel add ${B} (same ABI, no headers): every module reused, no compiler run`, async () => {
      await addSameAbiKernel(run.sb, A, B, { headers: false });
      const tools = await makeToolDir({ tripwires: COMPILER_TRIPWIRES });
      const start = Date.now();
      const r = await runCli(['kernel', 'add', B], {
        root: run.sb.root,
        env: { DKMS_ABI_PATH: tools.path },
        timeoutMs: BUILD_TIMEOUT_MS,
      });
      run.timings.set(`kernel add ${B} (reuse)`, Date.now() - start);
      expect(await tools.tripped()).toEqual([]);
      expect(r.exitCode, r.stderr).toBe(0);
      await expectInstalled(B, 'installed-abi');
      await expectLoaderFindsAll(B);
      expect(await makeLogs(run)).toEqual([A]);
    });

    it(`kernel add ${C} (another ABI): rebuilt and installed`, async () => {
      const r = await run.cli('kernel', 'add', C);
      expect(r.exitCode, r.stderr).toBe(0);
      await expectInstalled(C, 'installed');
      await expectLoaderFindsAll(C);
      expect(await makeLogs(run)).toEqual([A, C]);
    });

    it('status: one line per kernel, never less than stock dkms says on the same trees', async () => {
      const { abi, stock } = await bothStatuses(run);
      expect(stock.map((l) => l.key).sort()).toEqual([A, B, C].map((k) => `${run.mv}, ${k}, ${ARCH}`).sort());
      expect(stock.map((l) => l.state)).toEqual(['installed', 'installed', 'installed']);
      expect(saysLessThanDkms(stock, abi)).toEqual([]);
      expect(abi.map((l) => l.key).sort()).toEqual(stock.map((l) => l.key).sort());
    });

    it('uninstall: out of every kernel, builds kept; both statuses say built', async () => {
      const r = await run.cli('uninstall', run.mv);
      expect(r.exitCode, r.stderr).toBe(0);
      const { abi, stock } = await bothStatuses(run);
      expect(saysLessThanDkms(stock, abi)).toEqual([]);
      expect(abi.filter((l) => l.state !== 'built').map((l) => l.line)).toEqual([]);
      expect(stock.filter((l) => l.state === 'installed').map((l) => l.line)).toEqual([]);
      for (const k of [A, B, C]) {
        for (const ko of pkg.kos) expect(await modulesDepLine(run.sb, k, ko), `${k}: ${ko}`).toBeUndefined();
      }
      expect(await danglingLinks(run.sb.root)).toEqual([]);
    });

    it('remove --all: the root is left as stock dkms leaves it (source only)', async () => {
      const r = await run.cli('remove', run.mv, '--all');
      expect(r.exitCode, r.stderr).toBe(0);
      const { abi, stock } = await bothStatuses(run);
      expect(stock).toEqual([]);
      expect(abi).toEqual([]);
      expect(await leftovers(run.sb, pkg)).toEqual([]);
      expect(await danglingLinks(run.sb.root)).toEqual([]);
    });
  });
}
