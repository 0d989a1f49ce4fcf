// add, build, install, uninstall, remove: DKMS's verbs on a root, with the install step,
// DKMS's bookkeeping and depmod done by dkms-abi in the shared ABI trees.
import { UsageError, type ExitCode } from '../core/errors.js';
import { installedState, moduleLine, rejectedNote } from '../core/status.js';
import type { Context } from '../system/context.js';
import { dkmsAdd, dkmsRemove } from '../system/dkms.js';
import { planSourceLinks } from '../system/dkms-source-links.js';
import { separateExcluded } from '../flows/autoinstall.js';
import { ensureRegistered, installModule } from '../flows/install.js';
import { describeAction } from './autoinstall.js';
import { identifyKernel } from '../system/kernel-identity.js';
import {
  depmodKernels,
  plainDkmsInstalls,
  uninstallFromTrees,
  uninstallPlainDkms,
  type Uninstalled,
} from '../flows/uninstall.js';
import { buildModule, hostArch, type ModuleVersionRef } from '../system/module-build.js';
import { withSession } from '../system/session.js';
import { VerdictService } from '../system/verdict-service.js';

export interface ModuleTarget {
  readonly module: string;
  readonly version?: string;
}

export interface KernelOption {
  readonly kernel?: string;
}

export interface UninstallOptions extends ModuleTarget, KernelOption {
  /** With -k: the other kernels sharing its tree lose the module too (see flows/uninstall.ts). */
  readonly allSharing?: boolean;
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
  return withSession<ExitCode>(ctx, 'add', async (session) => {
    const r = await dkmsAdd(ctx.paths, mv);
    // dkms wrote the host path of the root: kept relative, so the root can move.
    await session.apply(await planSourceLinks(ctx.paths));
    ctx.out.line(moduleLine(mv, r === 'added' ? 'added' : 'already added'));
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
        ctx.out.line(moduleLine({ ...mv, kernel, arch: hostArch() }, 'built'));
        return 0;
      case 'excluded':
      case 'build-failed':
        return reportNotBuilt(ctx, mv, kernel, r);
    }
  });
}

/** Built, but not installed: its own kernel's loader refuses it, or another package owns its file. */
export function reportRefused(
  ctx: Context,
  mv: ModuleVersionRef,
  kernel: string,
  r: { kind: 'unusable' | 'conflict'; reason: string },
): ExitCode {
  ctx.out.note(
    r.kind === 'unusable'
      ? `dkms-abi: ${mv.module}/${mv.version} built for ${kernel} would not load on it: ${r.reason}`
      : `dkms-abi: cannot install ${mv.module}/${mv.version} for ${kernel}: ${r.reason}`,
  );
  return 1;
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
    ctx.out.line(moduleLine({ ...mv, kernel }, `skipped (${r.message})`));
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
    const verdicts = new VerdictService(ctx.paths);
    const r = await installModule(ctx, session, verdicts, mv, kernel);
    switch (r.kind) {
      case 'installed': {
        // The modules of the build its own kernel refuses: installed all the same, as stock
        // dkms installs them, and named on each line (status names them too).
        const refused = Object.entries(r.unloadable).map(([name, why]) => `${name}: ${why}`);
        const detail = refused.length === 0 ? '' : ` (${refused.join('; ')})`;
        for (const k of r.kernels)
          ctx.out.line(
            moduleLine({ ...mv, kernel: k, arch: hostArch() }, `${installedState(k, kernel)}${detail}`),
          );
        for (const x of r.rejected) ctx.out.note(rejectedNote(mv, x));
        // Kernels of the tree it excludes leave it, so the files do not reach them either.
        for (const k of r.excluded) {
          await separateExcluded(ctx, session, verdicts, k, (a) => ctx.out.line(describeAction(a, k)));
        }
        return 0;
      }
      case 'excluded':
      case 'build-failed':
        return reportNotBuilt(ctx, mv, kernel, r);
      case 'unusable':
      case 'conflict':
        return reportRefused(ctx, mv, kernel, r);
    }
  });
}

/** Takes M/V out of the shared trees (of one kernel's ABI, or all), leaving DKMS's builds. */
export async function uninstall(ctx: Context, opts: UninstallOptions): Promise<ExitCode> {
  return withSession<ExitCode>(ctx, 'uninstall', async (session) => {
    const removed = [
      ...(await uninstallFromTrees(ctx, session, opts)),
      ...(await uninstallPlainDkms(ctx, session, opts)),
    ].map(uninstalledLine);
    if (removed.length === 0)
      ctx.out.note(`${opts.module}${opts.version !== undefined ? `/${opts.version}` : ''} is not installed`);
    for (const line of removed) ctx.out.line(line);
    return 0;
  });
}

const uninstalledLine = (u: Uninstalled): string => moduleLine(u, 'uninstalled');

export interface RemoveOptions extends UninstallOptions {
  readonly all?: boolean;
}

export async function remove(ctx: Context, opts: RemoveOptions): Promise<ExitCode> {
  const mv = requireVersion(opts, 'remove');
  if (opts.all !== true && opts.kernel === undefined) throw new UsageError('remove needs --all or -k KVER');
  return withSession<ExitCode>(ctx, 'remove', async (session) => {
    // Our marks go first, so dkms sees nothing installed and runs no depmod of its own.
    const lines = (
      await uninstallFromTrees(ctx, session, {
        ...mv,
        ...(opts.all === true ? {} : { kernel: opts.kernel, allSharing: opts.allSharing === true }),
      })
    ).map(uninstalledLine);
    for (const line of lines) ctx.out.line(line);
    const target = { ...mv, ...(opts.all === true ? {} : { kernel: opts.kernel }) };
    // What stock dkms installed itself, dkms remove uninstalls (deleting its copies): those
    // kernels need depmod afterwards, as stock dkms runs it.
    const plain = (await plainDkmsInstalls(ctx, target)).flatMap((p) => p.kernels.map((k) => k.kernel));
    const kernels = opts.all === true ? 'all' : [{ kernel: opts.kernel ?? '', arch: hostArch() }];
    const r = await dkmsRemove(ctx.paths, mv, kernels);
    await depmodKernels(ctx, session, plain, `remove ${mv.module}/${mv.version}`);
    ctx.out.line(moduleLine(mv, r === 'removed' ? 'removed' : 'not added'));
    return 0;
  });
}
