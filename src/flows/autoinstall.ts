// Autoinstall for one kernel: every AUTOINSTALL module (newest version) ends up usable on
// it with as little compiling as possible — already in the kernel's tree and accepted by the
// verdict: link it; a passing binary in another ABI tree (reuse = module): copy it in; else
// dkms build + install. Modules go in BUILD_DEPENDS order; a failure is reported and the
// rest proceed. A kernel whose tree holds modules its loader would refuse does not belong
// to that ABI: it is moved to a tree of its own first.
import path from 'node:path';
import { abiTreeName, nextAbiver, sameAbi, type AbiId } from '../core/abi-id.js';
import { buildOrder } from '../core/build-order.js';
import { HEADERS_RECORD_FILE, SAVED_SYMVERS_FILE, treeMetaDir } from '../core/layout.js';
import { driftAction, driftSummary, type HeaderFinding } from '../core/header-record.js';
import { treeModuleHeaders } from '../system/header-files.js';
import {
  type Snapshot,
  type TreeModule,
  kernelsOfTree,
  previousInTree,
  treeModulesOf,
  treeOf,
} from '../core/snapshot.js';
import { readFile } from 'node:fs/promises';
import type { Context } from '../system/context.js';
import { discardStaleBuild, ensureRegistered, installModule } from './install.js';
import { listReferences, type KernelIdentity } from '../system/kernel-identity.js';
import { planRegisterKernel } from '../system/kernel-register.js';
import { planInstall, planLinkKernel, planUnmark } from '../system/tree-plans.js';
import {
  buildExclusion,
  hostArch,
  readModuleConf,
  readModuleConfs,
  type ModuleVersionRef,
} from '../system/module-build.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import type { UsabilityChecker } from '../system/usability.js';

export type ModuleAction =
  | { readonly kind: 'usable'; readonly headers?: HeaderFinding }
  | { readonly kind: 'linked'; readonly headers?: HeaderFinding }
  | { readonly kind: 'reused'; readonly from: string; readonly headers?: HeaderFinding }
  | { readonly kind: 'built' }
  | { readonly kind: 'excluded'; readonly message: string }
  | { readonly kind: 'failed'; readonly message: string };

export interface ModuleResult extends ModuleVersionRef {
  readonly action: ModuleAction;
}

export interface AutoinstallReport {
  readonly kernel: string;
  readonly tree: string;
  readonly splitFrom?: { readonly tree: string; readonly reason: string };
  readonly results: readonly ModuleResult[];
}

const collator = new Intl.Collator('en', { numeric: true });

export async function autoinstallKernel(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  kernel: string,
  progress: (r: ModuleResult) => void = () => undefined,
): Promise<AutoinstallReport> {
  const arch = hostArch();
  let id = await ensureRegistered(ctx, session, kernel);
  let snap = await scanRoot(ctx.paths);
  // The dkms.confs every step below evaluates are bash runs, mostly waiting: started now, they
  // run beside the verdicts (kept for the command; never rejects, a failure is read again).
  void readModuleConfs(ctx, newestAdded(snap), kernel, arch);

  // A tree module this kernel's loader would refuse means the kernel is not of this ABI; so
  // does one whose build read a header that differs here (header_drift = rebuild): the kernel
  // moves to a tree of its own, the others are copied in unchanged (findDonor), that one is built.
  // One dkms would not build for it (BUILD_EXCLUSIVE) must not reach it through extra/ either:
  // the same move, and that one is skipped.
  const refused =
    (await firstRefused(snap, id.abi, kernel, verdicts)) ??
    (await firstDrifted(ctx, snap, id.abi, kernel)) ??
    (await firstExcluded(ctx, snap, id.abi, kernel, arch));
  let splitFrom: AutoinstallReport['splitFrom'];
  if (refused !== undefined) {
    splitFrom = { tree: id.treeName, reason: `${refused.module.module}: ${refused.reason}` };
    id = await splitKernel(ctx, session, snap, id, arch);
    ctx.out.note(`${kernel} does not match ${splitFrom.tree} (${splitFrom.reason}): moved to ${id.treeName}`);
    snap = await scanRoot(ctx.paths);
  }

  const candidates = await autoinstallCandidates(ctx, snap, kernel, arch);
  const results: ModuleResult[] = [];
  for (const c of buildOrder(candidates.modules)) {
    const result = await autoinstallOne(ctx, session, verdicts, id, c, kernel, arch);
    results.push(result);
    progress(result);
  }
  for (const f of candidates.failures) {
    results.push(f);
    progress(f);
  }
  // modules.dep for this kernel in any case: new links, and modules newer than its index.
  await session.apply({ description: `depmod ${kernel}`, operations: [], depmod: [kernel] });
  return { kernel, tree: id.treeName, ...(splitFrom !== undefined ? { splitFrom } : {}), results };
}

/** The newest version DKMS has added of each module, by module name. */
function newestAdded(snap: Snapshot): ModuleVersionRef[] {
  const newest = new Map<string, string>();
  for (const mv of snap.dkms) {
    if (!mv.added) continue;
    const cur = newest.get(mv.module);
    if (cur === undefined || collator.compare(mv.version, cur) > 0) newest.set(mv.module, mv.version);
  }
  return [...newest.entries()].sort().map(([module, version]) => ({ module, version }));
}

interface Candidate extends ModuleVersionRef {
  readonly buildDepends: readonly string[];
}

async function autoinstallCandidates(
  ctx: Context,
  snap: Snapshot,
  kernel: string,
  arch: string,
): Promise<{ modules: Candidate[]; failures: ModuleResult[] }> {
  const modules: Candidate[] = [];
  const failures: ModuleResult[] = [];
  const wanted = newestAdded(snap);
  const confs = await readModuleConfs(ctx, wanted, kernel, arch);
  for (const [i, { module, version }] of wanted.entries()) {
    const conf = confs[i];
    if (conf?.status === 'fulfilled') {
      if (conf.value.autoinstall) modules.push({ module, version, buildDepends: conf.value.buildDepends });
    } else {
      const err: unknown = conf?.reason;
      failures.push({ module, version, action: { kind: 'failed', message: (err as Error).message } });
    }
  }
  return { modules, failures };
}

async function autoinstallOne(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  id: KernelIdentity,
  c: Candidate,
  kernel: string,
  arch: string,
): Promise<ModuleResult> {
  const mv = { module: c.module, version: c.version };
  try {
    // BUILD_EXCLUSIVE decides reuse as it decides a build: an excluded kernel gets nothing.
    const excluded = await buildExclusion(ctx, mv, kernel, arch);
    if (excluded !== undefined) return { ...mv, action: { kind: 'excluded', message: excluded } };
    let snap = await scanRoot(ctx.paths);
    const inTree = (): TreeModule | undefined =>
      treeOf(snap, id.abi)?.modules.find(
        (m) => m.module === c.module && m.version === c.version && m.arch === arch,
      );
    let here = inTree();
    if (here !== undefined && (await isDamagedOn(verdicts, here, kernel))) {
      // A tree file no one can read (truncated, overwritten) is installed again from DKMS's
      // build it came from, for every kernel of the tree; else built below.
      if (await reinstallDamaged(ctx, session, verdicts, mv, here.builtFor)) {
        snap = await scanRoot(ctx.paths);
        here = inTree();
      } else here = undefined;
    }
    if (here !== undefined) {
      // Checked by firstRefused already: the kernel's loader accepts it. A stale build DKMS
      // holds for this release (upgraded in place) gives way to the tree's.
      if (here.builtFor !== kernel) await discardStale(ctx, verdicts, mv, kernel, arch);
      const linked = await linkExisting(ctx, session, id, here, kernel);
      const headers = await headersOnKernel(ctx, id.abi, here, kernel);
      // Progress as a build reports it (stderr): where this kernel's binaries come from.
      if (linked) ctx.out.note(`${c.module}/${c.version}: reused from ${here.builtFor}`);
      return { ...mv, action: { kind: linked ? 'linked' : 'usable', ...headers } };
    }
    if (ctx.config.reuse === 'module') {
      const donor = await findDonor(ctx, snap, id.abi, c, arch, kernel, verdicts);
      if (donor !== undefined) {
        await discardStale(ctx, verdicts, mv, kernel, arch);
        await copyFromTree(ctx, session, snap, id, donor, kernel);
        const headers = await headersOnKernel(ctx, donor.abi, donor.module, kernel);
        ctx.out.note(
          `${c.module}/${c.version}: reused from ${donor.module.builtFor} (${abiTreeName(donor.abi)})`,
        );
        return { ...mv, action: { kind: 'reused', from: abiTreeName(donor.abi), ...headers } };
      }
    }
    const outcome = await installModule(ctx, session, verdicts, mv, kernel);
    switch (outcome.kind) {
      case 'installed':
        return { ...mv, action: { kind: 'built' } };
      case 'excluded':
        return { ...mv, action: { kind: 'excluded', message: outcome.message } };
      case 'build-failed':
        return { ...mv, action: { kind: 'failed', message: `${outcome.message} (see ${outcome.makeLog})` } };
      case 'unusable':
        return { ...mv, action: { kind: 'failed', message: `built but unusable: ${outcome.reason}` } };
      case 'conflict':
        return { ...mv, action: { kind: 'failed', message: outcome.reason } };
    }
  } catch (err) {
    return { ...mv, action: { kind: 'failed', message: (err as Error).message } };
  }
}

async function reinstallDamaged(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  mv: ModuleVersionRef,
  builtFor: string,
): Promise<boolean> {
  const r = await installModule(ctx, session, verdicts, mv, builtFor, { build: false }).catch(
    () => undefined,
  );
  if (r?.kind !== 'installed') return false;
  ctx.out.note(
    `${mv.module}/${mv.version}: the tree's copy was damaged: installed again from DKMS's build for ${builtFor}`,
  );
  return true;
}

async function isDamagedOn(verdicts: UsabilityChecker, tm: TreeModule, kernel: string): Promise<boolean> {
  const u = await verdicts.usability(tm, kernel);
  return !u.usable && u.damaged === true;
}

/** discardStaleBuild for a module about to share another kernel's build. */
async function discardStale(
  ctx: Context,
  verdicts: UsabilityChecker,
  mv: ModuleVersionRef,
  kernel: string,
  arch: string,
): Promise<void> {
  await discardStaleBuild(ctx, verdicts, mv, () => readModuleConf(ctx, mv, kernel, arch), kernel, arch);
}

/** Adds DKMS bookkeeping for a module the kernel's tree already holds. True when anything changed. */
async function linkExisting(
  ctx: Context,
  session: Session,
  id: KernelIdentity,
  tm: TreeModule,
  kernel: string,
): Promise<boolean> {
  const plan = new PlanBuilder(ctx.paths.root);
  const tree = ctx.paths.abiTree(id.abi.flavour, id.abi.abiver);
  await planLinkKernel(ctx.paths, { ...tm, dkmsBookkeeping: true, tree }, kernel, plan);
  if (plan.operations.length === 0) return false;
  await session.apply({
    description: `link ${tm.module}/${tm.version} for ${kernel} in ${id.treeName}`,
    operations: plan.operations,
    depmod: [kernel],
  });
  return true;
}

async function firstExcluded(
  ctx: Context,
  snap: Snapshot,
  abi: AbiId,
  kernel: string,
  arch: string,
): Promise<{ module: TreeModule; reason: string } | undefined> {
  // Only DKMS's modules have a dkms.conf to evaluate (a binary package's do not).
  const fromDkms = (treeOf(snap, abi)?.modules ?? []).filter(
    (tm) =>
      tm.arch === arch &&
      snap.dkms.some((mv) => mv.added && mv.module === tm.module && mv.version === tm.version),
  );
  // Read together first (the answers are kept for the command), then judged in order.
  await readModuleConfs(ctx, fromDkms, kernel, arch);
  for (const tm of fromDkms) {
    const why = await buildExclusion(ctx, tm, kernel, arch).catch(() => undefined);
    if (why !== undefined) return { module: tm, reason: `BUILD_EXCLUSIVE: ${why}` };
  }
  return undefined;
}

/**
 * A kernel of a tree that a module just installed there excludes (BUILD_EXCLUSIVE) would see
 * it through its extra/ link all the same: autoinstalled again, it moves to a tree of its own
 * holding the tree's other modules (firstExcluded).
 */
export function separateExcluded(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  kernel: string,
  progress: (r: ModuleResult) => void,
): Promise<AutoinstallReport> {
  return autoinstallKernel(ctx, session, verdicts, kernel, progress);
}

async function firstRefused(
  snap: Snapshot,
  abi: AbiId,
  kernel: string,
  verdicts: UsabilityChecker,
): Promise<{ module: TreeModule; reason: string } | undefined> {
  const tree = treeOf(snap, abi);
  for (const tm of tree?.modules ?? []) {
    const u = await verdicts.usability(tm, kernel);
    // A file no one can read says nothing about this kernel's ABI: it is reinstalled, not a split.
    if (!u.usable && u.damaged !== true) return { module: tm, reason: u.reason };
  }
  return undefined;
}

/** How a reused build's headers compare on the kernel; nothing when the build is the kernel's own or drift is ignored. */
async function headersOnKernel(
  ctx: Context,
  abi: AbiId,
  tm: TreeModule,
  kernel: string,
): Promise<{ headers?: HeaderFinding }> {
  if (ctx.config.headerDrift === 'ignore' || tm.builtFor === kernel) return {};
  const dir = ctx.paths.abiTree(abi.flavour, abi.abiver);
  const headers = await treeModuleHeaders(ctx.paths, dir, tm, kernel);
  return headers === undefined ? {} : { headers };
}

/** The first tree module the kernel must not reuse because of header drift (header_drift, require_headers). */
async function firstDrifted(
  ctx: Context,
  snap: Snapshot,
  abi: AbiId,
  kernel: string,
): Promise<{ module: TreeModule; reason: string } | undefined> {
  for (const tm of treeOf(snap, abi)?.modules ?? []) {
    const { headers } = await headersOnKernel(ctx, abi, tm, kernel);
    if (headers === undefined) continue;
    const action = driftAction(headers, ctx.config.headerDrift, ctx.config.requireHeaders);
    if (action === 'rebuild') {
      const why =
        headers.state === 'differ'
          ? `headers differ: ${driftSummary(headers.drifted)}`
          : 'no headers to check';
      return { module: tm, reason: why };
    }
  }
  return undefined;
}

/** A binary of the same module version in another tree that every kernel of ours accepts. */
async function findDonor(
  ctx: Context,
  snap: Snapshot,
  abi: AbiId,
  c: Candidate,
  arch: string,
  kernel: string,
  verdicts: UsabilityChecker,
): Promise<{ abi: AbiId; module: TreeModule } | undefined> {
  const ours = kernelsOfTree(snap, abi, [kernel]);
  for (const t of snap.trees) {
    if (sameAbi(t.abi, abi)) continue;
    const tm = t.modules.find((m) => m.module === c.module && m.version === c.version && m.arch === arch);
    if (tm === undefined) continue;
    // Same loader verdict but a header it read differs here: not a donor (header_drift = rebuild).
    const { headers } = await headersOnKernel(ctx, t.abi, tm, kernel);
    if (
      headers !== undefined &&
      driftAction(headers, ctx.config.headerDrift, ctx.config.requireHeaders) === 'rebuild'
    )
      continue;
    const dir = ctx.paths.abiTree(t.abi.flavour, t.abi.abiver);
    const files = tm.files.map((f) => path.join(dir, f));
    let all = true;
    for (const k of ours) {
      if (!(await verdicts.filesUsable(files, k, tm.unloadable)).usable) {
        all = false;
        break;
      }
    }
    if (all) return { abi: t.abi, module: tm };
  }
  return undefined;
}

async function copyFromTree(
  ctx: Context,
  session: Session,
  snap: Snapshot,
  id: KernelIdentity,
  donor: { abi: AbiId; module: TreeModule },
  kernel: string,
): Promise<void> {
  const from = ctx.paths.abiTree(donor.abi.flavour, donor.abi.abiver);
  const tm = donor.module;
  const symvers = await readFile(
    path.join(from, treeMetaDir(tm.module, tm.version), SAVED_SYMVERS_FILE),
    'utf8',
  ).catch(() => '');
  // The header record goes along: the copy is still the build that read those headers.
  const headers = await readFile(
    path.join(from, treeMetaDir(tm.module, tm.version), HEADERS_RECORD_FILE),
    'utf8',
  ).catch(() => undefined);
  const plan = new PlanBuilder(ctx.paths.root);
  const previous = previousInTree(snap, id.abi, tm.module, tm.arch);
  await planInstall(
    ctx.paths,
    {
      module: tm.module,
      version: tm.version,
      arch: tm.arch,
      builtFor: tm.builtFor,
      abi: id.abi,
      files: tm.files.map((rel) => ({ rel, host: path.join(from, rel) })),
      symvers,
      ...(headers !== undefined ? { headers } : {}),
      kernels: kernelsOfTree(snap, id.abi, [kernel]),
      previous,
      treeModules: treeModulesOf(snap, id.abi),
      dkmsBookkeeping: true,
      ...(tm.unloadable !== undefined ? { unloadable: tm.unloadable } : {}),
    },
    plan,
  );
  await session.apply({
    description: `reuse ${tm.module}/${tm.version} from ${abiTreeName(donor.abi)} in ${id.treeName}`,
    operations: plan.operations,
    depmod: kernelsOfTree(snap, id.abi, [kernel]),
  });
}

/** Moves a kernel to a new ABI tree of its flavour: new abiver, extra/ retargeted, old marks dropped. */
async function splitKernel(
  ctx: Context,
  session: Session,
  snap: Snapshot,
  id: KernelIdentity,
  arch: string,
): Promise<KernelIdentity> {
  const used = [
    ...(await listReferences(ctx, id.abi.flavour)),
    ...snap.trees.filter((t) => t.abi.flavour === id.abi.flavour).map((t) => t.abi.abiver),
  ];
  const abi = { flavour: id.abi.flavour, abiver: nextAbiver(used) };
  const next: KernelIdentity = { kernel: id.kernel, abi, treeName: abiTreeName(abi), source: id.source };
  const plan = new PlanBuilder(ctx.paths.root);
  const old = treeOf(snap, id.abi);
  for (const tm of old?.modules ?? []) if (tm.arch === arch) await planUnmark(ctx.paths, tm, id.kernel, plan);
  await planRegisterKernel(ctx, next, plan);
  await session.apply({
    description: `move ${id.kernel} from ${id.treeName} to ${next.treeName}`,
    operations: plan.operations,
    depmod: [id.kernel],
  });
  return next;
}
