// Derives dkms-style status lines from a snapshot of the trees and per-module verdicts.
// A module counts as installed on a kernel only when the verdict says the kernel's loader
// would accept it; otherwise it shows abi-mismatch with the verdict's reason.
import { sameAbi } from './abi-id.js';
import type { DkmsBuildDir, KernelEntry, Snapshot, TreeEntry, TreeModule } from './snapshot.js';

export type StatusState = 'added' | 'built' | 'installed' | 'installed-abi' | 'abi-mismatch';

export interface StatusEntry {
  readonly module: string;
  readonly version: string;
  readonly kernel: string | null;
  readonly arch: string | null;
  readonly state: StatusState;
  /** The kernel the binary was built for (null when only added). */
  readonly builtFor: string | null;
  readonly needsDepmod: boolean;
  /** Why the module is unusable (abi-mismatch only). */
  readonly reason: string | null;
}

export type Usability = { readonly usable: true } | { readonly usable: false; readonly reason: string };

/** The verdict for a tree module on a kernel; supplied by the caller (computed and cached at the edge). */
export type UsabilityLookup = (module: TreeModule, kernel: string) => Usability;

export interface StatusFilter {
  readonly module?: string;
  readonly version?: string;
  readonly kernel?: string;
}

export function deriveStatus(
  snap: Snapshot,
  usability: UsabilityLookup,
  filter: StatusFilter = {},
): StatusEntry[] {
  const kernels = new Map(snap.kernels.map((k) => [k.kernel, k]));
  // Per tree, its modules by module/version/arch (the first of each, as a search would find).
  const treeIndex = new Map<TreeEntry, Map<string, TreeModule>>();
  const treeModule = (k: KernelEntry | undefined, module: string, version: string, arch: string) => {
    if (k?.abi === undefined) return undefined;
    const abi = k.abi;
    const tree = snap.trees.find((t) => sameAbi(t.abi, abi));
    if (tree === undefined) return undefined;
    let index = treeIndex.get(tree);
    if (index === undefined) {
      index = new Map();
      for (const m of tree.modules) {
        const mk = key(m.module, m.version, '', m.arch);
        if (!index.has(mk)) index.set(mk, m);
      }
      treeIndex.set(tree, index);
    }
    return index.get(key(module, version, '', arch));
  };
  const entries: StatusEntry[] = [];
  const seen = new Set<string>();

  for (const mv of snap.dkms) {
    if (mv.builds.length === 0) {
      if (mv.added) entries.push(addedEntry(mv.module, mv.version));
      continue;
    }
    for (const b of mv.builds) {
      seen.add(key(mv.module, mv.version, b.kernel, b.arch));
      const k = kernels.get(b.kernel);
      const tm = treeModule(k, mv.module, mv.version, b.arch);
      entries.push(fromBuild(mv.module, mv.version, b, k, tm, usability));
    }
  }

  // Modules present in a kernel's shared tree without DKMS bookkeeping for that kernel
  // (a kernel registered later, or a module installed from a binary package).
  for (const k of snap.kernels) {
    if (k.abi === undefined) continue;
    const abi = k.abi;
    const tree = snap.trees.find((t) => sameAbi(t.abi, abi));
    for (const tm of tree?.modules ?? []) {
      if (seen.has(key(tm.module, tm.version, k.kernel, tm.arch))) continue;
      const u = usability(tm, k.kernel);
      entries.push({
        module: tm.module,
        version: tm.version,
        kernel: k.kernel,
        arch: tm.arch,
        state: u.usable ? (tm.builtFor === k.kernel ? 'installed' : 'installed-abi') : 'abi-mismatch',
        builtFor: tm.builtFor,
        needsDepmod: needsDepmod(tm, k),
        reason: u.usable ? null : u.reason,
      });
    }
  }

  return sortEntries(entries.filter((e) => matches(e, filter)));
}

function fromBuild(
  module: string,
  version: string,
  b: DkmsBuildDir,
  k: KernelEntry | undefined,
  tm: TreeModule | undefined,
  usability: UsabilityLookup,
): StatusEntry {
  const base = { module, version, kernel: b.kernel, arch: b.arch, builtFor: b.builtFor };
  // Marked installed but missing from the kernel's tree: not actually installed (verify reports it).
  if (!b.installed || tm === undefined || k === undefined) {
    return { ...base, state: 'built', needsDepmod: false, reason: null };
  }
  const u = usability(tm, b.kernel);
  const depmod = needsDepmod(tm, k);
  // The tree's manifest knows which kernel the installed binary was built for (DKMS's
  // directory may be a build moved over from a kernel since removed).
  const installed = { ...base, builtFor: tm.builtFor };
  if (!u.usable) return { ...installed, state: 'abi-mismatch', needsDepmod: depmod, reason: u.reason };
  const state = tm.builtFor === b.kernel ? 'installed' : 'installed-abi';
  return { ...installed, state, needsDepmod: depmod, reason: null };
}

function addedEntry(module: string, version: string): StatusEntry {
  return {
    module,
    version,
    kernel: null,
    arch: null,
    state: 'added',
    builtFor: null,
    needsDepmod: false,
    reason: null,
  };
}

function needsDepmod(tm: TreeModule, k: KernelEntry): boolean {
  return k.modulesDepMtimeMs === undefined || tm.newestMtimeMs > k.modulesDepMtimeMs;
}

function matches(e: StatusEntry, f: StatusFilter): boolean {
  if (f.module !== undefined && e.module !== f.module) return false;
  if (f.version !== undefined && e.version !== f.version) return false;
  if (f.kernel !== undefined && e.kernel !== null && e.kernel !== f.kernel) return false;
  return true;
}

function key(m: string, v: string, k: string, a: string): string {
  return `${m}\0${v}\0${k}\0${a}`;
}

const collator = new Intl.Collator('en', { numeric: true });

/**
 * By module, version, kernel and arch in the collator's order. The few distinct values of
 * each field are ranked once (values the collator finds equal share a rank), so sorting
 * thousands of lines compares numbers, not strings through ICU: the same order.
 */
function sortEntries(entries: StatusEntry[]): StatusEntry[] {
  const rankOf = (values: Iterable<string>): Map<string, number> => {
    const sorted = [...new Set(values)].sort((a, b) => collator.compare(a, b));
    const ranks = new Map<string, number>();
    sorted.forEach((v, i) => {
      const prev = sorted[i - 1];
      ranks.set(v, prev !== undefined && collator.compare(prev, v) === 0 ? (ranks.get(prev) ?? i) : i);
    });
    return ranks;
  };
  const module = rankOf(entries.map((e) => e.module));
  const version = rankOf(entries.map((e) => e.version));
  const kernel = rankOf(entries.map((e) => e.kernel ?? ''));
  const arch = rankOf(entries.map((e) => e.arch ?? ''));
  const r = (m: Map<string, number>, v: string): number => m.get(v) ?? 0;
  const keyed = entries.map((e) => ({
    e,
    m: r(module, e.module),
    v: r(version, e.version),
    k: r(kernel, e.kernel ?? ''),
    a: r(arch, e.arch ?? ''),
  }));
  // Array#sort is stable: entries the collator finds equal keep their order, as before.
  keyed.sort((x, y) => x.m - y.m || x.v - y.v || x.k - y.k || x.a - y.a);
  return keyed.map((x) => x.e);
}

/** dkms-style line: "M/V, KVER, ARCH: STATE[ (detail)][, needs-depmod]" or "M/V: added". */
export function formatStatusLine(e: StatusEntry): string {
  if (e.state === 'added' || e.kernel === null) return `${e.module}/${e.version}: added`;
  let detail = '';
  if (e.state === 'installed-abi' && e.builtFor !== null) detail = ` (from ${e.builtFor})`;
  if (e.state === 'abi-mismatch' && e.reason !== null) detail = ` (${e.reason})`;
  return `${e.module}/${e.version}, ${e.kernel}, ${e.arch ?? ''}: ${e.state}${detail}${e.needsDepmod ? ', needs-depmod' : ''}`;
}
