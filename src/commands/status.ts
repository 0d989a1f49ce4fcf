// status: one dkms-style line per module/version/kernel/arch, read from the trees directly.
import { sameAbi } from '../core/abi-id.js';
import type { ExitCode } from '../core/errors.js';
import { deriveStatus, formatStatusLine, type StatusEntry, type Usability } from '../core/status.js';
import { type TreeModule, treeOf } from '../core/snapshot.js';
import type { Context } from '../system/context.js';
import { scanRoot } from '../system/scan.js';
import type { HeaderFinding } from '../core/header-record.js';
import { readTreeHeaderRecord, recordFinding } from '../system/header-files.js';
import { readStable } from '../system/stable-read.js';
import { VerdictService } from '../system/verdict-service.js';

export interface StatusOptions {
  readonly module?: string;
  readonly version?: string;
  readonly kernel?: string;
}

export async function status(ctx: Context, opts: StatusOptions): Promise<ExitCode> {
  // No lock: a state that really existed, read again while a change overlapped the read.
  const { entries, verdicts } = await readStable(ctx, () => readStatus(ctx, opts));
  // Only verdicts of a stable read are kept.
  await verdicts.flush();
  if (ctx.json) ctx.out.json({ entries });
  // One write, not one per line: status lists every module × kernel.
  else if (entries.length > 0) ctx.out.line(entries.map(formatStatusLine).join('\n'));
  return 0;
}

async function readStatus(
  ctx: Context,
  opts: StatusOptions,
): Promise<{ entries: StatusEntry[]; verdicts: VerdictService }> {
  const snap = await scanRoot(ctx.paths);
  // The verdict service keeps each kernel's tree verdicts on disk, valid while the kernel's
  // files and the tree's modules are unchanged: status at boot or after an update only stats.
  const verdicts = new VerdictService(ctx.paths);
  // Verdicts are asynchronous (files, cache); derive needs them ready: compute the pairs first.
  // Keyed by the snapshot's own tree module objects (deriveStatus hands the same back), then kernel.
  const answers = new Map<TreeModule, Map<string, Usability>>();
  const findings = new Map<TreeModule, Map<string, HeaderFinding>>();
  const put = <T>(m: Map<TreeModule, Map<string, T>>, tm: TreeModule, kernel: string, v: T): void => {
    let perKernel = m.get(tm);
    if (perKernel === undefined) m.set(tm, (perKernel = new Map<string, T>()));
    perKernel.set(kernel, v);
  };
  for (const k of snap.kernels) {
    if (k.abi === undefined || (opts.kernel !== undefined && k.kernel !== opts.kernel)) continue;
    const abi = k.abi;
    const tree = treeOf(snap, abi);
    for (const tm of tree?.modules ?? []) {
      if (opts.module !== undefined && tm.module !== opts.module) continue;
      put(answers, tm, k.kernel, await verdicts.usability(tm, k.kernel));
    }
  }
  // Reused builds (built for another kernel): do the headers they read match this kernel's?
  // Each tree module's record is read once, then compared per kernel that reuses it.
  if (ctx.config.headerDrift !== 'ignore') {
    for (const tree of snap.trees) {
      const users = snap.kernels.filter(
        (k) =>
          k.abi !== undefined &&
          sameAbi(k.abi, tree.abi) &&
          (opts.kernel === undefined || k.kernel === opts.kernel),
      );
      if (users.length === 0) continue;
      const dir = ctx.paths.abiTree(tree.abi.flavour, tree.abi.abiver);
      for (const tm of tree.modules) {
        if (opts.module !== undefined && tm.module !== opts.module) continue;
        const reusers = users.filter((k) => tm.builtFor !== k.kernel);
        const record = reusers.length > 0 ? readTreeHeaderRecord(dir, tm) : undefined;
        if (record === undefined) continue;
        for (const k of reusers)
          put(findings, tm, k.kernel, await recordFinding(ctx.paths, record, k.kernel));
      }
    }
  }
  const entries = deriveStatus(
    snap,
    (tm, kernel) => answers.get(tm)?.get(kernel) ?? { usable: false, reason: 'not checked' },
    opts,
    (tm, kernel) => findings.get(tm)?.get(kernel),
  );
  return { entries, verdicts };
}
