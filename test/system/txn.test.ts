import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import type { Plan } from '../../src/core/plan.js';
import { applyPlan, enableFaultInjection, recoverJournals } from '../../src/system/txn.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

let root: string;
let journalDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkms-abi-txn-'));
  journalDir = path.join(root, 'var/lib/dkms-abi/journal');
  // A small live tree: a shared ABI tree, a kernel whose extra/ is a real directory, a link.
  await mkdir(path.join(root, 'lib/modules/6.1.0-47-amd64/extra'), { recursive: true });
  await writeFile(path.join(root, 'lib/modules/6.1.0-47-amd64/extra/vendor.ko'), 'vendor module');
  await mkdir(path.join(root, 'lib/modules/kernel-abi-amd64-1/dkms'), { recursive: true });
  await writeFile(path.join(root, 'lib/modules/kernel-abi-amd64-1/dkms/old.ko'), 'old');
  await mkdir(path.join(root, 'lib/modules/6.1.0-50-amd64'), { recursive: true });
  await symlink('../kernel-abi-amd64-1', path.join(root, 'lib/modules/6.1.0-50-amd64/extra'));
  await writeFile(path.join(root, 'src.ko'), 'built module bytes');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function samplePlan(): Plan {
  const m = (p: string) => path.join(root, 'lib/modules', p);
  return {
    description: 'sample',
    operations: [
      { op: 'mkdir', path: m('kernel-abi-amd64-2') },
      { op: 'mkdir', path: m('kernel-abi-amd64-2/dkms') },
      { op: 'copy', path: m('kernel-abi-amd64-2/dkms/hello.ko'), from: path.join(root, 'src.ko') },
      {
        op: 'write',
        path: m('kernel-abi-amd64-2/hello.symvers'),
        data: Buffer.from('0x1\tsym\tmod\tEXPORT_SYMBOL\t\n'),
      },
      { op: 'write', path: m('kernel-abi-amd64-1/dkms/old.ko'), data: Buffer.from('replaced') },
      { op: 'rename', path: m('kernel-abi-amd64-2/vendor.ko'), from: m('6.1.0-47-amd64/extra/vendor.ko') },
      { op: 'remove', path: m('6.1.0-47-amd64/extra') },
      { op: 'symlink', path: m('6.1.0-47-amd64/extra'), target: '../kernel-abi-amd64-2' },
      { op: 'symlink', path: m('6.1.0-50-amd64/extra'), target: '../kernel-abi-amd64-2' },
    ],
    depmod: ['6.1.0-47-amd64'],
  };
}

const noTemps = (snap: Record<string, string>) => Object.keys(snap).filter((k) => k.includes('.dkms-abi.'));

// These tests inject failures with DKMS_ABI_FAULT_AT, which only a test process honours.
enableFaultInjection();

describe('applyPlan', () => {
  it('applies every operation and leaves no temporary files or journal behind', async () => {
    const ran: string[][] = [];
    await applyPlan(samplePlan(), {
      root,
      journalDir,
      depmod: (k) => Promise.resolve(void ran.push([...k])),
    });
    const m = (p: string) => path.join(root, 'lib/modules', p);
    expect(await readFile(m('6.1.0-47-amd64/extra/dkms/hello.ko'), 'utf8')).toBe('built module bytes');
    expect(await readFile(m('6.1.0-50-amd64/extra/vendor.ko'), 'utf8')).toBe('vendor module');
    expect(await readFile(m('kernel-abi-amd64-1/dkms/old.ko'), 'utf8')).toBe('replaced');
    expect(await readlink(m('6.1.0-47-amd64/extra'))).toBe('../kernel-abi-amd64-2');
    expect(ran).toEqual([['6.1.0-47-amd64']]);
    expect(noTemps(await snapshotTree(root))).toEqual([]);
    expect(await readdir(journalDir)).toEqual([]);
  });

  it('leaves the root byte-identical when any step fails', async () => {
    const before = await snapshotTree(root, { ignore: (r) => r.startsWith('var') });
    const steps = samplePlan().operations.length + 2;
    for (let step = 0; step < steps; step++) {
      process.env['DKMS_ABI_FAULT_AT'] = `${step}:fail`;
      try {
        await expect(applyPlan(samplePlan(), { root, journalDir })).rejects.toThrow(/injected failure/);
      } finally {
        delete process.env['DKMS_ABI_FAULT_AT'];
      }
      expect(await snapshotTree(root, { ignore: (r) => r.startsWith('var') })).toEqual(before);
    }
  });

  it('rolls back when depmod fails', async () => {
    const before = await snapshotTree(root, { ignore: (r) => r.startsWith('var') });
    await expect(
      applyPlan(samplePlan(), {
        root,
        journalDir,
        depmod: () => Promise.reject(new Error('depmod: FATAL')),
      }),
    ).rejects.toThrow('depmod: FATAL');
    expect(await snapshotTree(root, { ignore: (r) => r.startsWith('var') })).toEqual(before);
  });

  it('refuses to write through a symlink that leads outside the root', async () => {
    const outside = await mkdtemp(path.join(tmpdir(), 'dkms-abi-outside-'));
    try {
      await symlink(outside, path.join(root, 'lib/modules/kernel-abi-evil-1'));
      const plan: Plan = {
        description: 'evil',
        operations: [
          {
            op: 'write',
            path: path.join(root, 'lib/modules/kernel-abi-evil-1/x.ko'),
            data: Buffer.from('x'),
          },
        ],
        depmod: [],
      };
      await expect(applyPlan(plan, { root, journalDir })).rejects.toThrow(/leads outside the root/);
      expect(await readdir(outside)).toEqual([]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });
});

describe('recovery after SIGKILL', () => {
  // The child applies the plan from the compiled module (npm test builds first) and is
  // killed at one step; recovery must then produce either the old or the new tree.
  const txnModule = new URL('../../dist/system/txn.js', import.meta.url).href;

  it('rolls back or finishes at every step', async () => {
    const before = await snapshotTree(root, { ignore: (r) => r.startsWith('var') });
    // Buffers serialise as {type: 'Buffer', data: [...]}; the child revives them.
    const planJson = JSON.stringify(samplePlan());
    await writeFile(path.join(root, 'plan.json'), planJson);
    const script = `
      import { readFileSync } from 'node:fs';
      import { applyPlan, enableFaultInjection } from ${JSON.stringify(txnModule)};
      enableFaultInjection();
      const plan = JSON.parse(readFileSync(process.argv[1], 'utf8'), (k, v) => v && v.type === 'Buffer' ? Buffer.from(v.data) : v);
      await applyPlan(plan, { root: process.argv[2], journalDir: process.argv[3] });
    `;
    let after: Record<string, string> | undefined;
    const steps = samplePlan().operations.length + 4;
    let killed = 0;
    for (let step = 0; step < steps; step++) {
      const r = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', script, path.join(root, 'plan.json'), root, journalDir],
        {
          env: { ...process.env, DKMS_ABI_FAULT_AT: String(step) },
        },
      );
      const recovered = await recoverJournals(journalDir, root);
      const snap = await snapshotTree(root, { ignore: (r) => r.startsWith('var') || r === 'plan.json' });
      expect(noTemps(snap)).toEqual([]);
      if (r.signal === 'SIGKILL') {
        killed++;
        if (recovered.finished.length > 0) {
          expect(recovered.rolledBack).toEqual([]);
          after ??= snap;
          expect(snap).toEqual(after);
        } else {
          expect(snap).toEqual(before);
        }
        expect(recovered.depmod).toEqual(['6.1.0-47-amd64']);
      } else {
        expect(r.stderr.toString()).toBe('');
        expect(r.status).toBe(0);
        after ??= snap;
        expect(snap).toEqual(after);
      }
      // Restore the starting tree for the next step by rolling forward a fresh copy.
      if (JSON.stringify(snap) !== JSON.stringify(before)) {
        await rm(path.join(root, 'lib'), { recursive: true, force: true });
        await mkdir(path.join(root, 'lib/modules/6.1.0-47-amd64/extra'), { recursive: true });
        await writeFile(path.join(root, 'lib/modules/6.1.0-47-amd64/extra/vendor.ko'), 'vendor module');
        await mkdir(path.join(root, 'lib/modules/kernel-abi-amd64-1/dkms'), { recursive: true });
        await writeFile(path.join(root, 'lib/modules/kernel-abi-amd64-1/dkms/old.ko'), 'old');
        await mkdir(path.join(root, 'lib/modules/6.1.0-50-amd64'), { recursive: true });
        await symlink('../kernel-abi-amd64-1', path.join(root, 'lib/modules/6.1.0-50-amd64/extra'));
      }
      expect(await snapshotTree(root, { ignore: (r) => r.startsWith('var') || r === 'plan.json' })).toEqual(
        before,
      );
    }
    expect(killed).toBe(samplePlan().operations.length + 3);
    expect(after?.['lib/modules/6.1.0-47-amd64/extra']).toBe('link -> ../kernel-abi-amd64-2');
  });
});

describe('reading journals back', () => {
  it('writes its format version into plan.json', async () => {
    // Killed after the journal is durable, before the first operation: the journal stays.
    const script = `
      import { applyPlan, enableFaultInjection } from ${JSON.stringify(new URL('../../dist/system/txn.js', import.meta.url).href)};
      enableFaultInjection();
      await applyPlan({ description: 'd', depmod: [], operations: [{ op: 'mkdir', path: process.argv[1] + '/new' }] },
        { root: process.argv[1], journalDir: process.argv[2] });
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, root, journalDir], {
      env: { ...process.env, DKMS_ABI_FAULT_AT: '0' },
    });
    expect(r.signal).toBe('SIGKILL');
    const [id] = await readdir(journalDir);
    const journal = JSON.parse(
      await readFile(path.join(journalDir, id ?? '', 'plan.json'), 'utf8'),
    ) as object;
    expect(journal).toMatchObject({ format: 2, description: 'd', entries: [{ path: '/new' }] });
  });

  it.each([
    [
      'a newer format',
      JSON.stringify({ format: 3 }),
      /journal format version 3 is newer than this dkms-abi reads \(version 2\)/,
    ],
    ['garbage', '{"id": "x", "entries": [', /not JSON/],
  ])(
    '%s: an input error naming plan.json; the journal and the root stay as they are',
    async (_what, text, want) => {
      const file = path.join(journalDir, 'x', 'plan.json');
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, text);
      const before = await snapshotTree(root);
      const err = (await recoverJournals(journalDir, root).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(InputError);
      expect(err.message.startsWith(`${file}: `)).toBe(true);
      expect(err.message).toMatch(want);
      expect(await snapshotTree(root)).toEqual(before);
    },
  );

  it('a journal directory without plan.json (killed before it was durable) is removed', async () => {
    await mkdir(path.join(journalDir, 'y'), { recursive: true });
    await writeFile(path.join(journalDir, 'y', 'plan.json.tmp'), '{"id":');
    expect(await recoverJournals(journalDir, root)).toEqual({ rolledBack: [], finished: [], depmod: [] });
    expect(await readdir(journalDir)).toEqual([]);
  });
});
