// Reads a dkms.conf the way dkms 3.0.10 does (read_conf → safe_source): bash sources it in a
// subshell with dkms's variables set ($kernelver, $arch, $dkms_tree, $kernel_source_dir…), the
// subshell echoes `VAR[i]="value"` lines and the parent shell sources those lines again, so
// values get dkms's exact treatment (word splitting, a second expansion). Then we print every
// variable as NUL-separated records that keep array indices; src/core/dkms-conf.ts parses them.
//
// Sourcing runs the file's code, as dkms itself does on every add/build/status: not a new risk,
// but we give it nothing more than dkms would: a clean environment (exec.ts), stdin on
// /dev/null, its stdout discarded, and only its variables come back.
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CONF_RECORDS_HEADER,
  CONF_RECORDS_TRAILER,
  DKMS_CONF_VARIABLES,
  decodeConfRecords,
  distributionFromOsRelease,
  parseDkmsConf,
  type DkmsConf,
  type DkmsConfRecord,
} from '../core/dkms-conf.js';
import { InputError } from '../core/errors.js';
import { run } from './exec.js';

/** What dkms has set when it sources a dkms.conf; all host paths, as dkms sees them. */
export interface ConfEnvironment {
  /** $module / $module_version: the M/V dkms was asked about. */
  readonly module: string;
  readonly moduleVersion: string;
  readonly kernel: string;
  readonly arch: string;
  readonly dkmsTree: string;
  readonly sourceTree: string;
  readonly installTree: string;
  /** --kernelsourcedir; dkms's default is <installTree>/<kernel>/build. */
  readonly kernelSourceDir?: string;
  /** dkms's running_distribution; read from the root's os-release when not given. */
  readonly distribution?: string;
  /** The root whose etc/os-release decides the distribution (dkms itself reads the host's). */
  readonly root?: string;
  /**
   * Also source the administrator's overrides (<dir>/<m>.conf, <m>-<v>.conf, …) after the
   * conf, as dkms does; dkms always reads them from the host's /etc/dkms.
   */
  readonly etcDkmsDir?: string;
}

// The reader script. Positional parameters: dkms's variables (and uname -r), then the files to source (dkms.conf,
// then any /etc/dkms overrides). The variables are plain shell variables, not exported to
// commands the conf runs, as in dkms. The names to print are spelled out in the script (not
// held in a variable) so a conf cannot change the list. `$\{` stands for bash's `${` (a
// template literal would take it for interpolation) and is replaced below.
function readerScript(variables: readonly string[]): string {
  for (const v of variables) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(v)) throw new TypeError(`readerScript: bad variable name ${v}`);
  }
  const VARIABLES = variables.join(' ');
  return String.raw`
shopt -s extglob
umask 022
PATH="$PATH:/usr/lib/dkms"
module=$1 module_version=$2 kernelver=$3 arch=$4 dkms_tree=$5 source_tree=$6 install_tree=$7
kernel_source_dir=$8 running_distribution=$9 current_kernel=$\{10}
shift 10
kernel_config="$kernel_source_dir/.config"
tmp_location=$\{TMPDIR:-/tmp}
current_os=Linux
unset ${VARIABLES}

# dkms 3.0.10's safe_source, its tmpfile replaced by a command substitution.
__dkms_abi_safe_source() {
  local __dkms_abi_lines
  __dkms_abi_lines=$(
    . "$1" >/dev/null
    for _export_env in ${VARIABLES}; do
      # Not in dkms: a variable the conf never set has no indices, and asking for them costs
      # a subshell each (dozens per conf). The set ones get dkms's exact treatment.
      builtin declare -p "$_export_env" >/dev/null 2>&1 || continue
      for _i in $(eval echo \$\{!$_export_env[@]}); do
        eval echo '$_export_env[$_i]=\"$\{'$_export_env'[$_i]}\"'
      done
    done
  )
  eval "$__dkms_abi_lines"
}

__dkms_abi_print() {
  local __dkms_abi_n __dkms_abi_i
  builtin printf '%s\0' ${CONF_RECORDS_HEADER}
  for __dkms_abi_n in ${VARIABLES}; do
    local -n __dkms_abi_ref=$__dkms_abi_n
    for __dkms_abi_i in "$\{!__dkms_abi_ref[@]}"; do
      builtin printf '%s\0%s\0%s\0' "$__dkms_abi_n" "$__dkms_abi_i" "$\{__dkms_abi_ref[$__dkms_abi_i]}"
    done
    unset -n __dkms_abi_ref
  done
  builtin printf '%s\0' ${CONF_RECORDS_TRAILER}
}

for __dkms_abi_f in "$@"; do
  [ -e "$__dkms_abi_f" ] && __dkms_abi_safe_source "$__dkms_abi_f"
done
__dkms_abi_print
`.replaceAll('$\\{', '${');
}

export interface ConfRecords {
  readonly records: DkmsConfRecord[];
  /** What bash said while sourcing (syntax errors, failing commands): dkms shows it too. */
  readonly diagnostics: string[];
}

/** The variables dkms would see after sourcing `confFiles` in order, as raw records. */
export async function readDkmsConfRecords(
  confFiles: readonly string[],
  env: ConfEnvironment,
): Promise<ConfRecords> {
  const first = confFiles[0];
  if (first === undefined) throw new TypeError('readDkmsConfRecords: no conf file');
  try {
    await access(first, constants.R_OK);
  } catch (err) {
    throw new InputError(first, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const distribution = env.distribution ?? (await rootDistribution(env.root ?? '/'));
  const kernelSourceDir = env.kernelSourceDir ?? path.join(env.installTree, env.kernel, 'build');
  const result = await run(
    [
      'bash',
      '--noprofile',
      '--norc',
      '-c',
      readerScript(DKMS_CONF_VARIABLES),
      'dkms-abi-conf',
      env.module,
      env.moduleVersion,
      env.kernel,
      env.arch,
      env.dkmsTree,
      env.sourceTree,
      env.installTree,
      kernelSourceDir,
      distribution,
      // dkms's $(uname -r), without a process for it: uname(2) is what both read.
      os.release(),
      ...confFiles.map((f) => path.resolve(f)),
    ],
    // Relative paths in a conf (rare) resolve against its own directory.
    { cwd: path.dirname(path.resolve(first)), timeoutMs: 60_000 },
  );
  const diagnostics = result.stderr.split('\n').filter((l) => l.trim() !== '');
  try {
    return { records: decodeConfRecords(result.stdout, first), diagnostics };
  } catch (err) {
    if (err instanceof InputError && diagnostics.length > 0) {
      throw new InputError(first, `${err.problem}: ${diagnostics.slice(-1)[0] ?? ''}`);
    }
    throw err;
  }
}

/**
 * Variables set by shell files sourced the way dkms sources its framework.conf (no module
 * context), e.g. /etc/dkms/framework.conf and framework.conf.d/*.conf.
 */
export async function readShellVariables(
  files: readonly string[],
  variables: readonly string[],
): Promise<ConfRecords> {
  const result = await run(
    [
      'bash',
      '--noprofile',
      '--norc',
      '-c',
      readerScript(variables),
      'dkms-abi-conf',
      ...Array<string>(9).fill(''),
      os.release(),
      ...files.map((f) => path.resolve(f)),
    ],
    { cwd: '/', timeoutMs: 60_000 },
  );
  const diagnostics = result.stderr.split('\n').filter((l) => l.trim() !== '');
  return { records: decodeConfRecords(result.stdout, files[0] ?? 'framework.conf'), diagnostics };
}

/** dkms.conf → DkmsConf for one kernel/arch, with dkms's defaults and our validation. */
export async function readDkmsConf(confFile: string, env: ConfEnvironment): Promise<DkmsConf> {
  const distribution = env.distribution ?? (await rootDistribution(env.root ?? '/'));
  const files = [
    confFile,
    ...(env.etcDkmsDir !== undefined
      ? dkmsConfOverrides(env.etcDkmsDir, env.module, env.moduleVersion, env.kernel, env.arch)
      : []),
  ];
  const { records, diagnostics } = await readDkmsConfRecords(files, { ...env, distribution });
  const conf = parseDkmsConf(records, confFile, { kernel: env.kernel, arch: env.arch, distribution });
  return diagnostics.length === 0
    ? conf
    : { ...conf, warnings: [...conf.warnings, ...diagnostics.map((d) => `while sourcing: ${d}`)] };
}

/**
 * The files dkms sources for M/V on a kernel, in its order: the module's dkms.conf, then the
 * administrator's overrides in /etc/dkms (read by dkms from the host's /etc, whatever the trees).
 */
export function dkmsConfOverrides(
  etcDkmsDir: string,
  module: string,
  version: string,
  kernel: string,
  arch: string,
): string[] {
  return [
    `${module}.conf`,
    `${module}-${version}.conf`,
    `${module}-${version}-${kernel}.conf`,
    `${module}-${version}-${kernel}-${arch}.conf`,
  ].map((f) => path.join(etcDkmsDir, f));
}

/** running_distribution for a root: its etc/os-release, else usr/lib/os-release, else "unknown". */
export async function rootDistribution(root: string): Promise<string> {
  for (const rel of ['etc/os-release', 'usr/lib/os-release']) {
    try {
      return distributionFromOsRelease(await readFile(path.join(root, rel), 'utf8'));
    } catch {
      // try the next one
    }
  }
  return distributionFromOsRelease(undefined);
}
