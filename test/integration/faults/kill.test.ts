// SIGKILL at every transaction step of install, kernel add (same ABI; new ABI tree with a
// real extra/ directory migrated), kernel remove and uninstall, on copies of one root built
// by the real commands. After each kill: nothing that was there before and is still there
// after an uninterrupted run is lost (the other package's files in extra/ included), verify
// reports the interrupted change, --repair (or the next command's own recovery) cleans it up,
// and running the command again ends in exactly the state of an uninterrupted run.
//
// DKMS_ABI_FAULT_AT="+N" kills the process at the N-th step of all its transactions
// together; DKMS_ABI_FAULT_TRACE lists the steps of a run (src/system/txn.ts). CI runs a
// deterministic sample of the steps; DKMS_ABI_FULL_FAULTS=1 (npm run test:faults) runs all.
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../../helpers/cli.js';
import type { SandboxRoot } from '../../helpers/sandbox.js';
import type { TreeSnapshot } from '../../helpers/tree-snapshot.js';
import {
  A,
  B,
  D,
  FULL,
  MODULES,
  buildTemplate,
  cli,
  copyRoot,
  expectConsistent,
  removeRoot,
  runFault,
  snap,
  vendorBytes,
} from './roots.js';

interface Step {
  readonly n: number;
  /** Step within its transaction. */
  readonly step: number;
  readonly transaction: string;
}

interface Case {
  readonly name: string;
  readonly from: () => string;
  readonly args: readonly string[];
  /** Fewer steps than this means the command no longer does what the test is about. */
  readonly minSteps: number;
  readonly minTransactions: number;
}

interface Finding {
  kind: string;
  path: string;
}

const summary: string[] = [];

/** Steps of CI's sample: the first and last, the middle, the first of every later transaction. */
function sample(steps: readonly Step[]): Step[] {
  if (FULL) return [...steps];
  const keep = new Set([0, Math.floor(steps.length / 2), steps.length - 1]);
  for (const s of steps) if (s.step === 0) keep.add(s.n);
  return steps.filter((s) => keep.has(s.n));
}

/** The sha256 prefixes of every regular file a snapshot lists. */
function contents(s: TreeSnapshot): Set<string> {
  const out = new Set<string>();
  for (const v of Object.values(s)) if (v.startsWith('file ')) out.add(v.split(' ')[3] ?? '');
  return out;
}

function hashOf(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** Runs `fn` over the items, `width` at a time (the machine has two cores). */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

describe('SIGKILL at every transaction step', () => {
  let template: SandboxRoot;
  let installed: string; // hello-abi and abi-provider installed for A
  let withB: string; // and B added
  let vendor: Map<string, Buffer>;
  const vendorHashes = new Map<string, string>();

  beforeAll(async () => {
    template = await buildTemplate();
    vendor = await vendorBytes();
    for (const [rel, bytes] of vendor) vendorHashes.set(rel, hashOf(bytes));
    installed = await copyRoot(template.root);
    for (const m of MODULES) await cli(installed, ['install', `${m}/1.0`, '-k', A]);
    withB = await copyRoot(installed);
    await cli(withB, ['kernel', 'add', B]);
  });

  afterAll(async () => {
    for (const r of [installed, withB]) if (r !== undefined) await removeRoot(r);
    await template?.cleanup();
    console.log(`kill test summary (${FULL ? 'every step' : 'CI sample'}):\n  ${summary.join('\n  ')}`);
  });

  const cases: Case[] = [
    {
      name: 'install',
      from: () => template.root,
      args: ['install', 'hello-abi/1.0', '-k', A],
      minSteps: 10,
      minTransactions: 1,
    },
    {
      name: 'kernel add (same ABI)',
      from: () => installed,
      args: ['kernel', 'add', B],
      minSteps: 15,
      minTransactions: 3,
    },
    {
      name: 'kernel add (new ABI tree, extra/ migrated)',
      from: () => installed,
      args: ['kernel', 'add', D],
      minSteps: 25,
      minTransactions: 3,
    },
    {
      name: 'kernel remove (builds rehomed)',
      from: () => withB,
      args: ['kernel', 'remove', A],
      minSteps: 8,
      minTransactions: 1,
    },
    {
      name: 'uninstall',
      from: () => withB,
      args: ['uninstall', 'hello-abi/1.0'],
      minSteps: 8,
      minTransactions: 1,
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      // An uninterrupted run, with the steps it passes listed.
      const ref = await copyRoot(c.from());
      const before = await snap(ref);
      const trace = path.join(path.dirname(ref), 'trace');
      const clean = await runFault(ref, c.args, { DKMS_ABI_FAULT_TRACE: trace });
      expect(clean.stderr).not.toMatch(/rolled back|finished an interrupted/);
      expect(clean.exitCode).toBe(0);
      await expectConsistent(ref);
      const expected = await snap(ref);
      const steps: Step[] = (await readFile(trace, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((line) => {
          const [n = '', step = '', ...rest] = line.split(' ');
          return { n: Number(n), step: Number(step), transaction: rest.join(' ') };
        });
      await removeRoot(ref);
      expect(steps.map((s) => s.n)).toEqual(steps.map((_, i) => i));
      const transactions = steps.filter((s) => s.step === 0).length;
      expect(steps.length).toBeGreaterThanOrEqual(c.minSteps);
      expect(transactions).toBeGreaterThanOrEqual(c.minTransactions);

      // What must survive any kill: files unchanged from before to after, and the other
      // package's files in D's extra/.
      const kept = new Set<string>();
      for (const [rel, v] of Object.entries(before))
        if (v.startsWith('file ') && expected[rel] === v) kept.add(v.split(' ')[3] ?? '');
      for (const h of vendorHashes.values()) kept.add(h);

      let killed = 0;
      let repaired = 0;
      let recoveredByRerun = 0;
      await pool(sample(steps), 2, async (s) => {
        const root = await copyRoot(c.from());
        try {
          const k = await runFault(root, c.args, { DKMS_ABI_FAULT_AT: `+${s.n}` });
          expect(k.signal, `step ${s.n}: ${k.stderr}`).toBe('SIGKILL');
          killed++;
          // (a) nothing lost: every kept file's bytes are still somewhere in the root.
          const have = contents(await snap(root));
          for (const h of kept) expect(have.has(h), `step ${s.n} (${s.transaction}): lost ${h}`).toBe(true);

          // (b) verify sees the interrupted change; --repair (even steps) or the next
          // command's recovery (odd steps) ends it.
          const v = await runCliJson<{ findings: Finding[] }>(['verify'], { root });
          expect(v.exitCode).toBe(1);
          expect(v.json.findings.map((f) => f.kind)).toContain('journal-interrupted');
          if (s.n % 2 === 0) {
            const r = await runCliJson<{ findings: Finding[]; failed: string[] }>(['verify', '--repair'], {
              root,
            });
            expect(r.stderr).toMatch(/(rolled back|finished) an interrupted change: /);
            expect({ exit: r.exitCode, findings: r.json.findings, failed: r.json.failed }).toEqual({
              exit: 0,
              findings: [],
              failed: [],
            });
            expect(await readdir(path.join(root, 'var/lib/dkms-abi/journal'))).toEqual([]);
            // The other package's files are where a kernel looks for them: in D's extra/,
            // a directory again (rolled back) or the link to the new tree (finished).
            for (const [rel, bytes] of vendor)
              expect((await readFile(path.join(root, `lib/modules/${D}/extra`, rel))).equals(bytes)).toBe(
                true,
              );
            repaired++;
          }

          // (c) the command again: exit 0, the state of an uninterrupted run.
          const again = await runCli(c.args, { root });
          expect(again.exitCode, again.stderr).toBe(0);
          if (s.n % 2 === 1) {
            expect(again.stderr).toMatch(/(rolled back|finished) an interrupted change: /);
            recoveredByRerun++;
          }
          expect(await snap(root), `step ${s.n} (${s.transaction})`).toEqual(expected);
        } finally {
          await removeRoot(root);
        }
      });
      if (FULL) {
        // The step after the last is never reached: the command completes.
        const root = await copyRoot(c.from());
        const done = await runFault(root, c.args, { DKMS_ABI_FAULT_AT: `+${steps.length}` });
        expect(done.exitCode).toBe(0);
        expect(await snap(root)).toEqual(expected);
        await removeRoot(root);
      }
      const line = `${c.name}: ${steps.length} steps in ${transactions} transaction(s), ${killed} kills checked (${repaired} by verify --repair, ${recoveredByRerun} by the next run's recovery)`;
      summary.push(line);
      console.log(line);
      expect(killed).toBe(sample(steps).length);
    });
  }
});
