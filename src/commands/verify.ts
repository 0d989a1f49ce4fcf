// verify [--repair]: report what is inconsistent in the root (exit 1 when anything is
// damage); with --repair, inside a session (lock, journal recovery first) fix what is safe,
// then check again. Plain verify reads under the lock too, so a change in progress in
// another process is not mistaken for damage.
import type { ExitCode } from '../core/errors.js';
import { formatFinding, isDamaged, publicFinding, type Diagnosis } from '../core/verify.js';
import type { Context } from '../system/context.js';
import { isUnwritable } from '../system/atomic-write.js';
import { LockUnusableError, withLock } from '../system/lock.js';
import { withSession } from '../system/session.js';
import { applyFixes } from '../flows/verify-repair.js';
import { diagnoseRoot } from '../system/verify-facts.js';

export interface VerifyOptions {
  readonly repair?: boolean;
}

/** Rounds of repair: a fix can reveal the next (a dangling entry removed, its mark is due). */
const MAX_ROUNDS = 4;

export async function verify(ctx: Context, opts: VerifyOptions): Promise<ExitCode> {
  if (opts.repair !== true) {
    const findings = await underLock(ctx, () => diagnoseRoot(ctx));
    report(ctx, findings);
    return isDamaged(findings) ? 1 : 0;
  }
  return withSession<ExitCode>(ctx, 'verify --repair', async (session) => {
    const tried = new Set<string>();
    const repaired: string[] = [];
    const failed: string[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const r = await applyFixes(ctx, session, await diagnoseRoot(ctx), tried);
      repaired.push(...r.repaired);
      failed.push(...r.failed);
      if (r.attempted === 0) break;
    }
    const findings = await diagnoseRoot(ctx);
    report(ctx, findings, { repaired, failed });
    return isDamaged(findings) ? 1 : 0;
  });
}

async function underLock<T>(ctx: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await withLock(
      ctx.paths.lockFile,
      {
        timeoutSeconds: ctx.config.lockTimeoutSeconds,
        command: 'verify',
        onWait: (owner) =>
          ctx.out.note(`waiting for the lock held by pid ${owner?.pid ?? '?'} (${owner?.command ?? '?'})…`),
      },
      fn,
    );
  } catch (err) {
    // A root that cannot even hold a lock file (read-only, full) can still be checked.
    if (err instanceof LockUnusableError && isUnwritable(err.code)) {
      ctx.out.note(`${err.message}: verifying without it`);
      return fn();
    }
    throw err;
  }
}

function report(
  ctx: Context,
  findings: readonly Diagnosis[],
  repair?: { repaired: readonly string[]; failed: readonly string[] },
): void {
  const damaged = isDamaged(findings);
  if (ctx.json) {
    ctx.out.json({
      findings: findings.map(publicFinding),
      damaged,
      ...(repair === undefined ? {} : { repaired: repair.repaired, failed: repair.failed }),
    });
    return;
  }
  for (const r of repair?.repaired ?? []) ctx.out.line(`repaired ${r}`);
  for (const f of repair?.failed ?? []) ctx.out.line(`failed ${f}`);
  for (const f of findings) ctx.out.line(formatFinding(f));
  const damage = findings.filter((f) => f.damage).length;
  ctx.out.note(
    damage > 0
      ? `verify: ${damage} problem(s) found${findings.length > damage ? `, ${findings.length - damage} notice(s)` : ''}`
      : `verify: consistent${findings.length > 0 ? ` (${findings.length} notice(s))` : ''}`,
  );
}
