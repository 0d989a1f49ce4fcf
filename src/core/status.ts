// Derives dkms-style status lines from a snapshot of the trees and per-module verdicts.
// A module counts as installed on a kernel only when the verdict says the kernel's loader
// would accept it; otherwise it shows abi-mismatch with the verdict's reason.
import {
  type DkmsBuildDir,
  type KernelEntry,
  type Snapshot,
  type TreeEntry,
  type TreeModule,
  treeOf,
} from './snapshot.js';
import { headerDetail, type HeaderFinding, type HeaderState } from './header-record.js';

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
  /**
   * The tree holds the module for this kernel but DKMS lost the build it came from (dkms >=
   * 3.1's kernel_preinst or an unbuild): stock dkms counts it as only added and would build
   * it again. `verify --repair`, or the next `kernel add` of the kernel it was built for,
   * restores it.
   */
  readonly needsRepair: boolean;
  /**
   * abi-mismatch: why the build is unusable. installed/installed-abi: which of its modules
   * will not load and why (null when all load).
   */
  readonly reason: string | null;
  /** installed-abi: how the headers the build read compare with this kernel's (null: not asked). */
  readonly headers: HeaderState | null;
  /** The headers that differ (headers "differ"). */
  readonly driftedHeaders: readonly string[];
}

/**
 * A build on a kernel. Usable with a detail: installed as stock dkms installs it, but the
 * modules the detail names will not load (the kernel it was built for refuses them too).
 */
export type Usability =
  | { readonly usable: true; readonly detail?: string }
  /** `damaged`: a file of it cannot be read at all: no answer about the kernel, the same on every kernel. */
  | { readonly usable: false; readonly reason: string; readonly damaged?: true };

/** One module of a build judged on a kernel: its kernel name and the loader's answer. */
export interface MemberUsability {
  readonly name: string;
  readonly usability: Usability;
}

/**
 * A build made of several modules judged as one, the way stock dkms installs it: whole. It is
 * usable on a kernel when every module the kernel refuses is one the kernel it was built for
 * refuses too (`unloadable`, recorded at install): so a build installed where it was built
 * always counts (it is what dkms installs), and reusing it on another kernel never loses a
 * module its own build would load. The detail names each refused module and why.
 */
export function buildUsability(
  members: readonly MemberUsability[],
  unloadable: Readonly<Record<string, string>> | undefined,
): Usability {
  const refused: string[] = [];
  for (const m of members) {
    const u = m.usability;
    if (u.usable) continue;
    if (unloadable?.[m.name] === undefined)
      return members.length > 1 ? { ...u, reason: `${m.name}: ${u.reason}` } : u;
    refused.push(`${m.name}: ${u.reason}`);
  }
  return refused.length === 0 ? { usable: true } : { usable: true, detail: refused.join('; ') };
}

/** The modules of a build its kernel refuses, as recorded in the tree manifest. */
export function unloadableOf(members: readonly MemberUsability[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of members) if (!m.usability.usable) out[m.name] = m.usability.reason;
  return out;
}

/** The detail a usable build carries on a kernel, or null. */
function detailOf(u: Usability): string | null {
  return u.usable ? (u.detail ?? null) : u.reason;
}

/** The header comparison for a reused tree module on a kernel, when the caller made one. */
export type HeaderLookup = (module: TreeModule, kernel: string) => HeaderFinding | undefined;

/** A kernel whose module loader would refuse the modules, and why. */
export interface RejectedKernel {
  readonly kernel: string;
  readonly reason: string;
}

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
  headers: HeaderLookup = () => undefined,
): StatusEntry[] {
  const kernels = new Map(snap.kernels.map((k) => [k.kernel, k]));
  // Per tree, its modules by module/version/arch (the first of each, as a search would find).
  const treeIndex = new Map<TreeEntry, Map<string, TreeModule>>();
  const treeModule = (k: KernelEntry | undefined, module: string, version: string, arch: string) => {
    if (k?.abi === undefined) return undefined;
    const abi = k.abi;
    const tree = treeOf(snap, abi);
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
  const dkmsAdded = new Set(
    snap.dkms.filter((mv) => mv.added).map((mv) => key(mv.module, mv.version, '', '')),
  );

  for (const mv of snap.dkms) {
    if (mv.builds.length === 0) {
      if (mv.added) entries.push(addedEntry(mv.module, mv.version));
      continue;
    }
    for (const b of mv.builds) {
      seen.add(key(mv.module, mv.version, b.kernel, b.arch));
      const k = kernels.get(b.kernel);
      const tm = treeModule(k, mv.module, mv.version, b.arch);
      const entry = withHeaders(fromBuild(mv.module, mv.version, b, k, tm, usability), tm, headers);
      // Our entry links to a build DKMS no longer has.
      const lost =
        b.kind === 'abi-link' &&
        !mv.builds.some((x) => x.kind === 'built' && x.kernel === b.builtFor && x.arch === b.arch);
      entries.push(lost && entry.state !== 'built' ? { ...entry, needsRepair: true } : entry);
    }
  }

  // Modules present in a kernel's shared tree without DKMS bookkeeping for that kernel
  // (a kernel registered later, or a module installed from a binary package).
  for (const k of snap.kernels) {
    if (k.abi === undefined) continue;
    const abi = k.abi;
    const tree = treeOf(snap, abi);
    for (const tm of tree?.modules ?? []) {
      if (seen.has(key(tm.module, tm.version, k.kernel, tm.arch))) continue;
      const u = usability(tm, k.kernel);
      // DKMS added this version, yet has no build for this kernel: it lost it.
      const lost = dkmsAdded.has(key(tm.module, tm.version, '', '')) && u.usable;
      const entry: StatusEntry = {
        module: tm.module,
        version: tm.version,
        kernel: k.kernel,
        arch: tm.arch,
        state: u.usable ? (tm.builtFor === k.kernel ? 'installed' : 'installed-abi') : 'abi-mismatch',
        builtFor: tm.builtFor,
        needsDepmod: needsDepmod(tm, k),
        needsRepair: lost,
        reason: detailOf(u),
        headers: null,
        driftedHeaders: [],
      };
      entries.push(withHeaders(entry, tm, headers));
    }
  }

  return sortEntries(entries.filter((e) => matches(e, filter)));
}

function withHeaders(e: StatusEntry, tm: TreeModule | undefined, headers: HeaderLookup): StatusEntry {
  if (e.state !== 'installed-abi' || tm === undefined || e.kernel === null) return e;
  const f = headers(tm, e.kernel);
  return f === undefined ? e : { ...e, headers: f.state, driftedHeaders: f.drifted };
}

function fromBuild(
  module: string,
  version: string,
  b: DkmsBuildDir,
  k: KernelEntry | undefined,
  tm: TreeModule | undefined,
  usability: UsabilityLookup,
): StatusEntry {
  // One object per line, made once: status makes a thousand of these in a run.
  const entry = (
    builtFor: string,
    state: StatusEntry['state'],
    needsDepmod: boolean,
    reason: string | null,
  ): StatusEntry => ({
    module,
    version,
    kernel: b.kernel,
    arch: b.arch,
    builtFor,
    headers: null,
    driftedHeaders: [],
    state,
    needsDepmod,
    needsRepair: false,
    reason,
  });
  if (!b.installed) return entry(b.builtFor, 'built', false, null);
  if (tm === undefined || k === undefined) {
    // DKMS's own build marked installed (its kernel-<kver>-<arch> link resolves here, dkms's
    // _is_module_installed) that no shared tree holds for the kernel: stock dkms installed it
    // (a copy in updates/dkms), on a kernel dkms-abi may not even have registered. Status
    // never says less than dkms. Our own entry (module/ a link to another kernel's build)
    // missing from the tree is damage instead: nothing is installed (verify reports it).
    return entry(b.builtFor, b.kind === 'built' ? 'installed' : 'built', false, null);
  }
  const u = usability(tm, b.kernel);
  const depmod = needsDepmod(tm, k);
  // The tree's manifest knows which kernel the installed binary was built for (DKMS's
  // directory may be a build moved over from a kernel since removed).
  if (!u.usable) return entry(tm.builtFor, 'abi-mismatch', depmod, u.reason);
  return entry(tm.builtFor, tm.builtFor === b.kernel ? 'installed' : 'installed-abi', depmod, detailOf(u));
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
    needsRepair: false,
    reason: null,
    headers: null,
    driftedHeaders: [],
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

let collator: Intl.Collator | undefined;

/** The order of status lines: ICU's, digits compared as numbers (created on first use: ~10 ms). */
function collate(a: string, b: string): number {
  collator ??= new Intl.Collator('en', { numeric: true });
  return collator.compare(a, b);
}

const SIMPLE = /^[a-z0-9._-]*$/;

/** Primary weights of the punctuation compareSimple knows, below digits and letters (CLDR root). */
const PUNCTUATION_WEIGHT: Record<string, number> = { _: 1, '-': 2, '.': 3 };
const DIGITS = 4;
const LETTERS = 5;

/**
 * collate() for strings of lowercase ASCII letters, digits, '_', '-' and '.' (module names,
 * versions, kernel releases, arches nearly always are): ICU's root collation gives these
 * characters distinct primary weights, '_' < '-' < '.' < digits < letters, and with numeric
 * ordering a run of digits weighs its value (leading zeros ignored). So a comparison of the
 * weight sequences, without creating the collator. Checked against Intl.Collator in
 * status.test.ts.
 */
export function compareSimple(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(j);
    const da = ca >= 0x30 && ca <= 0x39;
    const db = cb >= 0x30 && cb <= 0x39;
    if (da && db) {
      let ea = i;
      while (ea < a.length && a.charCodeAt(ea) >= 0x30 && a.charCodeAt(ea) <= 0x39) ea++;
      let eb = j;
      while (eb < b.length && b.charCodeAt(eb) >= 0x30 && b.charCodeAt(eb) <= 0x39) eb++;
      let sa = i;
      while (sa < ea - 1 && a.charCodeAt(sa) === 0x30) sa++;
      let sb = j;
      while (sb < eb - 1 && b.charCodeAt(sb) === 0x30) sb++;
      const la = ea - sa;
      const lb = eb - sb;
      if (la !== lb) return la < lb ? -1 : 1;
      for (let k = 0; k < la; k++) {
        const x = a.charCodeAt(sa + k);
        const y = b.charCodeAt(sb + k);
        if (x !== y) return x < y ? -1 : 1;
      }
      i = ea;
      j = eb;
      continue;
    }
    const wa = da ? DIGITS : (PUNCTUATION_WEIGHT[a[i] as string] ?? LETTERS + ca);
    const wb = db ? DIGITS : (PUNCTUATION_WEIGHT[b[j] as string] ?? LETTERS + cb);
    if (wa !== wb) return wa < wb ? -1 : 1;
    i++;
    j++;
  }
  const restA = i < a.length;
  const restB = j < b.length;
  return restA === restB ? 0 : restA ? 1 : -1;
}

/**
 * By module, version, kernel and arch in the collator's order. The few distinct values of
 * each field are ranked once (values the collator finds equal share a rank), so sorting
 * thousands of lines compares numbers, not strings through ICU: the same order.
 */
function sortEntries(entries: StatusEntry[]): StatusEntry[] {
  const rankOf = (values: Iterable<string>): Map<string, number> => {
    const unique = [...new Set(values)];
    const compare = unique.every((v) => SIMPLE.test(v)) ? compareSimple : collate;
    const sorted = unique.sort(compare);
    const ranks = new Map<string, number>();
    sorted.forEach((v, i) => {
      const prev = sorted[i - 1];
      ranks.set(v, prev !== undefined && compare(prev, v) === 0 ? (ranks.get(prev) ?? i) : i);
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

/** dkms-style line: "M/V, KVER, ARCH: STATE[ (detail)][, needs-depmod][, needs-repair]" or "M/V: added". */
export function formatStatusLine(e: StatusEntry): string {
  if (e.state === 'added' || e.kernel === null)
    return moduleLine({ module: e.module, version: e.version }, 'added');
  let detail = '';
  if (e.state === 'installed-abi' && e.builtFor !== null) {
    const h = e.headers === null ? undefined : { state: e.headers, drifted: e.driftedHeaders };
    detail = ` (from ${e.builtFor}${headerDetail(h)})`;
  }
  // A usable build's modules that will not load are named after the state, which stays
  // "installed" (scripts grep ": installed"), as the abi-mismatch reason is.
  if (e.reason !== null) detail += ` (${e.reason})`;
  return moduleLine(
    { module: e.module, version: e.version, kernel: e.kernel, arch: e.arch ?? '' },
    `${e.state}${detail}${e.needsDepmod ? ', needs-depmod' : ''}${e.needsRepair ? ', needs-repair' : ''}`,
  );
}

/** What a dkms-style line is about: a module version, on a kernel, for an arch. */
export interface LinePlace {
  readonly module: string;
  readonly version: string;
  readonly kernel?: string;
  readonly arch?: string;
}

/**
 * dkms's "M/V[, KVER[, ARCH]]: what", the form of every per-module line dkms-abi prints
 * (status, install, uninstall, autoinstall, package-install): scripts grep for it.
 */
export function moduleLine(p: LinePlace, what: string): string {
  const where = [`${p.module}/${p.version}`];
  if (p.kernel !== undefined) where.push(p.kernel);
  if (p.arch !== undefined) where.push(p.arch);
  return `${where.join(', ')}: ${what}`;
}

/** The state an install leaves on a kernel: "installed" where it was built, else installed-abi. */
export function installedState(kernel: string, builtFor: string): string {
  return kernel === builtFor ? 'installed' : `installed-abi (from ${builtFor})`;
}

/** The note for a kernel whose loader would refuse M/V. */
export function rejectedNote(mv: { module: string; version: string }, r: RejectedKernel): string {
  return `${mv.module}/${mv.version} is not usable on ${r.kernel}: ${r.reason}`;
}
