// Runs dkms (Debian 12's 3.0.10, Debian 13's 3.2.2, upstream's: DKMS_ABI_DKMS picks the
// program) on a root's trees: argv from src/core/dkms-argv.ts, exit codes mapped to typed
// results. dkms-abi uses dkms for add, build and remove only; install, the bookkeeping
// links and depmod are its own (dkms install runs depmod on the host's /lib/modules).
//
// What dkms touches outside the three trees, and what we do about it (see dkmsEnv):
// - MOK key: signs each built module with /var/lib/dkms/mok.{key,pub} (hard-coded, not
//   --dkmstree) and creates the pair with openssl when missing → for another root,
//   mok_signing_key/mok_certificate point into that root's DKMS tree.
// - /etc/dkms/framework.conf{,.d/*.conf} and /etc/dkms/<module>*.conf: always the host's, read
//   only. Tree paths given on the command line win over framework.conf; signing settings there
//   would win over ours → refused for another root (checkHostFramework).
// - mktemp (every dkms.conf read, tarballs): TMPDIR → <root>/tmp.
// - depmod on the host's /lib/modules: only on install/uninstall → never install; remove and
//   unbuild always get --no-depmod.
// - Reads that stay host-wide: /etc/os-release (decides /updates/dkms), the host's
//   /lib/modules/<kver>/modules.dep (decides .ko compression), `uname`.
// - The build itself writes only in <dkmsTree>/<m>/<v>/build (kbuild with M=), checked by
//   test/integration/dkms-examples.test.ts.
import { lstat, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { isModuleFile } from '../core/ko-name.js';
import {
  classifyAdd,
  classifyBuild,
  classifyLdtarball,
  classifyRemove,
  dkmsAddArgv,
  dkmsBuildArgv,
  dkmsEnv,
  dkmsLdtarballArgv,
  dkmsMktarballArgv,
  dkmsRemoveArgv,
  dkmsUninstallArgv,
  dkmsStatusArgv,
  dkmsUnbuildArgv,
  headersPackageHint,
  type DkmsTrees,
  type KernelArch,
  type ModuleVersion,
  type StatusFilter,
  type TarballOptions,
  type LdtarballOptions,
} from '../core/dkms-argv.js';
import { CommandFailedError, EnvironmentError, InputError } from '../core/errors.js';
import { writeAtomically } from './atomic-write.js';
import { readShellVariables } from './dkms-conf.js';
import { run, type RunResult } from './exec.js';
import type { Paths } from './paths.js';
import { hasBuiltModules } from './scan.js';

export function dkmsTrees(paths: Paths): DkmsTrees {
  return { dkmsTree: paths.dkmsTree, sourceTree: paths.sourceTree, installTree: paths.modulesDir };
}

export interface DkmsRunOptions {
  /** Module.symvers files this build links against (KBUILD_EXTRA_SYMBOLS). */
  readonly extraSymbols?: readonly string[];
  /** Show dkms's progress on our stderr (and ask it to echo its commands). */
  readonly stream?: boolean;
  /** Where dkms reads framework.conf; dkms hard-codes /etc/dkms (a parameter for tests). */
  readonly frameworkDir?: string;
  /** Trace the headers the build includes into make.log (builds only). */
  readonly traceIncludes?: boolean;
}

const ALL_EXIT_CODES = Array.from({ length: 255 }, (_, i) => i + 1);

async function runDkms(paths: Paths, argv: readonly string[], opts: DkmsRunOptions = {}): Promise<RunResult> {
  const foreignRoot = paths.root !== '/';
  if (foreignRoot) await checkHostFramework(opts.frameworkDir ?? '/etc/dkms');
  const tmpDir = foreignRoot ? path.join(paths.root, 'tmp') : undefined;
  if (tmpDir !== undefined) await mkdir(tmpDir, { recursive: true });
  const env = dkmsEnv({
    root: paths.root,
    trees: dkmsTrees(paths),
    ...(opts.extraSymbols !== undefined ? { extraSymbols: opts.extraSymbols } : {}),
    ...(tmpDir !== undefined ? { tmpDir } : {}),
    ...(opts.traceIncludes === true ? { traceIncludes: true } : {}),
  });
  return run(withDkmsProgram(argv), {
    env,
    okExitCodes: ALL_EXIT_CODES,
    ...(opts.stream === true ? { inheritOutput: true } : {}),
    hint: 'dkms failed',
  });
}

/**
 * DKMS_ABI_DKMS names the dkms to run (default: `dkms` on PATH), e.g. an upstream dkms built
 * into /usr/local next to Debian's; the tests run the same scenarios with several versions.
 */
function withDkmsProgram(argv: readonly string[]): readonly string[] {
  const program = process.env['DKMS_ABI_DKMS'];
  return program === undefined || program === '' ? argv : [program, ...argv.slice(1)];
}

function failed(argv: readonly string[], r: RunResult, hint?: string): CommandFailedError {
  return new CommandFailedError(
    { argv, exitCode: r.exitCode, signal: undefined, stderrTail: r.stderr || r.stdout },
    hint,
  );
}

// --- add -------------------------------------------------------------------------------------

export interface AddTarget extends KernelArch {
  readonly kernelSourceDir: string;
}

/** `dkms add M/V` from <sourceTree>/<m>-<v>. Already added is an answer, not an error. */
export async function dkmsAdd(
  paths: Paths,
  mv: ModuleVersion,
  target?: AddTarget,
): Promise<'added' | 'already-added'> {
  const argv = dkmsAddArgv(dkmsTrees(paths), mv, target !== undefined ? { target } : {});
  const r = await runDkms(paths, argv);
  const result = classifyAdd(r.exitCode, r.stdout, r.stderr);
  switch (result.kind) {
    case 'added':
    case 'already-added':
      return result.kind;
    case 'no-source':
      throw new InputError(
        path.join(paths.sourceTree, `${mv.module}-${mv.version}`),
        'no such module source directory',
      );
    case 'bad-conf':
      throw new InputError(
        path.join(paths.sourceTree, `${mv.module}-${mv.version}`, 'dkms.conf'),
        result.message,
      );
    case 'failed':
      throw failed(argv, r);
  }
}

// --- build -----------------------------------------------------------------------------------

export interface BuildRequest extends ModuleVersion, KernelArch {
  /** Host path of the kernel's headers (kernel-files.ts findKernelHeaders(...).host). */
  readonly kernelSourceDir: string;
  readonly jobs?: number;
  readonly force?: boolean;
}

export type BuildOutcome =
  | {
      readonly kind: 'built';
      /** Host paths of the .ko files dkms saved in <dkmsTree>/<m>/<v>/<kver>/<arch>/module. */
      readonly modules: readonly string[];
      readonly makeLog: string;
      readonly ms: number;
    }
  | { readonly kind: 'already-built'; readonly modules: readonly string[] }
  /** BUILD_EXCLUSIVE does not match (dkms exit 77): not an error, nothing to build. */
  | { readonly kind: 'excluded'; readonly message: string }
  /** make failed or produced no module: the log says why. */
  | {
      readonly kind: 'build-failed';
      readonly exitCode: number;
      readonly message: string;
      readonly makeLog: string;
      readonly logTail: string;
      readonly ms: number;
    };

/** <dkmsTree>/<m>/<v>/<kver>/<arch>: where dkms keeps one build. */
export function dkmsBuildDir(paths: Paths, b: ModuleVersion & KernelArch): string {
  return path.join(paths.dkmsTree, b.module, b.version, b.kernel, b.arch);
}

/**
 * A build killed half-way leaves <kver>/<arch>/ without modules, and dkms then refuses every
 * later build there ("Directory … already exists"). It holds nothing to keep (dkms's own
 * directory, no state of ours), so it is removed outright, not through a plan: a removal cut
 * short leaves an incomplete build that the next call removes. True when one was removed.
 */
export async function removeIncompleteBuild(paths: Paths, b: ModuleVersion & KernelArch): Promise<boolean> {
  const base = dkmsBuildDir(paths, b);
  if ((await lstat(base).catch(() => undefined))?.isDirectory() !== true) return false;
  if (hasBuiltModules(path.join(base, 'module'))) return false;
  await rm(base, { recursive: true, force: true });
  return true;
}

/**
 * `dkms build M/V -k KVER/ARCH` against the given headers. Note that dkms deletes its build
 * directory afterwards: the module's own Module.symvers is not kept, only module/*.ko and
 * log/{make.log,.config}.
 */
export async function dkmsBuild(
  paths: Paths,
  req: BuildRequest,
  opts: DkmsRunOptions = {},
): Promise<BuildOutcome> {
  await removeIncompleteBuild(paths, req);
  const base = dkmsBuildDir(paths, req);
  const argv = dkmsBuildArgv(dkmsTrees(paths), req, req, {
    kernelSourceDir: req.kernelSourceDir,
    ...(req.jobs !== undefined ? { jobs: req.jobs } : {}),
    ...(req.force !== undefined ? { force: req.force } : {}),
    ...(opts.stream === true ? { verbose: true } : {}),
  });
  const started = performance.now();
  const r = await runDkms(paths, argv, opts);
  const ms = Math.round(performance.now() - started);
  const result = classifyBuild(r.exitCode, r.stdout, r.stderr);
  switch (result.kind) {
    case 'built': {
      const makeLog = path.join(base, 'log', 'make.log');
      await logInsideRoot(paths, makeLog);
      return { kind: 'built', modules: await builtModules(base), makeLog, ms };
    }
    case 'already-built':
      return { kind: 'already-built', modules: await builtModules(base) };
    case 'excluded':
      return { kind: 'excluded', message: result.message };
    case 'build-failed': {
      const makeLog = path.join(paths.dkmsTree, req.module, req.version, 'build', 'make.log');
      await logInsideRoot(paths, makeLog);
      return {
        kind: 'build-failed',
        exitCode: result.exitCode,
        message: result.message,
        makeLog,
        logTail: await tail(makeLog),
        ms,
      };
    }
    case 'no-headers':
      throw new EnvironmentError(
        `no kernel headers for ${req.kernel} at ${req.kernelSourceDir}`,
        headersPackageHint(req.kernel),
      );
    case 'bad-conf':
      throw new InputError(
        path.join(paths.dkmsTree, req.module, req.version, 'source', 'dkms.conf'),
        result.message,
      );
    case 'missing-build-depends':
      // dkms's last line ("You may override by specifying --force") would hide the reason.
      throw new EnvironmentError(
        `dkms refused to build ${req.module}/${req.version} for ${req.kernel}: missing BUILD_DEPENDS: ${result.missing.join(' ') || '(unnamed)'} (dkms exit 13)`,
        `build and install ${result.missing.length === 1 ? 'it' : 'them'} for ${req.kernel} first (dkms-abi autoinstall -k ${req.kernel} orders builds by BUILD_DEPENDS)`,
      );
    case 'not-added':
    case 'failed':
      throw failed(argv, r);
  }
}

/**
 * make.log names the root's host path on every line (dkms ran make with host paths): written
 * again as a build inside the root would have logged it, so nothing kept in the root names
 * where the root is (docs/safety.md). A log that cannot be read or written stays as it is.
 */
async function logInsideRoot(paths: Paths, file: string): Promise<void> {
  if (paths.root === '/') return;
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined || !text.includes(`${paths.root}/`)) return;
  await writeAtomically(file, text.replaceAll(`${paths.root}/`, '/'), paths.root);
}

async function builtModules(base: string): Promise<string[]> {
  const dir = path.join(base, 'module');
  try {
    return (await readdir(dir))
      .filter(isModuleFile)
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// --- remove, unbuild, status -----------------------------------------------------------------

/** `dkms remove M/V (--all | -k …) --no-depmod`. Not added is an answer. */
export async function dkmsRemove(
  paths: Paths,
  mv: ModuleVersion,
  kernels: 'all' | readonly KernelArch[],
): Promise<'removed' | 'not-added'> {
  const argv = dkmsRemoveArgv(dkmsTrees(paths), mv, kernels);
  const r = await runDkms(paths, argv);
  const result = classifyRemove(r.exitCode, r.stdout, r.stderr);
  if (result.kind === 'failed') throw failed(argv, r);
  return result.kind;
}

/** `dkms unbuild M/V -k KVER/ARCH --no-depmod`: drops one build, keeps the module added. */
export async function dkmsUnbuild(
  paths: Paths,
  mv: ModuleVersion,
  k: KernelArch,
): Promise<'unbuilt' | 'not-added'> {
  const argv = dkmsUnbuildArgv(dkmsTrees(paths), mv, k);
  const r = await runDkms(paths, argv);
  const result = classifyRemove(r.exitCode, r.stdout, r.stderr);
  if (result.kind === 'failed') throw failed(argv, r);
  return result.kind === 'removed' ? 'unbuilt' : 'not-added';
}

/** `dkms uninstall M/V -k … --no-depmod`: stock dkms's own installs for those kernels. */
export async function dkmsUninstall(
  paths: Paths,
  mv: ModuleVersion,
  kernels: readonly KernelArch[],
): Promise<void> {
  const argv = dkmsUninstallArgv(dkmsTrees(paths), mv, kernels);
  const r = await runDkms(paths, argv);
  if (r.exitCode !== 0) throw failed(argv, r);
}

/** `dkms status` lines as dkms prints them (it always exits 0). */
export async function dkmsStatus(paths: Paths, filter: StatusFilter = {}): Promise<string[]> {
  const argv = dkmsStatusArgv(dkmsTrees(paths), filter);
  const r = await runDkms(paths, argv);
  if (r.exitCode !== 0) throw failed(argv, r);
  return r.stdout.split('\n').filter((l) => l !== '');
}

// --- tarballs ----------------------------------------------------------------------------------

/**
 * `dkms mktarball`: one kernel's build (+ the source, or only dkms.conf with binariesOnly) as
 * an archive `dkms ldtarball` loads on a machine without compiler or headers.
 */
export async function dkmsMktarball(paths: Paths, mv: ModuleVersion, opts: TarballOptions): Promise<string> {
  await mkdir(path.dirname(opts.archive), { recursive: true });
  const argv = dkmsMktarballArgv(dkmsTrees(paths), mv, opts);
  const r = await runDkms(paths, argv);
  if (r.exitCode !== 0) throw failed(argv, r);
  return opts.archive;
}

/** `dkms ldtarball`: loads such an archive into the root's trees. */
export async function dkmsLdtarball(
  paths: Paths,
  archive: string,
  opts: LdtarballOptions = {},
): Promise<'loaded' | 'already-added'> {
  const argv = dkmsLdtarballArgv(dkmsTrees(paths), archive, opts);
  const r = await runDkms(paths, argv);
  const result = classifyLdtarball(r.exitCode, r.stdout, r.stderr);
  if (result.kind === 'failed') throw failed(argv, r);
  return result.kind;
}

// --- the host's framework.conf -----------------------------------------------------------------

const SIGNING_VARIABLES = ['mok_signing_key', 'mok_certificate'] as const;

/**
 * dkms 3.0.10 always sources the host's /etc/dkms/framework.conf and framework.conf.d/*.conf
 * and lets their signing settings override the environment: building for another root would
 * then sign with (or create!) the host's key. Refuse instead of writing outside the root.
 */
export async function checkHostFramework(frameworkDir: string): Promise<void> {
  const files = [path.join(frameworkDir, 'framework.conf')];
  try {
    const dropIns = (await readdir(path.join(frameworkDir, 'framework.conf.d'))).filter((f) =>
      f.endsWith('.conf'),
    );
    files.push(...dropIns.sort().map((f) => path.join(frameworkDir, 'framework.conf.d', f)));
  } catch {
    // no drop-in directory
  }
  const { records } = await readShellVariables(files, SIGNING_VARIABLES);
  const set = records.filter((r) => r.value !== '');
  if (set.length > 0) {
    throw new EnvironmentError(
      `${frameworkDir}/framework.conf sets ${set.map((r) => `${r.name}=${r.value}`).join(', ')}; dkms 3.0.10 always reads the host's framework.conf and would sign (or create the key) there for modules built in another root`,
      'comment those settings out while using --root, or run with --root /',
    );
  }
}
