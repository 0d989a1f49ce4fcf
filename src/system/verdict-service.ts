// The verdict at the edges: reads modules and kernels from a root, asks the pure core, and
// caches. Created per command (`new VerdictService(paths)`).
// - Kernel targets (Module.symvers parse, config, an in-tree module) are kept in memory.
// - The verdicts of a shared tree's modules on a kernel are computed together (each sees the
//   others present, dependencies judged transitively) and kept on disk in
//   <state>/cache/verdicts/<kernel>.json, valid while the kernel's files (symvers, config,
//   modules.order, extra link) and the tree's modules (every file's size, mtime, ctime, inode) are
//   unchanged; written atomically, skipped where the state directory is not writable.
// - usability() serves status and other read-only scans: kernel links and tree contents are
//   read once per service. filesUsable()/checkFiles() serve install flows, which change trees
//   between calls: they re-read the kernel's link and tree every time.
import { statSync } from 'node:fs';
import path from 'node:path';
import { EnvironmentError, InputError } from '../core/errors.js';
import type { KernelModuleInfo } from '../core/ko.js';
import { moduleNameOf } from '../core/ko-name.js';
import type { TreeModule } from '../core/snapshot.js';
import { isStaleBuild } from '../core/stale-build.js';
import { buildUsability, type MemberUsability, type Usability } from '../core/status.js';
import type * as Verdict from '../core/verdict.js';
import type { ModuleVerdict, VerdictTarget } from '../core/verdict.js';
import type * as VerdictLookup from '../core/verdict-lookup.js';
import type { PresentModule } from '../core/verdict-lookup.js';
import type * as VerdictSet from '../core/verdict-set.js';
import type { SetMember } from '../core/verdict-set.js';
import { findKernelConfig, findKernelSymvers } from './kernel-files.js';
import type * as KoFile from './ko-file.js';
import type { Paths } from './paths.js';
import { readExtra, scanTreeModules } from './scan.js';
import type { UsabilityChecker } from './usability.js';
import {
  VERDICT_LOGIC_VERSION,
  readCache,
  verdictCacheFile,
  writeCache,
  type CacheFile,
} from './verdict-cache.js';
import type * as Target from './verdict-target.js';
import type { TargetResult, TargetSources, VerdictTargetOptions } from './verdict-target.js';

/** The verdict machinery: module and ELF readers, loader rules, kernel targets. */
interface Machinery {
  readonly summarize: typeof Verdict.summarize;
  readonly layeredLookup: typeof VerdictLookup.layeredLookup;
  readonly checkModuleSet: typeof VerdictSet.checkModuleSet;
  readonly presentModuleOf: typeof VerdictSet.presentModuleOf;
  readonly readKernelModuleFile: typeof KoFile.readKernelModuleFile;
  readonly loadKernelTarget: typeof Target.loadKernelTarget;
  readonly TREE_PROVIDER: typeof Target.TREE_PROVIDER;
}

let machineryLoad: Promise<Machinery> | undefined;

/**
 * Loaded on first use (~20 modules): a status answered from the verdict cache needs none of
 * it, and loading it was a good part of such a run.
 */
function machinery(): Promise<Machinery> {
  machineryLoad ??= Promise.all([
    import('../core/verdict.js'),
    import('../core/verdict-lookup.js'),
    import('../core/verdict-set.js'),
    import('./ko-file.js'),
    import('./verdict-target.js'),
  ]).then(([verdict, lookup, set, koFile, target]) => ({
    summarize: verdict.summarize,
    layeredLookup: lookup.layeredLookup,
    checkModuleSet: set.checkModuleSet,
    presentModuleOf: set.presentModuleOf,
    readKernelModuleFile: koFile.readKernelModuleFile,
    loadKernelTarget: target.loadKernelTarget,
    TREE_PROVIDER: target.TREE_PROVIDER,
  }));
  return machineryLoad;
}

/** Module files read at once: reading is I/O-bound; 16 keeps two CPUs busy on a cold cache. */
const READ_CONCURRENCY = 16;

export interface FileVerdict {
  /** The path as given (host path). */
  readonly path: string;
  /** The kernel's name for the module. */
  readonly name: string;
  readonly verdict: ModuleVerdict;
}

export interface FilesReport {
  readonly kernel: string;
  readonly sources: TargetSources;
  readonly results: readonly FileVerdict[];
}

interface KernelState {
  /** Host path of the shared tree the kernel's extra link names; undefined when it has none. */
  readonly treeDir: string | undefined;
  /** What the cached verdicts depend on, kernel side. */
  readonly stamp: string;
}

interface TreeScan {
  readonly dir: string;
  readonly modules: readonly TreeModule[];
  readonly stamp: string;
  /** Host path → fileStamp of every module file. */
  readonly fileStamps: ReadonlyMap<string, string>;
}

const tmKey = (m: Pick<TreeModule, 'module' | 'version' | 'arch'>): string =>
  `${m.module}/${m.version}/${m.arch}`;

export class VerdictService implements UsabilityChecker {
  private readonly bases = new Map<string, Promise<TargetResult>>();
  private readonly kernelStates = new Map<string, Promise<KernelState>>();
  private readonly treeScans = new Map<string, Promise<TreeScan>>();
  private readonly treeVerdicts = new Map<
    string,
    { kernelStamp: string; treeStamp: string; verdicts: Promise<Map<string, Usability>> }[]
  >();
  private readonly caches = new Map<string, Promise<CacheFile | undefined>>();
  /** Parsed tree module files by file stamp: a tree is judged on each of its kernels. */
  private readonly infos = new Map<string, Promise<KernelModuleInfo>>();

  constructor(private readonly paths: Paths) {}

  /** Forget what was read of kernel links and trees (after a command changed them). */
  invalidate(): void {
    this.kernelStates.clear();
    this.treeScans.clear();
  }

  /**
   * The kernel's target with the modules of its shared tree present, read now from their
   * .ko files (what the loader will see; their saved Module.symvers only serve builds).
   */
  async target(kernel: string, opts: VerdictTargetOptions = {}): Promise<TargetResult> {
    const base = await this.base(kernel, opts);
    if (!base.ok || opts.symversFile !== undefined) return base;
    const st = await this.kernelState(kernel, true);
    if (st.treeDir === undefined) return base;
    const scan = await this.treeScan(st.treeDir, true);
    const { presentModuleOf, layeredLookup, TREE_PROVIDER } = await machinery();
    const present: PresentModule[] = [];
    for (const tm of scan.modules) {
      for (const f of tm.files) {
        const file = path.join(scan.dir, f);
        const info = await this.moduleInfo(file, scan.fileStamps.get(file)).catch((err: unknown) => {
          // An unreadable tree module exports nothing; its own verdict says why.
          if (err instanceof InputError) return undefined;
          throw err;
        });
        if (info === undefined) continue;
        const member = { key: file, module: info, name: info.modinfo.name ?? moduleNameOf(file) };
        present.push(presentModuleOf(member, `${TREE_PROVIDER}${tm.module}/${tm.version}`));
      }
    }
    return {
      ok: true,
      target: { ...base.target, symbols: layeredLookup(base.target.symbols, present) },
      sources: { ...base.sources, tree: `${this.paths.inner.modulesDir}/${path.basename(st.treeDir)}` },
    };
  }

  /**
   * Verdicts for module files (host paths) that will be present together on `kernel`, with
   * the kernel's shared tree present too (a file replaces the tree's module of its name).
   */
  async checkFiles(
    hostPaths: readonly string[],
    kernel: string,
    opts: VerdictTargetOptions = {},
  ): Promise<FilesReport> {
    const t = await this.target(kernel, opts);
    if (!t.ok) throw new EnvironmentError(t.reason);
    if (opts.symversFile !== undefined) {
      // Against a Module.symvers alone: many files are judged on every core.
      const { judgeFilesInPool } = await import('./verdict-pool.js');
      const pooled = await judgeFilesInPool(hostPaths, { ...opts, symversFile: opts.symversFile });
      if (pooled !== undefined) return { kernel: t.target.kernel, sources: t.sources, results: pooled };
    }
    const members = await readMembers(hostPaths);
    const treeUsability =
      opts.symversFile === undefined ? await this.treeUsabilityByProvider(kernel, true) : undefined;
    return {
      kernel: t.target.kernel,
      sources: t.sources,
      results: judge(await machinery(), members, t.target, treeUsability),
    };
  }

  /**
   * Each module file's verdict on the kernel (with the kernel's tree present), by its kernel
   * name; not ok when the kernel itself cannot be judged against (no symvers, unreadable).
   */
  async memberUsability(
    hostPaths: readonly string[],
    kernel: string,
  ): Promise<{ ok: true; members: MemberUsability[] } | { ok: false; reason: string }> {
    const t = await this.target(kernel);
    if (!t.ok) return { ok: false, reason: t.reason };
    let members: SetMember[];
    try {
      members = await readMembers(hostPaths);
    } catch (err) {
      if (err instanceof InputError) return { ok: false, reason: err.message };
      throw err;
    }
    const m = await machinery();
    const results = judge(m, members, t.target, await this.treeUsabilityByProvider(kernel, true));
    return { ok: true, members: results.map((r) => ({ name: r.name, usability: m.summarize(r.verdict) })) };
  }

  async filesUsable(
    hostPaths: readonly string[],
    kernel: string,
    unloadable?: Readonly<Record<string, string>>,
  ): Promise<Usability> {
    const r = await this.memberUsability(hostPaths, kernel);
    if (!r.ok) return { usable: false, reason: r.reason };
    return buildUsability(r.members, unloadable);
  }

  async filesStale(hostPaths: readonly string[], kernel: string): Promise<boolean> {
    const t = await this.target(kernel);
    if (!t.ok) return false;
    let members: SetMember[];
    try {
      members = await readMembers(hostPaths);
    } catch (err) {
      // An unreadable build is bad input, not a stale one: the install path reports it.
      if (err instanceof InputError) return false;
      throw err;
    }
    const results = judge(
      await machinery(),
      members,
      t.target,
      await this.treeUsabilityByProvider(kernel, true),
    );
    return isStaleBuild(results.map((r) => r.verdict));
  }

  async usability(tm: TreeModule, kernel: string): Promise<Usability> {
    const st = await this.kernelState(kernel, false);
    if (st.treeDir === undefined) return { usable: false, reason: `${kernel} has no ABI tree` };
    const verdicts = await this.treeVerdictsFor(kernel, false);
    const u = verdicts.get(tmKey(tm));
    if (u !== undefined) return u;
    // Not in the tree's manifests (being installed): its files with the tree present.
    return this.filesUsable(
      tm.files.map((f) => path.join(st.treeDir as string, f)),
      kernel,
      tm.unloadable,
    );
  }

  /** Writes the verdicts computed by this service to the cache. */
  async flush(): Promise<void> {
    for (const [kernel, pending] of this.caches) {
      const c = await pending;
      if (c === undefined || !c.dirty) continue;
      await writeCache(this.cacheFile(kernel), c, this.paths.root);
      c.dirty = false;
    }
  }

  private base(kernel: string, opts: VerdictTargetOptions): Promise<TargetResult> {
    if (Object.keys(opts).length > 0)
      return machinery().then((m) => m.loadKernelTarget(this.paths, kernel, opts));
    let b = this.bases.get(kernel);
    if (b === undefined) {
      b = machinery().then((m) => m.loadKernelTarget(this.paths, kernel));
      this.bases.set(kernel, b);
    }
    return b;
  }

  private kernelState(kernel: string, fresh: boolean): Promise<KernelState> {
    let s = fresh ? undefined : this.kernelStates.get(kernel);
    if (s === undefined) {
      s = readKernelState(this.paths, kernel);
      this.kernelStates.set(kernel, s);
    }
    return s;
  }

  private treeScan(dir: string, fresh: boolean): Promise<TreeScan> {
    let s = fresh ? undefined : this.treeScans.get(dir);
    if (s === undefined) {
      s = scanTree(this.paths, dir);
      this.treeScans.set(dir, s);
    }
    return s;
  }

  /** Provider key ("tree:<module>/<version>") → that tree module's usability on the kernel. */
  private async treeUsabilityByProvider(
    kernel: string,
    fresh: boolean,
  ): Promise<((provider: string) => Usability | undefined) | undefined> {
    const st = await this.kernelState(kernel, fresh);
    if (st.treeDir === undefined) return undefined;
    const scan = await this.treeScan(st.treeDir, fresh);
    const verdicts = await this.treeVerdictsFor(kernel, fresh);
    const { TREE_PROVIDER } = await machinery();
    const byProvider = new Map<string, Usability>();
    for (const tm of scan.modules) {
      const u = verdicts.get(tmKey(tm));
      if (u !== undefined) byProvider.set(`${TREE_PROVIDER}${tm.module}/${tm.version}`, u);
    }
    return (p) => byProvider.get(p);
  }

  /** Every module of the kernel's tree judged on it, from the disk cache when still valid. */
  private async treeVerdictsFor(kernel: string, fresh: boolean): Promise<Map<string, Usability>> {
    const st = await this.kernelState(kernel, fresh);
    if (st.treeDir === undefined) return new Map();
    const scan = await this.treeScan(st.treeDir, fresh);
    // Per kernel, by both stamps (compared, not hashed into a key: they are kilobytes long).
    let memo = this.treeVerdicts.get(kernel);
    if (memo === undefined) {
      memo = [];
      this.treeVerdicts.set(kernel, memo);
    }
    let hit = memo.find((m) => m.kernelStamp === st.stamp && m.treeStamp === scan.stamp);
    if (hit === undefined) {
      hit = {
        kernelStamp: st.stamp,
        treeStamp: scan.stamp,
        verdicts: this.computeTreeVerdicts(kernel, st, scan),
      };
      memo.push(hit);
    }
    return hit.verdicts;
  }

  private async computeTreeVerdicts(
    kernel: string,
    st: KernelState,
    scan: TreeScan,
  ): Promise<Map<string, Usability>> {
    const cache = await this.cache(kernel);
    if (cache !== undefined && cache.kernelStamp === st.stamp && cache.treeStamp === scan.stamp) {
      return new Map(Object.entries(cache.verdicts));
    }
    const out = new Map<string, Usability>();
    const { checkModuleSet, summarize } = await machinery();
    const base = await this.base(kernel, {});
    if (!base.ok) {
      // Not cached: nothing to gain, and the files may appear.
      for (const tm of scan.modules) out.set(tmKey(tm), { usable: false, reason: base.reason });
      return out;
    }
    // The tree's modules are the members: each one's exports come from its .ko.
    const t = base;
    const members: SetMember[] = [];
    const owner = new Map<string, string>();
    // Per tree module, its files' verdicts (an unreadable file is one the loader refuses).
    const perModule = new Map<string, MemberUsability[]>(scan.modules.map((tm) => [tmKey(tm), []]));
    await forEachLimit(
      scan.modules.flatMap((tm) => tm.files.map((f) => ({ tm, file: path.join(scan.dir, f) }))),
      async ({ tm, file }) => {
        try {
          const info = await this.moduleInfo(file, scan.fileStamps.get(file));
          members.push({ key: file, module: info, name: info.modinfo.name ?? moduleNameOf(file) });
          owner.set(file, tmKey(tm));
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          perModule.get(tmKey(tm))?.push({
            name: moduleNameOf(file),
            usability: { usable: false, reason: err.message, damaged: true },
          });
        }
      },
    );
    members.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const verdicts = checkModuleSet(members, t.target);
    for (const m of members) {
      const v = verdicts.get(m.key);
      perModule.get(owner.get(m.key) as string)?.push({
        name: m.name,
        usability: v === undefined ? { usable: true } : summarize(v),
      });
    }
    for (const tm of scan.modules)
      out.set(tmKey(tm), buildUsability(perModule.get(tmKey(tm)) ?? [], tm.unloadable));
    const entry: CacheFile = {
      kernelStamp: st.stamp,
      treeStamp: scan.stamp,
      verdicts: Object.fromEntries(out),
      dirty: true,
    };
    this.caches.set(kernel, Promise.resolve(entry));
    return out;
  }

  private moduleInfo(file: string, stamp: string | undefined): Promise<KernelModuleInfo> {
    if (stamp === undefined) return machinery().then((m) => m.readKernelModuleFile(file));
    let info = this.infos.get(stamp);
    if (info === undefined) {
      info = machinery().then((m) => m.readKernelModuleFile(file));
      // A failed read is not remembered: the next kernel tries again and reports it too.
      info.catch(() => this.infos.delete(stamp));
      this.infos.set(stamp, info);
    }
    return info;
  }

  private cacheFile(kernel: string): string {
    return verdictCacheFile(this.paths, kernel);
  }

  private cache(kernel: string): Promise<CacheFile | undefined> {
    let c = this.caches.get(kernel);
    if (c === undefined) {
      c = Promise.resolve(readCache(this.cacheFile(kernel)));
      this.caches.set(kernel, c);
    }
    return c;
  }
}

function judge(
  m: Machinery,
  members: readonly SetMember[],
  target: VerdictTarget,
  treeUsability: ((provider: string) => Usability | undefined) | undefined,
): FileVerdict[] {
  const verdicts = m.checkModuleSet(members, {
    ...target,
    ...(treeUsability !== undefined ? { providerUsability: treeUsability } : {}),
  });
  return members.map((x) => ({
    path: x.key,
    name: x.name,
    verdict: verdicts.get(x.key) ?? { usable: true, problems: [] },
  }));
}

/** Reads module files, several at a time; members keep the order of `hostPaths`. */
export async function readMembers(hostPaths: readonly string[]): Promise<SetMember[]> {
  const { readKernelModuleFile } = await machinery();
  const out = new Array<SetMember | undefined>(hostPaths.length);
  await forEachLimit(
    hostPaths.map((p, i) => ({ p, i })),
    async ({ p, i }) => {
      const info = await readKernelModuleFile(p);
      out[i] = { key: p, module: info, name: info.modinfo.name ?? moduleNameOf(p) };
    },
  );
  return out.filter((m): m is SetMember => m !== undefined);
}

async function forEachLimit<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
}

async function readKernelState(paths: Paths, kernel: string): Promise<KernelState> {
  const extra = await readExtra(paths, kernel);
  const treeDir = extra.abi === undefined ? undefined : paths.abiTree(extra.abi.flavour, extra.abi.abiver);
  const symvers = await findKernelSymvers(paths, kernel);
  const config = await findKernelConfig(paths, kernel);
  const parts = [
    `v${VERDICT_LOGIC_VERSION}`,
    kernel,
    extra.target ?? '',
    fileStamp(paths, symvers?.host),
    fileStamp(paths, config?.host),
    fileStamp(paths, path.join(paths.kernelDir(kernel), 'modules.order')),
  ];
  return { treeDir, stamp: parts.join('\n') };
}

/**
 * "path:size:mtime:ctime:inode" (statted synchronously: status stamps every tree file on every
 * kernel). Size and mtime alone miss a file rewritten in place with its mtime put back
 * (touch -r); ctime cannot be put back, and a file renamed over it has another inode. The
 * path as seen inside the root: the cache is kept in the root and must not name where the
 * root is (a moved root keeps its cache; a copy, with other inodes, judges again).
 */
function fileStamp(paths: Paths, file: string | undefined): string {
  if (file === undefined) return '-';
  const st = statSync(file, { throwIfNoEntry: false });
  const name = `/${path.relative(paths.root, file)}`;
  return st === undefined ? `${name}:-` : `${name}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
}

async function scanTree(paths: Paths, dir: string): Promise<TreeScan> {
  const modules = await scanTreeModules(dir);
  // The stamp is the text itself rather than a digest of it: exact, and loading node:crypto
  // cost a status run more than comparing a few kilobytes.
  const parts: string[] = [];
  const fileStamps = new Map<string, string>();
  for (const tm of [...modules].sort((a, b) => (tmKey(a) < tmKey(b) ? -1 : 1))) {
    parts.push(`${tmKey(tm)}\0${tm.builtFor}\0${JSON.stringify(tm.unloadable ?? {})}\0`);
    for (const f of tm.files) {
      const file = path.join(dir, f);
      const st = fileStamp(paths, file);
      fileStamps.set(file, st);
      parts.push(`${st}\0`);
    }
    parts.push('\n');
  }
  return { dir, modules, stamp: parts.join(''), fileStamps };
}
