// How a kernel's module loader behaves where the behaviour changed across releases or is
// chosen by the kernel's config or its distribution. Derived from the release and the
// config (CONFIG_* lines), so the verdict follows the loader of the target kernel:
// - A missing __versions entry: fatal before 4.9 ("no symbol version for X", then
//   "Unknown symbol X (err -22)"); upstream since 4.9 (faaae2a58143, cd3caefb4663) only
//   warns once and accepts. Debian keeps it fatal (its patch "module: Disable matching
//   missing version CRC", since 2016) so that stripping CRCs cannot subvert signing.
// - CONFIG_MODULE_FORCE_LOAD: a module without __versions or without vermagic is accepted
//   (tainted "F") instead of refused with ENOEXEC. Debian sets it.
// - CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS (5.4+): a missing import_ns only warns.
// - sizeof(struct module) is compared with .gnu.linkonce.this_module since 6.4 (the ELF
//   validity rework, "module: add sanity check for ELF module section"); 6.1 does not.
// - module_layout is checked by every release with MODVERSIONS, 6.1 to today.
import type { Distro } from './release.js';

export interface LoaderRules {
  /** [major, minor] of the kernel; null when the release does not say. */
  readonly version: readonly [number, number] | null;
  readonly missingVersionFatal: boolean;
  readonly forceLoad: boolean;
  readonly allowMissingNamespaceImports: boolean;
  readonly checksStructModuleSize: boolean;
}

/** CONFIG_* name → value ("y", "m", a quoted string…); "is not set" lines are absent. */
export type KernelConfig = ReadonlyMap<string, string>;

export function parseKernelConfig(text: string): KernelConfig {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('CONFIG_')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    out.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return out;
}

export function configEnabled(config: KernelConfig, name: string): boolean {
  const v = config.get(name.startsWith('CONFIG_') ? name : `CONFIG_${name}`);
  return v === 'y' || v === 'm';
}

/** "6.1.0-47-amd64" → [6, 1]; null for a release that does not start with a version. */
export function loaderVersionOf(release: string): readonly [number, number] | null {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (m === null || m[1] === undefined || m[2] === undefined) return null;
  return [Number(m[1]), Number(m[2])];
}

export function versionAtLeast(v: readonly [number, number] | null, major: number, minor: number): boolean {
  // An unknown version is taken to be a current one.
  if (v === null) return true;
  return v[0] > major || (v[0] === major && v[1] >= minor);
}

export interface LoaderFacts {
  readonly version: readonly [number, number] | null;
  readonly distro: Distro;
  /** The kernel's config; undefined when it cannot be found (then the defaults of a plain build). */
  readonly config: KernelConfig | undefined;
}

export function loaderRules(f: LoaderFacts): LoaderRules {
  const on = (name: string): boolean => f.config !== undefined && configEnabled(f.config, name);
  return {
    version: f.version,
    missingVersionFatal: f.distro === 'debian' || !versionAtLeast(f.version, 4, 9),
    forceLoad: on('MODULE_FORCE_LOAD'),
    allowMissingNamespaceImports: on('MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS'),
    checksStructModuleSize: versionAtLeast(f.version, 6, 4),
  };
}

/** The configuration facts the verdict target needs besides the loader rules. */
export function targetConfigFacts(config: KernelConfig | undefined): {
  readonly modversions: boolean | undefined;
  readonly moduleSignatureEnforced: boolean;
} {
  if (config === undefined) return { modversions: undefined, moduleSignatureEnforced: false };
  return {
    modversions: configEnabled(config, 'MODVERSIONS'),
    moduleSignatureEnforced: configEnabled(config, 'MODULE_SIG_FORCE'),
  };
}

// include/linux/license.h, license_is_gpl_compatible(); "GPL v2" etc. exactly as written.
const GPL_COMPATIBLE: readonly string[] = [
  'GPL',
  'GPL v2',
  'GPL and additional rights',
  'Dual BSD/GPL',
  'Dual MIT/GPL',
  'Dual MPL/GPL',
];

export function isGplCompatible(license: string): boolean {
  return GPL_COMPATIBLE.includes(license);
}
