// dkms-abi verify [--repair] on sandbox roots: one built by the real commands (real dkms
// builds, real depmod, the real verdict) and then damaged by hand in one way at a time, and
// small roots laid out by hand. Each damage must be reported (exit 1, one line per finding,
// --json), and --repair must bring the root back to exactly the state the commands left —
// or, for what it must not touch, leave it alone and still exit 1.
import {
  chmod,
  mkdir,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  symlink,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson, spawnCli } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { IMAGES_DIR, copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { snapshotTree, type TreeSnapshot } from '../helpers/tree-snapshot.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI, no headers: gets A's builds
const TREE = 'kernel-abi-amd64-1';

interface Finding {
  kind: string;
  path: string;
  detail: string;
  damage: boolean;
  repair?: string;
}
interface Report {
  findings: Finding[];
  damaged: boolean;
  repaired?: string[];
  failed?: string[];
}

/**
 * What a test compares: everything the commands write (headers and boot files never change;
 * the verdict cache is rebuilt from the files whenever it is stale).
 */
const watched = (rel: string) =>
  rel.startsWith('usr') ||
  rel.startsWith('boot') ||
  rel.startsWith('tmp') ||
  rel === 'var/lib/dkms-abi/lock' ||
  rel.startsWith('var/lib/dkms-abi/cache');

describe('a root built by the real commands', () => {
  let sb: SandboxRoot;
  let healthy: TreeSnapshot;
  const h = (inner: string) => sb.host(inner);
  const snap = () => snapshotTree(sb.root, { ignore: watched });

  beforeAll(async () => {
    sb = await makeSandboxRoot({ kernels: [A] });
    await addSameAbiKernel(sb, A, B, { headers: false });
    for (const m of ['hello-abi', 'abi-provider']) {
      await copyExampleSource(sb.root, m);
      expect((await runCli(['add', `${m}/1.0`], { root: sb.root })).exitCode).toBe(0);
      expect((await runCli(['install', `${m}/1.0`, '-k', A], { root: sb.root })).exitCode).toBe(0);
    }
    expect((await runCli(['kernel', 'add', B], { root: sb.root })).exitCode).toBe(0);
    healthy = await snap();
  });
  afterAll(async () => {
    await sb.cleanup();
  });

  async function verifyJson(...args: string[]): Promise<{ exitCode: number; json: Report; stderr: string }> {
    return runCliJson<Report>(['verify', ...args], { root: sb.root });
  }

  /** Damage is reported exactly as listed; --repair restores the healthy root byte for byte. */
  async function expectRepaired(expected: readonly string[]): Promise<Report> {
    const found = await verifyJson();
    expect(found.json.findings.map((f) => `${f.kind} ${f.path}`)).toEqual(expected);
    expect(found.json.damaged).toBe(true);
    expect(found.exitCode).toBe(1);
    const text = await runCli(['verify'], { root: sb.root });
    expect(text.exitCode).toBe(1);
    expect(text.stdout.trimEnd().split('\n')).toHaveLength(found.json.findings.length);
    expect(text.stderr).toMatch(/^verify: \d+ problem\(s\) found/);
    const repaired = await verifyJson('--repair');
    expect(repaired.json.failed).toEqual([]);
    expect(repaired.json.findings).toEqual([]);
    expect(repaired.exitCode).toBe(0);
    expect(await snap()).toEqual(healthy);
    return repaired.json;
  }

  it('is consistent as the commands leave it: exit 0, nothing on stdout', async () => {
    const r = await runCli(['verify'], { root: sb.root });
    expect(r).toEqual({ exitCode: 0, stdout: '', stderr: 'verify: consistent\n' });
    const j = await verifyJson();
    expect(j.json).toEqual({ findings: [], damaged: false });
    // --repair on a healthy root changes nothing.
    expect((await verifyJson('--repair')).json).toEqual({
      findings: [],
      damaged: false,
      repaired: [],
      failed: [],
    });
    expect(await snap()).toEqual(healthy);
  });

  it('a DKMS mark removed from a kernel that shares the build: marked again (the verdict accepts it)', async () => {
    await unlink(h(`var/lib/dkms/hello-abi/kernel-${B}-x86_64`));
    const r = await expectRepaired([`dkms-unmarked /var/lib/dkms/hello-abi/kernel-${B}-x86_64`]);
    expect(r.repaired).toEqual([
      `dkms-unmarked /var/lib/dkms/hello-abi/kernel-${B}-x86_64: mark it installed`,
    ]);
  });

  it('an updates/dkms link removed: relinked, and modules.dep (which names it) redone', async () => {
    await unlink(h(`lib/modules/${A}/updates/dkms/hello_abi.ko`));
    await expectRepaired([
      `needs-depmod /lib/modules/${A}/modules.dep`,
      `updates-link-missing /lib/modules/${A}/updates/dkms/hello_abi.ko`,
    ]);
  });

  it('a saved Module.symvers missing or corrupt: written again from the binaries, byte-identical', async () => {
    const saved = h(`lib/modules/${TREE}/.dkms-abi/abi-provider/1.0/Module.symvers`);
    await unlink(saved);
    await expectRepaired([`symvers-missing /lib/modules/${TREE}/.dkms-abi/abi-provider/1.0/Module.symvers`]);
    await writeFile(saved, '0xnotacrc\tabi_provider_add\n');
    const r = await expectRepaired([
      `symvers-invalid /lib/modules/${TREE}/.dkms-abi/abi-provider/1.0/Module.symvers`,
    ]);
    expect(r.repaired?.[0]).toMatch(/write it again from the installed binaries$/);
  });

  it('a dangling DKMS mark: removed, and the kernel the module was built for marked again', async () => {
    const mark = h(`var/lib/dkms/hello-abi/kernel-${A}-x86_64`);
    await unlink(mark);
    await symlink(`9.9/${A}/x86_64`, mark);
    await expectRepaired([
      `dkms-unmarked /var/lib/dkms/hello-abi/kernel-${A}-x86_64`,
      `mark-dangling /var/lib/dkms/hello-abi/kernel-${A}-x86_64`,
    ]);
    expect(await readlink(mark)).toBe(`1.0/${A}/x86_64`);
  });

  it('a module/ link pointing at a build that is gone: the entry is rebuilt from the right build', async () => {
    const link = h(`var/lib/dkms/hello-abi/1.0/${B}/x86_64/module`);
    await unlink(link);
    await symlink('../../6.0.0-1-amd64/x86_64/module', link);
    await expectRepaired([`module-link-dangling /var/lib/dkms/hello-abi/1.0/${B}/x86_64/module`]);
    expect(await readlink(link)).toBe(`../../${A}/x86_64/module`);
  });

  it('modules newer than modules.dep: depmod', async () => {
    const past = new Date(Date.now() - 3600_000);
    for (const k of [A, B]) await utimes(h(`lib/modules/${k}/modules.dep`), past, past);
    await expectRepaired([
      `needs-depmod /lib/modules/${A}/modules.dep`,
      `needs-depmod /lib/modules/${B}/modules.dep`,
    ]);
  });

  it("depmod's index cut short as a full disk leaves it (modules.dep fine): needs-depmod naming each file; depmod", async () => {
    const dir = h(`lib/modules/${B}`);
    await writeFile(path.join(dir, 'modules.alias'), '');
    for (const f of ['modules.symbols', 'modules.softdep', 'modules.devname', 'modules.builtin.bin'])
      await rm(path.join(dir, f));
    await writeFile(path.join(dir, 'modules.alias.bin'), Buffer.alloc(0));
    const found = await verifyJson();
    expect(found.json.findings.map((f) => f.detail)).toEqual([
      'is out of date (modules.alias is empty; modules.symbols is missing; modules.softdep is missing; modules.devname is missing; modules.alias.bin is not a kmod index; modules.builtin.bin is missing)',
    ]);
    await expectRepaired([`needs-depmod /lib/modules/${B}/modules.dep`]);
  });

  it('a dangling updates/dkms link of ours: removed', async () => {
    await symlink('../../extra/dkms/ghost.ko', h(`lib/modules/${A}/updates/dkms/ghost.ko`));
    await expectRepaired([`updates-dangling /lib/modules/${A}/updates/dkms/ghost.ko`]);
  });

  it('an uninstall killed half-way: verify sees the interrupted change, --repair rolls it back', async () => {
    const killed = await spawnCli(['uninstall', 'hello-abi/1.0'], {
      root: sb.root,
      env: { DKMS_ABI_FAULT_AT: '2' },
    });
    expect(killed.signal).toBe('SIGKILL');
    const found = await verifyJson();
    expect(found.exitCode).toBe(1);
    const journal = found.json.findings.filter((f) => f.kind === 'journal-interrupted');
    expect(journal).toHaveLength(1);
    // Half-done: the binary and its metadata are gone, the marks and links still claim it.
    expect(found.json.findings.map((f) => f.kind)).toEqual(
      expect.arrayContaining(['journal-interrupted', 'dkms-mark-stale', 'updates-dangling']),
    );
    const repaired = await verifyJson('--repair');
    expect(repaired.stderr).toMatch(/rolled back an interrupted change: uninstall hello-abi\/1\.0/);
    expect(repaired.json).toEqual({ findings: [], damaged: false, repaired: [], failed: [] });
    expect(await snap()).toEqual(healthy);
  });

  it('an uninstall killed after its commit: --repair finishes it; reinstalling restores the root', async () => {
    // The number of operations is in the journal a kill at step 0 leaves behind.
    await spawnCli(['uninstall', 'hello-abi/1.0'], {
      root: sb.root,
      env: { DKMS_ABI_FAULT_AT: '0' },
    });
    const journalDir = h('var/lib/dkms-abi/journal');
    const [id] = await readdir(journalDir);
    const ops = (
      JSON.parse(await readFile(path.join(journalDir, id ?? '', 'plan.json'), 'utf8')) as {
        entries: unknown[];
      }
    ).entries.length;
    expect((await verifyJson('--repair')).exitCode).toBe(0);
    expect(await snap()).toEqual(healthy);
    // Steps: the operations, after them, after depmod, after the commit mark (before cleanup).
    const killed = await spawnCli(['uninstall', 'hello-abi/1.0'], {
      root: sb.root,
      env: { DKMS_ABI_FAULT_AT: String(ops + 2) },
    });
    expect(killed.signal).toBe('SIGKILL');
    expect((await verifyJson()).json.findings.map((f) => f.kind)).toContain('journal-interrupted');
    const finished = await verifyJson('--repair');
    expect(finished.stderr).toMatch(/finished an interrupted change: uninstall hello-abi\/1\.0/);
    expect(finished.json.findings).toEqual([]);
    expect(finished.exitCode).toBe(0);
    expect((await runCli(['status', 'hello-abi'], { root: sb.root })).stdout).not.toMatch(/installed/);
    expect((await runCli(['install', 'hello-abi/1.0', '-k', A], { root: sb.root })).exitCode).toBe(0);
    expect(await snap()).toEqual(healthy);
  });

  it('a module file gone from the tree: reported, never "repaired" by deleting anything; back once restored', async () => {
    const file = h(`lib/modules/${TREE}/dkms/hello_abi.ko`);
    const aside = h('tmp/hello_abi.ko');
    await rename(file, aside);
    const before = await verifyJson();
    expect(before.exitCode).toBe(1);
    expect(before.json.findings.map((f) => `${f.kind} ${f.path}`)).toEqual([
      `needs-depmod /lib/modules/${A}/modules.dep`,
      `updates-dangling /lib/modules/${A}/updates/dkms/hello_abi.ko`,
      `needs-depmod /lib/modules/${B}/modules.dep`,
      `updates-dangling /lib/modules/${B}/updates/dkms/hello_abi.ko`,
      `module-file-missing /lib/modules/${TREE}/dkms/hello_abi.ko`,
    ]);
    const after = await verifyJson('--repair');
    expect(after.exitCode).toBe(1);
    expect(after.json.findings.map((f) => f.kind)).toEqual(['module-file-missing']);
    expect(after.json.findings[0]?.detail).toContain(`dkms-abi install hello-abi/1.0 -k ${A}`);
    // The other module's file and hello-abi's metadata are untouched.
    expect(await readFile(h(`lib/modules/${TREE}/dkms/abi_provider.ko`))).toBeDefined();
    expect(await readFile(h(`lib/modules/${TREE}/.dkms-abi/hello-abi/1.0/manifest.json`), 'utf8')).toContain(
      'hello_abi.ko',
    );
    await rename(aside, file);
    await expectRepaired([
      `needs-depmod /lib/modules/${A}/modules.dep`,
      `updates-link-missing /lib/modules/${A}/updates/dkms/hello_abi.ko`,
      `needs-depmod /lib/modules/${B}/modules.dep`,
      `updates-link-missing /lib/modules/${B}/updates/dkms/hello_abi.ko`,
    ]);
  });

  it('a real file shadowing the tree in updates/dkms, and an unreadable module: reported, left alone', async () => {
    const copy = h(`lib/modules/${B}/updates/dkms/hello_abi.ko`);
    await unlink(copy);
    await writeFile(copy, await readFile(h(`lib/modules/${TREE}/dkms/hello_abi.ko`)));
    const ko = h(`lib/modules/${TREE}/dkms/abi_provider.ko`);
    const original = await readFile(ko);
    await unlink(ko); // a new inode: the tree's copy is its own, but never write through a link
    await writeFile(ko, 'MZ this is not an ELF object');
    const r = await verifyJson('--repair');
    expect(r.exitCode).toBe(1);
    expect(r.json.findings.map((f) => `${f.kind} ${f.path}`)).toEqual([
      `updates-shadow /lib/modules/${B}/updates/dkms/hello_abi.ko`,
      `module-unreadable /lib/modules/${TREE}/dkms/abi_provider.ko`,
    ]);
    expect(r.json.findings[1]?.detail).toMatch(/not a kernel module/);
    expect(await readFile(copy)).toEqual(await readFile(h(`lib/modules/${TREE}/dkms/hello_abi.ko`)));
    expect(await readFile(ko, 'utf8')).toBe('MZ this is not an ELF object');
    await unlink(copy);
    await unlink(ko);
    await writeFile(ko, original);
    await chmod(ko, 0o644);
    await expectRepaired([
      `needs-depmod /lib/modules/${A}/modules.dep`,
      `needs-depmod /lib/modules/${B}/modules.dep`,
      `updates-link-missing /lib/modules/${B}/updates/dkms/hello_abi.ko`,
    ]);
  });

  it('a depmod that fails during --repair: reported, exit 1, the finding stays', async () => {
    const bin = h('tmp/fakebin');
    await mkdir(bin, { recursive: true });
    // A fake depmod only to inject the failure.
    await writeFile(path.join(bin, 'depmod'), '#!/bin/sh\necho "depmod: FATAL: injected" >&2\nexit 1\n');
    await chmod(path.join(bin, 'depmod'), 0o755);
    const past = new Date(Date.now() - 3600_000);
    await utimes(h(`lib/modules/${A}/modules.dep`), past, past);
    const r = await runCliJson<Report>(['verify', '--repair'], {
      root: sb.root,
      env: { DKMS_ABI_PATH: `${bin}:${process.env['PATH'] ?? ''}` },
    });
    expect(r.exitCode).toBe(1);
    expect(r.json.failed).toEqual([
      expect.stringMatching(/^depmod 6\.1\.0-47-amd64: .*depmod: FATAL: injected/),
    ]);
    expect(r.json.findings.map((f) => f.kind)).toEqual(['needs-depmod']);
    await rm(bin, { recursive: true });
    await expectRepaired([`needs-depmod /lib/modules/${A}/modules.dep`]);
  });
});

describe('roots laid out by hand', () => {
  const K1 = '6.1.0-47-amd64';
  const K2 = '6.1.0-50-amd64';
  const VENDOR_KO = path.join(
    IMAGES_DIR,
    K1,
    'lib/modules',
    K1,
    'kernel/drivers/misc/eeprom/eeprom_93cx6.ko',
  );

  async function root(): Promise<SandboxRoot> {
    return makeSandboxRoot({ kernels: [K1, K2], withHeaders: false });
  }

  /** A module in a tree the way a binary package would install it (no DKMS bookkeeping). */
  async function binaryModule(sb: SandboxRoot, tree: string): Promise<void> {
    const dir = sb.host(`lib/modules/${tree}`);
    await mkdir(path.join(dir, 'dkms'), { recursive: true });
    // A real module from the Debian image (a copy: the tree's file is its own).
    await writeFile(path.join(dir, 'dkms/vendor.ko'), await readFile(VENDOR_KO));
    await mkdir(path.join(dir, '.dkms-abi/vendor/2.0'), { recursive: true });
    await writeFile(
      path.join(dir, '.dkms-abi/vendor/2.0/manifest.json'),
      JSON.stringify({
        module: 'vendor',
        version: '2.0',
        arch: 'x86_64',
        builtFor: K1,
        files: ['dkms/vendor.ko'],
      }),
    );
    await writeFile(path.join(dir, '.dkms-abi/vendor/2.0/Module.symvers'), '');
  }

  const verify = (sb: SandboxRoot, ...args: string[]) =>
    runCliJson<Report>(['verify', ...args], { root: sb.root });

  it('a tree no kernel links to: a notice (exit 0); pruned only when it holds nothing', async () => {
    const sb = await root();
    await binaryModule(sb, 'kernel-abi-amd64-7');
    await mkdir(sb.host('lib/modules/kernel-abi-amd64-8/.dkms-abi'), { recursive: true });
    const r = await verify(sb);
    expect(r.exitCode).toBe(0);
    expect(r.json.damaged).toBe(false);
    expect(r.json.findings.map((f) => [f.kind, f.path, f.damage, f.repair])).toEqual([
      ['tree-orphan', '/lib/modules/kernel-abi-amd64-7', false, undefined],
      ['tree-orphan', '/lib/modules/kernel-abi-amd64-8', false, 'remove the empty tree'],
    ]);
    const text = await runCli(['verify'], { root: sb.root });
    expect(text.stdout).toMatch(
      /^notice tree-orphan \/lib\/modules\/kernel-abi-amd64-7: no kernel links to it; it holds 1 module\(s\)/,
    );
    expect(text.stderr).toBe('verify: consistent (2 notice(s))\n');
    const before = await snapshotTree(sb.host('lib/modules/kernel-abi-amd64-7'));
    const repaired = await verify(sb, '--repair');
    expect(repaired.exitCode).toBe(0);
    expect(repaired.json.findings.map((f) => f.path)).toEqual(['/lib/modules/kernel-abi-amd64-7']);
    expect(await readdir(sb.host('lib/modules'))).toEqual([K1, K2, 'kernel-abi-amd64-7']);
    expect(await snapshotTree(sb.host('lib/modules/kernel-abi-amd64-7'))).toEqual(before);
  });

  it('extra/ pointing at a tree that is gone: the empty tree is created', async () => {
    const sb = await root();
    await symlink('../kernel-abi-amd64-3', sb.host(`lib/modules/${K1}/extra`));
    const r = await verify(sb);
    expect(r.exitCode).toBe(1);
    expect(r.json.findings).toEqual([
      {
        kind: 'extra-dangling',
        path: `/lib/modules/${K1}/extra`,
        detail: `points at ../kernel-abi-amd64-3, but there is no tree kernel-abi-amd64-3: the kernel's dkms-abi modules are gone`,
        damage: true,
        repair: `create the empty tree kernel-abi-amd64-3 (then \`dkms-abi autoinstall -k ${K1}\` reinstalls its modules)`,
      },
    ]);
    const repaired = await verify(sb, '--repair');
    expect(repaired.exitCode).toBe(0);
    expect(repaired.json.findings).toEqual([]);
    expect(await readdir(sb.host('lib/modules/kernel-abi-amd64-3'))).toEqual([]);
  });

  it('extra/ leading elsewhere: pointed at the tree beside it when it names one, else left for a person', async () => {
    const sb = await root();
    await binaryModule(sb, 'kernel-abi-amd64-1');
    await symlink('../../modules/kernel-abi-amd64-1', sb.host(`lib/modules/${K1}/extra`));
    await symlink('/opt/vendor/modules', sb.host(`lib/modules/${K2}/extra`));
    const r = await verify(sb);
    expect(r.exitCode).toBe(1);
    expect(r.json.findings.map((f) => [f.kind, f.path, f.repair])).toEqual([
      ['extra-wrong', `/lib/modules/${K1}/extra`, 'point it at ../kernel-abi-amd64-1'],
      ['extra-wrong', `/lib/modules/${K2}/extra`, undefined],
      ['tree-orphan', '/lib/modules/kernel-abi-amd64-1', undefined],
    ]);
    const repaired = await verify(sb, '--repair');
    expect(repaired.exitCode).toBe(1);
    expect(await readlink(sb.host(`lib/modules/${K1}/extra`))).toBe('../kernel-abi-amd64-1');
    expect(await readlink(sb.host(`lib/modules/${K2}/extra`))).toBe('/opt/vendor/modules');
    // K1 now uses the tree (and got its modules.dep); only K2's link is left.
    expect(repaired.json.findings.map((f) => [f.kind, f.path])).toEqual([
      ['extra-wrong', `/lib/modules/${K2}/extra`],
    ]);
    expect(await readFile(sb.host(`lib/modules/${K1}/modules.dep`), 'utf8')).toContain(
      'extra/dkms/vendor.ko:',
    );
  });

  it('an unreadable manifest: reported, and the files it may name are never touched', async () => {
    const sb = await root();
    await binaryModule(sb, 'kernel-abi-amd64-1');
    await symlink('../kernel-abi-amd64-1', sb.host(`lib/modules/${K1}/extra`));
    await writeFile(
      sb.host('lib/modules/kernel-abi-amd64-1/.dkms-abi/vendor/2.0/manifest.json'),
      '{"module": "vendor", "files": ["../../../etc/passwd"]}',
    );
    const before = await snapshotTree(sb.host('lib/modules/kernel-abi-amd64-1'));
    const r = await verify(sb, '--repair');
    expect(r.exitCode).toBe(1);
    expect(r.json.findings.map((f) => [f.kind, f.path])).toEqual([
      ['manifest-invalid', '/lib/modules/kernel-abi-amd64-1/.dkms-abi/vendor/2.0/manifest.json'],
    ]);
    expect(r.json.findings[0]?.detail).toMatch(/missing "version"/);
    expect(await snapshotTree(sb.host('lib/modules/kernel-abi-amd64-1'))).toEqual(before);
  });
});
