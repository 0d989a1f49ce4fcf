// dkms-abi's own configuration, as plain data. Loaded from INI by src/system/config.ts;
// validated here so errors can name the file and key.

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
