// dkms-abi's own configuration, as plain data, and its validation from parsed INI.
// Loaded by src/system/config.ts from <root>/etc/dkms-abi.conf and conf.d/*.conf; the
// format is documented in docs/configuration.md. Every problem is an InputError naming the
// file and, when the text is given, the line.
import { InputError } from './errors.js';
import { keyId, scanIniText, type IniTextScan } from './ini-text.js';
import { validateAbiver, validatePathComponent, type FlavourPattern } from './release.js';

/** Paths as seen inside the root (absolute, e.g. "/lib/modules"); defaults in src/system/paths.ts. */
export interface PathOverrides {
  readonly modulesDir?: string;
  readonly dkmsTree?: string;
  readonly sourceTree?: string;
  readonly stateDir?: string;
  readonly bootDir?: string;
}

export type ReusePolicy = 'module' | 'tree';
/** What to do when a header a build read differs in another kernel of the ABI (header-record.ts). */
export type HeaderDriftPolicy = 'rebuild' | 'warn' | 'ignore';

export interface KernelOverride {
  readonly flavour?: string;
  readonly abiver?: string;
}

export interface Config {
  readonly paths: PathOverrides;
  /** Tried before the built-in table. */
  readonly flavourPatterns: readonly FlavourPattern[];
  readonly kernels: ReadonlyMap<string, KernelOverride>;
  readonly reuse: ReusePolicy;
  /** Seconds to wait for the root's lock before giving up. */
  readonly lockTimeoutSeconds: number;
  /** Seconds a depmod may run before it is stopped as stuck. */
  readonly depmodTimeoutSeconds: number;
  readonly headerDrift: HeaderDriftPolicy;
  /** A kernel without headers cannot be checked: false reuses anyway, true builds (needs headers). */
  readonly requireHeaders: boolean;
}

export const DEFAULT_CONFIG: Config = {
  paths: {},
  flavourPatterns: [],
  kernels: new Map(),
  reuse: 'module',
  lockTimeoutSeconds: 300,
  // depmod indexes a distribution kernel's ~4,000 modules in about a second: after ten
  // minutes it is stuck (a FIFO or a hung file system in the tree), and so would be apt.
  depmodTimeoutSeconds: 600,
  headerDrift: 'rebuild',
  requireHeaders: false,
};

/** What the `ini` package returns for a file: sections of key → value. */
export type IniSections = Readonly<Record<string, unknown>>;

export interface ConfigFromIniOptions {
  /** The file's text, for line numbers in messages. */
  readonly text?: string;
  /** The configuration this file amends (earlier files); the defaults when absent. */
  readonly base?: Config;
}

const PATH_KEYS: Readonly<Record<string, keyof PathOverrides>> = {
  modules_dir: 'modulesDir',
  dkms_tree: 'dkmsTree',
  source_tree: 'sourceTree',
  state_dir: 'stateDir',
  boot_dir: 'bootDir',
};
const KERNEL_SECTION = 'kernel:';
const MAX_LOCK_TIMEOUT = 86_400;
const MAX_PATH_LENGTH = 4096;

/**
 * Validates one parsed file and applies it over `base`: a key set here replaces the same
 * key from earlier files, and an empty value resets it (a path or [abi] key to its default;
 * a pattern.N, or a kernel's flavour or abiver, is removed).
 */
export function configFromIni(
  sections: IniSections,
  file: string,
  options: ConfigFromIniOptions = {},
): Config {
  const base = options.base ?? DEFAULT_CONFIG;
  const scan: IniTextScan | undefined = options.text === undefined ? undefined : scanIniText(options.text);
  const lineOf = (section: string, key?: string): number | undefined =>
    key === undefined ? scan?.sections.get(section) : scan?.keys.get(keyId(section, key));
  const fail = (problem: string, section: string, key?: string): InputError =>
    new InputError(file, problem, lineOf(section, key));

  const paths: Record<string, string | undefined> = { ...base.paths };
  let reuse = base.reuse;
  let lockTimeoutSeconds = base.lockTimeoutSeconds;
  let depmodTimeoutSeconds = base.depmodTimeoutSeconds;
  let headerDrift = base.headerDrift;
  let requireHeaders = base.requireHeaders;
  const patterns = new Map<string, FlavourPattern>();
  base.flavourPatterns.forEach((p, i) => patterns.set(p.key ?? `#${i}`, p));
  const kernels = new Map(base.kernels);

  for (const [section, body] of Object.entries(sections)) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw fail(
        `"${section}" is outside any section (start with [paths], [abi], [flavour] or [kernel:<release>])`,
        '',
        section,
      );
    }
    const entries = Object.entries(body as Record<string, unknown>).map(([key, raw]): [string, string] => [
      key,
      textValue(raw, () => fail(`[${section}] ${key}: expected a single value`, section, key)),
    ]);
    if (section === 'paths') {
      for (const [key, value] of entries) {
        const field = PATH_KEYS[key];
        if (field === undefined) {
          throw fail(
            `unknown key "${key}" in [paths] (known: ${Object.keys(PATH_KEYS).join(', ')})`,
            section,
            key,
          );
        }
        if (value === '') paths[field] = undefined;
        else {
          const problem = pathProblem(value);
          if (problem !== undefined) throw fail(`[paths] ${key} ${problem}, got "${value}"`, section, key);
          paths[field] = normalizePath(value);
        }
      }
    } else if (section === 'abi') {
      for (const [key, value] of entries) {
        if (key === 'reuse') {
          if (value === '') reuse = DEFAULT_CONFIG.reuse;
          else if (value === 'module' || value === 'tree') reuse = value;
          else throw fail(`[abi] reuse must be "module" or "tree", got "${value}"`, section, key);
        } else if (key === 'lock_timeout') {
          if (value === '') lockTimeoutSeconds = DEFAULT_CONFIG.lockTimeoutSeconds;
          else if (/^[0-9]{1,5}$/.test(value) && Number(value) <= MAX_LOCK_TIMEOUT)
            lockTimeoutSeconds = Number(value);
          else
            throw fail(
              `[abi] lock_timeout must be whole seconds from 0 to ${MAX_LOCK_TIMEOUT}, got "${value}"`,
              section,
              key,
            );
        } else if (key === 'depmod_timeout') {
          if (value === '') depmodTimeoutSeconds = DEFAULT_CONFIG.depmodTimeoutSeconds;
          else if (/^[0-9]{1,5}$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_LOCK_TIMEOUT)
            depmodTimeoutSeconds = Number(value);
          else
            throw fail(
              `[abi] depmod_timeout must be whole seconds from 1 to ${MAX_LOCK_TIMEOUT}, got "${value}"`,
              section,
              key,
            );
        } else if (key === 'header_drift') {
          if (value === '') headerDrift = DEFAULT_CONFIG.headerDrift;
          else if (value === 'rebuild' || value === 'warn' || value === 'ignore') headerDrift = value;
          else
            throw fail(
              `[abi] header_drift must be "rebuild", "warn" or "ignore", got "${value}"`,
              section,
              key,
            );
        } else if (key === 'require_headers') {
          if (value === '') requireHeaders = DEFAULT_CONFIG.requireHeaders;
          else if (value === 'true' || value === 'false') requireHeaders = value === 'true';
          else throw fail(`[abi] require_headers must be "true" or "false", got "${value}"`, section, key);
        } else
          throw fail(
            `unknown key "${key}" in [abi] (known: reuse, lock_timeout, depmod_timeout, header_drift, require_headers)`,
            section,
            key,
          );
      }
    } else if (section === 'flavour') {
      readFlavourSection(entries, patterns, file, lineOf, fail);
    } else if (section.startsWith(KERNEL_SECTION)) {
      const release = section.slice(KERNEL_SECTION.length);
      const problem = validatePathComponent(release);
      if (problem !== undefined)
        throw fail(`[${section}]: "${release}" is not a kernel release: ${problem}`, section);
      const override: { flavour?: string; abiver?: string } = { ...kernels.get(release) };
      for (const [key, value] of entries) {
        if (key !== 'flavour' && key !== 'abiver') {
          throw fail(`unknown key "${key}" in [${section}] (known: flavour, abiver)`, section, key);
        }
        if (value === '') {
          delete override[key];
          continue;
        }
        const bad = key === 'flavour' ? validatePathComponent(value) : validateAbiver(value);
        if (bad !== undefined) throw fail(`[${section}] ${key} "${value}": ${bad}`, section, key);
        override[key] = value;
      }
      if (override.flavour === undefined && override.abiver === undefined) kernels.delete(release);
      else kernels.set(release, override);
    } else {
      throw fail(
        `unknown section [${section}] (known: [paths], [abi], [flavour], [kernel:<release>])`,
        section,
      );
    }
  }
  return {
    paths: definedOnly(paths),
    flavourPatterns: [...patterns.values()].sort(byPatternNumber),
    kernels,
    reuse,
    lockTimeoutSeconds,
    depmodTimeoutSeconds,
    headerDrift,
    requireHeaders,
  };
}

/** [flavour]: pattern.N = REGEX and optionally group.N = K (default 1), N a number. */
function readFlavourSection(
  entries: readonly (readonly [string, string])[],
  patterns: Map<string, FlavourPattern>,
  file: string,
  lineOf: (section: string, key?: string) => number | undefined,
  fail: (problem: string, section: string, key?: string) => InputError,
): void {
  const values = new Map(entries);
  for (const [key, value] of entries) {
    const m = /^(pattern|group)\.([0-9]{1,4})$/.exec(key);
    if (m === null)
      throw fail(
        `unknown key "${key}" in [flavour] (known: pattern.N, group.N with N a number)`,
        'flavour',
        key,
      );
    const n = m[2] ?? '';
    const patternKey = `pattern.${n}`;
    if (m[1] === 'group') {
      if (!values.has(patternKey))
        throw fail(`[flavour] ${key} has no ${patternKey} in the same file`, 'flavour', key);
      continue;
    }
    if (value === '') {
      patterns.delete(patternKey);
      continue;
    }
    let re: RegExp;
    let groups: number;
    try {
      // Compiled on its own first (so it cannot unbalance the anchoring wrapper, and the
      // message shows it as written); groups counted by matching an empty alternative.
      new RegExp(value);
      groups = (new RegExp(`${value}|`).exec('')?.length ?? 1) - 1;
      re = new RegExp(`^(?:${value})$`);
    } catch (err) {
      throw fail(`[flavour] ${key}: invalid regular expression: ${(err as Error).message}`, 'flavour', key);
    }
    const groupText = values.get(`group.${n}`) ?? '1';
    const group = /^[0-9]{1,3}$/.test(groupText) ? Number(groupText) : Number.NaN;
    if (groups === 0)
      throw fail(`[flavour] ${key} needs a capture group (…) around the flavour`, 'flavour', key);
    if (!(group >= 1 && group <= groups)) {
      const where = values.has(`group.${n}`) ? `group.${n}` : key;
      throw fail(
        `[flavour] group.${n} must be a capture group of ${key}: 1 to ${groups}, got "${groupText}"`,
        'flavour',
        where,
      );
    }
    const line = lineOf('flavour', key);
    patterns.set(patternKey, {
      pattern: re,
      group,
      source: `${file}${line === undefined ? '' : `:${line}`} [flavour] ${key}`,
      key: patternKey,
    });
  }
}

/** `ini` turns "true", "false" and "null" into values and key[] into arrays: take back the text. */
function textValue(raw: unknown, bad: () => InputError): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'boolean' || raw === null) return String(raw);
  throw bad();
}

/** Why a configured path is unusable, or undefined. */
function pathProblem(p: string): string | undefined {
  if (!p.startsWith('/')) return 'must be an absolute path inside the root';
  if (p.split('/').includes('..')) return 'must not contain ".."';
  if (p.length > MAX_PATH_LENGTH) return `must be at most ${MAX_PATH_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'must not contain control characters';
  return undefined;
}

/** "/var//lib/./dkms/" → "/var/lib/dkms". */
function normalizePath(p: string): string {
  return `/${p
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/')}`;
}

function definedOnly(paths: Record<string, string | undefined>): PathOverrides {
  return Object.fromEntries(Object.entries(paths).filter(([, v]) => v !== undefined));
}

/** pattern.2 before pattern.10; patterns without a key (made in code) first, in their order. */
function byPatternNumber(a: FlavourPattern, b: FlavourPattern): number {
  const n = (p: FlavourPattern): number =>
    p.key === undefined ? -1 : Number(p.key.slice('pattern.'.length));
  return n(a) - n(b);
}
