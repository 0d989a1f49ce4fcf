// The transaction engine and the lock under hostile environments: a full disk, a read-only
// root, depmod failing or missing, symlinks planted to lead out of the root, and heavy
// contention. Real mounts (tmpfs, read-only bind mounts; the tests run as root), a real
// depmod, and a fake depmod only to inject its failure. After every failure the root must
// be byte-identical to what it was.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rm,
  rmdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/core/config.js';
import { CommandFailedError, EnvironmentError } from '../../src/core/errors.js';
import type { Operation, Plan } from '../../src/core/plan.js';
import { depmod } from '../../src/system/depmod.js';
import { acquireLock } from '../../src/system/lock.js';
import { makePaths } from '../../src/system/paths.js';
import { applyPlan } from '../../src/system/txn.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

const K47 = '6.1.0-47-amd64';
const K50 = '6.1.0-50-amd64';

/** Directories to unmount (innermost first) and remove when the test ends. */
let mounts: string[] = [];
let scratch: string[] = [];

beforeEach(() => {
  mounts = [];
  scratch = [];
});

afterEach(async () => {
  for (const m of mounts.reverse()) execFileSync('umount', [m]);
  for (const d of scratch) await rm(d, { recursive: true, force: true });
});

async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), prefix));
  scratch.push(d);
  return d;
}

/** A fresh tmpfs of `kib` KiB mounted on a new temp directory. */
async function tmpfs(kib: number): Promise<string> {
  const d = await tempDir('dkms-abi-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=755`, 'tmpfs', d]);
  mounts.push(d);
  return d;
}

function remountReadOnly(dir: string): void {
  execFileSync('mount', ['-o', 'remount,ro', dir]);
}

function bindReadOnly(dir: string): void {
  execFileSync('mount', ['--bind', dir, dir]);
  mounts.push(dir);
  execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
}

/** The small live system every test starts from (as in txn.test.ts, plus an updates/ copy). */
async function populate(root: string): Promise<void> {
  const m = (p: string) => path.join(root, 'lib/modules', p);
  await mkdir(m(`${K47}/extra`), { recursive: true });
  await writeFile(m(`${K47}/extra/vendor.ko`), 'vendor module');
  await mkdir(m(`${K47}/updates/dkms`), { recursive: true });
  await writeFile(m(`${K47}/updates/dkms/hello_abi.ko`), 'stale copy plain dkms left');
  await mkdir(m('kernel-abi-amd64-1/dkms'), { recursive: true });
  await writeFile(m('kernel-abi-amd64-1/dkms/old.ko'), 'old');
  await mkdir(m(K50), { recursive: true });
  await symlink('../kernel-abi-amd64-1', m(`${K50}/extra`));
  await mkdir(path.join(root, 'var/lib/dkms-abi/journal'), { recursive: true });
}

const journalOf = (root: string) => path.join(root, 'var/lib/dkms-abi/journal');

/** Installs a module into a new tree and moves both kernels over to it. */
function installPlan(root: string, source: string, extraFiles = 0): Plan {
  const m = (p: string) => path.join(root, 'lib/modules', p);
  const ops: Operation[] = [
    { op: 'mkdir', path: m('kernel-abi-amd64-2') },
    { op: 'mkdir', path: m('kernel-abi-amd64-2/dkms') },
    { op: 'copy', path: m('kernel-abi-amd64-2/dkms/hello_abi.ko'), from: source, mode: 0o644 },
  ];
  for (let i = 0; i < extraFiles; i++) {
    ops.push({
      op: 'write',
      path: m(`kernel-abi-amd64-2/dkms/part${i}.ko`),
      data: Buffer.alloc(40 * 1024, i + 1),
    });
  }
  ops.push(
    { op: 'write', path: m('kernel-abi-amd64-1/dkms/old.ko'), data: Buffer.from('replaced') },
    { op: 'rename', path: m('kernel-abi-amd64-2/vendor.ko'), from: m(`${K47}/extra/vendor.ko`) },
    { op: 'remove', path: m(`${K47}/extra`) },
    { op: 'symlink', path: m(`${K47}/extra`), target: '../kernel-abi-amd64-2' },
    { op: 'symlink', path: m(`${K50}/extra`), target: '../kernel-abi-amd64-2' },
    // A real stale copy replaced by a link into the tree (what install does on Debian).
    { op: 'symlink', path: m(`${K47}/updates/dkms/hello_abi.ko`), target: '../../extra/dkms/hello_abi.ko' },
  );
  return {
    description: 'install hello-abi/1.0 into kernel-abi-amd64-2',
    operations: ops,
    depmod: [K47, K50],
  };
}

async function expectEnvironmentError(p: Promise<unknown>, pattern: RegExp): Promise<EnvironmentError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EnvironmentError);
  const e = err as EnvironmentError;
  expect(e.exitCode).toBe(3);
  expect(e.message).toMatch(pattern);
  // One line: what the CLI prints.
  expect(e.message).not.toContain('\n');
  return e;
}

/** Fills a filesystem until only about `freeKiB` KiB are left (0: completely full). */
function fill(dir: string, freeKiB: number, totalKiB: number): void {
  const fd = openSync(path.join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(4096, 0xaa);
  let written = 0;
  const target = freeKiB === 0 ? Infinity : (totalKiB - freeKiB) * 1024;
  try {
    while (written < target) {
      try {
        written += writeSync(fd, chunk, 0, Math.min(chunk.length, target - written));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe('a full disk', () => {
  it('fails a copy that does not fit with an EnvironmentError naming ENOSPC, the root unchanged', async () => {
    const root = await tmpfs(512);
    await populate(root);
    const big = path.join(await tempDir('dkms-abi-src-'), 'hello_abi.ko');
    await writeFile(big, Buffer.alloc(2 << 20, 0x5a)); // 2 MiB into 512 KiB
    const before = await snapshotTree(root);
    const e = await expectEnvironmentError(
      applyPlan(installPlan(root, big), { root, journalDir: journalOf(root) }),
      /^cannot apply "install hello-abi\/1\.0 into kernel-abi-amd64-2": ENOSPC: no space left on device.*\(the change was rolled back\)$/,
    );
    expect(e.message).toContain('copyfile');
    expect(await snapshotTree(root)).toEqual(before);
  });

  it('fails before touching anything when even the journal cannot be written', async () => {
    const root = await tmpfs(256);
    await populate(root);
    fill(root, 0, 256);
    const small = path.join(await tempDir('dkms-abi-src-'), 'hello_abi.ko');
    await writeFile(small, 'tiny');
    const before = await snapshotTree(root);
    await expectEnvironmentError(
      applyPlan(installPlan(root, small), { root, journalDir: journalOf(root) }),
      /ENOSPC.*\(nothing was changed\)$/,
    );
    expect(await snapshotTree(root)).toEqual(before);
    expect(await readdir(journalOf(root))).toEqual([]);
  });

  it('either commits completely or leaves the root byte-identical, at every amount of free space', async () => {
    const total = 1024;
    const src = path.join(await tempDir('dkms-abi-src-'), 'hello_abi.ko');
    await writeFile(src, Buffer.alloc(100 * 1024, 0x11));
    let committed: Record<string, string> | undefined;
    const outcomes: string[] = [];
    // From a full disk to plenty of room: the plan writes ~340 KiB in 8 files.
    for (const free of [0, 8, 24, 64, 120, 180, 240, 300, 360, 900]) {
      const root = await tmpfs(total);
      await populate(root);
      fill(root, free, total);
      const before = await snapshotTree(root, { ignore: (r) => r === 'filler' });
      try {
        await applyPlan(installPlan(root, src, 6), { root, journalDir: journalOf(root) });
        const after = await snapshotTree(root, { ignore: (r) => r === 'filler' });
        committed ??= after;
        expect(after).toEqual(committed);
        expect(await readlink(path.join(root, 'lib/modules', K47, 'extra'))).toBe('../kernel-abi-amd64-2');
        outcomes.push('committed');
      } catch (err) {
        expect(err).toBeInstanceOf(EnvironmentError);
        expect((err as Error).message).toMatch(/ENOSPC/);
        expect(await snapshotTree(root, { ignore: (r) => r === 'filler' })).toEqual(before);
        outcomes.push('rolled back');
      }
      expect(await readdir(journalOf(root))).toEqual([]);
      execFileSync('umount', [root]);
      mounts.pop();
    }
    // The matrix covers both outcomes.
    expect(outcomes[0]).toBe('rolled back');
    expect(outcomes.at(-1)).toBe('committed');
  });
});

describe('a read-only root', () => {
  it('fails cleanly when the whole root is read-only', async () => {
    const root = await tmpfs(256);
    await populate(root);
    const before = await snapshotTree(root);
    remountReadOnly(root);
    await expectEnvironmentError(
      applyPlan(installPlan(root, path.join(root, 'lib/modules/kernel-abi-amd64-1/dkms/old.ko')), {
        root,
        journalDir: journalOf(root),
      }),
      /EROFS: read-only file system.*\(nothing was changed\)$/,
    );
    expect(await snapshotTree(root)).toEqual(before);
  });

  it('rolls back when lib/modules is read-only but the journal is writable', async () => {
    const root = await tempDir('dkms-abi-ro-');
    await populate(root);
    const src = path.join(root, 'src.ko');
    await writeFile(src, 'built module bytes');
    const before = await snapshotTree(root);
    bindReadOnly(path.join(root, 'lib/modules'));
    await expectEnvironmentError(
      applyPlan(installPlan(root, src), { root, journalDir: journalOf(root) }),
      /EROFS: read-only file system.*\(the change was rolled back\)$/,
    );
    expect(await snapshotTree(root)).toEqual(before);
    expect(await readdir(journalOf(root))).toEqual([]);
  });

  it('reports a lock that cannot be created as an EnvironmentError', async () => {
    const root = await tmpfs(64);
    remountReadOnly(root);
    await expectEnvironmentError(
      acquireLock(path.join(root, 'var/lib/dkms-abi/lock'), { timeoutSeconds: 1, command: 'test' }),
      /^cannot use the lock .*var\/lib\/dkms-abi\/lock: EROFS$/,
    );
  });
});

describe('depmod', () => {
  let savedPath: string | undefined;
  beforeEach(() => {
    savedPath = process.env['DKMS_ABI_PATH'];
  });
  afterEach(() => {
    if (savedPath === undefined) delete process.env['DKMS_ABI_PATH'];
    else process.env['DKMS_ABI_PATH'] = savedPath;
  });

  async function liveRoot(): Promise<{ root: string; src: string }> {
    const root = await tempDir('dkms-abi-depmod-');
    await populate(root);
    const src = path.join(root, 'src.ko');
    await writeFile(src, 'built module bytes');
    return { root, src };
  }

  it('the real depmod runs last and the plan commits (control for the failures below)', async () => {
    const { root, src } = await liveRoot();
    delete process.env['DKMS_ABI_PATH'];
    await applyPlan(installPlan(root, src), {
      root,
      journalDir: journalOf(root),
      depmod: (k) => depmod({ paths: makePaths(root), config: DEFAULT_CONFIG }, k),
    });
    for (const k of [K47, K50]) {
      expect(await readFile(path.join(root, 'lib/modules', k, 'modules.dep'), 'utf8')).toBeDefined();
    }
    expect(await readlink(path.join(root, 'lib/modules', K47, 'extra'))).toBe('../kernel-abi-amd64-2');
  });

  it('a failing depmod rolls the whole plan back and is reported with its last words', async () => {
    const { root, src } = await liveRoot();
    const bin = await tempDir('dkms-abi-bin-');
    // A fake depmod only to inject the failure; it fails on the second kernel, after the first succeeded.
    await writeFile(
      path.join(bin, 'depmod'),
      `#!/bin/sh\ncase "$*" in *${K50}*) echo "depmod: FATAL: could not search modules: No space left" >&2; exit 1;; esac\nexit 0\n`,
    );
    await chmod(path.join(bin, 'depmod'), 0o755);
    process.env['DKMS_ABI_PATH'] = `${bin}:${process.env['PATH'] ?? ''}`;
    const before = await snapshotTree(root);
    const err = await applyPlan(installPlan(root, src), {
      root,
      journalDir: journalOf(root),
      depmod: (k) => depmod({ paths: makePaths(root), config: DEFAULT_CONFIG }, k),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CommandFailedError);
    const e = err as CommandFailedError;
    expect(e.exitCode).toBe(3);
    expect(e.failure.exitCode).toBe(1);
    expect(e.failure.argv.slice(0, 4)).toEqual(['depmod', '-a', '-b', root]);
    expect(e.message).toMatch(
      /exited with code 1: depmod: FATAL: could not search modules: No space left \(depmod failed for 6\.1\.0-50-amd64; the change was rolled back\)$/,
    );
    expect(await snapshotTree(root)).toEqual(before);
  });

  it('a missing depmod rolls back and says how to get it', async () => {
    const { root, src } = await liveRoot();
    process.env['DKMS_ABI_PATH'] = await tempDir('dkms-abi-emptybin-');
    const before = await snapshotTree(root);
    const err = await applyPlan(installPlan(root, src), {
      root,
      journalDir: journalOf(root),
      depmod: (k) => depmod({ paths: makePaths(root), config: DEFAULT_CONFIG }, k),
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CommandFailedError);
    expect((err as Error).message).toMatch(/depmod: command not found/);
    expect(await snapshotTree(root)).toEqual(before);
  });
});

describe('symlinks planted to lead outside the root', () => {
  let root: string;
  let outside: string;
  let before: Record<string, string>;
  let outsideBefore: Record<string, string>;

  beforeEach(async () => {
    root = await tempDir('dkms-abi-escape-');
    outside = await tempDir('dkms-abi-outside-');
    await populate(root);
    await writeFile(path.join(outside, 'precious'), 'must survive');
  });

  async function freeze(): Promise<void> {
    before = await snapshotTree(root);
    outsideBefore = await snapshotTree(outside);
  }

  async function expectRefused(plan: Plan, pattern = /leads outside the root/): Promise<void> {
    await expectEnvironmentError(applyPlan(plan, { root, journalDir: journalOf(root) }), pattern);
    expect(await snapshotTree(root)).toEqual(before);
    expect(await snapshotTree(outside)).toEqual(outsideBefore);
  }

  const m = (p: string) => path.join(root, 'lib/modules', p);

  it('refuses a rename whose source lies below a planted link', async () => {
    await symlink(outside, m(`${K47}/updates/evil`));
    await freeze();
    await expectRefused({
      description: 'migrate',
      operations: [
        { op: 'rename', path: m('kernel-abi-amd64-1/precious'), from: m(`${K47}/updates/evil/precious`) },
      ],
      depmod: [],
    });
  });

  it('refuses a remove below a planted link', async () => {
    await symlink(outside, m('kernel-abi-amd64-1/dkms/evil'));
    await freeze();
    await expectRefused({
      description: 'uninstall',
      operations: [{ op: 'remove', path: m('kernel-abi-amd64-1/dkms/evil/precious') }],
      depmod: [],
    });
  });

  it('refuses writes below a symlinked intermediate directory, even into directories still to be made', async () => {
    await symlink(outside, m('kernel-abi-evil-1'));
    await freeze();
    await expectRefused({
      description: 'install',
      operations: [
        { op: 'mkdir', path: m('kernel-abi-evil-1/dkms') },
        { op: 'mkdir', path: m('kernel-abi-evil-1/dkms/misc') },
        { op: 'write', path: m('kernel-abi-evil-1/dkms/misc/x.ko'), data: Buffer.from('x') },
      ],
      depmod: [],
    });
  });

  it('refuses a relative link that climbs out with ..', async () => {
    const rel = path.relative(m(K50), outside);
    expect(rel.startsWith('..')).toBe(true);
    await symlink(rel, m(`${K50}/build`));
    await freeze();
    await expectRefused({
      description: 'install',
      operations: [
        { op: 'copy', path: m(`${K50}/build/precious`), from: m('kernel-abi-amd64-1/dkms/old.ko') },
      ],
      depmod: [],
    });
  });

  it('refuses to write through a link the same plan created, and undoes the link', async () => {
    await freeze();
    await expectRefused({
      description: 'register',
      operations: [
        { op: 'remove', path: m(`${K47}/extra`) },
        // An absolute target is inside the root under chroot semantics; on the host it is not.
        { op: 'symlink', path: m(`${K47}/extra`), target: outside },
        { op: 'write', path: m(`${K47}/extra/precious`), data: Buffer.from('overwritten') },
      ],
      depmod: [],
    });
    expect(await readFile(path.join(outside, 'precious'), 'utf8')).toBe('must survive');
  });
});

describe('what an operation replaces comes back on rollback', () => {
  it('a regular file replaced by a symlink, and a file a rename landed on', async () => {
    const root = await tempDir('dkms-abi-replace-');
    await populate(root);
    const m = (p: string) => path.join(root, 'lib/modules', p);
    await writeFile(m('kernel-abi-amd64-1/dkms/vendor.ko'), 'a different vendor module');
    const before = await snapshotTree(root);
    const plan: Plan = {
      description: 'replace',
      operations: [
        { op: 'symlink', path: m(`${K47}/updates/dkms/hello_abi.ko`), target: '../../extra/hello_abi.ko' },
        { op: 'rename', path: m('kernel-abi-amd64-1/dkms/vendor.ko'), from: m(`${K47}/extra/vendor.ko`) },
      ],
      depmod: [K47],
    };
    await expect(
      applyPlan(plan, { root, journalDir: journalOf(root), depmod: () => Promise.reject(new Error('boom')) }),
    ).rejects.toThrow(/boom/);
    expect(await snapshotTree(root)).toEqual(before);
    expect(await readFile(m(`${K47}/updates/dkms/hello_abi.ko`), 'utf8')).toBe('stale copy plain dkms left');
    // And when it commits, the replaced files are gone with the temporaries.
    await applyPlan(plan, { root, journalDir: journalOf(root) });
    const after = await snapshotTree(root);
    expect(Object.keys(after).filter((k) => k.includes('.dkms-abi.'))).toEqual([]);
    expect(after[`lib/modules/${K47}/updates/dkms/hello_abi.ko`]).toBe('link -> ../../extra/hello_abi.ko');
    expect(await readFile(m('kernel-abi-amd64-1/dkms/vendor.ko'), 'utf8')).toBe('vendor module');
  });
});

describe('the lock under contention', () => {
  // Runs the compiled lock (npm test builds first), as separate processes do.
  const lockModule = new URL('../../dist/system/lock.js', import.meta.url).href;

  it('16 processes, 10 locked read-modify-writes each, polling every millisecond: no update lost', async () => {
    const dir = await tempDir('dkms-abi-contention-');
    const counter = path.join(dir, 'counter');
    await writeFile(counter, '0');
    const script = `
      import { readFileSync, writeFileSync } from 'node:fs';
      import { withLock } from ${JSON.stringify(lockModule)};
      const [lock, counter] = process.argv.slice(1);
      for (let i = 0; i < 10; i++) {
        await withLock(lock, { timeoutSeconds: 60, command: 'test', pollMs: 1 }, async () => {
          const n = Number(readFileSync(counter, 'utf8'));
          await new Promise((r) => setTimeout(r, 1));
          writeFileSync(counter, String(n + 1));
        });
      }`;
    const children = Array.from({ length: 16 }, () =>
      spawn(process.execPath, ['--input-type=module', '-e', script, path.join(dir, 'state/lock'), counter], {
        stdio: 'inherit',
      }),
    );
    const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => c.on('exit', r))));
    expect(codes).toEqual(Array(16).fill(0));
    expect(await readFile(counter, 'utf8')).toBe('160');
    await expect(readdir(path.join(dir, 'state'))).resolves.toEqual([]);
    await rmdir(path.join(dir, 'state'));
  });
});
