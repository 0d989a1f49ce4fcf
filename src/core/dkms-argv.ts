// dkms 3.0.10 command lines and what its exit codes mean. Every command names the three trees
// explicitly (dkms's defaults are the host's /var/lib/dkms, /usr/src and /lib/modules), plus the
// environment that keeps dkms's other writes inside the root. Pure: src/system/dkms.ts runs them.
import { UsageError } from './errors.js';

/** Host paths of the trees dkms works on (paths.dkmsTree, paths.sourceTree, paths.modulesDir). */
export interface DkmsTrees {
  readonly dkmsTree: string;
  readonly sourceTree: string;
  readonly installTree: string;
}

export interface ModuleVersion {
  readonly module: string;
  readonly version: string;
}

export interface KernelArch {
  readonly kernel: string;
  readonly arch: string;
}

// dkms reads option values with `read` (strips backslashes and edge blanks) and expands most
// paths unquoted (word splitting, globbing): only plain characters survive the round trip.
const SAFE_PATH_RE = /^\/[A-Za-z0-9_.+~@:,%=/-]*$/;
const SAFE_WORD_RE = /^[A-Za-z0-9][A-Za-z0-9_.+~@:%-]*$/;

/** A path dkms can take as an option value and use unquoted. */
export function assertDkmsPath(what: string, value: string): void {
  if (!SAFE_PATH_RE.test(value) || value.split('/').includes('..')) {
    throw new UsageError(
      `${what} ${JSON.stringify(value)} cannot be given to dkms: it must be absolute and use only letters, digits and _ . + ~ @ : , % = - / (dkms expands paths unquoted)`,
    );
  }
}

/** A module, version, kernel or arch: one word without "/" (dkms splits M/V and K/A on it). */
export function assertDkmsWord(what: string, value: string): void {
  if (!SAFE_WORD_RE.test(value) || value.length > 128) {
    throw new UsageError(
      `${what} ${JSON.stringify(value)} cannot be given to dkms: use letters, digits and _ . + ~ @ : % - (starting with a letter or digit)`,
    );
  }
}

export function dkmsTreeArgs(trees: DkmsTrees): string[] {
  assertDkmsPath('the DKMS tree', trees.dkmsTree);
  assertDkmsPath('the source tree', trees.sourceTree);
  assertDkmsPath('the install tree', trees.installTree);
  return ['--dkmstree', trees.dkmsTree, '--sourcetree', trees.sourceTree, '--installtree', trees.installTree];
}

function mvArgs(mv: ModuleVersion): string[] {
  assertDkmsWord('module', mv.module);
  assertDkmsWord('version', mv.version);
  return ['-m', mv.module, '-v', mv.version];
}

/** `-k KVER/ARCH`: dkms 3.0.10's parse_kernelarch splits on the first "/". */
function kernelArgs(k: KernelArch): string[] {
  assertDkmsWord('kernel', k.kernel);
  assertDkmsWord('arch', k.arch);
  return ['-k', `${k.kernel}/${k.arch}`];
}

function headersArgs(kernelSourceDir: string): string[] {
  assertDkmsPath('the kernel headers directory', kernelSourceDir);
  return ['--kernelsourcedir', kernelSourceDir];
}

export interface AddOptions {
  /** Kernel whose view dkms checks the dkms.conf with (default: the running kernel). */
  readonly target?: KernelArch & { readonly kernelSourceDir: string };
}

/** `dkms add`: registers <sourceTree>/<m>-<v> as <dkmsTree>/<m>/<v>/source. */
export function dkmsAddArgv(trees: DkmsTrees, mv: ModuleVersion, opts: AddOptions = {}): string[] {
  const t = opts.target;
  return [
    'dkms',
    'add',
    ...mvArgs(mv),
    ...(t !== undefined ? [...kernelArgs(t), ...headersArgs(t.kernelSourceDir)] : []),
    ...dkmsTreeArgs(trees),
  ];
}

export interface BuildOptions {
  readonly kernelSourceDir: string;
  /** make -j; dkms's default is nproc. */
  readonly jobs?: number;
  /** Rebuild when already built (dkms unbuilds first). */
  readonly force?: boolean;
  /** dkms --verbose: echo the commands it runs. */
  readonly verbose?: boolean;
}

/** `dkms build`: <dkmsTree>/<m>/<v>/<kver>/<arch>/module/*.ko and log/make.log. */
export function dkmsBuildArgv(
  trees: DkmsTrees,
  mv: ModuleVersion,
  k: KernelArch,
  opts: BuildOptions,
): string[] {
  if (opts.jobs !== undefined && (!Number.isInteger(opts.jobs) || opts.jobs < 1)) {
    throw new UsageError(`build jobs must be a positive integer, not ${String(opts.jobs)}`);
  }
  return [
    'dkms',
    'build',
    ...mvArgs(mv),
    ...kernelArgs(k),
    ...headersArgs(opts.kernelSourceDir),
    ...(opts.jobs !== undefined ? ['-j', String(opts.jobs)] : []),
    ...(opts.force === true ? ['--force'] : []),
    ...(opts.verbose === true ? ['--verbose'] : []),
    ...dkmsTreeArgs(trees),
  ];
}

/**
 * `dkms remove`: unbuilds for the given kernels (or all) and unregisters M/V when nothing is
 * left. --no-depmod always: if dkms finds the module "installed" (its kernel-<kver>-<arch>
 * link, which dkms-abi maintains) it uninstalls from the install tree and would then run a bare
 * `depmod -a <kver>` on the host's /lib/modules.
 */
export function dkmsRemoveArgv(
  trees: DkmsTrees,
  mv: ModuleVersion,
  kernels: 'all' | readonly KernelArch[],
): string[] {
  if (kernels !== 'all' && kernels.length === 0) throw new UsageError('dkms remove needs --all or a kernel');
  return [
    'dkms',
    'remove',
    ...mvArgs(mv),
    ...(kernels === 'all' ? ['--all'] : kernels.flatMap(kernelArgs)),
    '--no-depmod',
    ...dkmsTreeArgs(trees),
  ];
}

/**
 * `dkms unbuild` (3.0.10 has it): drops one kernel's build, keeps M/V added. --no-depmod: if
 * dkms finds it "installed" there it uninstalls first and would run depmod on the host.
 */
export function dkmsUnbuildArgv(trees: DkmsTrees, mv: ModuleVersion, k: KernelArch): string[] {
  return ['dkms', 'unbuild', ...mvArgs(mv), ...kernelArgs(k), '--no-depmod', ...dkmsTreeArgs(trees)];
}

/**
 * `dkms uninstall` for the given kernels: what stock dkms installed there (a copy in the install
 * tree, its kernel-<kver>-<arch> mark) goes, the build stays. --no-depmod for the same reason
 * as remove: dkms-abi runs depmod on the root itself.
 */
export function dkmsUninstallArgv(
  trees: DkmsTrees,
  mv: ModuleVersion,
  kernels: readonly KernelArch[],
): string[] {
  if (kernels.length === 0) throw new UsageError('dkms uninstall needs a kernel');
  return [
    'dkms',
    'uninstall',
    ...mvArgs(mv),
    ...kernels.flatMap(kernelArgs),
    '--no-depmod',
    ...dkmsTreeArgs(trees),
  ];
}

export interface StatusFilter {
  readonly module?: string;
  /** Only with module. */
  readonly version?: string;
  readonly target?: KernelArch;
}

/** `dkms status` (reads only the DKMS tree and the install tree's weak-updates; always exits 0). */
export function dkmsStatusArgv(trees: DkmsTrees, filter: StatusFilter = {}): string[] {
  if (filter.version !== undefined && filter.module === undefined) {
    throw new UsageError('dkms status: a version needs a module');
  }
  if (filter.module !== undefined) assertDkmsWord('module', filter.module);
  if (filter.version !== undefined) assertDkmsWord('version', filter.version);
  return [
    'dkms',
    'status',
    ...(filter.module !== undefined ? ['-m', filter.module] : []),
    ...(filter.version !== undefined ? ['-v', filter.version] : []),
    ...(filter.target !== undefined ? kernelArgs(filter.target) : []),
    ...dkmsTreeArgs(trees),
  ];
}

export interface TarballOptions {
  /** Where to write it (an absolute path ending in .tar.gz or similar; tar -a picks the compression). */
  readonly archive: string;
  /**
   * One kernel per archive: given several, dkms 3.0.10's make_tarball declares its loop
   * variables `local -r` and archives the first kernel's build under every name.
   */
  readonly kernel: KernelArch;
  /** Binaries and dkms.conf only, no source (dkms's --binaries-only). */
  readonly binariesOnly?: boolean;
}

/** `dkms mktarball`: one kernel's built modules (+ source) as a tarball dkms ldtarball can load. */
export function dkmsMktarballArgv(trees: DkmsTrees, mv: ModuleVersion, opts: TarballOptions): string[] {
  assertDkmsPath('the archive', opts.archive);
  return [
    'dkms',
    'mktarball',
    ...mvArgs(mv),
    ...kernelArgs(opts.kernel),
    `--archive=${opts.archive}`,
    ...(opts.binariesOnly === true ? ['--binaries-only'] : []),
    ...dkmsTreeArgs(trees),
  ];
}

export interface LdtarballOptions {
  /** Kernel dkms checks the archive's dkms.conf with (default: the running kernel). */
  readonly target?: KernelArch;
  /**
   * Load into a module already added, replacing the archive's builds: needed for a second
   * binaries-only archive of the same M/V (dkms says "already added" otherwise).
   */
  readonly force?: boolean;
}

/** `dkms ldtarball`: loads a mktarball archive (source into the source tree, binaries into the DKMS tree). */
export function dkmsLdtarballArgv(trees: DkmsTrees, archive: string, opts: LdtarballOptions = {}): string[] {
  assertDkmsPath('the archive', archive);
  return [
    'dkms',
    'ldtarball',
    `--archive=${archive}`,
    ...(opts.target !== undefined ? kernelArgs(opts.target) : []),
    ...(opts.force === true ? ['--force'] : []),
    ...dkmsTreeArgs(trees),
  ];
}

// --- environment ---------------------------------------------------------------------------

export interface DkmsEnvOptions {
  /** Host path of the root ("/" for the real system). */
  readonly root: string;
  readonly trees: DkmsTrees;
  /** Module.symvers files of modules this build links against (KBUILD_EXTRA_SYMBOLS). */
  readonly extraSymbols?: readonly string[];
  /** Temporary directory for dkms inside the root (its safe_source and tarball temp files). */
  readonly tmpDir?: string;
  /** Have gcc list every header it opens in make.log (KCFLAGS=-H, see header-record.ts). */
  readonly traceIncludes?: boolean;
}

/**
 * Variables dkms 3.0.10 (and the make it runs) take from the environment:
 * - mok_signing_key / mok_certificate: dkms signs every built module (sign-file exists on
 *   Debian) and, when the key is missing, generates one with openssl at a path that defaults
 *   to the host's /var/lib/dkms/mok.{key,pub} whatever --dkmstree says. The variables are
 *   never reset by dkms, so for another root they point into that root's DKMS tree. For "/"
 *   dkms's own defaults (and the administrator's framework.conf) apply.
 * - TMPDIR: dkms's mktemp calls (every dkms.conf read) and tarball work.
 * - KBUILD_EXTRA_SYMBOLS: dkms does not unset it, make imports it, modpost reads it.
 * - KCFLAGS: kbuild appends it to every C compile; -H makes gcc print each header it opens
 *   to stderr, which dkms appends to log/make.log, the one build output it keeps.
 */
export function dkmsEnv(opts: DkmsEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  if (opts.root !== '/') {
    assertDkmsPath('the DKMS tree', opts.trees.dkmsTree);
    env['mok_signing_key'] = `${opts.trees.dkmsTree}/mok.key`;
    env['mok_certificate'] = `${opts.trees.dkmsTree}/mok.pub`;
  }
  if (opts.tmpDir !== undefined) {
    assertDkmsPath('the temporary directory', opts.tmpDir);
    env['TMPDIR'] = opts.tmpDir;
  }
  const symbols = opts.extraSymbols ?? [];
  for (const s of symbols) assertDkmsPath('a Module.symvers for KBUILD_EXTRA_SYMBOLS', s);
  if (symbols.length > 0) env['KBUILD_EXTRA_SYMBOLS'] = symbols.join(' ');
  if (opts.traceIncludes === true) env['KCFLAGS'] = '-H';
  return env;
}

export type DkmsAddResult =
  | { readonly kind: 'added' }
  | { readonly kind: 'already-added' }
  | { readonly kind: 'no-source'; readonly message: string }
  | { readonly kind: 'bad-conf'; readonly message: string }
  | { readonly kind: 'failed'; readonly exitCode: number; readonly message: string };

export type DkmsBuildResult =
  | { readonly kind: 'built' }
  /** dkms said "already built … skip" and exited 0 (no --force). */
  | { readonly kind: 'already-built' }
  | { readonly kind: 'excluded'; readonly message: string }
  | { readonly kind: 'no-headers'; readonly message: string }
  | { readonly kind: 'not-added'; readonly message: string }
  /** dkms >= 3.1.8 (exit 13): modules named by BUILD_DEPENDS are not built for this kernel. */
  | { readonly kind: 'missing-build-depends'; readonly missing: readonly string[]; readonly message: string }
  | { readonly kind: 'bad-conf'; readonly message: string }
  /** make failed (10), or produced no .ko (7), or a patch failed (5, 6). */
  | { readonly kind: 'build-failed'; readonly exitCode: number; readonly message: string }
  | { readonly kind: 'failed'; readonly exitCode: number; readonly message: string };

export type DkmsRemoveResult =
  | { readonly kind: 'removed' }
  | { readonly kind: 'not-added'; readonly message: string }
  | { readonly kind: 'failed'; readonly exitCode: number; readonly message: string };

export type DkmsLdtarballResult =
  | { readonly kind: 'loaded' }
  | { readonly kind: 'already-added'; readonly message: string }
  | { readonly kind: 'failed'; readonly exitCode: number; readonly message: string };

/** dkms's "Error! …" lines (stderr), joined: what to show the user. */
export function dkmsErrorMessage(stderr: string, stdout = ''): string {
  // The paragraph after "Error!", from the stream that has it: stdout goes on with other
  // things (dkms prints its signing setup there), which are not part of the error.
  const text = [stderr, stdout].find((t) => t.includes('Error!')) ?? `${stderr}\n${stdout}`;
  const start = text.indexOf('Error!');
  const body = start >= 0 ? text.slice(start + 'Error!'.length) : text;
  const lines = body.split('\n').map((l) => l.trim());
  const end = start >= 0 ? lines.findIndex((l, i) => i > 0 && l === '') : -1;
  return (end === -1 ? lines : lines.slice(0, end))
    .filter((l) => l !== '')
    .slice(0, 4)
    .join(' ');
}

export function classifyAdd(exitCode: number, stdout: string, stderr: string): DkmsAddResult {
  const message = dkmsErrorMessage(stderr, stdout);
  if (exitCode === 0) return { kind: 'added' };
  if (exitCode === 3 && /already contains/.test(stderr)) return { kind: 'already-added' };
  if (exitCode === 2 && /Could not find module source directory/.test(stderr))
    return { kind: 'no-source', message };
  if (exitCode === 8 || exitCode === 4) return { kind: 'bad-conf', message: confMessage(stderr, message) };
  return { kind: 'failed', exitCode, message };
}

export function classifyBuild(exitCode: number, stdout: string, stderr: string): DkmsBuildResult {
  const message = dkmsErrorMessage(stderr, stdout);
  if (exitCode === 0)
    return /already built for kernel/.test(stdout) ? { kind: 'already-built' } : { kind: 'built' };
  if (exitCode === 77) return { kind: 'excluded', message };
  if (exitCode === 21 || (exitCode === 1 && /kernel headers for kernel .* cannot be found/.test(stderr))) {
    return { kind: 'no-headers', message };
  }
  if (exitCode === 3 && /is not located in the DKMS tree/.test(stderr)) return { kind: 'not-added', message };
  if (exitCode === 13) {
    // "Aborting build of module m/v for kernel k (arch) due to missing BUILD_DEPENDS: a b."
    const list = /missing BUILD_DEPENDS:\s*([^\n]*?)\.?\s*$/m.exec(stderr)?.[1] ?? '';
    return { kind: 'missing-build-depends', missing: list.split(/\s+/).filter(Boolean), message };
  }
  if (exitCode === 8 || exitCode === 4) return { kind: 'bad-conf', message: confMessage(stderr, message) };
  if (exitCode === 10 || exitCode === 7 || exitCode === 5 || exitCode === 6) {
    return { kind: 'build-failed', exitCode, message };
  }
  return { kind: 'failed', exitCode, message };
}

export function classifyRemove(exitCode: number, stdout: string, stderr: string): DkmsRemoveResult {
  const message = dkmsErrorMessage(stderr, stdout);
  if (exitCode === 0) return { kind: 'removed' };
  if (exitCode === 3 && /is not located in the DKMS tree/.test(stderr)) return { kind: 'not-added', message };
  return { kind: 'failed', exitCode, message };
}

/**
 * dkms 3.0.10 loads a --binaries-only archive and then exits 1 (its last test asks for a source
 * tree that such an archive never has): "Loading tarball" with no "Error!" is a success.
 */
export function classifyLdtarball(exitCode: number, stdout: string, stderr: string): DkmsLdtarballResult {
  const message = dkmsErrorMessage(stderr, stdout);
  if (exitCode === 0) return { kind: 'loaded' };
  if (exitCode === 1 && /Loading tarball for /.test(stdout) && !/Error!/.test(stderr))
    return { kind: 'loaded' };
  if ((exitCode === 8 || exitCode === 3) && /already (added|contains)/.test(stderr)) {
    return { kind: 'already-added', message };
  }
  return { kind: 'failed', exitCode, message };
}

/** read_conf prints its findings as "dkms.conf: Error! …" before dying with "Bad conf file". */
function confMessage(stderr: string, fallback: string): string {
  const found = stderr
    .split('\n')
    .filter((l) => l.startsWith('dkms.conf: Error!'))
    .map((l) => l.slice('dkms.conf: Error!'.length).trim());
  return found.length > 0 ? found.join('; ') : fallback;
}

/** The package that provides the headers dkms could not find (Debian/Ubuntu naming). */
export function headersPackageHint(kernel: string): string {
  return `install linux-headers-${kernel}`;
}
