// Every command that changes a root runs inside a session: take the root's lock, finish or
// roll back whatever a killed run left in the journal, then apply plans atomically with
// depmod as their last step.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { EnvironmentError } from '../core/errors.js';
import { describePlan, type Plan } from '../core/plan.js';
import type { Context } from './context.js';
import { announcedChange } from './change-marks.js';
import { depmod } from './depmod.js';
import { planSourceLinks } from './dkms-source-links.js';
import { withLock } from './lock.js';
import { checkStateConfined, checkStateLayout, writeLayoutVersion } from './state-layout.js';
import { applyPlan, recoverJournals } from './txn.js';

export interface Session {
  /** Applies a plan all-or-nothing (printing it instead with --dry-run). */
  apply(plan: Plan): Promise<void>;
  readonly dryRun: boolean;
}

export interface SessionOptions {
  readonly dryRun?: boolean;
  /**
   * Collect the kernels plans name for depmod and run depmod once per kernel when the
   * session ends (autoinstall, kernel add), instead of after each plan. A crash before
   * that leaves committed modules newer than modules.dep: status says needs-depmod and
   * the next autoinstall runs the depmod.
   */
  readonly batchDepmod?: boolean;
}

export async function withSession<T>(
  ctx: Context,
  command: string,
  fn: (session: Session) => Promise<T>,
  opts: SessionOptions = {},
): Promise<T> {
  const { paths, config, out } = ctx;
  return withLock(
    paths.lockFile,
    {
      timeoutSeconds: config.lockTimeoutSeconds,
      command,
      onWait: (owner) =>
        out.note(
          owner === undefined
            ? `waiting for the lock ${paths.lockFile}`
            : `waiting for the lock held by pid ${owner.pid} (${owner.command})…`,
        ),
    },
    async () => {
      // Checked again under the lock: the state is read (the journal first) only if ours,
      // and only where it was confined when the command started.
      checkStateConfined(paths);
      if (opts.dryRun !== true) await requireWritableDkmsTree(paths.dkmsTree);
      let layoutWritten = (await checkStateLayout(paths)).written;
      await recover(ctx);
      const dryRun = opts.dryRun === true;
      const pending = new Set<string>();
      const session: Session = {
        dryRun,
        apply: async (plan) => {
          if (dryRun) {
            for (const line of describePlan(plan)) out.note(`would ${line}`);
            return;
          }
          if (opts.batchDepmod === true) for (const k of plan.depmod) pending.add(k);
          // A state directory from before layout versions (or a new one) gets its version
          // with the first change, in the same transaction: a failed change leaves no trace.
          const operations =
            layoutWritten || plan.operations.length === 0
              ? plan.operations
              : [...plan.operations, writeLayoutVersion(paths)];
          await applyPlan(
            { ...plan, operations, ...(opts.batchDepmod === true ? { depmod: [] } : {}) },
            {
              root: paths.root,
              journalDir: paths.journalDir,
              generationFile: paths.generationFile,
              depmod: (kernels) => depmod(ctx, kernels),
              depmodDirs: (kernels) => kernels.map((k) => paths.kernelDir(k)),
            },
          );
          if (operations !== plan.operations) layoutWritten = true;
        },
      };
      // A root added to by dkms-abi before source links were kept relative, then moved or
      // copied, finds its sources again before anything reads them.
      await session.apply(await planSourceLinks(paths));
      const result = await fn(session);
      const kernels: string[] = [];
      for (const k of pending) if (await isDirectory(paths.kernelDir(k))) kernels.push(k);
      // The plans are committed: a failing depmod leaves them in place, only the index behind.
      // Outside a journal: announced to readers that take no lock (status).
      if (kernels.length > 0)
        await announcedChange(paths, 'depmod', () =>
          depmod(
            ctx,
            kernels,
            (k) =>
              `depmod failed for ${k}; the changes made stay, ${k}'s modules.dep is out of date until depmod succeeds: fix it, then run the command again or dkms-abi verify --repair`,
          ),
        );
      return result;
    },
  );
}

/** Completes or undoes interrupted changes; must run under the lock. */
export async function recover(ctx: Context): Promise<{ rolledBack: string[]; finished: string[] }> {
  const r = await recoverJournals(ctx.paths.journalDir, ctx.paths.root, ctx.paths.generationFile);
  for (const d of r.rolledBack) ctx.out.note(`rolled back an interrupted change: ${d}`);
  for (const d of r.finished) ctx.out.note(`finished an interrupted change: ${d}`);
  // A kernel removed by the interrupted change has nothing left to index.
  const kernels: string[] = [];
  for (const k of r.depmod) if (await isDirectory(ctx.paths.kernelDir(k))) kernels.push(k);
  if (kernels.length > 0)
    await announcedChange(ctx.paths, 'depmod', () =>
      depmod(
        ctx,
        kernels,
        (k) =>
          `depmod failed for ${k} after an interrupted change was ended; its modules.dep is out of date until depmod succeeds: fix it, then run dkms-abi verify --repair`,
      ),
    );
  return r;
}

async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() === true;
}

/**
 * DKMS's bookkeeping is written in the middle of a command (builds, marks), after plans
 * that already committed: a read-only DKMS tree found there would leave a kernel registered
 * without its modules counted. Refused before anything changes instead.
 */
async function requireWritableDkmsTree(dkmsTree: string): Promise<void> {
  try {
    await access(dkmsTree, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new EnvironmentError(
      `cannot write the DKMS tree ${dkmsTree}: ${code ?? String(err)} (nothing was changed)`,
    );
  }
}
