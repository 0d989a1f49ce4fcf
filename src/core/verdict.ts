// The per-module verdict: would the target kernel's module loader accept this .ko? It
// replays the loader's checks in its own order (Linux 6.1 kernel/module/main.c load_module,
// kernel/module/version.c), with the behaviour that changed across releases taken from the
// target's LoaderRules (src/core/verdict-loader.ts):
//   module_sig_check        unsigned module on a kernel that enforces signatures
//   elf_validity_check      .gnu.linkonce.this_module present; its size = sizeof(struct module) (6.4+)
//   check_modstruct_version __versions entry for module_layout with the kernel's CRC
//   check_modinfo           vermagic, after the release part when the module has __versions;
//                           the licence decides whether GPL-only exports are visible
//   simplify_symbols        per undefined symbol, in symbol-table order: exported by the kernel
//                           or a present module (GPL-only ones only to GPL-compatible modules),
//                           not from a proprietary module once GPL-only symbols are in use
//                           (inherit_taint), __versions CRC equal to the exporter's,
//                           namespace imported, the exporting module itself loadable
//   verify_exported_symbols no export that vmlinux already exports
// Every failing check is listed (the loader stops at the first failing phase, but prints
// every failing symbol of simplify_symbols); the order is the loader's, so the first
// problem is what the kernel would complain about first. Pure.
import { ModuleImports, formatModVersionCrc, type KernelModuleInfo } from './ko.js';
import type { Usability } from './status.js';
import { formatCrc } from './symvers.js';
import { isGplCompatible, type LoaderRules } from './verdict-loader.js';
import { moduleNameOf } from './ko-name.js';

export type VerdictProblemKind =
  | 'signature'
  | 'struct-module-size'
  | 'module-layout'
  | 'vermagic'
  | 'no-symbol-version'
  | 'missing-symbol'
  | 'gpl-only'
  | 'crc-mismatch'
  | 'namespace'
  | 'duplicate-export'
  | 'dependency';

/**
 * One reason the loader would refuse the module. `expected` is the kernel's side (its CRC,
 * vermagic, namespace…), `actual` the module's; null where a side has nothing to say.
 */
export interface VerdictProblem {
  readonly kind: VerdictProblemKind;
  readonly symbol: string | null;
  readonly expected: string | null;
  readonly actual: string | null;
}

export interface ModuleVerdict {
  readonly usable: boolean;
  readonly problems: readonly VerdictProblem[];
}

/** An export as the loader finds it: from vmlinux, an in-tree module or a present module. */
export interface ExportedBy {
  /** null: the exporter has no CRCs (built without modversions); the loader then skips the check. */
  readonly crc: number | null;
  readonly exportType: string;
  /** "" when none. */
  readonly namespace: string;
  /** Module path as Module.symvers names it: "vmlinux", "fs/jbd2/jbd2", "dkms/abi_provider". */
  readonly module: string;
  /** Set for modules dkms-abi places (shared tree, files checked together): key for their own verdict. */
  readonly provider?: string;
  /** The exporting module's licence is not GPL-compatible (absent: GPL-compatible, as in-tree modules are). */
  readonly proprietary?: boolean;
}

/** symbol → its export; a Map<string, SymversEntry> is one. */
export interface SymbolLookup {
  get(symbol: string): ExportedBy | undefined;
}

export interface VerdictTarget {
  readonly kernel: string;
  /** The kernel's vermagic ("6.1.0-47-amd64 SMP preempt mod_unload modversions "); null: unknown, not checked. */
  readonly vermagic: string | null;
  /** CONFIG_MODVERSIONS: without it the loader checks no CRC and compares vermagic whole. */
  readonly modversions: boolean;
  readonly loader: LoaderRules;
  readonly symbols: SymbolLookup;
  readonly moduleSignatureEnforced: boolean;
  /** sizeof(struct module) of the kernel (an in-tree module's .gnu.linkonce.this_module); unknown: not checked. */
  readonly thisModuleSize?: number;
  /** The verdict of a present module that exports symbols (ExportedBy.provider); unknown: assumed loadable. */
  readonly providerUsability?: (provider: string) => Usability | undefined;
}

/** The module as the verdict needs it: what the .ko reader gives. */
export type VerdictModule = Pick<
  KernelModuleInfo,
  'modinfo' | 'versions' | 'imports' | 'exports' | 'thisModuleSize' | 'signature'
>;

const GPL_ONLY_EXPORTS: ReadonlySet<string> = new Set(['EXPORT_SYMBOL_GPL', 'EXPORT_UNUSED_SYMBOL_GPL']);

// check_module_license_and_versions(): modules the kernel treats as proprietary whatever they claim.
const FORCED_PROPRIETARY: ReadonlySet<string> = new Set(['driverloader', 'lve']);

/**
 * The loader's answer for one module. `name` is used when .modinfo has none (the loader
 * then takes struct module's name; callers pass the file's base name).
 */
export function checkModule(mod: VerdictModule, target: VerdictTarget, name?: string): ModuleVerdict {
  const problems: VerdictProblem[] = [];
  const add = (
    kind: VerdictProblemKind,
    symbol: string | null,
    expected: string | null,
    actual: string | null,
  ): void => {
    problems.push({ kind, symbol, expected, actual });
  };
  const modName = normalizeName(mod.modinfo.name ?? name ?? '');
  const rules = target.loader;
  const table = mod.versions;
  const hasVersions = table !== null;

  // check_version() on the module's __versions entry `i` for the symbol (-1: none): undefined
  // when the loader accepts the symbol's version, else the problem.
  const versionProblem = (
    symbol: string,
    i: number,
    exporterCrc: number | null,
  ): VerdictProblem | undefined => {
    if (!target.modversions || exporterCrc === null) return undefined;
    // The CRCs become text only for a problem: a kernel's modules import ~185,000 symbols.
    if (!hasVersions) {
      // "modprobe --force does this": accepted, tainted, where CONFIG_MODULE_FORCE_LOAD=y.
      return rules.forceLoad ? undefined : problem('no-symbol-version', symbol, formatCrc(exporterCrc), null);
    }
    if (i < 0)
      return rules.missingVersionFatal
        ? problem('no-symbol-version', symbol, formatCrc(exporterCrc), null)
        : undefined;
    // The loader compares the whole unsigned long: high bits never match a 32-bit CRC.
    const crc = table.crc(i);
    const crcHigh = table.crcHigh(i);
    if (crcHigh === 0 && crc === exporterCrc) return undefined;
    return problem(
      symbol === 'module_layout' ? 'module-layout' : 'crc-mismatch',
      symbol,
      formatCrc(exporterCrc),
      formatModVersionCrc({ crc, crcHigh }),
    );
  };

  // module_sig_check()
  if (target.moduleSignatureEnforced && mod.signature === null) add('signature', null, 'signed', 'unsigned');

  // elf_validity_check() / setup_load_info()
  if (mod.thisModuleSize === null) {
    add('struct-module-size', null, sizeText(target.thisModuleSize), null);
  } else if (
    rules.checksStructModuleSize &&
    target.thisModuleSize !== undefined &&
    mod.thisModuleSize !== target.thisModuleSize
  ) {
    add('struct-module-size', null, String(target.thisModuleSize), String(mod.thisModuleSize));
  }

  // check_modstruct_version()
  const layout = target.symbols.get('module_layout');
  if (layout !== undefined) {
    const p = versionProblem('module_layout', table?.indexOf('module_layout') ?? -1, layout.crc);
    if (p !== undefined) problems.push(p);
  }

  // check_modinfo(): vermagic, then the licence
  const magic = mod.modinfo.vermagic;
  if (target.vermagic !== null) {
    if (magic === undefined) {
      if (!rules.forceLoad) add('vermagic', null, target.vermagic, null);
    } else if (!sameMagic(magic, target.vermagic, target.modversions && hasVersions)) {
      add('vermagic', null, target.vermagic, magic);
    }
  }
  const license = mod.modinfo.license ?? 'unspecified';
  let proprietary = !isGplCompatible(license) || FORCED_PROPRIETARY.has(modName);

  // simplify_symbols() → resolve_symbol() per undefined symbol
  let usingGplOnly = false;
  const dependencies = new Map<string, string>();
  // Linked to these __versions when read; a module put together otherwise is linked here.
  const imports =
    mod.imports.linkedTo === table ? mod.imports : ModuleImports.of(mod.imports.toArray(), table);
  for (let k = 0; k < imports.length; k++) {
    const symbol = imports.name(k);
    const weak = imports.weak(k);
    const e = target.symbols.get(symbol);
    const gplOnly = e !== undefined && GPL_ONLY_EXPORTS.has(e.exportType);
    if (e === undefined || (gplOnly && proprietary)) {
      // find_symbol() fails: fine for a weak reference, "Unknown symbol" otherwise.
      if (weak) continue;
      if (e === undefined) add('missing-symbol', symbol, null, null);
      else add('gpl-only', symbol, 'GPL', license);
      continue;
    }
    if (gplOnly) usingGplOnly = true;
    // inherit_taint(): a proprietary exporter taints its users, and refuses GPL-only users.
    if (e.proprietary === true) {
      if (usingGplOnly) {
        if (!weak) add('gpl-only', symbol, 'GPL', `${displayName(e.module)} (proprietary)`);
        continue;
      }
      proprietary = true;
    }
    // From here a failure is an error pointer: weak references fail too.
    const vp = versionProblem(symbol, imports.version(k), e.crc);
    if (vp !== undefined) {
      problems.push(vp);
      continue;
    }
    const np = namespaceProblem(symbol, e.namespace, mod.modinfo.importNs, modName, rules);
    if (np !== undefined) {
      problems.push(np);
      continue;
    }
    // ref_module(): the exporting module must itself load (modprobe loads it first).
    if (e.provider !== undefined && !dependencies.has(e.provider)) {
      const u = target.providerUsability?.(e.provider);
      if (u !== undefined && !u.usable) {
        dependencies.set(e.provider, u.reason);
        add('dependency', displayName(e.module), null, u.reason);
      }
    }
  }

  // verify_exported_symbols(): vmlinux is always loaded, so a clash with it always fails.
  // (A clash with another module fails only while that one is loaded: not judged here.)
  for (const x of mod.exports) {
    const e = target.symbols.get(x.symbol);
    if (e?.module === 'vmlinux' && modName !== 'vmlinux') add('duplicate-export', x.symbol, null, 'vmlinux');
  }

  return { usable: problems.length === 0, problems };
}

function problem(
  kind: VerdictProblemKind,
  symbol: string | null,
  expected: string | null,
  actual: string | null,
): VerdictProblem {
  return { kind, symbol, expected, actual };
}

function sizeText(n: number | undefined): string | null {
  return n === undefined ? null : String(n);
}

/**
 * verify_namespace_is_imported(): a namespaced export needs a matching import_ns. Since
 * 6.16 a "module:a,b*" namespace names the modules allowed to use it instead.
 */
function namespaceProblem(
  symbol: string,
  namespace: string,
  imports: readonly string[],
  modName: string,
  rules: LoaderRules,
): VerdictProblem | undefined {
  if (namespace === '' || rules.allowMissingNamespaceImports) return undefined;
  if (moduleNamespaceAllows(namespace, modName)) return undefined;
  if (imports.includes(namespace)) return undefined;
  return problem('namespace', symbol, namespace, imports.length === 0 ? null : imports.join(','));
}

/** The "module:" namespace form: comma-separated module names, a trailing '*' matching any rest. */
export function moduleNamespaceAllows(namespace: string, modName: string): boolean {
  if (!namespace.startsWith('module:')) return false;
  for (const pattern of namespace.slice('module:'.length).split(',')) {
    if (pattern === '') continue;
    if (pattern.endsWith('*') ? modName.startsWith(pattern.slice(0, -1)) : pattern === modName) return true;
  }
  return false;
}

/** same_magic(): with CRCs the release part (up to the first space) is not compared. */
export function sameMagic(moduleMagic: string, kernelMagic: string, hasCrcs: boolean): boolean {
  if (!hasCrcs) return moduleMagic === kernelMagic;
  return afterRelease(moduleMagic) === afterRelease(kernelMagic);
}

/** strcspn(magic, " "): what follows the release, leading space included. */
export function afterRelease(magic: string): string {
  const space = magic.indexOf(' ');
  return space === -1 ? '' : magic.slice(space);
}

/** The kernel's name for a module: '-' becomes '_' (as in /proc/modules). */
export function normalizeName(name: string): string {
  return name.replaceAll('-', '_');
}

function displayName(modulePath: string): string {
  return moduleNameOf(modulePath);
}

/** A short reason for status lines: the first problem, the one the loader meets first. */
export function summarize(v: ModuleVerdict): Usability {
  const first = v.problems[0];
  if (v.usable || first === undefined) return { usable: true };
  return { usable: false, reason: describeProblem(first) };
}

export function describeProblem(p: VerdictProblem): string {
  const sym = p.symbol ?? '?';
  switch (p.kind) {
    case 'signature':
      return 'unsigned, and the kernel enforces module signatures';
    case 'struct-module-size':
      return p.actual === null
        ? 'no .gnu.linkonce.this_module section'
        : `struct module size ${p.actual} != ${p.expected ?? '?'}`;
    case 'module-layout':
    case 'crc-mismatch':
      return `${sym}: CRC ${p.actual ?? '?'} != ${p.expected ?? '?'}`;
    case 'vermagic':
      return p.actual === null
        ? 'no vermagic'
        : `vermagic "${p.actual.trim()}" != "${(p.expected ?? '').trim()}"`;
    case 'no-symbol-version':
      return `no symbol version for ${sym}`;
    case 'missing-symbol':
      return `missing ${sym}`;
    case 'gpl-only':
      return p.actual !== null && p.actual.endsWith('(proprietary)')
        ? `GPL-only user of ${sym} from ${p.actual}`
        : `${sym} is GPL-only, licence "${p.actual ?? 'unspecified'}"`;
    case 'namespace':
      return `${sym} needs MODULE_IMPORT_NS(${p.expected ?? '?'})`;
    case 'duplicate-export':
      return `exports ${sym}, already exported by ${p.actual ?? 'vmlinux'}`;
    case 'dependency':
      // No parentheses: status lines put the whole reason inside some.
      return `needs ${sym}: ${p.actual ?? 'unusable'}`;
  }
}
