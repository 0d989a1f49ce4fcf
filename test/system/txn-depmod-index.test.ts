// depmod's index files belong to the transaction: a plan rolled back after its depmod ran
// (or half-ran) leaves every kernel's index exactly as it was, and a kill after depmod is
// recovered the same way.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/core/plan.js';
import { applyPlan, enableFaultInjection, recoverJournals } from '../../src/system/txn.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

const K = '6.1.0-47-amd64';
const K2 = '6.1.0-47.1-amd64';
let root: string;
let journalDir: string;
const kdir = (k: string) => path.join(root, 'lib/modules', k);

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkms-abi-txn-index-'));
  journalDir = path.join(root, 'var/lib/dkms-abi/journal');
  await mkdir(path.join(kdir(K), 'extra'), { recursive: true });
  await mkdir(kdir(K2), { recursive: true });
  await writeFile(path.join(kdir(K), 'modules.dep'), 'extra/old.ko:\n');
  await writeFile(path.join(kdir(K), 'modules.dep.bin'), 'old bin');
  await writeFile(path.join(kdir(K), 'modules.order'), 'kernel/x.ko\n'); // the kernel's: never touched
  await writeFile(path.join(kdir(K), 'extra/old.ko'), 'old');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const plan = (): Plan => ({
  description: 'install new.ko',
  operations: [{ op: 'write', path: path.join(kdir(K), 'extra/new.ko'), data: Buffer.from('new') }],
  depmod: [K, K2],
});

/** A depmod that writes like kmod's (new file, renamed over) and may fail half-way. */
function fakeDepmod(failAt?: string): (kernels: readonly string[]) => Promise<void> {
  return async (kernels) => {
    for (const k of kernels) {
      if (k === failAt) throw new Error(`depmod: FATAL: ${k}: injected`);
      for (const f of ['modules.dep', 'modules.dep.bin', 'modules.alias']) {
        await writeFile(path.join(kdir(k), `${f}.tmp`), `indexed new.ko (${f})`);
        await rename(path.join(kdir(k), `${f}.tmp`), path.join(kdir(k), f));
      }
    }
  };
}

const opts = (depmod: (kernels: readonly string[]) => Promise<void>) => ({
  root,
  journalDir,
  depmod,
  depmodDirs: (ks: readonly string[]) => ks.map(kdir),
});
const live = () => snapshotTree(root, { ignore: (r) => r.startsWith('var') });

// These tests inject failures with DKMS_ABI_FAULT_AT, which only a test process honours.
enableFaultInjection();

describe('depmod index files in a transaction', () => {
  it('a depmod that fails on the second kernel: the first kernel’s rewritten index comes back', async () => {
    const before = await live();
    await expect(applyPlan(plan(), opts(fakeDepmod(K2)))).rejects.toThrow(/injected/);
    expect(await live()).toEqual(before);
    expect(await readFile(path.join(kdir(K), 'modules.dep'), 'utf8')).toBe('extra/old.ko:\n');
  });

  it('a failure after depmod succeeded: the old index, and no index where there was none', async () => {
    const before = await live();
    process.env['DKMS_ABI_FAULT_AT'] = '2:fail'; // one operation, depmod, then here
    try {
      await expect(applyPlan(plan(), opts(fakeDepmod()))).rejects.toThrow(/injected failure/);
    } finally {
      delete process.env['DKMS_ABI_FAULT_AT'];
    }
    expect(await live()).toEqual(before);
    expect(await readdir(kdir(K2))).toEqual([]);
  });

  it('committed: the new index stays, nothing kept aside remains', async () => {
    await applyPlan(plan(), opts(fakeDepmod()));
    expect(await readFile(path.join(kdir(K), 'modules.dep'), 'utf8')).toBe('indexed new.ko (modules.dep)');
    expect(await readFile(path.join(kdir(K), 'modules.order'), 'utf8')).toBe('kernel/x.ko\n');
    expect((await readdir(kdir(K))).filter((n) => n.startsWith('.dkms-abi'))).toEqual([]);
    expect(await readdir(kdir(K2))).toEqual(['modules.alias', 'modules.dep', 'modules.dep.bin']);
  });

  it('killed after depmod, before the commit mark: recovery puts the old index back', async () => {
    const before = await live();
    const txnModule = new URL('../../dist/system/txn.js', import.meta.url).href;
    const script = `
      import { rename, writeFile } from 'node:fs/promises';
      import path from 'node:path';
      import { applyPlan, enableFaultInjection } from ${JSON.stringify(txnModule)};
      enableFaultInjection();
      const [root, journalDir, ...kdirs] = process.argv.slice(1);
      await applyPlan(
        { description: 'install new.ko', depmod: ['a', 'b'],
          operations: [{ op: 'write', path: path.join(kdirs[0], 'extra/new.ko'), data: Buffer.from('new') }] },
        { root, journalDir, depmodDirs: () => kdirs,
          depmod: async () => { for (const d of kdirs) { await writeFile(path.join(d, 'modules.dep.tmp'), 'new');
            await rename(path.join(d, 'modules.dep.tmp'), path.join(d, 'modules.dep')); } } });
    `;
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', script, root, journalDir, kdir(K), kdir(K2)],
      { env: { ...process.env, DKMS_ABI_FAULT_AT: '2' } },
    );
    expect(r.signal).toBe('SIGKILL');
    expect(await readFile(path.join(kdir(K), 'modules.dep'), 'utf8')).toBe('new');
    const recovered = await recoverJournals(journalDir, root);
    expect(recovered.rolledBack).toEqual(['install new.ko']);
    expect(await live()).toEqual(before);
  });
});
