// Check and act on the same object (docs/safety.md, "Nothing escapes the root"): at the very
// moment an operation acts — its directories checked and held, the change not yet made — the
// directory it acts in is swapped for a symlink leading out of the root (the real directory
// moved aside inside the root, an outside directory with the same names put behind the link).
// Whatever the plan then does, commits or rolls back, nothing outside the root changes.
import { cpSync, renameSync, symlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Operation, Plan } from '../../src/core/plan.js';
import { applyPlan, enableFaultInjection, recoverJournals, setActHook } from '../../src/system/txn.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

let root: string;
let outside: string;
let journalDir: string;
const m = (p: string): string => path.join(root, 'lib/modules', p);

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkms-abi-swap-'));
  outside = await mkdtemp(path.join(tmpdir(), 'dkms-abi-swap-outside-'));
  journalDir = path.join(root, 'var/lib/dkms-abi/journal');
  await mkdir(m('kernel-abi-amd64-1/dkms'), { recursive: true });
  await writeFile(m('kernel-abi-amd64-1/dkms/hello.ko'), 'hello');
  await writeFile(m('kernel-abi-amd64-1/dkms/old.ko'), 'old');
  await mkdir(m('6.1.0-47-amd64/updates/dkms'), { recursive: true });
  await symlink('../../extra/dkms/hello.ko', m('6.1.0-47-amd64/updates/dkms/hello.ko'));
  await mkdir(m('6.1.0-47-amd64/extra'), { recursive: true });
  await writeFile(m('6.1.0-47-amd64/extra/vendor.ko'), 'vendor');
  await writeFile(path.join(root, 'src.ko'), 'built');
});

afterEach(async () => {
  setActHook(undefined);
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

enableFaultInjection();

/** At the act point of the operation on `victim`, its directory becomes a link out of the root. */
function swapAt(victim: string): { swapped: () => boolean } {
  let done = false;
  setActHook((_step, o: Operation) => {
    if (done || o.path !== victim) return;
    done = true;
    const dir = path.dirname(victim);
    const away = path.join(outside, path.basename(dir));
    // Synchronous in the hook: the operation runs right after it returns.
    swapSync(dir, away);
  });
  return { swapped: () => done };
}

function swapSync(dir: string, away: string): void {
  cpSync(dir, away, { recursive: true, verbatimSymlinks: true });
  renameSync(dir, `${dir}.moved`);
  symlinkSync(away, dir);
}

/** [what, the plan, the operation (path under lib/modules) whose directory is swapped] */
const plans: [string, () => Plan, string][] = [
  [
    'remove (uninstall a module)',
    () => ({
      description: 'uninstall',
      operations: [
        { op: 'remove', path: m('6.1.0-47-amd64/updates/dkms/hello.ko') },
        { op: 'remove', path: m('kernel-abi-amd64-1/dkms/hello.ko') },
        { op: 'remove', path: m('kernel-abi-amd64-1/dkms/old.ko') },
      ],
      depmod: [],
    }),
    'kernel-abi-amd64-1/dkms/hello.ko',
  ],
  [
    'copy (install a module, staged beside it)',
    () => ({
      description: 'install',
      operations: [
        { op: 'copy', path: m('kernel-abi-amd64-1/dkms/new.ko'), from: path.join(root, 'src.ko') },
        { op: 'write', path: m('kernel-abi-amd64-1/dkms/new.symvers'), data: Buffer.from('x') },
      ],
      depmod: [],
    }),
    'kernel-abi-amd64-1/dkms/new.ko',
  ],
  [
    'write over an existing file (kept aside by a hard link)',
    () => ({
      description: 'reinstall',
      operations: [{ op: 'write', path: m('kernel-abi-amd64-1/dkms/old.ko'), data: Buffer.from('new') }],
      depmod: [],
    }),
    'kernel-abi-amd64-1/dkms/old.ko',
  ],
  [
    'symlink (the updates/dkms link)',
    () => ({
      description: 'link',
      operations: [
        { op: 'symlink', path: m('6.1.0-47-amd64/updates/dkms/hello.ko'), target: '../../extra/dkms/x.ko' },
      ],
      depmod: [],
    }),
    '6.1.0-47-amd64/updates/dkms/hello.ko',
  ],
  [
    'rename (a real extra/ moved into a tree), the destination swapped',
    () => ({
      description: 'migrate',
      operations: [
        {
          op: 'rename',
          path: m('kernel-abi-amd64-1/dkms/vendor.ko'),
          from: m('6.1.0-47-amd64/extra/vendor.ko'),
        },
        { op: 'remove', path: m('6.1.0-47-amd64/extra') },
      ],
      depmod: [],
    }),
    'kernel-abi-amd64-1/dkms/vendor.ko',
  ],
  [
    'mkdir',
    () => ({
      description: 'mkdir',
      operations: [
        { op: 'mkdir', path: m('kernel-abi-amd64-1/dkms/sub') },
        { op: 'write', path: m('kernel-abi-amd64-1/dkms/sub/a.ko'), data: Buffer.from('a') },
      ],
      depmod: [],
    }),
    'kernel-abi-amd64-1/dkms/sub',
  ],
];

describe('a directory swapped for a link out of the root at the moment an operation acts', () => {
  it.each(plans)('%s: nothing outside the root changes, commit or rollback', async (_what, plan, rel) => {
    const victim = m(rel);
    const dir = path.dirname(victim);
    // What the swap puts behind the link: the directory as it is before the plan.
    const copied = await snapshotTree(dir);
    const swap = swapAt(victim);
    const err = await applyPlan(plan(), { root, journalDir }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(swap.swapped()).toBe(true);
    const outsideDir = path.join(outside, path.basename(dir));
    expect(await snapshotTree(outsideDir)).toEqual(copied);
    // Later operations through the link were refused (the plan rolled back), or none was left.
    if (err !== undefined) expect(err.message).toMatch(/leads outside the root/);
    // Whatever a rollback could not reach (behind the link) is left for recovery: none acts outside.
    await recoverJournals(journalDir, root);
    expect(await snapshotTree(outsideDir)).toEqual(copied);
    expect(await readdir(journalDir)).toEqual([]);
  });
});
