// abi show KVER: a kernel's ABI identity and where it comes from.
// abi update KVER: the packager step — archive the kernel's Module.symvers as its flavour's
// reference, bumping abiver when it breaks the newest compatible reference.
import { readFile } from 'node:fs/promises';
import { decideAbi } from '../core/abi-decision.js';
import { abiTreeName, formatAbi, nextAbiver } from '../core/abi-id.js';
import { EnvironmentError, type ExitCode } from '../core/errors.js';
import { parseKernelRelease } from '../core/release.js';
import { parseSymvers } from '../core/symvers.js';
import type { Context } from '../system/context.js';
import { checkReferences, identifyKernel, kernelSymvers } from '../system/kernel-identity.js';
import { symversCandidates } from '../system/kernel-files.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { withSession } from '../system/session.js';
import { readSymversText } from '../system/symvers-file.js';

export interface AbiKernelOptions {
  readonly kernel: string;
}

export async function abiShow(ctx: Context, opts: AbiKernelOptions): Promise<ExitCode> {
  const id = await identifyKernel(ctx, opts.kernel);
  const release = parseKernelRelease(opts.kernel, ctx.config.flavourPatterns);
  const how =
    id.source === 'link'
      ? 'declared by its extra/ link'
      : id.source === 'config'
        ? 'set in the configuration'
        : id.decision?.kind === 'join'
          ? `its Module.symvers matches the archived reference${id.decision.added > 0 ? ` (+${id.decision.added} added symbols)` : ''}`
          : `its Module.symvers matches no archived reference: kernel add would allocate ${formatAbi(id.abi)}`;
  if (ctx.json) {
    ctx.out.json({
      kernel: id.kernel,
      flavour: id.abi.flavour,
      abiver: id.abi.abiver,
      tree: id.treeName,
      source: id.source,
      distro: release.distro,
      symvers: id.symvers?.inner ?? null,
      decision: id.decision ?? null,
    });
  } else {
    ctx.out.line(`kernel:  ${id.kernel}`);
    ctx.out.line(`abi:     ${formatAbi(id.abi)} (${how})`);
    ctx.out.line(`tree:    ${ctx.paths.inner.modulesDir}/${id.treeName}`);
    if (id.symvers !== undefined) ctx.out.line(`symvers: ${id.symvers.inner}`);
  }
  return 0;
}

export async function abiUpdate(ctx: Context, opts: AbiKernelOptions): Promise<ExitCode> {
  const symvers = await kernelSymvers(ctx, opts.kernel);
  if (symvers === undefined) {
    throw new EnvironmentError(
      `no Module.symvers for ${opts.kernel} (looked in ${symversCandidates(ctx.paths, opts.kernel).join(', ')})`,
    );
  }
  const flavour =
    ctx.config.kernels.get(opts.kernel)?.flavour ??
    parseKernelRelease(opts.kernel, ctx.config.flavourPatterns).flavour;
  return withSession<ExitCode>(ctx, `abi update ${opts.kernel}`, async (session) => {
    const text = await readSymversText(symvers.host);
    const model = parseSymvers(text, symvers.inner);
    const { checks, used } = await checkReferences(ctx, flavour, model);
    const decision = decideAbi(checks, nextAbiver(used));
    const file = ctx.paths.abiReference(flavour, decision.abiver);
    const plan = new PlanBuilder(ctx.paths.root);
    const current = await readFile(file, 'utf8').catch(() => undefined);
    // A kernel that joins with nothing added holds the reference's exports already, though
    // maybe listed in another order (one read from an image rather than shipped by headers).
    const sameExports = decision.kind === 'join' && decision.added === 0 && current !== undefined;
    const rewrite = !sameExports && current !== text;
    if (rewrite) await plan.add({ op: 'write', path: file, data: Buffer.from(text) });
    await session.apply({
      description: `abi update ${opts.kernel}`,
      operations: plan.operations,
      depmod: [],
    });
    const abi = { flavour, abiver: decision.abiver };
    const message =
      decision.kind === 'join'
        ? `${opts.kernel}: compatible with ${formatAbi(abi)}${decision.added > 0 ? `, ${decision.added} symbols added` : ''}; reference ${rewrite ? 'updated' : 'unchanged'}`
        : decision.breaksFrom === undefined
          ? `${opts.kernel}: first reference of flavour ${flavour}: archived as ${formatAbi(abi)}`
          : `${opts.kernel}: ABI break against ${flavour}-${decision.breaksFrom.abiver} (${decision.breaksFrom.breaking} symbols changed or removed): abiver bumped, archived as ${formatAbi(abi)}`;
    if (ctx.json)
      ctx.out.json({
        kernel: opts.kernel,
        flavour,
        abiver: decision.abiver,
        tree: abiTreeName(abi),
        decision: decision.kind,
        reference: file,
      });
    else ctx.out.line(message);
    return 0;
  });
}
