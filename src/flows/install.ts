// The install path shared by `install`, `autoinstall` and `kernel add`: make sure the
// kernel is registered in its ABI tree, build when needed, then install the build into the
// tree for every kernel of that ABI the verdict accepts — one transaction, depmod last.
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { AbiId } from '../core/abi-id.js';
import type { DkmsConf } from '../core/dkms-conf.js';
import { unloadableOf, type RejectedKernel } from '../core/status.js';
import { UsageError } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { dkmsBuildDir, dkmsUnbuild } from '../system/dkms.js';
import { identifyKernel, type KernelIdentity } from '../system/kernel-identity.js';
import { planRegisterKernel } from '../system/kernel-register.js';
import { planInstall, type TreeFile } from '../system/tree-plans.js';
import {
  buildExclusion,
  buildHeaderRecord,
  buildModule,
  builtFiles,
  exportsSymvers,
  hostArch,
  readModuleConf,
  treeFiles,
  type ModuleVersionRef,
} from '../system/module-build.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { judgeOnKernels, type UsabilityChecker } from '../system/usability.js';
import { kernelsOfTree, previousInTree, treeModulesOf, type TreeModule } from '../core/snapshot.js';
import { modinfoValues } from '../core/ko-modinfo.js';
import { ownerConflicts, replacesInstalled, type OwnerConflict } from '../core/module-owner.js';
import { readKernelModuleFile } from '../system/ko-file.js';

export type InstallOutcome =
  | {
      readonly kind: 'installed';
      readonly kernels: readonly string[];
      readonly rejected: readonly RejectedKernel[];
      /** Kernels of the tree dkms would not build it for (BUILD_EXCLUSIVE): see separateExcluded. */
      readonly excluded: readonly string[];
      readonly built: boolean;
      /** Installed all the same, as stock dkms does: the modules the kernel's loader refuses. */
      readonly unloadable: Readonly<Record<string, string>>;
    }
  | { readonly kind: 'excluded'; readonly message: string }
  | {
      readonly kind: 'build-failed';
      readonly message: string;
      readonly makeLog: string;
      readonly logTail: string;
    }
  | { readonly kind: 'unusable'; readonly reason: string }
  /** Another package's module of the same name is in the tree and dkms would not replace it. */
  | { readonly kind: 'conflict'; readonly reason: string };

/** Registers a kernel (tree, link, reference) in its own transaction when anything is missing. */
export async function ensureRegistered(
  ctx: Context,
  session: Session,
  kernel: string,
): Promise<KernelIdentity> {
  const id = await identifyKernel(ctx, kernel);
  const plan = new PlanBuilder(ctx.paths.root);
  const reg = await planRegisterKernel(ctx, id, plan);
  if (reg.changed) {
    await session.apply({
      description: `register ${kernel} in ${id.treeName}`,
      operations: plan.operations,
      depmod: [kernel],
    });
    for (const f of reg.migrated) ctx.out.note(`moved extra/${f} of ${kernel} into ${id.treeName}`);
  }
  return id;
}

/**
 * Drops DKMS's build of M/V for a kernel when it was made against another build of that
 * release (a kernel package upgraded in place: see core/stale-build.ts), the way dkms allows:
 * `dkms unbuild` of that kernel only. DKMS keys builds by release, so it would otherwise keep
 * calling the stale one built. A `module` link dkms-abi made to another kernel's build is not
 * a build of this kernel and is left alone. True when a build was dropped.
 */
export async function discardStaleBuild(
  ctx: Context,
  verdicts: UsabilityChecker,
  mv: ModuleVersionRef,
  conf: () => Promise<DkmsConf>,
  kernel: string,
  arch: string,
): Promise<boolean> {
  // Cheap check first: most kernels hold no build of their own, or only a link to another's.
  const moduleDir = path.join(dkmsBuildDir(ctx.paths, { ...mv, kernel, arch }), 'module');
  if ((await lstat(moduleDir).catch(() => undefined))?.isDirectory() !== true) return false;
  const files = await builtFiles(ctx, mv, await conf(), kernel, arch).catch(() => undefined);
  if (files === undefined) return false;
  const hostPaths = files.map((f) => f.host);
  if (!(await verdicts.filesStale(hostPaths, kernel))) return false;
  await dkmsUnbuild(ctx.paths, mv, { kernel, arch });
  ctx.out.note(
    `${mv.module}/${mv.version}: DKMS's build for ${kernel} was made against another build of that kernel: discarded (dkms unbuild)`,
  );
  return true;
}

export async function installModule(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  mv: ModuleVersionRef,
  kernel: string,
  opts: { build: boolean } = { build: true },
): Promise<InstallOutcome> {
  const arch = hostArch();
  // Build first, register after: a kernel whose build cannot be made (no headers, make
  // fails, BUILD_EXCLUSIVE) is left as it was. The identity decides the tree whose modules'
  // exports the build links against, as registering would.
  let conf = await readModuleConf(ctx, mv, kernel, arch);
  // A build DKMS holds for this release but made against an earlier build of the kernel
  // (upgraded in place) is dropped, so the build below replaces it.
  if (opts.build) await discardStaleBuild(ctx, verdicts, mv, () => Promise.resolve(conf), kernel, arch);
  let files = await builtFiles(ctx, mv, conf, kernel, arch).catch(() => undefined);
  let built = false;
  if (files === undefined) {
    if (!opts.build) throw new UsageError(`${mv.module}/${mv.version} is not built for ${kernel}`);
    const outcome = await buildModule(ctx, mv, kernel, arch, (await identifyKernel(ctx, kernel)).abi);
    switch (outcome.kind) {
      case 'excluded':
        return { kind: 'excluded', message: outcome.message };
      case 'build-failed':
        return {
          kind: 'build-failed',
          message: outcome.message,
          makeLog: outcome.makeLog,
          logTail: outcome.logTail,
        };
      case 'built':
      case 'already-built':
        built = outcome.kind === 'built';
    }
    conf = await readModuleConf(ctx, mv, kernel, arch);
    files = await builtFiles(ctx, mv, conf, kernel, arch);
  }

  // Read the built modules first: a corrupt build output is bad input (exit 2 naming the
  // file), not a module the loader would refuse.
  const symvers = await exportsSymvers(files);
  const headers = await buildHeaderRecord(ctx, mv, kernel, arch);
  const id = await ensureRegistered(ctx, session, kernel);
  const snap = await scanRoot(ctx.paths);
  // Kernels of the tree dkms would not build M/V for (BUILD_EXCLUSIVE) are not marked for it.
  const candidates: string[] = [];
  const excluded: RejectedKernel[] = [];
  for (const k of kernelsOfTree(snap, id.abi, [kernel])) {
    const why = k === kernel ? undefined : await buildExclusion(ctx, mv, k, arch);
    if (why === undefined) candidates.push(k);
    else excluded.push({ kernel: k, reason: `BUILD_EXCLUSIVE: ${why}` });
  }
  // The build is installed for its own kernel whole, as stock dkms installs it, even when
  // the loader refuses some of its modules (recorded: status names them); other kernels of
  // the tree take it when they refuse no more than that.
  const own = await verdicts.memberUsability(
    files.map((f) => f.host),
    kernel,
  );
  if (!own.ok) return { kind: 'unusable', reason: own.reason };
  const unloadable = unloadableOf(own.members);
  const { accepted, rejected } = await judgeOnKernels(
    verdicts,
    files.map((f) => f.host),
    candidates,
    unloadable,
  );
  if (!accepted.includes(kernel)) {
    const why = rejected.find((r) => r.kernel === kernel)?.reason ?? 'rejected';
    return { kind: 'unusable', reason: why };
  }
  const tree = ctx.paths.abiTree(id.abi.flavour, id.abi.abiver);
  const treeModules = treeModulesOf(snap, id.abi);
  const placed = treeFiles(files);
  const takeOver = await resolveOwners(tree, treeModules, mv, arch, placed);
  if (typeof takeOver === 'string') return { kind: 'conflict', reason: takeOver };
  const previous = previousInTree(snap, id.abi, mv.module, arch);
  const plan = new PlanBuilder(ctx.paths.root);
  await planInstall(
    ctx.paths,
    {
      module: mv.module,
      version: mv.version,
      arch,
      builtFor: kernel,
      abi: id.abi,
      files: placed,
      symvers,
      ...(headers !== undefined ? { headers } : {}),
      kernels: accepted,
      previous,
      dkmsBookkeeping: true,
      unloadable,
      takeOver,
      treeModules,
    },
    plan,
  );
  for (const c of takeOver)
    ctx.out.note(
      `${mv.module}/${mv.version}: replaces ${c.theirs} of ${c.owner.module}/${c.owner.version} in ${id.treeName} (a newer version, as dkms replaces it)`,
    );
  // Every kernel of the tree sees the new files through its extra/ link: all get depmod.
  await session.apply({
    description: `install ${mv.module}/${mv.version} into ${id.treeName}`,
    operations: plan.operations,
    depmod: kernelsOfTree(snap, id.abi, [kernel]),
  });
  return {
    kind: 'installed',
    kernels: accepted,
    rejected: [...rejected, ...excluded],
    excluded: excluded.map((x) => x.kernel),
    built,
    unloadable,
  };
}

/**
 * M/V in the tree of the kernel's ABI: there already (any kernel's build), else installed now
 * for the kernel, built when needed. `onInstall` hears of the install before it starts.
 */
export async function ensureInstalled(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  mv: ModuleVersionRef,
  kernel: string,
  onInstall: (treeName: string) => void,
): Promise<{ abi: AbiId; outcome: InstallOutcome | { readonly kind: 'present' } }> {
  const id = await ensureRegistered(ctx, session, kernel);
  const snap = await scanRoot(ctx.paths);
  if (treeModulesOf(snap, id.abi).some((m) => m.module === mv.module && m.version === mv.version))
    return { abi: id.abi, outcome: { kind: 'present' } };
  onInstall(id.treeName);
  return { abi: id.abi, outcome: await installModule(ctx, session, verdicts, mv, kernel) };
}

/**
 * Another package's module of the same name in the tree (see core/module-owner.ts): dkms's
 * rule decides, on each module's `version:`. The conflicts this install takes over, or why
 * it must not (one line, naming the owner).
 */
async function resolveOwners(
  tree: string,
  treeModules: readonly TreeModule[],
  mv: ModuleVersionRef,
  arch: string,
  placed: readonly TreeFile[],
): Promise<OwnerConflict[] | string> {
  const conflicts = ownerConflicts(
    treeModules,
    { module: mv.module, arch },
    placed.map((f) => f.rel),
  );
  for (const c of conflicts) {
    const ours = placed.find((f) => f.rel === c.ours);
    if (ours === undefined) continue;
    const theirs = path.join(tree, c.theirs);
    // A file the owner lists but lost (or left unreadable) is no one's to keep.
    const installed = await moduleVersion(theirs).catch(() => undefined);
    if (installed === undefined) continue;
    const candidate = await moduleVersion(ours.host);
    if (!replacesInstalled(installed.version, candidate.version)) {
      const what = (v: string | undefined): string => (v === undefined ? 'none' : v);
      return (
        `${c.theirs} in ${path.basename(tree)} belongs to ${c.owner.module}/${c.owner.version}, ` +
        `whose module version (${what(installed.version)}) is not older than this one's (${what(candidate.version)}); ` +
        `dkms would not replace it either (uninstall ${c.owner.module}/${c.owner.version} first)`
      );
    }
  }
  return conflicts;
}

async function moduleVersion(file: string): Promise<{ version: string | undefined }> {
  const info = await readKernelModuleFile(file);
  return { version: modinfoValues(info.modinfo, 'version')[0] };
}
