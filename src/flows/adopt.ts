// adopt: take over a system where stock dkms installed modules itself — register every
// installed kernel in its ABI tree, and turn each copy dkms put in updates/dkms into the
// shared tree's module with a link to it (DKMS's own build of that kernel, installed into
// the tree; never rebuilt). Nothing is lost: a build the verdict would not share stays the
// plain copy it was. adopt --undo puts plain-dkms copies back in updates/dkms for every
// kernel, so that with dkms-abi removed every module loads as plain dkms would have it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { abiTreeName } from '../core/abi-id.js';
import { treeOf, type Snapshot } from '../core/snapshot.js';
import type { Context } from '../system/context.js';
import { PlanBuilder, linkTarget } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planLinkKernel } from '../system/tree-plans.js';
import type { UsabilityChecker } from '../system/usability.js';
import { ensureRegistered, installModule } from './install.js';

export interface AdoptedModule {
  readonly module: string;
  readonly version: string;
  readonly kernel: string;
  readonly arch: string;
  /** adopted: now the tree's module (a link in updates/dkms); kept: the plain copy stays, and why. */
  readonly outcome: { kind: 'adopted'; builtFor: string } | { kind: 'kept'; reason: string };
}

export interface AdoptReport {
  readonly registered: readonly { kernel: string; tree: string }[];
  readonly skipped: readonly { kernel: string; reason: string }[];
  readonly modules: readonly AdoptedModule[];
}

/** Kernels installed in the root: lib/modules/<kver> with a modules.dep, or a kernel image in boot/. */
function installedKernels(ctx: Context, snap: Snapshot): string[] {
  return snap.kernels
    .filter(
      (k) =>
        k.modulesDepMtimeMs !== undefined || existsSync(path.join(ctx.paths.bootDir, `vmlinuz-${k.kernel}`)),
    )
    .map((k) => k.kernel);
}

export async function adoptRoot(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
): Promise<AdoptReport> {
  let snap = await scanRoot(ctx.paths);
  const registered: { kernel: string; tree: string }[] = [];
  const skipped: { kernel: string; reason: string }[] = [];
  for (const kernel of installedKernels(ctx, snap)) {
    if (snap.kernels.find((k) => k.kernel === kernel)?.abi !== undefined) continue;
    try {
      const id = await ensureRegistered(ctx, session, kernel);
      registered.push({ kernel, tree: id.treeName });
    } catch (err) {
      // A kernel that cannot be identified (no symvers at all) keeps what dkms gave it.
      skipped.push({ kernel, reason: (err as Error).message });
    }
  }

  const modules: AdoptedModule[] = [];
  snap = await scanRoot(ctx.paths);
  for (const mv of snap.dkms) {
    for (const b of mv.builds) {
      // DKMS's own build marked installed: a stock dkms install (dkms-abi's are in a tree).
      if (!b.installed || b.kind !== 'built') continue;
      const k = snap.kernels.find((e) => e.kernel === b.kernel);
      if (k?.abi === undefined) continue;
      const place = { module: mv.module, version: mv.version, kernel: b.kernel, arch: b.arch };
      const cur = await scanRoot(ctx.paths);
      const tm = treeOf(cur, k.abi)?.modules.find(
        (m) => m.module === mv.module && m.version === mv.version && m.arch === b.arch,
      );
      if (tm !== undefined) {
        const u = await verdicts.usability(tm, b.kernel);
        if (!u.usable) {
          modules.push({ ...place, outcome: { kind: 'kept', reason: u.reason } });
          continue;
        }
        const plan = new PlanBuilder(ctx.paths.root);
        await planLinkKernel(ctx.paths, { ...tm, dkmsBookkeeping: true }, b.kernel, plan);
        if (plan.operations.length > 0)
          await session.apply({
            description: `adopt ${mv.module}/${mv.version} for ${b.kernel}`,
            operations: plan.operations,
            depmod: [b.kernel],
          });
        modules.push({ ...place, outcome: { kind: 'adopted', builtFor: tm.builtFor } });
        continue;
      }
      const r = await installModule(ctx, session, verdicts, mv, b.kernel, { build: false }).catch(
        (err: unknown) => ({ kind: 'error' as const, reason: (err as Error).message }),
      );
      if (r.kind === 'installed')
        modules.push({ ...place, outcome: { kind: 'adopted', builtFor: b.kernel } });
      else
        modules.push({
          ...place,
          outcome: { kind: 'kept', reason: 'reason' in r ? r.reason : r.message },
        });
    }
  }
  return { registered, skipped, modules };
}

export interface UndoReport {
  /** Module files put back as plain copies in updates/dkms, per kernel. */
  readonly copied: readonly { module: string; version: string; kernel: string; arch: string }[];
  /** Kernels whose extra/ link to a tree was removed (every module of it now a plain copy). */
  readonly unregistered: readonly { kernel: string; tree: string }[];
  /** Kernels that keep their link: their tree holds modules DKMS does not know (binary packages). */
  readonly kept: readonly { kernel: string; tree: string; modules: readonly string[] }[];
}

export async function undoAdopt(ctx: Context, session: Session): Promise<UndoReport> {
  const snap = await scanRoot(ctx.paths);
  const copied: { module: string; version: string; kernel: string; arch: string }[] = [];
  const unregistered: { kernel: string; tree: string }[] = [];
  const kept: { kernel: string; tree: string; modules: string[] }[] = [];
  for (const k of snap.kernels) {
    if (k.abi === undefined) continue;
    const tree = treeOf(snap, k.abi);
    const treeDir = ctx.paths.abiTree(k.abi.flavour, k.abi.abiver);
    const plan = new PlanBuilder(ctx.paths.root);
    const foreign: string[] = [];
    for (const tm of tree?.modules ?? []) {
      const marked = snap.dkms.some(
        (mv) =>
          mv.module === tm.module &&
          mv.version === tm.version &&
          mv.builds.some((b) => b.kernel === k.kernel && b.arch === tm.arch && b.installed),
      );
      if (!marked) {
        foreign.push(`${tm.module}/${tm.version}`);
        continue;
      }
      // Where Debian's dkms installs: updates/dkms/<name>.ko, a real file again.
      for (const rel of tm.files) {
        const dest = path.join(ctx.paths.kernelDir(k.kernel), 'updates', 'dkms', path.basename(rel));
        if ((await linkTarget(dest)) === `../../extra/${rel}` || !existsSync(dest))
          await plan.add({ op: 'copy', path: dest, from: path.join(treeDir, rel), mode: 0o644 });
      }
      copied.push({ module: tm.module, version: tm.version, kernel: k.kernel, arch: tm.arch });
    }
    const treeName = abiTreeName(k.abi);
    if (foreign.length === 0) {
      // The copies in updates/dkms serve every module: extra/ would show them twice.
      await plan.add({ op: 'remove', path: ctx.paths.extraLink(k.kernel) });
      unregistered.push({ kernel: k.kernel, tree: treeName });
    } else kept.push({ kernel: k.kernel, tree: treeName, modules: foreign });
    if (plan.operations.length === 0) continue;
    await session.apply({
      description: `undo adopt for ${k.kernel} (plain dkms copies)`,
      operations: plan.operations,
      depmod: [k.kernel],
    });
  }
  return { copied, unregistered, kept };
}
