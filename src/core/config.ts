// dkms-abi's own configuration, as plain data, and its validation from parsed INI.
// Loaded by src/system/config.ts from <root>/etc/dkms-abi.conf and conf.d/*.conf.
import { parseAbiSpec } from './abi-id.js';
import { InputError } from './errors.js';
import { validatePathComponent } from './release.js';

/** Paths as seen inside the root (absolute, e.g. "/lib/modules"); defaults in src/system/paths.ts. */
export interface PathOverrides {
  readonly modulesDir?: string;
  readonly dkmsTree?: string;
  readonly sourceTree?: string;
  readonly stateDir?: string;
  readonly bootDir?: string;
}

export type ReusePolicy = 'module' | 'tree';

export interface FlavourPattern {
  /** Regular expression matched against the whole kernel release. */
  readonly pattern: RegExp;
  /** Capture group (1-based) holding the flavour. */
  readonly group: number;
  /** Where the pattern was defined, for messages. */
  readonly source: string;
}

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
}

export const DEFAULT_CONFIG: Config = {
  paths: {},
  flavourPatterns: [],
  kernels: new Map(),
  reuse: 'module',
  lockTimeoutSeconds: 300,
};

/** One parsed file: what `ini` made of it, plus its text (for line numbers). */
export interface IniFile {
  readonly file: string;
  readonly text: string;
  readonly data: Record<string, unknown>;
}

const PATH_KEYS: Readonly<Record<string, keyof PathOverrides>> = {
  modules_dir: 'modulesDir',
  dkms_tree: 'dkmsTree',
  source_tree: 'sourceTree',
  state_dir: 'stateDir',
  boot_dir: 'bootDir',
};

/** Applies files in order (later ones override earlier ones, key by key). */
export function configFromIni(files: readonly IniFile[], base: Config = DEFAULT_CONFIG): Config {
  let paths: PathOverrides = { ...base.paths };
  const patterns: FlavourPattern[] = [...base.flavourPatterns];
  const kernels = new Map(base.kernels);
  let reuse = base.reuse;
  let lockTimeoutSeconds = base.lockTimeoutSeconds;

  for (const f of files) {
    const bad = (problem: string, key?: string): InputError =>
      new InputError(f.file, problem, lineOf(f.text, key));
    for (const [section, value] of Object.entries(f.data)) {
      if (typeof value !== 'object' || value === null)
        throw bad(
          `"${section}" must be inside a section ([paths], [abi], [flavour], [kernel-abi], [kernel-flavour])`,
          section,
        );
      const entries = Object.entries(value as Record<string, unknown>);
      const str = (key: string, v: unknown): string => {
        if (typeof v !== 'string' || v === '') throw bad(`[${section}] ${key} needs a value`, key);
        return v;
      };
      switch (section) {
        case 'paths':
          for (const [key, v] of entries) {
            const field = PATH_KEYS[key];
            if (field === undefined)
              throw bad(`unknown key "${key}" in [paths] (known: ${Object.keys(PATH_KEYS).join(', ')})`, key);
            const p = str(key, v);
            if (!p.startsWith('/') || p.split('/').includes('..'))
              throw bad(
                `[paths] ${key} must be an absolute path inside the root without "..", got "${p}"`,
                key,
              );
            paths = { ...paths, [field]: p.replace(/\/+$/, '') || '/' };
          }
          break;
        case 'abi':
          for (const [key, v] of entries) {
            if (key === 'reuse') {
              const r = str(key, v);
              if (r !== 'module' && r !== 'tree')
                throw bad(`[abi] reuse must be "module" or "tree", got "${r}"`, key);
              reuse = r;
            } else if (key === 'lock_timeout') {
              const n = Number(str(key, v));
              if (!Number.isFinite(n) || n < 0 || n > 86_400)
                throw bad(`[abi] lock_timeout must be seconds between 0 and 86400`, key);
              lockTimeoutSeconds = n;
            } else throw bad(`unknown key "${key}" in [abi] (known: reuse, lock_timeout)`, key);
          }
          break;
        case 'flavour':
          for (const [key, v] of entries) {
            const source = `${f.file}:${lineOf(f.text, key) ?? '?'}`;
            let re: RegExp;
            try {
              re = new RegExp(str(key, v));
            } catch (err) {
              throw bad(`[flavour] ${key}: invalid regular expression: ${(err as Error).message}`, key);
            }
            if (!/\((?!\?)/.test(re.source))
              throw bad(`[flavour] ${key}: the pattern needs a capture group for the flavour`, key);
            patterns.push({ pattern: re, group: 1, source });
          }
          break;
        case 'kernel-abi':
          for (const [kernel, v] of entries) {
            const spec = parseAbiSpec(str(kernel, v));
            if (spec === undefined || validatePathComponent(kernel) !== undefined) {
              throw bad(`[kernel-abi] ${kernel}: expected "<flavour>-<abiver>" like "amd64-3"`, kernel);
            }
            kernels.set(kernel, { ...kernels.get(kernel), flavour: spec.flavour, abiver: spec.abiver });
          }
          break;
        case 'kernel-flavour':
          for (const [kernel, v] of entries) {
            const flavour = str(kernel, v);
            const problem = validatePathComponent(flavour) ?? validatePathComponent(kernel);
            if (problem !== undefined) throw bad(`[kernel-flavour] ${kernel}: ${problem}`, kernel);
            kernels.set(kernel, { ...kernels.get(kernel), flavour });
          }
          break;
        default:
          throw bad(
            `unknown section [${section}] (known: paths, abi, flavour, kernel-abi, kernel-flavour)`,
            section,
          );
      }
    }
  }
  return { paths, flavourPatterns: patterns, kernels, reuse, lockTimeoutSeconds };
}

/** 1-based line where `key` is first defined (or its section opened), for messages. */
function lineOf(text: string, key: string | undefined): number | undefined {
  if (key === undefined) return undefined;
  const lines = text.split(/\r?\n/);
  const i = lines.findIndex((l) => {
    const t = l.trim();
    return t.startsWith(`${key} `) || t.startsWith(`${key}=`) || t === `[${key}]`;
  });
  return i === -1 ? undefined : i + 1;
}
