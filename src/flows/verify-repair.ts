// The edges of `verify`: collect what src/core/verify.ts needs beside the Snapshot (links
// that do not resolve, journals, each tree's files and metadata, modules.dep entries that
// are gone, verdicts), and turn its fixes into transactions. Every fix is re-checked against
// the disk when it is planned and applied in its own transaction, so one that cannot be
// made does not hold back the others; none removes or replaces a real file.
import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { abiTreeName, parseAbiTreeName, sameAbi } from '../core/abi-id.js';
import { symversLinesFor } from '../core/ko.js';
import { MANIFEST_FILE, SAVED_SYMVERS_FILE, TREE_META_DIR, parseManifest } from '../core/layout.js';
import type { Operation } from '../core/plan.js';
import type { Snapshot, TreeModule } from '../core/snapshot.js';
import type { Usability } from '../core/status.js';
import {
  diagnose,
  fixKey,
  moduleName,
  type DanglingDkmsLink,
  type Diagnosis,
  type Fix,
  type KernelFacts,
  type LinkFact,
  type TreeFacts,
  type VerifyFacts,
} from '../core/verify.js';
import type { Context } from '../system/context.js';
import { readKernelModuleFile } from '../system/ko-file.js';
import { planLinkKernel } from '../system/tree-plans.js';
import type { Paths } from '../system/paths.js';
import { PlanBuilder, linkTarget } from '../system/plan-helpers.js';
import { resolveInRoot } from '../system/rootfs.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { pendingJournals } from '../system/txn.js';
import type { UsabilityChecker } from '../system/usability.js';
import { VerdictService } from '../system/verdict-service.js';

/** Reads the root and derives its findings (with fixes). Run it under the root's lock. */
export async function diagnoseRoot(ctx: Context): Promise<Diagnosis[]> {
  return diagnose(await collectFacts(ctx.paths, new VerdictService(ctx.paths)));
}

export async function collectFacts(paths: Paths, checker: UsabilityChecker): Promise<VerifyFacts> {
  const scanned = await scanRoot(paths);
  const kernels: KernelFacts[] = [];
  for (const k of scanned.kernels) kernels.push(await kernelFacts(paths, k.kernel));
  const trees: TreeFacts[] = [];
  for (const name of await listDir(paths.modulesDir)) {
    if (parseAbiTreeName(name) === undefined) continue;
    const dir = path.join(paths.modulesDir, name);
    if ((await lstat(dir).catch(() => undefined))?.isDirectory() !== true) continue;
    trees.push(await treeFacts(dir, name));
  }
  const snapshot = withoutTemporaries(scanned, trees);
  const { dangling, buildFiles } = await dkmsFacts(paths, snapshot);
  const verdicts = await precomputeVerdicts(snapshot, checker);
  return {
    snapshot,
    layout: {
      modulesDir: paths.inner.modulesDir,
      dkmsTree: paths.inner.dkmsTree,
      journalDir: `${paths.inner.stateDir}/journal`,
    },
    journals: await pendingJournals(paths.journalDir),
    kernels,
    trees,
    danglingDkms: dangling,
    buildFiles,
    usability: (tm, kernel) => verdicts.get(verdictKey(tm, kernel)),
  };
}

/**
 * An interrupted transaction leaves set-aside entries (.dkms-abi.<id>.<n>.gone) next to what
 * it changed, even a module's metadata directory, whose manifest still names the module: a
 * tree module counts only when its own .dkms-abi/<module>/<version>/ directory is there.
 */
function withoutTemporaries(s: Snapshot, trees: readonly TreeFacts[]): Snapshot {
  return {
    ...s,
    trees: s.trees.map((t) => {
      const meta = trees.find((f) => f.name === abiTreeName(t.abi))?.meta ?? [];
      return {
        ...t,
        modules: t.modules.filter((m) => meta.some((d) => d.module === m.module && d.version === m.version)),
      };
    }),
  };
}

const isTemporary = (name: string): boolean => name.startsWith('.dkms-abi.');

async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** Inside-root path of a host path under the root. */
function innerOf(paths: Paths, host: string): string {
  return `/${path.relative(paths.root, host)}`;
}

/** A symlink's target and whether it resolves (chroot semantics; dkms may write host paths). */
async function linkFact(
  paths: Paths,
  host: string,
): Promise<(LinkFact & { isDirectory: boolean }) | undefined> {
  const target = await linkTarget(host);
  if (target === undefined) return undefined;
  let resolved: string;
  try {
    resolved = target.startsWith(`${paths.root}/`)
      ? target
      : await resolveInRoot(paths.root, innerOf(paths, host));
  } catch {
    return { target, resolves: false, isDirectory: false }; // a loop of links
  }
  const st = await stat(resolved).catch(() => undefined);
  return { target, resolves: st !== undefined, isDirectory: st?.isDirectory() === true };
}

async function kernelFacts(paths: Paths, kernel: string): Promise<KernelFacts> {
  const dir = paths.kernelDir(kernel);
  const extra = await linkFact(paths, paths.extraLink(kernel));
  const updatesDir = path.join(dir, 'updates', 'dkms');
  const updates: KernelFacts['updates'][number][] = [];
  for (const name of await listDir(updatesDir)) {
    const link = await linkFact(paths, path.join(updatesDir, name));
    updates.push(
      link === undefined ? { name } : { name, link: { target: link.target, resolves: link.resolves } },
    );
  }
  return {
    kernel,
    // extra/ must lead to a directory: a tree that is a file is as good as none.
    ...(extra === undefined ? {} : { extra: { target: extra.target, resolves: extra.isDirectory } }),
    updates,
    ...(await depEntries(paths, kernel)),
  };
}

/** modules.dep entries for extra/ and updates/ (what dkms-abi changes): names, and those gone. */
async function depEntries(
  paths: Paths,
  kernel: string,
): Promise<{ depMissing: string[]; depIndexed: string[] }> {
  const text = await readFile(path.join(paths.kernelDir(kernel), 'modules.dep'), 'utf8').catch(() => '');
  const kernelInner = `${paths.inner.modulesDir}/${kernel}`;
  const gone: string[] = [];
  const indexed: string[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const entry = line.slice(0, colon);
    const inner = entry.startsWith('/') ? entry : `${kernelInner}/${entry}`;
    if (!inner.startsWith(`${kernelInner}/extra/`) && !inner.startsWith(`${kernelInner}/updates/`)) continue;
    indexed.push(moduleName(entry));
    const host = await resolveInRoot(paths.root, inner).catch(() => undefined);
    if (host === undefined || (await stat(host).catch(() => undefined)) === undefined) gone.push(entry);
  }
  return { depMissing: gone, depIndexed: indexed };
}

async function treeFacts(dir: string, name: string): Promise<TreeFacts> {
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await listDir(path.join(dir, rel))) {
      const r = rel === '' ? entry : `${rel}/${entry}`;
      if (r === TREE_META_DIR || isTemporary(entry)) continue;
      const st = await lstat(path.join(dir, r)).catch(() => undefined);
      if (st === undefined) continue;
      if (st.isDirectory()) await walk(r);
      else files.push(r);
    }
  };
  await walk('');
  const meta: TreeFacts['meta'][number][] = [];
  const unreadable: TreeFacts['unreadable'][number][] = [];
  const metaDir = path.join(dir, TREE_META_DIR);
  for (const module of await listDir(metaDir)) {
    if (module.startsWith('.')) continue;
    for (const version of await listDir(path.join(metaDir, module))) {
      if (version.startsWith('.')) continue;
      const d = path.join(metaDir, module, version);
      if ((await lstat(d).catch(() => undefined))?.isDirectory() !== true) continue;
      const manifest = await readFile(path.join(d, MANIFEST_FILE), 'utf8').catch(() => undefined);
      const symvers = await readFile(path.join(d, SAVED_SYMVERS_FILE), 'utf8').catch(() => undefined);
      meta.push({
        module,
        version,
        ...(manifest === undefined ? {} : { manifest }),
        ...(symvers === undefined ? {} : { symvers }),
      });
      const parsed = manifest === undefined ? undefined : parseManifest(manifest);
      if (parsed === undefined || typeof parsed === 'string') continue;
      for (const f of parsed.files) {
        if (!files.includes(f)) continue;
        try {
          await readKernelModuleFile(path.join(dir, f));
        } catch (err) {
          unreadable.push({ file: f, problem: problemOf(err) });
        }
      }
    }
  }
  return { name, files, meta, unreadable };
}

function problemOf(err: unknown): string {
  const e = err as { problem?: unknown; message?: unknown };
  return typeof e.problem === 'string' ? e.problem : String(e.message ?? err);
}

/** DKMS's marks and our module/ links that do not resolve, and the files of each build. */
async function dkmsFacts(
  paths: Paths,
  snapshot: Snapshot,
): Promise<{ dangling: DanglingDkmsLink[]; buildFiles: Map<string, string[]> }> {
  const dangling: DanglingDkmsLink[] = [];
  for (const module of await listDir(paths.dkmsTree)) {
    const mdir = path.join(paths.dkmsTree, module);
    if ((await lstat(mdir).catch(() => undefined))?.isDirectory() !== true) continue;
    for (const entry of await listDir(mdir)) {
      const p = path.join(mdir, entry);
      const st = await lstat(p).catch(() => undefined);
      if (entry.startsWith('kernel-') && st?.isSymbolicLink() === true) {
        const l = await linkFact(paths, p);
        if (l !== undefined && !l.resolves) dangling.push({ module, name: entry, target: l.target });
        continue;
      }
      if (st?.isDirectory() !== true || entry === 'original_module') continue;
      for (const kernel of await listDir(p)) {
        for (const arch of await listDir(path.join(p, kernel))) {
          const link = path.join(p, kernel, arch, 'module');
          if ((await lstat(link).catch(() => undefined))?.isSymbolicLink() !== true) continue;
          const l = await linkFact(paths, link);
          if (l !== undefined && !l.resolves)
            dangling.push({ module, name: `${entry}/${kernel}/${arch}/module`, target: l.target });
        }
      }
    }
  }
  const buildFiles = new Map<string, string[]>();
  for (const mv of snapshot.dkms) {
    for (const b of mv.builds) {
      if (b.kind !== 'built') continue;
      const dir = path.join(paths.dkmsTree, mv.module, mv.version, b.kernel, b.arch, 'module');
      buildFiles.set(`${mv.module}/${mv.version}/${b.kernel}/${b.arch}`, await listDir(dir));
    }
  }
  return { dangling, buildFiles };
}

const verdictKey = (tm: TreeModule, kernel: string) => `${tm.module}\0${tm.version}\0${tm.arch}\0${kernel}`;

/** Verdicts for tree modules on the tree's other kernels; a module that cannot be read has none. */
async function precomputeVerdicts(
  snapshot: Snapshot,
  checker: UsabilityChecker,
): Promise<Map<string, Usability>> {
  const out = new Map<string, Usability>();
  for (const k of snapshot.kernels) {
    if (k.abi === undefined) continue;
    const abi = k.abi;
    for (const tm of snapshot.trees.find((t) => sameAbi(t.abi, abi))?.modules ?? []) {
      if (tm.builtFor === k.kernel) continue;
      try {
        out.set(verdictKey(tm, k.kernel), await checker.usability(tm, k.kernel));
      } catch {
        // Unreadable binaries are findings of their own.
      }
    }
  }
  await checker.flush();
  return out;
}

// --- repair -----------------------------------------------------------------------------

export interface RepairOutcome {
  /** "kind path: what was done", per finding repaired. */
  readonly repaired: readonly string[];
  /** "kind path: why not", per fix that could not be made. */
  readonly failed: readonly string[];
  /** Fixes tried this round (0: nothing left to try). */
  readonly attempted: number;
}

/**
 * Applies the fixes of `diagnoses` not in `tried` (which it extends), one transaction each,
 * then one depmod for every kernel they touched.
 */
export async function applyFixes(
  ctx: Context,
  session: Session,
  diagnoses: readonly Diagnosis[],
  tried: Set<string>,
): Promise<RepairOutcome> {
  const repaired: string[] = [];
  const failed: string[] = [];
  const results = new Map<string, string | undefined>(); // fix key → failure message
  const depmodKernels = new Set<string>();
  let attempted = 0;
  const snapshot = await scanRoot(ctx.paths);
  for (const d of diagnoses) {
    if (d.fix === undefined) continue;
    const key = fixKey(d.fix);
    if (!results.has(key)) {
      if (tried.has(key)) continue;
      tried.add(key);
      attempted++;
      try {
        const ops = await planFix(ctx.paths, snapshot, d.fix);
        if (ops.length > 0) {
          await session.apply({
            description: `verify --repair: ${d.repair ?? d.kind} (${d.path})`,
            operations: ops,
            depmod: [],
          });
        }
        for (const k of fixKernels(d.fix)) depmodKernels.add(k);
        results.set(key, undefined);
      } catch (err) {
        results.set(key, err instanceof Error ? err.message : String(err));
      }
    }
    const failure = results.get(key);
    if (failure === undefined) repaired.push(`${d.kind} ${d.path}: ${d.repair ?? ''}`);
    else failed.push(`${d.kind} ${d.path}: ${failure}`);
  }
  const kernels: string[] = [];
  for (const k of depmodKernels) {
    if ((await stat(ctx.paths.kernelDir(k)).catch(() => undefined))?.isDirectory() === true) kernels.push(k);
  }
  if (kernels.length > 0) {
    try {
      await session.apply({ description: 'verify --repair: depmod', operations: [], depmod: kernels.sort() });
    } catch (err) {
      failed.push(`depmod ${kernels.join(' ')}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { repaired, failed, attempted };
}

function fixKernels(f: Fix): readonly string[] {
  switch (f.kind) {
    case 'remove-link':
    case 'create-tree':
    case 'retarget-link':
      return f.depmod;
    case 'depmod':
    case 'link-kernel':
      return [f.kernel];
    case 'prune-tree':
    case 'unmark':
    case 'regenerate-symvers':
      return [];
  }
}

/** The operations of one fix, checked against the disk as it is now. */
async function planFix(paths: Paths, snapshot: Snapshot, f: Fix): Promise<Operation[]> {
  const plan = new PlanBuilder(paths.root);
  switch (f.kind) {
    case 'remove-link': {
      // Only the link as it was seen: an earlier fix may have pointed it somewhere right.
      const host = paths.host(f.path);
      if ((await linkTarget(host)) === f.target) await plan.add({ op: 'remove', path: host });
      break;
    }
    case 'create-tree':
      await plan.ensureDir(treeDir(paths, f.tree));
      break;
    case 'retarget-link':
      await plan.add({ op: 'symlink', path: paths.host(f.path), target: f.target });
      break;
    case 'prune-tree': {
      const dir = treeDir(paths, f.tree);
      if (await holdsOnlyDirectories(dir)) await plan.add({ op: 'remove', path: dir });
      else throw new Error(`${f.tree} is not empty any more`);
      break;
    }
    case 'depmod':
      break;
    case 'unmark':
      await planUnmarkEntry(paths, f, plan);
      break;
    case 'link-kernel': {
      const tm = treeModule(snapshot, f);
      if (tm === undefined) throw new Error(`${f.tree} no longer holds ${f.module}/${f.version}`);
      await planLinkKernel(paths, { ...tm, dkmsBookkeeping: true }, f.kernel, plan);
      break;
    }
    case 'regenerate-symvers': {
      const tm = treeModule(snapshot, { ...f, arch: undefined });
      if (tm === undefined) throw new Error(`${f.tree} no longer holds ${f.module}/${f.version}`);
      const dir = treeDir(paths, f.tree);
      const lines: string[] = [];
      for (const rel of tm.files) {
        const info = await readKernelModuleFile(path.join(dir, rel));
        lines.push(...symversLinesFor(info, withoutSuffix(rel)));
      }
      const data = Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
      await plan.add({
        op: 'write',
        path: path.join(dir, TREE_META_DIR, f.module, f.version, SAVED_SYMVERS_FILE),
        data,
      });
      break;
    }
  }
  await refuseToReplaceFiles(plan.operations);
  return plan.operations;
}

function treeDir(paths: Paths, tree: string): string {
  // The name comes from a link target on disk: only a plain tree name may become a path.
  if (parseAbiTreeName(tree) === undefined || tree.includes('/')) throw new Error(`not a tree name: ${tree}`);
  return path.join(paths.modulesDir, tree);
}

function treeModule(
  snapshot: Snapshot,
  f: { tree: string; module: string; version: string; arch: string | undefined },
): TreeModule | undefined {
  const abi = parseAbiTreeName(f.tree);
  if (abi === undefined) return undefined;
  return snapshot.trees
    .find((t) => sameAbi(t.abi, abi))
    ?.modules.find(
      (m) => m.module === f.module && m.version === f.version && (f.arch === undefined || m.arch === f.arch),
    );
}

/** "dkms/misc/hello_abi.ko.xz" → "dkms/misc/hello_abi": the module path Module.symvers names. */
function withoutSuffix(rel: string): string {
  const slash = rel.lastIndexOf('/');
  const base = rel.slice(slash + 1);
  const i = base.indexOf('.ko');
  return rel.slice(0, slash + 1) + (i === -1 ? base : base.slice(0, i));
}

async function holdsOnlyDirectories(dir: string): Promise<boolean> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    if (!st.isDirectory() || !(await holdsOnlyDirectories(p))) return false;
  }
  return true;
}

/** DKMS's mark for the kernel when it names this version, and our module/ link entry there. */
async function planUnmarkEntry(
  paths: Paths,
  f: Extract<Fix, { kind: 'unmark' }>,
  plan: PlanBuilder,
): Promise<void> {
  const mdir = path.join(paths.dkmsTree, f.module);
  const mark = path.join(mdir, `kernel-${f.kernel}-${f.arch}`);
  const target = await linkTarget(mark);
  if (target !== undefined && path.resolve(mdir, target) === path.join(mdir, f.version, f.kernel, f.arch)) {
    await plan.add({ op: 'remove', path: mark });
  }
  const archDir = path.join(mdir, f.version, f.kernel, f.arch);
  const moduleLink = path.join(archDir, 'module');
  if ((await lstat(moduleLink).catch(() => undefined))?.isSymbolicLink() !== true) return;
  const entries = await readdir(archDir);
  if (entries.length === 1) {
    // Our installed-abi entry holds nothing else: the arch directory (and an emptied kernel directory) go.
    await plan.add({ op: 'remove', path: archDir });
    const kdir = path.dirname(archDir);
    if ((await readdir(kdir)).length === 1) await plan.add({ op: 'remove', path: kdir });
  } else {
    await plan.add({ op: 'remove', path: moduleLink });
  }
}

/** Repairs touch links and dkms-abi's own files only: a real file in the way is left for a person. */
async function refuseToReplaceFiles(ops: readonly Operation[]): Promise<void> {
  for (const o of ops) {
    if (o.op !== 'remove' && o.op !== 'symlink') continue;
    const st = await lstat(o.path).catch(() => undefined);
    if (st === undefined || st.isSymbolicLink()) continue;
    if (o.op === 'remove' && st.isDirectory() && (await holdsNoRealFiles(o.path))) continue;
    throw new Error(
      `would ${o.op === 'remove' ? 'remove' : 'replace'} ${o.path}, which is not a link: move it aside first`,
    );
  }
}

/** A directory of links and directories only (our installed-abi entries, an empty tree). */
async function holdsNoRealFiles(dir: string): Promise<boolean> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    if (st.isSymbolicLink()) continue;
    if (!st.isDirectory() || !(await holdsNoRealFiles(p))) return false;
  }
  return true;
}
