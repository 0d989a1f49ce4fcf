// PlanBuilder judges which directories a plan must create on the root as its earlier
// operations leave it, and the plans it builds apply.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlanBuilder } from '../../src/system/plan-helpers.js';
import { applyPlan } from '../../src/system/txn.js';

let root: string;
const r = (p: string) => path.join(root, p);

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkms-abi-plan-'));
  await mkdir(r('tree/meta/m/1.0'), { recursive: true });
  await writeFile(r('tree/meta/m/1.0/manifest.json'), 'old');
  await writeFile(r('tree/meta/m/1.0/stray'), 'stray');
  await mkdir(r('src/sub'), { recursive: true });
  await writeFile(r('src/sub/a'), 'a');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const apply = (plan: PlanBuilder) =>
  applyPlan(
    { description: 'test', operations: plan.operations, depmod: [] },
    { root, journalDir: r('journal') },
  );

describe('PlanBuilder', () => {
  it('creates a directory again after the plan removes it (reinstalling the same version)', async () => {
    const plan = new PlanBuilder(root);
    await plan.add({ op: 'remove', path: r('tree/meta/m/1.0') });
    await plan.add({ op: 'write', path: r('tree/meta/m/1.0/manifest.json'), data: Buffer.from('new') });
    await plan.add({ op: 'write', path: r('tree/meta/m/1.0/Module.symvers'), data: Buffer.from('') });
    expect(plan.operations.map((o) => `${o.op} ${path.relative(root, o.path)}`)).toEqual([
      'remove tree/meta/m/1.0',
      'mkdir tree/meta/m/1.0',
      'write tree/meta/m/1.0/manifest.json',
      'write tree/meta/m/1.0/Module.symvers',
    ]);
    await apply(plan);
    expect((await readdir(r('tree/meta/m/1.0'))).sort()).toEqual(['Module.symvers', 'manifest.json']);
    expect(await readFile(r('tree/meta/m/1.0/manifest.json'), 'utf8')).toBe('new');
  });

  it('creates below a removed parent every level again, and each directory once', async () => {
    const plan = new PlanBuilder(root);
    await plan.add({ op: 'remove', path: r('tree/meta') });
    await plan.add({ op: 'write', path: r('tree/meta/m/1.0/a'), data: Buffer.from('a') });
    await plan.add({ op: 'write', path: r('tree/meta/m/1.0/b'), data: Buffer.from('b') });
    expect(plan.operations.map((o) => `${o.op} ${path.relative(root, o.path)}`)).toEqual([
      'remove tree/meta',
      'mkdir tree/meta',
      'mkdir tree/meta/m',
      'mkdir tree/meta/m/1.0',
      'write tree/meta/m/1.0/a',
      'write tree/meta/m/1.0/b',
    ]);
    await apply(plan);
    expect(await readdir(r('tree/meta/m/1.0'))).toEqual(['a', 'b']);
  });

  it('sees what a rename brings along, and that its source is gone', async () => {
    const plan = new PlanBuilder(root);
    await plan.add({ op: 'rename', from: r('src'), path: r('tree/moved') });
    await plan.add({ op: 'write', path: r('tree/moved/sub/b'), data: Buffer.from('b') });
    await plan.add({ op: 'write', path: r('src/sub/c'), data: Buffer.from('c') });
    expect(plan.operations.map((o) => `${o.op} ${path.relative(root, o.path)}`)).toEqual([
      'rename tree/moved',
      'write tree/moved/sub/b',
      'mkdir src',
      'mkdir src/sub',
      'write src/sub/c',
    ]);
    await apply(plan);
    expect(await readdir(r('tree/moved/sub'))).toEqual(['a', 'b']);
    expect(await readdir(r('src/sub'))).toEqual(['c']);
  });

  it('plans nothing for directories that exist and stay', async () => {
    const plan = new PlanBuilder(root);
    await plan.add({ op: 'write', path: r('tree/meta/m/1.0/x'), data: Buffer.from('x') });
    await plan.add({ op: 'write', path: r('tree/new/y'), data: Buffer.from('y') });
    await plan.add({ op: 'write', path: r('tree/new/z'), data: Buffer.from('z') });
    expect(plan.operations.map((o) => `${o.op} ${path.relative(root, o.path)}`)).toEqual([
      'write tree/meta/m/1.0/x',
      'mkdir tree/new',
      'write tree/new/y',
      'write tree/new/z',
    ]);
  });
});

describe('the root "/"', () => {
  it('plans the missing directories of a path, as for any other root (only planned: nothing is written)', async () => {
    const plan = new PlanBuilder('/');
    const missing = `/nonexistent-dkms-abi-${process.pid}`;
    await plan.add({ op: 'write', path: `${missing}/abi/amd64/1.symvers`, data: Buffer.from('x') });
    expect(plan.operations.map((o) => `${o.op} ${o.path}`)).toEqual([
      `mkdir ${missing}`,
      `mkdir ${missing}/abi`,
      `mkdir ${missing}/abi/amd64`,
      `write ${missing}/abi/amd64/1.symvers`,
    ]);
  });
});
