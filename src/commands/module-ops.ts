// add, build, install, uninstall, remove: DKMS's verbs on a root, with the install step,
// DKMS's bookkeeping and depmod done by dkms-abi in the shared ABI trees.
import { sameAbi } from '../core/abi-id.js';
import { UsageError, type ExitCode } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { dkmsAdd, dkmsRemove } from '../system/dkms.js';
import { ensureRegistered, installModule } from '../system/install-flow.js';
import { identifyKernel } from '../system/kernel-identity.js';
import { planRemoveFromTree } from '../system/module-install.js';
import { buildModule, hostArch, kernelsOfTree, type ModuleVersionRef } from '../system/modules.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import { withSession, type Session } from '../system/session.js';
import { VerdictService } from '../system/verdicts.js';

export interface ModuleTarget {
  readonly module: string;
  readonly version?: string;
}

export interface KernelOption {
  readonly kernel?: string;
}

function requireVersion(t: ModuleTarget, verb: string): ModuleVersionRef {
  if (t.version === undefined || t.version === '')
    throw new UsageError(`${verb} needs MODULE/VERSION, got "${t.module}"`);
  return { module: t.module, version: t.version };
}

function requireKernel(o: KernelOption, verb: string): string {
  if (o.kernel === undefined) throw new UsageError(`${verb} needs -k KVER`);
  return o.kernel;
}

export async function add(ctx: Context, opts: ModuleTarget): Promise<ExitCode> {
  const mv = requireVersion(opts, 'add');
  return withSession<ExitCode>(ctx, 'add', async () => {
    const r = await dkmsAdd(ctx.paths, mv);
    ctx.out.line(
      r === 'added' ? `${mv.module}/${mv.version}: added` : `${mv.module}/${mv.version}: already added`,
    );
    return 0;
  });
}

export async function build(ctx: Context, opts: ModuleTarget & KernelOption): Promise<ExitCode> {
  const mv = requireVersion(opts, 'build');
  const kernel = requireKernel(opts, 'build');
  return withSession<ExitCode>(ctx, 'build', async (session) => {
    // Registered only once built: a build that fails leaves the kernel as it was.
    const r = await buildModule(ctx, mv, kernel, hostArch(), (await identifyKernel(ctx, kernel)).abi);
    switch (r.kind) {
      case 'built':
      case 'already-built':
        await ensureRegistered(ctx, session, kernel);
        ctx.out.line(`${mv.module}/${mv.version}, ${kernel}, ${hostArch()}: built`);
        return 0;
      case 'excluded':
      case 'build-failed':
        return reportNotBuilt(ctx, mv, kernel, r);
    }
  });
}

/** BUILD_EXCLUSIVE said no (not an error), or make failed (the environment: exit 3). */
function reportNotBuilt(
  ctx: Context,
  mv: ModuleVersionRef,
  kernel: string,
  r:
    | { kind: 'excluded'; message: string }
    | { kind: 'build-failed'; message: string; makeLog: string; logTail: string },
): ExitCode {
  if (r.kind === 'excluded') {
    ctx.out.line(`${mv.module}/${mv.version}, ${kernel}: skipped (${r.message})`);
    return 0;
  }
  ctx.out.note(r.logTail);
  ctx.out.note(
    `dkms-abi: ${mv.module}/${mv.version} failed to build for ${kernel}: ${r.message} (see ${r.makeLog})`,
  );
  return 3;
}

export async function install(ctx: Context, opts: ModuleTarget & KernelOption): Promise<ExitCode> {
  const mv = requireVersion(opts, 'install');
  const kernel = requireKernel(opts, 'install');
  return withSession<ExitCode>(ctx, 'install', async (session) => {
    const r = await installModule(ctx, session, new VerdictService(ctx.paths), mv, kernel);
    switch (r.kind) {
      case 'installed':
        for (const k of r.kernels)
          ctx.out.line(
            `${mv.module}/${mv.version}, ${k}, ${hostArch()}: ${k === kernel ? 'installed' : `installed-abi (from ${kernel})`}`,
          );
        for (const x of r.rejected)
          ctx.out.note(`${mv.module}/${mv.version} is not usable on ${x.kernel}: ${x.reason}`);
        return 0;
      case 'excluded':
      case 'build-failed':
        return reportNotBuilt(ctx, mv, kernel, r);
      case 'unusable':
        ctx.out.note(
          `dkms-abi: ${mv.module}/${mv.version} built for ${kernel} would not load on it: ${r.reason}`,
        );
        return 1;
    }
  });
}

/** Takes M/V out of the shared trees (of one kernel's ABI, or all), leaving DKMS's builds. */
export async function uninstall(ctx: Context, opts: ModuleTarget & KernelOption): Promise<ExitCode> {
  return withSession<ExitCode>(ctx, 'uninstall', async (session) => {
    const removed = await uninstallFromTrees(ctx, session, opts);
    if (removed.length === 0)
      ctx.out.note(`${opts.module}${opts.version !== undefined ? `/${opts.version}` : ''} is not installed`);
    for (const line of removed) ctx.out.line(line);
    return 0;
  });
}

async function uninstallFromTrees(
  ctx: Context,
  session: Session,
  opts: ModuleTarget & KernelOption,
): Promise<string[]> {
  const snap = await scanRoot(ctx.paths);
  const onlyAbi =
    opts.kernel === undefined ? undefined : snap.kernels.find((k) => k.kernel === opts.kernel)?.abi;
  if (opts.kernel !== undefined && onlyAbi === undefined) return [];
  const lines: string[] = [];
  for (const tree of snap.trees) {
    if (onlyAbi !== undefined && !sameAbi(tree.abi, onlyAbi)) continue;
    for (const tm of tree.modules) {
      if (tm.module !== opts.module || (opts.version !== undefined && tm.version !== opts.version)) continue;
      const kernels = kernelsOfTree(snap, tree.abi);
      const plan = new PlanBuilder(ctx.paths.root);
      await planRemoveFromTree(ctx.paths, tree.abi, tm, plan, new Set(), kernels);
      await session.apply({
        description: `uninstall ${tm.module}/${tm.version} from kernel-abi-${tree.abi.flavour}-${tree.abi.abiver}`,
        operations: plan.operations,
        depmod: kernels,
      });
      for (const k of kernels) lines.push(`${tm.module}/${tm.version}, ${k}, ${tm.arch}: uninstalled`);
    }
  }
  return lines;
}

export interface RemoveOptions extends ModuleTarget, KernelOption {
  readonly all?: boolean;
}

export async function remove(ctx: Context, opts: RemoveOptions): Promise<ExitCode> {
  const mv = requireVersion(opts, 'remove');
  if (opts.all !== true && opts.kernel === undefined) throw new UsageError('remove needs --all or -k KVER');
  return withSession<ExitCode>(ctx, 'remove', async (session) => {
    // Our marks go first, so dkms sees nothing installed and runs no depmod of its own.
    const lines = await uninstallFromTrees(ctx, session, {
      ...mv,
      ...(opts.all === true ? {} : { kernel: opts.kernel }),
    });
    for (const line of lines) ctx.out.line(line);
    const kernels = opts.all === true ? 'all' : [{ kernel: opts.kernel ?? '', arch: hostArch() }];
    const r = await dkmsRemove(ctx.paths, mv, kernels);
    ctx.out.line(
      r === 'removed' ? `${mv.module}/${mv.version}: removed` : `${mv.module}/${mv.version}: not added`,
    );
    return 0;
  });
}
