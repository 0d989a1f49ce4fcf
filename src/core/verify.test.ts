import { describe, expect, it } from 'vitest';
import type { Snapshot, TreeModule } from './snapshot.js';
import type { Usability } from './status.js';
import {
  diagnose,
  formatFinding,
  isDamaged,
  publicFinding,
  type Diagnosis,
  type KernelFacts,
  type TreeFacts,
  type VerifyFacts,
} from './verify.js';

const K1 = '6.1.0-47-amd64';
const K2 = '6.1.0-47.1-amd64';
const amd64_1 = { flavour: 'amd64', abiver: '1' };
const TREE = 'kernel-abi-amd64-1';
const hello: TreeModule = {
  module: 'hello-abi',
  version: '1.0',
  arch: 'x86_64',
  builtFor: K1,
  files: ['dkms/hello_abi.ko'],
  newestMtimeMs: 1000,
};
const manifestOf = (tm: TreeModule) =>
  JSON.stringify({
    module: tm.module,
    version: tm.version,
    arch: tm.arch,
    builtFor: tm.builtFor,
    files: tm.files,
  });

/** A consistent root: hello-abi built for K1, shared with K2, both marked, linked and indexed. */
function healthy(): {
  snapshot: Snapshot;
  kernels: KernelFacts[];
  trees: TreeFacts[];
} {
  return {
    snapshot: {
      kernels: [
        { kernel: K1, abi: amd64_1, extra: 'abi-link', modulesDepMtimeMs: 2000 },
        { kernel: K2, abi: amd64_1, extra: 'abi-link', modulesDepMtimeMs: 2000 },
      ],
      dkms: [
        {
          module: 'hello-abi',
          version: '1.0',
          added: true,
          builds: [
            { kernel: K1, arch: 'x86_64', kind: 'built', builtFor: K1, installed: true },
            { kernel: K2, arch: 'x86_64', kind: 'abi-link', builtFor: K1, installed: true },
          ],
        },
      ],
      trees: [{ abi: amd64_1, modules: [hello] }],
    },
    kernels: [K1, K2].map((kernel) => ({
      kernel,
      extra: { target: `../${TREE}`, resolves: true },
      updates: [{ name: 'hello_abi.ko', link: { target: '../../extra/dkms/hello_abi.ko', resolves: true } }],
      depMissing: [],
      depIndexed: ['hello_abi'],
    })),
    trees: [
      {
        name: TREE,
        files: ['dkms/hello_abi.ko'],
        meta: [{ module: 'hello-abi', version: '1.0', manifest: manifestOf(hello), symvers: '' }],
        unreadable: [],
      },
    ],
  };
}

function facts(
  parts: ReturnType<typeof healthy>,
  more: Partial<VerifyFacts> = {},
  usable: Usability | undefined = { usable: true },
): VerifyFacts {
  return {
    ...parts,
    layout: {
      modulesDir: '/lib/modules',
      dkmsTree: '/var/lib/dkms',
      journalDir: '/var/lib/dkms-abi/journal',
    },
    journals: [],
    danglingDkms: [],
    buildFiles: new Map([[`hello-abi/1.0/${K1}/x86_64`, ['hello_abi.ko']]]),
    usability: () => usable,
    ...more,
  };
}

const kinds = (ds: readonly Diagnosis[]) => ds.map((d) => `${d.kind} ${d.path}`);

describe('verify findings', () => {
  it('finds nothing in a consistent root', () => {
    const ds = diagnose(facts(healthy()));
    expect(ds).toEqual([]);
    expect(isDamaged(ds)).toBe(false);
  });

  it('reports an interrupted journal as damage that the lock-taking session repairs', () => {
    const ds = diagnose(facts(healthy(), { journals: ['m1-abcd'] }));
    expect(ds).toEqual([
      expect.objectContaining({
        kind: 'journal-interrupted',
        path: '/var/lib/dkms-abi/journal/m1-abcd',
        damage: true,
      }),
    ]);
    expect(ds[0]?.fix).toBeUndefined();
  });

  it('extra/ pointing at a missing tree: damage, repaired by creating the empty tree and depmod', () => {
    const h = healthy();
    h.snapshot = { ...h.snapshot, trees: [] };
    h.trees = [];
    h.kernels = h.kernels.map((k) => ({ ...k, extra: { target: `../${TREE}`, resolves: false } }));
    const ds = diagnose(facts(h));
    expect(kinds(ds)).toEqual([
      `extra-dangling /lib/modules/${K1}/extra`,
      `extra-dangling /lib/modules/${K2}/extra`,
    ]);
    expect(ds[0]?.fix).toEqual({ kind: 'create-tree', tree: TREE, depmod: [K1] });
    // The marks are not judged against a tree that is not there: the next round does that.
    expect(ds.every((d) => d.damage)).toBe(true);
  });

  it('extra/ leading elsewhere: retargeted when it names a tree beside it, else left for a person', () => {
    const h = healthy();
    h.snapshot = {
      ...h.snapshot,
      kernels: [
        { kernel: K1, abi: undefined, extra: 'other', modulesDepMtimeMs: 2000 },
        { kernel: K2, abi: undefined, extra: 'other', modulesDepMtimeMs: 2000 },
      ],
    };
    h.kernels = [
      {
        kernel: K1,
        extra: { target: `../../modules/${TREE}`, resolves: true },
        updates: [],
        depMissing: [],
        depIndexed: [],
      },
      {
        kernel: K2,
        extra: { target: '/opt/vendor/modules', resolves: true },
        updates: [],
        depMissing: [],
        depIndexed: [],
      },
    ];
    const ds = diagnose(facts(h));
    const wrong = ds.filter((d) => d.kind === 'extra-wrong');
    expect(wrong.map((d) => d.path)).toEqual([`/lib/modules/${K1}/extra`, `/lib/modules/${K2}/extra`]);
    expect(wrong[0]?.fix).toEqual({
      kind: 'retarget-link',
      path: `/lib/modules/${K1}/extra`,
      target: `../${TREE}`,
      depmod: [K1],
    });
    expect(wrong[1]?.fix).toBeUndefined();
    expect(wrong[1]?.repair).toBeUndefined();
    // With no kernel linking to it, the tree is an orphan holding a module: a notice only.
    expect(ds.find((d) => d.kind === 'tree-orphan')).toMatchObject({
      damage: false,
      path: `/lib/modules/${TREE}`,
    });
    expect(ds.find((d) => d.kind === 'tree-orphan')?.fix).toBeUndefined();
  });

  it('dangling updates/dkms links: ours are removed, others reported', () => {
    const h = healthy();
    h.kernels[0] = {
      ...h.kernels[0]!,
      updates: [
        ...h.kernels[0]!.updates,
        { name: 'gone.ko', link: { target: '../../extra/dkms/gone.ko', resolves: false } },
        { name: 'theirs.ko', link: { target: '/opt/theirs.ko', resolves: false } },
      ],
    };
    const ds = diagnose(facts(h));
    expect(kinds(ds)).toEqual([
      `updates-dangling /lib/modules/${K1}/updates/dkms/gone.ko`,
      `updates-dangling /lib/modules/${K1}/updates/dkms/theirs.ko`,
    ]);
    expect(ds[0]?.fix).toEqual({
      kind: 'remove-link',
      path: `/lib/modules/${K1}/updates/dkms/gone.ko`,
      target: '../../extra/dkms/gone.ko',
      depmod: [K1],
    });
    expect(ds[1]?.fix).toBeUndefined();
  });

  it('a missing or wrong updates/dkms link of a marked module is relinked; a real file there is left alone', () => {
    const h = healthy();
    h.kernels[0] = { ...h.kernels[0]!, updates: [] };
    h.kernels[1] = { ...h.kernels[1]!, updates: [{ name: 'hello_abi.ko' }] };
    const ds = diagnose(facts(h));
    expect(kinds(ds)).toEqual([
      `updates-link-missing /lib/modules/${K1}/updates/dkms/hello_abi.ko`,
      `updates-shadow /lib/modules/${K2}/updates/dkms/hello_abi.ko`,
    ]);
    expect(ds[0]?.fix).toMatchObject({ kind: 'link-kernel', kernel: K1, module: 'hello-abi' });
    expect(ds[1]).toMatchObject({ damage: true });
    expect(ds[1]?.fix).toBeUndefined();
  });

  it('dangling DKMS marks and module/ links', () => {
    const ds = diagnose(
      facts(healthy(), {
        danglingDkms: [
          { module: 'hello-abi', name: `kernel-${K2}-x86_64`, target: `9.9/${K2}/x86_64` },
          {
            module: 'hello-abi',
            name: `1.0/${K2}/x86_64/module`,
            target: '../../6.0.0-1-amd64/x86_64/module',
          },
        ],
      }),
    );
    expect(ds.map((d) => d.fix)).toEqual([
      { kind: 'unmark', module: 'hello-abi', version: '1.0', kernel: K2, arch: 'x86_64' },
      {
        kind: 'remove-link',
        path: `/var/lib/dkms/hello-abi/kernel-${K2}-x86_64`,
        target: `9.9/${K2}/x86_64`,
        depmod: [],
      },
    ]);
    expect(kinds(ds)).toEqual([
      `module-link-dangling /var/lib/dkms/hello-abi/1.0/${K2}/x86_64/module`,
      `mark-dangling /var/lib/dkms/hello-abi/kernel-${K2}-x86_64`,
    ]);
  });

  it('a mark for a module the tree does not hold is stale, unless plain dkms installed it', () => {
    const h = healthy();
    h.snapshot = { ...h.snapshot, trees: [{ abi: amd64_1, modules: [] }] };
    h.trees = [{ name: TREE, files: [], meta: [], unreadable: [] }];
    h.kernels = h.kernels.map((k) => ({ ...k, updates: [] }));
    const ds = diagnose(facts(h));
    expect(kinds(ds)).toEqual([
      `dkms-mark-stale /var/lib/dkms/hello-abi/kernel-${K1}-x86_64`,
      `dkms-mark-stale /var/lib/dkms/hello-abi/kernel-${K2}-x86_64`,
    ]);
    expect(ds[1]?.fix).toEqual({
      kind: 'unmark',
      module: 'hello-abi',
      version: '1.0',
      kernel: K2,
      arch: 'x86_64',
    });
    // A real hello_abi.ko in K1's updates/dkms: stock `dkms install` put it there.
    h.kernels[0] = { ...h.kernels[0]!, updates: [{ name: 'hello_abi.ko' }] };
    expect(kinds(diagnose(facts(h)))).toEqual([
      `dkms-mark-stale /var/lib/dkms/hello-abi/kernel-${K2}-x86_64`,
    ]);
  });

  it('a tree module not marked installed: marked when built for the kernel or the verdict accepts it', () => {
    const h = healthy();
    const mv = h.snapshot.dkms[0]!;
    h.snapshot = {
      ...h.snapshot,
      dkms: [{ ...mv, builds: mv.builds.map((b) => ({ ...b, installed: false })) }],
    };
    const ds = diagnose(facts(h));
    expect(kinds(ds)).toEqual([
      `dkms-unmarked /var/lib/dkms/hello-abi/kernel-${K1}-x86_64`,
      `dkms-unmarked /var/lib/dkms/hello-abi/kernel-${K2}-x86_64`,
    ]);
    expect(ds[1]?.fix).toEqual({
      kind: 'link-kernel',
      tree: TREE,
      module: 'hello-abi',
      version: '1.0',
      arch: 'x86_64',
      kernel: K2,
    });
    // The verdict refuses K2: status shows abi-mismatch, which is not damage.
    const refused = diagnose(facts(h, {}, { usable: false, reason: 'missing printk' }));
    expect(kinds(refused)).toEqual([`dkms-unmarked /var/lib/dkms/hello-abi/kernel-${K1}-x86_64`]);
    // No verdict (unreadable binary): a notice, nothing done.
    const unknown = diagnose(facts(h, { usability: () => undefined })).find((d) =>
      d.path.endsWith(`kernel-${K2}-x86_64`),
    );
    expect(unknown).toMatchObject({ damage: false });
    expect(unknown?.fix).toBeUndefined();
  });

  it('a mark naming another version than the tree holds is fixed by marking the tree version', () => {
    const h = healthy();
    h.snapshot = {
      ...h.snapshot,
      dkms: [
        {
          ...h.snapshot.dkms[0]!,
          builds: h.snapshot.dkms[0]!.builds.map((b) => ({ ...b, installed: false })),
        },
        {
          module: 'hello-abi',
          version: '2.0',
          added: true,
          builds: [{ kernel: K1, arch: 'x86_64', kind: 'built', builtFor: K1, installed: true }],
        },
      ],
      trees: [{ abi: amd64_1, modules: [hello] }],
    };
    const ds = diagnose(facts(h));
    expect(kinds(ds)).toEqual([
      `dkms-unmarked /var/lib/dkms/hello-abi/kernel-${K1}-x86_64`,
      `dkms-unmarked /var/lib/dkms/hello-abi/kernel-${K2}-x86_64`,
    ]);
  });

  it('modules newer than modules.dep, no modules.dep, or modules.dep naming files that are gone', () => {
    const h = healthy();
    h.snapshot = {
      ...h.snapshot,
      kernels: [
        { kernel: K1, abi: amd64_1, extra: 'abi-link', modulesDepMtimeMs: 500 },
        { kernel: K2, abi: amd64_1, extra: 'abi-link', modulesDepMtimeMs: undefined },
        { kernel: '6.1.0-50-amd64', abi: undefined, extra: 'absent', modulesDepMtimeMs: undefined },
      ],
    };
    const ds = diagnose(facts(h));
    expect(kinds(ds)).toEqual([
      `needs-depmod /lib/modules/${K1}/modules.dep`,
      `needs-depmod /lib/modules/${K2}/modules.dep`,
    ]);
    expect(ds[0]?.detail).toContain('newer modules: hello-abi/1.0');
    expect(ds[1]?.detail).toContain('there is no modules.dep');
    expect(ds[0]?.fix).toEqual({ kind: 'depmod', kernel: K1 });

    const g = healthy();
    g.kernels[0] = { ...g.kernels[0]!, depMissing: ['extra/dkms/old.ko'] };
    const [dep] = diagnose(facts(g));
    expect(dep?.kind).toBe('needs-depmod');
    expect(dep?.detail).toContain('extra/dkms/old.ko');

    const n = healthy();
    n.kernels[1] = { ...n.kernels[1]!, depIndexed: [] };
    expect(diagnose(facts(n)).map((d) => [d.kind, d.path, d.detail])).toEqual([
      [
        'needs-depmod',
        `/lib/modules/${K2}/modules.dep`,
        'is out of date (it does not list dkms/hello_abi.ko)',
      ],
    ]);
  });

  it('orphan trees: a notice; an empty one is pruned, one holding modules is kept', () => {
    const h = healthy();
    h.trees.push({ name: 'kernel-abi-amd64-2', files: [], meta: [], unreadable: [] });
    h.trees.push({
      name: 'kernel-abi-amd64-3',
      files: ['dkms/nvidia.ko'],
      meta: [
        {
          module: 'nvidia',
          version: '535',
          manifest: manifestOf({ ...hello, module: 'nvidia', version: '535', files: ['dkms/nvidia.ko'] }),
          symvers: '',
        },
      ],
      unreadable: [],
    });
    const ds = diagnose(facts(h));
    expect(ds.map((d) => [d.kind, d.path, d.damage, d.fix?.kind])).toEqual([
      ['tree-orphan', '/lib/modules/kernel-abi-amd64-2', false, 'prune-tree'],
      ['tree-orphan', '/lib/modules/kernel-abi-amd64-3', false, undefined],
    ]);
    expect(isDamaged(ds)).toBe(false);
  });

  it('tree modules with missing, unreadable or unlisted parts', () => {
    const h = healthy();
    h.trees[0] = {
      name: TREE,
      files: ['dkms/a.ko'],
      meta: [
        { module: 'hello-abi', version: '1.0', manifest: manifestOf(hello) }, // file gone, no symvers
        {
          module: 'a',
          version: '1',
          manifest: manifestOf({ ...hello, module: 'a', version: '1', files: ['dkms/a.ko'] }),
          symvers: 'not symvers\n',
        },
        { module: 'b', version: '1', manifest: '{"module":' },
        { module: 'c', version: '1' },
      ],
      unreadable: [],
    };
    const ds = diagnose(facts(h));
    expect(ds.map((d) => [d.kind, d.path, d.fix?.kind])).toEqual([
      ['symvers-invalid', `/lib/modules/${TREE}/.dkms-abi/a/1/Module.symvers`, 'regenerate-symvers'],
      ['manifest-invalid', `/lib/modules/${TREE}/.dkms-abi/b/1/manifest.json`, undefined],
      ['manifest-invalid', `/lib/modules/${TREE}/.dkms-abi/c/1/manifest.json`, undefined],
      // Nothing to regenerate from while the binary is gone.
      ['symvers-missing', `/lib/modules/${TREE}/.dkms-abi/hello-abi/1.0/Module.symvers`, undefined],
      ['module-file-missing', `/lib/modules/${TREE}/dkms/hello_abi.ko`, undefined],
    ]);
    expect(ds[0]?.detail).toMatch(/^cannot be read \(line 1: /);
    expect(ds.find((d) => d.kind === 'module-file-missing')?.detail).toContain(
      `dkms-abi install hello-abi/1.0 -k ${K1}`,
    );
    expect(ds.every((d) => d.damage)).toBe(true);

    const u = healthy();
    u.trees[0] = {
      ...u.trees[0]!,
      unreadable: [{ file: 'dkms/hello_abi.ko', problem: 'not an ELF file (bad magic)' }],
    };
    expect(diagnose(facts(u)).map((d) => [d.kind, d.detail.includes('bad magic')])).toEqual([
      ['module-unreadable', true],
    ]);
  });

  it('formats one line per finding, control characters escaped; --json drops the fix', () => {
    const h = healthy();
    h.kernels[0] = {
      ...h.kernels[0]!,
      updates: [
        ...h.kernels[0]!.updates,
        { name: 'evil\n.ko', link: { target: '../../extra/x\u0000', resolves: false } },
      ],
    };
    const [d] = diagnose(facts(h));
    expect(d).toBeDefined();
    const line = formatFinding(d!);
    expect(line).toBe(
      `damage updates-dangling /lib/modules/${K1}/updates/dkms/evil\\x0a.ko: links to ../../extra/x\\x00, which does not exist [repair: remove the link]`,
    );
    expect(Object.keys(publicFinding(d!))).toEqual(['kind', 'path', 'detail', 'damage', 'repair']);
  });
});
