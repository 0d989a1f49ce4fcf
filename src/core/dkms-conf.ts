// dkms.conf as dkms 3.0.10 understands it. A dkms.conf is bash; src/system/dkms-conf.ts lets
// bash evaluate it exactly as dkms's safe_source does and prints every variable as NUL-separated
// (name, index, value) records. This file turns those records into a typed DkmsConf, applying
// read_conf's defaults and checks (same quirks, same order) plus our own validation of every
// name that ends up in a path. Pure: no disk, no processes.
import { InputError } from './errors.js';
import { printable } from './printable.js';

/** One array element (a scalar is index "0") as bash printed it. */
export interface DkmsConfRecord {
  readonly name: string;
  readonly index: string;
  readonly value: string;
}

/** Upper-case variables dkms 3.0.10 imports from dkms.conf (its dkms_conf_variables). */
export const DKMS_CONF_VARIABLES = [
  'CLEAN',
  'PACKAGE_NAME',
  'PACKAGE_VERSION',
  'POST_ADD',
  'POST_BUILD',
  'POST_INSTALL',
  'POST_REMOVE',
  'PRE_BUILD',
  'PRE_INSTALL',
  'BUILD_DEPENDS',
  'BUILD_EXCLUSIVE_KERNEL',
  'BUILD_EXCLUSIVE_ARCH',
  'BUILD_EXCLUSIVE_CONFIG',
  'OBSOLETE_BY',
  'MAKE',
  'MAKE_MATCH',
  'PATCH',
  'PATCH_MATCH',
  'BUILT_MODULE_NAME',
  'BUILT_MODULE_LOCATION',
  'DEST_MODULE_NAME',
  'DEST_MODULE_LOCATION',
  'STRIP',
  'AUTOINSTALL',
  'NO_WEAK_MODULES',
  'SIGN_FILE',
  'MOK_SIGNING_KEY',
  'MOK_CERTIFICATE',
  'REMAKE_INITRD',
  'MODULES_CONF',
  'MODULES_CONF_OBSOLETES',
  'MODULES_CONF_ALIAS_TYPE',
  'MODULES_CONF_OBSOLETE_ONLY',
] as const;

export type DkmsConfVariable = (typeof DKMS_CONF_VARIABLES)[number];

/** First field of the reader's output; anything else means the output is not ours. */
export const CONF_RECORDS_HEADER = 'dkms-abi-conf-v1';
/** Last field: its absence means the sourced file cut the output short (exit, exec). */
export const CONF_RECORDS_TRAILER = 'end';

/** Split the reader's output: header, then (name, index, value) triples, then the trailer. */
export function decodeConfRecords(output: string, file: string): DkmsConfRecord[] {
  const fields = output.split('\0');
  if (fields[0] !== CONF_RECORDS_HEADER) {
    throw new InputError(file, 'reading it with bash printed nothing usable (did it call exec or exit?)');
  }
  const records: DkmsConfRecord[] = [];
  let i = 1;
  for (;;) {
    const name = fields[i];
    if (name === CONF_RECORDS_TRAILER && i === fields.length - 2 && fields[i + 1] === '') return records;
    const index = fields[i + 1];
    const value = fields[i + 2];
    if (name === undefined || index === undefined || value === undefined) {
      throw new InputError(file, 'reading it with bash stopped early (did it call exit?)');
    }
    records.push({ name, index, value });
    i += 3;
  }
}

// --- where dkms puts modules -------------------------------------------------------------

/**
 * dkms's running_distribution: ID for Ubuntu, else the whole ID_LIKE when it is set (even
 * empty), else ID; "unknown" without an os-release file.
 */
export function distributionFromOsRelease(text: string | undefined): string {
  if (text === undefined) return 'unknown';
  const vars = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) vars.set(m[1], unquoteShellWord(m[2]));
  }
  const id = vars.get('ID') ?? '';
  if (id === 'ubuntu') return id;
  const like = vars.get('ID_LIKE');
  return like ?? id;
}

function unquoteShellWord(word: string): string {
  if (word.length >= 2 && (word.startsWith('"') || word.startsWith("'")) && word.endsWith(word[0] ?? '')) {
    return word.slice(1, -1);
  }
  return word;
}

/**
 * dkms's override_dest_module_location: distributions force their own directory whatever
 * DEST_MODULE_LOCATION says (Debian and Ubuntu: /updates/dkms, which depmod ranks above extra/).
 */
export function overrideDestModuleLocation(
  declared: string,
  distribution: string,
  addonModulesDir?: string,
): string {
  if (addonModulesDir !== undefined && addonModulesDir !== '') return `/${addonModulesDir}`;
  if (/^(fedora|rhel|ovm)/.test(distribution)) return '/extra';
  if (/^(sles|suse|opensuse)/.test(distribution)) return '/updates';
  if (/^(debian|ubuntu|arch)/.test(distribution)) return '/updates/dkms';
  return declared;
}

// --- the typed result ---------------------------------------------------------------------

export interface DkmsConfModule {
  readonly index: number;
  /** Name of the .ko the build produces, without suffix. */
  readonly builtName: string;
  /** Directory of the built .ko inside the build directory: "" or ending in "/". */
  readonly builtLocation: string;
  /** Name the module is saved and installed under, without suffix. */
  readonly destName: string;
  /** Where dkms would install it under /lib/modules/<kver>, after the distribution override. */
  readonly destLocation: string;
  /** DEST_MODULE_LOCATION as written. */
  readonly declaredDestLocation: string;
  /** dkms runs `strip -g` on it. */
  readonly strip: boolean;
}

export interface ConfigRequirement {
  /** Option name as written (an ERE, as dkms passes it to grep -E). */
  readonly option: string;
  /** true: must be =y or =m; false ("!OPTION"): must not be. */
  readonly wanted: boolean;
}

export interface BuildExclusive {
  /** Extended regular expressions, unanchored, as bash's =~ applies them. */
  readonly kernel?: string;
  readonly arch?: string;
  readonly config: readonly ConfigRequirement[];
}

export interface DkmsConfScripts {
  readonly postAdd?: string;
  readonly preBuild?: string;
  readonly postBuild?: string;
  readonly preInstall?: string;
  readonly postInstall?: string;
  readonly postRemove?: string;
}

export interface DkmsConf {
  readonly file: string;
  readonly packageName: string;
  readonly packageVersion: string;
  readonly modules: readonly DkmsConfModule[];
  /** The MAKE entry chosen for this kernel (MAKE_MATCH applied); undefined: dkms's default kbuild call. */
  readonly makeCommand: string | undefined;
  /** CLEAN; undefined: dkms's default `make ... clean`. */
  readonly cleanCommand: string | undefined;
  /** dkms treats any non-empty AUTOINSTALL as yes, "no" included. */
  readonly autoinstall: boolean;
  /** Package names, split on whitespace as dkms's autoinstall does. */
  readonly buildDepends: readonly string[];
  readonly buildExclusive: BuildExclusive;
  readonly scripts: DkmsConfScripts;
  /** PATCH entries applying to this kernel (PATCH_MATCH applied), in order. */
  readonly patches: readonly string[];
  readonly obsoleteBy: string | undefined;
  readonly noWeakModules: boolean;
  /** Things dkms accepts but that deserve a word (deprecated or ignored settings). */
  readonly warnings: readonly string[];
}

export interface ConfContext {
  /** Kernel release the conf was evaluated for ($kernelver). */
  readonly kernel: string;
  readonly arch: string;
  /** dkms's running_distribution (see distributionFromOsRelease). */
  readonly distribution: string;
  /** $ADDON_MODULES_DIR, which overrides every DEST_MODULE_LOCATION. */
  readonly addonModulesDir?: string;
}

/** Longest module name the kernel accepts (MODULE_NAME_LEN 64 minus a u64 and the NUL). */
export const MAX_MODULE_NAME = 55;
const MAX_COMPONENT = 128;
const MAX_PATH = 1024;
const MAX_VALUE = 64 * 1024;

/** Package names and versions become directory names and dkms arguments. */
const COMPONENT_RE = /^[A-Za-z0-9][A-Za-z0-9._+~:@-]*$/;
/** Kernel module names: what kbuild produces and modprobe accepts. */
const MODULE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_+-]*$/;
const PATH_COMPONENT_RE = /^[A-Za-z0-9_.+~@:-]+$/;

type Arrays = Map<string, Map<number, string>>;

/** Records → DkmsConf, with read_conf's defaults and checks. Throws InputError naming `file`. */
export function parseDkmsConf(records: readonly DkmsConfRecord[], file: string, ctx: ConfContext): DkmsConf {
  const arrays = collect(records, file);
  const get = (name: DkmsConfVariable, i = 0): string => arrays.get(name)?.get(i) ?? '';
  const count = (name: DkmsConfVariable): number => arrays.get(name)?.size ?? 0;
  const problems: string[] = [];
  const warnings: string[] = [];

  const packageName = get('PACKAGE_NAME');
  const packageVersion = get('PACKAGE_VERSION');
  if (packageName === '') problems.push("no 'PACKAGE_NAME' directive specified");
  else checkComponent('PACKAGE_NAME', packageName, problems);
  if (packageVersion === '') problems.push("no 'PACKAGE_VERSION' directive specified");
  else checkComponent('PACKAGE_VERSION', packageVersion, problems);

  // read_conf walks indices 0..N-1 where N is the largest element COUNT of the four arrays,
  // so a gap (BUILT_MODULE_NAME[0] and [2]) leaves an empty record and hides the last one.
  const nameArrays = [
    'BUILT_MODULE_NAME',
    'BUILT_MODULE_LOCATION',
    'DEST_MODULE_NAME',
    'DEST_MODULE_LOCATION',
  ] as const;
  const size = Math.max(...nameArrays.map(count));
  for (const name of nameArrays) {
    const hidden = [...(arrays.get(name)?.keys() ?? [])].filter((i) => i >= size);
    if (hidden.length > 0) {
      problems.push(
        `${name} has a gap (indices ${[...(arrays.get(name)?.keys() ?? [])].join(', ')}): dkms reads indices 0..${String(size - 1)} only, so ${name}[${hidden.join('], [')}] would be ignored`,
      );
    }
  }

  const modules: DkmsConfModule[] = [];
  let strip0: boolean | undefined;
  for (let i = 0; i < size; i++) {
    let builtName = get('BUILT_MODULE_NAME', i);
    let builtLocation = get('BUILT_MODULE_LOCATION', i);
    let destName = get('DEST_MODULE_NAME', i);
    const declaredDest = get('DEST_MODULE_LOCATION', i);
    // STRIP: "n…" keeps symbols, "y…" strips, empty inherits record 0, any other word strips.
    const stripWord = stripSetting(get('STRIP', i));
    if (i === 0) strip0 = stripWord ?? (get('STRIP', 0) === '' ? true : undefined);
    const strip = stripWord ?? (get('STRIP', i) === '' ? (strip0 ?? true) : true);

    if (builtName === '' && count('DEST_MODULE_LOCATION') === 1) builtName = packageName;
    if (destName === '') destName = builtName;
    if (builtLocation !== '' && !builtLocation.endsWith('/')) builtLocation += '/';

    const record = `record #${String(i)}`;
    if (builtName === '') problems.push(`no 'BUILT_MODULE_NAME' directive specified for ${record}`);
    else checkModuleName(`BUILT_MODULE_NAME[${String(i)}]`, builtName, problems);
    if (destName !== '' && destName !== builtName)
      checkModuleName(`DEST_MODULE_NAME[${String(i)}]`, destName, problems);
    if (builtLocation !== '')
      checkRelativePath(`BUILT_MODULE_LOCATION[${String(i)}]`, builtLocation, problems);
    if (declaredDest === '') {
      problems.push(`no 'DEST_MODULE_LOCATION' directive specified for ${record}`);
    } else if (!/^\/(kernel|updates|extra)/.test(declaredDest)) {
      problems.push(`DEST_MODULE_LOCATION[${String(i)}] does not begin with /kernel, /updates or /extra`);
    } else {
      checkAbsolutePath(`DEST_MODULE_LOCATION[${String(i)}]`, declaredDest, problems);
    }
    modules.push({
      index: i,
      builtName,
      builtLocation,
      destName,
      destLocation: overrideDestModuleLocation(declaredDest, ctx.distribution, ctx.addonModulesDir),
      declaredDestLocation: declaredDest,
      strip,
    });
  }
  if (size === 0) problems.push("no 'DEST_MODULE_LOCATION' directive specified");

  const makeCommand = chooseMake(arrays, ctx.kernel, file);
  const patches: string[] = [];
  for (let i = 0; i < count('PATCH'); i++) {
    const patch = get('PATCH', i);
    const match = get('PATCH_MATCH', i);
    if (
      patch !== '' &&
      (match === '' || bashRegex(match, file, `PATCH_MATCH[${String(i)}]`).test(ctx.kernel))
    ) {
      checkRelativePath(`PATCH[${String(i)}]`, patch, problems);
      patches.push(patch);
    }
  }

  const buildDepends = values(arrays, 'BUILD_DEPENDS')
    .join(' ')
    .split(/\s+/)
    .filter((d) => d !== '');
  for (const dep of buildDepends) checkComponent('BUILD_DEPENDS', dep, problems);

  const buildExclusive: BuildExclusive = {
    ...optional('kernel', get('BUILD_EXCLUSIVE_KERNEL')),
    ...optional('arch', get('BUILD_EXCLUSIVE_ARCH')),
    config: get('BUILD_EXCLUSIVE_CONFIG')
      .split(/\s+/)
      .filter((w) => w !== '')
      .map((w) => (w.startsWith('!') ? { option: w.slice(1), wanted: false } : { option: w, wanted: true })),
  };
  // Compile now so a broken expression is reported as the conf's fault, not later.
  if (buildExclusive.kernel !== undefined) bashRegex(buildExclusive.kernel, file, 'BUILD_EXCLUSIVE_KERNEL');
  if (buildExclusive.arch !== undefined) bashRegex(buildExclusive.arch, file, 'BUILD_EXCLUSIVE_ARCH');
  for (const c of buildExclusive.config) bashRegex(`^${c.option}=[ym]`, file, 'BUILD_EXCLUSIVE_CONFIG');

  for (const name of [
    'REMAKE_INITRD',
    'MODULES_CONF',
    'MODULES_CONF_OBSOLETES',
    'MODULES_CONF_ALIAS_TYPE',
    'MODULES_CONF_OBSOLETE_ONLY',
  ] as const) {
    if (count(name) > 0) warnings.push(`${name} is deprecated and ignored by dkms`);
  }
  if (get('AUTOINSTALL') !== '' && !/^y/i.test(get('AUTOINSTALL'))) {
    warnings.push(`AUTOINSTALL="${get('AUTOINSTALL')}" still means yes to dkms (any non-empty value does)`);
  }

  if (problems.length > 0) throw new InputError(file, problems.join('; '));
  return {
    file,
    packageName,
    packageVersion,
    modules,
    makeCommand,
    cleanCommand: emptyToUndefined(get('CLEAN')),
    autoinstall: get('AUTOINSTALL') !== '',
    buildDepends,
    buildExclusive,
    scripts: {
      ...optional('postAdd', get('POST_ADD')),
      ...optional('preBuild', get('PRE_BUILD')),
      ...optional('postBuild', get('POST_BUILD')),
      ...optional('preInstall', get('PRE_INSTALL')),
      ...optional('postInstall', get('POST_INSTALL')),
      ...optional('postRemove', get('POST_REMOVE')),
    },
    patches,
    obsoleteBy: emptyToUndefined(get('OBSOLETE_BY')),
    noWeakModules: get('NO_WEAK_MODULES') !== '',
    warnings,
  };
}

function collect(records: readonly DkmsConfRecord[], file: string): Arrays {
  const known = new Set<string>(DKMS_CONF_VARIABLES);
  const arrays: Arrays = new Map();
  for (const r of records) {
    if (!known.has(r.name)) continue;
    if (r.value.endsWith('\r')) {
      throw new InputError(
        file,
        `has CRLF (DOS) line endings: dkms 3.0.10 keeps the carriage return in every value (${r.name} ends in \\r; dkms >= 3.1.5 strips it); convert it with: sed -i 's/\\r$//' dkms.conf`,
      );
    }
    if (r.value.length > MAX_VALUE)
      throw new InputError(
        file,
        `${r.name}[${r.index}] is absurdly long (${String(r.value.length)} characters)`,
      );
    if (!/^(0|[1-9][0-9]{0,5})$/.test(r.index)) {
      throw new InputError(
        file,
        `${r.name} has the index "${printable(r.index)}": dkms only reads indexed arrays`,
      );
    }
    let entries = arrays.get(r.name);
    if (entries === undefined) arrays.set(r.name, (entries = new Map<number, string>()));
    entries.set(Number(r.index), r.value);
  }
  // bash lists indices in ascending order already; sort anyway so counts and gaps are exact.
  for (const [name, entries] of arrays) arrays.set(name, new Map([...entries].sort((a, b) => a[0] - b[0])));
  return arrays;
}

function values(arrays: Arrays, name: DkmsConfVariable): string[] {
  return [...(arrays.get(name)?.values() ?? [])];
}

/** read_conf: MAKE[0] unless MAKE_MATCH[0] is set; then the last MAKE[i] whose MAKE_MATCH[i] matches. */
function chooseMake(arrays: Arrays, kernel: string, file: string): string | undefined {
  const make = arrays.get('MAKE') ?? new Map<number, string>();
  const match = arrays.get('MAKE_MATCH') ?? new Map<number, string>();
  let chosen = (match.get(0) ?? '') === '' ? (make.get(0) ?? '') : '';
  for (let i = 0; i < make.size; i++) {
    const cmd = make.get(i) ?? '';
    const re = match.get(i) ?? '';
    if (cmd !== '' && re !== '' && bashRegex(re, file, `MAKE_MATCH[${String(i)}]`).test(kernel)) chosen = cmd;
  }
  return emptyToUndefined(chosen);
}

// --- BUILD_EXCLUSIVE ----------------------------------------------------------------------

export type BuildExclusion =
  | { readonly excluded: false }
  | { readonly excluded: true; readonly reason: 'kernel' | 'arch' | 'config'; readonly detail: string };

export interface BuildTarget {
  readonly kernel: string;
  readonly arch: string;
  /** Text of the kernel's .config; undefined when the headers have none (dkms then skips the config test). */
  readonly kernelConfig?: string;
}

/** Would dkms refuse to build for this target (its exit code 77)? Same tests, same order. */
export function evaluateBuildExclusive(
  be: BuildExclusive,
  target: BuildTarget,
  file = 'dkms.conf',
): BuildExclusion {
  if (be.kernel !== undefined && !bashRegex(be.kernel, file, 'BUILD_EXCLUSIVE_KERNEL').test(target.kernel)) {
    return {
      excluded: true,
      reason: 'kernel',
      detail: `${target.kernel} does not match BUILD_EXCLUSIVE_KERNEL ${be.kernel}`,
    };
  }
  if (be.arch !== undefined && !bashRegex(be.arch, file, 'BUILD_EXCLUSIVE_ARCH').test(target.arch)) {
    return {
      excluded: true,
      reason: 'arch',
      detail: `${target.arch} does not match BUILD_EXCLUSIVE_ARCH ${be.arch}`,
    };
  }
  if (target.kernelConfig !== undefined) {
    for (const c of be.config) {
      const set = new RegExp(bashRegex(`^${c.option}=[ym]`, file, 'BUILD_EXCLUSIVE_CONFIG').source, 'm').test(
        target.kernelConfig,
      );
      if (set !== c.wanted) {
        return {
          excluded: true,
          reason: 'config',
          detail: c.wanted
            ? `the kernel config lacks ${c.option}`
            : `the kernel config has ${c.option}, which the module excludes`,
        };
      }
    }
  }
  return { excluded: false };
}

// --- bash's =~ (POSIX ERE) in JavaScript -----------------------------------------------------

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: 'A-Za-z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  word: 'A-Za-z0-9_',
};

/**
 * A POSIX extended regular expression as JavaScript understands it: bracket classes such as
 * [[:digit:]] translated, everything else (., *, +, ?, |, groups, anchors) shared by both.
 */
export function bashRegex(pattern: string, file: string, what: string): RegExp {
  const translated = pattern.replace(/\[:([a-z]+):\]/g, (whole, cls: string) => POSIX_CLASSES[cls] ?? whole);
  try {
    return new RegExp(translated);
  } catch {
    throw new InputError(file, `${what} "${printable(pattern)}" is not a valid regular expression`);
  }
}

// --- validation of names that end up in paths and argv -----------------------------------

function checkComponent(what: string, value: string, problems: string[]): void {
  if (value.length > MAX_COMPONENT)
    problems.push(`${what} is absurdly long (${String(value.length)} characters)`);
  else if (!COMPONENT_RE.test(value)) {
    problems.push(
      `${what} "${printable(value)}" must start with a letter or digit and use only letters, digits and . _ + ~ : @ -`,
    );
  }
}

function checkModuleName(what: string, value: string, problems: string[]): void {
  if (/\.k?o$/.test(value)) problems.push(`${what} "${printable(value)}" ends in .o or .ko`);
  else if (value.length > MAX_MODULE_NAME) {
    problems.push(
      `${what} is ${String(value.length)} characters long; the kernel accepts at most ${String(MAX_MODULE_NAME)}`,
    );
  } else if (!MODULE_NAME_RE.test(value)) {
    problems.push(`${what} "${printable(value)}" is not a kernel module name (letters, digits, _ + -)`);
  }
}

function checkRelativePath(what: string, value: string, problems: string[]): void {
  if (value.startsWith('/'))
    problems.push(`${what} "${printable(value)}" must be relative to the build directory`);
  else checkPathComponents(what, value, problems);
}

function checkAbsolutePath(what: string, value: string, problems: string[]): void {
  checkPathComponents(what, value, problems);
}

function checkPathComponents(what: string, value: string, problems: string[]): void {
  if (value.length > MAX_PATH) {
    problems.push(`${what} is absurdly long (${String(value.length)} characters)`);
    return;
  }
  for (const c of value.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      problems.push(`${what} "${printable(value)}" climbs out with ".."`);
      return;
    }
    if (!PATH_COMPONENT_RE.test(c)) {
      problems.push(`${what} "${printable(value)}" has characters dkms cannot put in a path`);
      return;
    }
  }
}

function stripSetting(word: string): boolean | undefined {
  if (/^[nN]/.test(word)) return false;
  if (/^[yY]/.test(word)) return true;
  return undefined;
}

function emptyToUndefined(value: string): string | undefined {
  return value === '' ? undefined : value;
}

function optional<K extends string>(key: K, value: string): Partial<Record<K, string>> {
  return value === '' ? {} : ({ [key]: value } as Record<K, string>);
}
