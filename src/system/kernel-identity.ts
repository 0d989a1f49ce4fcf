// Decides a kernel's ABI identity, in order: the extra/ link a kernel package declared,
// a per-kernel override in the config, else automatically from its Module.symvers against
// the references archived per flavour (allocating a new abiver on breakage).
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import {
  compareWithReference,
  decideAbi,
  type AbiDecision,
  type ReferenceCheck,
} from '../core/abi-decision.js';
import { abiTreeName, nextAbiver, type AbiId } from '../core/abi-id.js';
import { EnvironmentError } from '../core/errors.js';
import { checkKernelRelease, parseKernelRelease } from '../core/release.js';
import { parseSymvers, type Symvers } from '../core/symvers.js';
import type { Context } from './context.js';
import { derivedSymversFile, findKernelSymvers, symversCandidates, type FoundFile } from './kernel-files.js';
import { ensureImageSymvers, kernelImageFile } from './image-symvers.js';
import { readExtra } from './scan.js';
import { parseSymversOnce, readSymversText } from './symvers-file.js';

export type IdentitySource = 'link' | 'config' | 'symvers';

export interface KernelIdentity {
  readonly kernel: string;
  readonly abi: AbiId;
  readonly treeName: string;
  readonly source: IdentitySource;
  /** Automatic identities: the decision and, for a new abiver, the reference to archive. */
  readonly decision?: AbiDecision;
  readonly symvers?: FoundFile;
  readonly newReference?: { readonly path: string; readonly text: string };
}

export async function identifyKernel(ctx: Context, kernel: string): Promise<KernelIdentity> {
  checkKernelRelease(kernel);
  const extra = await readExtra(ctx.paths, kernel);
  if (extra.kind === 'abi-link' && extra.abi !== undefined) {
    return { kernel, abi: extra.abi, treeName: abiTreeName(extra.abi), source: 'link' };
  }
  const override = ctx.config.kernels.get(kernel);
  const flavour = override?.flavour ?? parseKernelRelease(kernel, ctx.config.flavourPatterns).flavour;
  if (override?.abiver !== undefined) {
    const abi = { flavour, abiver: override.abiver };
    return { kernel, abi, treeName: abiTreeName(abi), source: 'config' };
  }
  const symvers = await kernelSymvers(ctx, kernel);
  if (symvers === undefined) {
    throw new EnvironmentError(
      `no Module.symvers for ${kernel} (looked in ${symversCandidates(ctx.paths, kernel).join(', ')})`,
      `install linux-headers-${kernel} or its image ${kernelImageFile(ctx.paths, kernel)}, or declare its ABI with "[kernel:${kernel}] abiver = N" in /etc/dkms-abi.conf, or an extra -> ../kernel-abi-<flavour>-<N> link`,
    );
  }
  const text = await readSymversText(symvers.host);
  const model = parseSymversOnce(text, symvers.inner);
  const { checks, used } = await checkReferences(ctx, flavour, model, text);
  const decision = decideAbi(checks, nextAbiver(used));
  const abi = { flavour, abiver: decision.abiver };
  return {
    kernel,
    abi,
    treeName: abiTreeName(abi),
    source: 'symvers',
    decision,
    symvers,
    ...(decision.kind === 'new'
      ? { newReference: { path: ctx.paths.abiReference(flavour, decision.abiver), text } }
      : {}),
  };
}

/**
 * The kernel's Module.symvers: a file its packages installed, else the one derived from its
 * image (derived again when the image changed since).
 */
export async function kernelSymvers(ctx: Context, kernel: string): Promise<FoundFile | undefined> {
  const found = await findKernelSymvers(ctx.paths, kernel);
  if (found !== undefined && found.inner !== derivedSymversFile(ctx.paths, kernel)) return found;
  return (await ensureImageSymvers(ctx.paths, kernel, (line) => ctx.out.note(line))) ?? found;
}

/**
 * Compares a symvers model with every archived reference of the flavour. Given the model's
 * text, a reference with the very same text needs no parsing: nothing changed, nothing added.
 */
export async function checkReferences(
  ctx: Context,
  flavour: string,
  model: Symvers,
  text?: string,
): Promise<{ checks: ReferenceCheck[]; used: string[] }> {
  const used = await listReferences(ctx, flavour);
  const checks: ReferenceCheck[] = [];
  for (const abiver of used) {
    const file = ctx.paths.abiReference(flavour, abiver);
    const refText = await readSymversText(file);
    if (text !== undefined && refText === text) {
      checks.push({ abiver, breaking: 0, added: 0 });
      continue;
    }
    checks.push({ abiver, ...compareWithReference(parseSymvers(refText, file), model) });
  }
  return { checks, used };
}

/** abivers archived for a flavour, numerically sorted. */
export async function listReferences(ctx: Context, flavour: string): Promise<string[]> {
  const dir = path.join(ctx.paths.abiArchiveDir, flavour);
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .map((n) => /^([0-9]{1,9})\.symvers$/.exec(n)?.[1])
    .filter((v): v is string => v !== undefined)
    .sort((a, b) => Number(a) - Number(b));
}
