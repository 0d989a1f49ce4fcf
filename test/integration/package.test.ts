// Issue 5 end to end: a module built once on a build host (real dkms, kbuild, Debian headers)
// becomes a .deb per kernel ABI; dpkg installs it into a second root with no headers and no
// compiler, where it is installed-abi for two kernel releases of that ABI; apt finds the
// package for a kernel's ABI in a flat repository; removing it leaves nothing behind.
import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import {
  bootFilesOnly,
  dpkgOnRoot,
  initDpkgDatabase,
  makeAptSandbox,
  makeToolDir,
  type ToolDir,
} from '../helpers/dpkg-root.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { snapshotTree } from '../helpers/tree-snapshot.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI as A, no headers (its image and modules only)
const C = '6.1.0-50-amd64'; // another ABI
const MAINTAINER = 'Test Builder <builder@example.org>';
const BLOB = 'blobdrv-modules-amd64-1';
const BLOB_DEB = `${BLOB}_1.0-1_amd64.deb`;
const PAYLOAD = `usr/lib/dkms-abi/packages/${BLOB}`;

let build: SandboxRoot;
let out: string;
let repo: string;
const timings: Record<string, number> = {};

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = Math.round(performance.now() - t0);
  }
}

const onBuild = (...args: string[]) => runCli(args, { root: build.root });

async function debField(deb: string, field: string): Promise<string> {
  return (await execa('dpkg-deb', ['-f', deb, field])).stdout;
}

async function extract(deb: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-deb-'));
  await execa('dpkg-deb', ['-x', deb, dir]);
  await execa('dpkg-deb', ['-e', deb, path.join(dir, 'DEBIAN')]);
  return dir;
}

beforeAll(async () => {
  build = await makeSandboxRoot({ kernels: [A, C] });
  out = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-out-'));
  repo = path.join(out, 'repo');
  for (const m of ['blobdrv', 'hello-abi']) {
    await copyExampleSource(build.root, m);
    expect((await onBuild('add', `${m}/1.0`)).exitCode).toBe(0);
  }
  expect((await onBuild('install', 'hello-abi/1.0', '-k', A)).exitCode).toBe(0);
});

afterAll(async () => {
  await build.cleanup();
  await rm(out, { recursive: true, force: true });
  process.stderr.write(`package.test timings (ms): ${JSON.stringify(timings)}\n`);
});

describe('building packages on the build host', () => {
  it('packages blobdrv for the ABI of a kernel, building and installing it there first', async () => {
    const r = await timed('package -k (build + install + deb)', () =>
      onBuild('package', 'blobdrv/1.0', '-k', A, '-o', out, '--maintainer', MAINTAINER),
    );
    expect(r.stderr).toContain(`blobdrv/1.0 is not in kernel-abi-amd64-1 yet: installing it for ${A}`);
    expect(r.exitCode).toBe(0);
    const deb = path.join(out, BLOB_DEB);
    expect(r.stdout).toContain(`${BLOB} 1.0-1 (amd64): ${deb} (`);
    expect((await onBuild('status', 'blobdrv', '-k', A)).stdout).toBe(
      `blobdrv/1.0, ${A}, x86_64: installed\n`,
    );

    expect(await debField(deb, 'Package')).toBe(BLOB);
    expect(await debField(deb, 'Version')).toBe('1.0-1');
    expect(await debField(deb, 'Architecture')).toBe('amd64');
    expect(await debField(deb, 'Depends')).toBe('dkms-abi');
    expect(await debField(deb, 'Provides')).toBe('blobdrv-modules-abi (= 1.0-1)');
    expect(await debField(deb, 'Enhances')).toBe(`linux-image-${A}`);
    expect(await debField(deb, 'Section')).toBe('kernel');
    const files = (await execa('dpkg-deb', ['--fsys-tarfile', deb]).pipe('tar', ['-t'])).stdout
      .split('\n')
      .filter((f) => !f.endsWith('/'));
    expect(files.sort()).toEqual(
      [
        `./${PAYLOAD}/Module.symvers`,
        `./${PAYLOAD}/abi-reference.symvers`,
        `./${PAYLOAD}/dkms/blobdrv.ko`,
        `./${PAYLOAD}/metadata.json`,
        `./usr/share/doc/${BLOB}/changelog.Debian.gz`,
        `./usr/share/doc/${BLOB}/copyright`,
      ].sort(),
    );
  });

  it('carries the tree binary, the ABI reference and metadata that kmod agrees with', async () => {
    const dir = await extract(path.join(out, BLOB_DEB));
    try {
      const tree = build.host('lib/modules/kernel-abi-amd64-1');
      const ko = path.join(dir, PAYLOAD, 'dkms/blobdrv.ko');
      expect(await readFile(ko)).toEqual(await readFile(path.join(tree, 'dkms/blobdrv.ko')));
      expect(await readFile(path.join(dir, PAYLOAD, 'abi-reference.symvers'))).toEqual(
        await readFile(build.host('var/lib/dkms-abi/abi/amd64/1.symvers')),
      );
      expect(await readFile(path.join(dir, PAYLOAD, 'Module.symvers'))).toEqual(
        await readFile(path.join(tree, '.dkms-abi/blobdrv/1.0/Module.symvers')),
      );
      const meta = JSON.parse(await readFile(path.join(dir, PAYLOAD, 'metadata.json'), 'utf8')) as {
        module: string;
        flavour: string;
        abiver: string;
        builtFor: string;
        arch: string;
        verifiedKernels: string[];
        files: {
          path: string;
          vermagic: string;
          license: string;
          requires: { symbol: string; crc: string }[];
        }[];
      };
      expect([meta.module, meta.flavour, meta.abiver, meta.builtFor, meta.arch]).toEqual([
        'blobdrv',
        'amd64',
        '1',
        A,
        'x86_64',
      ]);
      expect(meta.verifiedKernels).toEqual([A]);
      const [file] = meta.files;
      expect(file?.path).toBe('dkms/blobdrv.ko');
      expect(file?.license).toBe('Proprietary');
      // Oracles: kmod's own reading of the module.
      expect(file?.vermagic).toBe((await execa('modinfo', ['-F', 'vermagic', ko])).stdout);
      const dump = (await execa('modprobe', ['--dump-modversions', ko])).stdout;
      expect(file?.requires.map((r) => `${r.crc}\t${r.symbol}`).join('\n')).toBe(dump);
      expect(file?.requires.map((r) => r.symbol)).toContain('module_layout');
      // Every payload file is listed in md5sums with the right hash.
      const check = await execa('md5sum', ['-c', path.join(dir, 'DEBIAN/md5sums')], { cwd: dir });
      expect(check.stdout.split('\n')).toHaveLength(6);
      // The maintainer scripts are ShellCheck-clean POSIX sh.
      const sc = await execa('shellcheck', ['-s', 'sh', 'DEBIAN/postinst', 'DEBIAN/prerm'], {
        cwd: dir,
        reject: false,
      });
      expect(sc.stdout).toBe('');
      expect(sc.exitCode).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the same bytes for the same build (--abi, no rebuild)', async () => {
    const again = path.join(out, 'again');
    const r = await timed('package --abi (deb only)', () =>
      onBuild('package', 'blobdrv/1.0', '--abi', 'amd64-1', '-o', again, '--maintainer', MAINTAINER),
    );
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
    expect(await readFile(path.join(again, BLOB_DEB))).toEqual(await readFile(path.join(out, BLOB_DEB)));
  });

  it("also writes dkms's binaries-only tarball of the build", async () => {
    const dir = path.join(out, 'tarball');
    const r = await onBuild(
      'package',
      'blobdrv/1.0',
      '--abi',
      'amd64-1',
      '-o',
      dir,
      '--maintainer',
      MAINTAINER,
      '--dkms-tarball',
    );
    expect(r.exitCode).toBe(0);
    const archive = path.join(dir, `blobdrv-1.0-${A}-x86_64.dkms.tar.gz`);
    expect(r.stdout).toContain(`dkms binaries-only tarball: ${archive}`);
    const list = (await execa('tar', ['-tzf', archive])).stdout.split('\n');
    expect(list).toContain('./dkms_binaries_only/dkms.conf');
    expect(list).toContain(`./dkms_main_tree/${A}/x86_64/module/blobdrv.ko`);
    const x = path.join(dir, 'x');
    await mkdir(x);
    await execa('tar', ['-xzf', archive, '-C', x]);
    expect(await readFile(path.join(x, `dkms_main_tree/${A}/x86_64/module/blobdrv.ko`))).toEqual(
      await readFile(build.host('lib/modules/kernel-abi-amd64-1/dkms/blobdrv.ko')),
    );
  });

  it.each([
    [['blobdrv/1.0'], 'package needs exactly one of --abi FLAVOUR-ABIVER and -k KVER'],
    [['blobdrv/1.0', '--abi', 'amd64'], '--abi "amd64" is not FLAVOUR-ABIVER'],
    [['blobdrv/1.0', '--abi', 'amd64-9'], 'blobdrv/1.0 is not installed in kernel-abi-amd64-9'],
    [['blobdrv', '--abi', 'amd64-1'], 'package needs MODULE/VERSION'],
    [['blobdrv/1.0', '--abi', 'amd64-1', '--revision', '1-2'], 'revision "1-2" may only hold'],
  ])('refuses package %j with exit 2', async (args, message) => {
    const r = await onBuild('package', ...args, '-o', path.join(out, 'refused'), '--maintainer', MAINTAINER);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(message);
    expect(await readdir(path.join(out, 'refused')).catch(() => [])).toEqual([]);
  });

  it('refuses a maintainer that is not "Name <address>"', async () => {
    const r = await onBuild('package', 'blobdrv/1.0', '--abi', 'amd64-1', '--maintainer', 'nobody');
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(
      'dkms-abi: maintainer "nobody" is not of the form "Full Name <address>" (give --maintainer or set DEBFULLNAME and DEBEMAIL)\n',
    );
  });

  it('keeps a flat apt repository with one package per module and ABI', async () => {
    const r1 = await onBuild(
      'package',
      'blobdrv/1.0',
      '--abi',
      'amd64-1',
      '--repo',
      repo,
      '--maintainer',
      MAINTAINER,
    );
    expect(r1.exitCode).toBe(0);
    const r2 = await onBuild(
      'package',
      'hello-abi/1.0',
      '--abi',
      'amd64-1',
      '--repo',
      repo,
      '--maintainer',
      MAINTAINER,
    );
    expect(r2.exitCode).toBe(0);
    // Another ABI: hello-abi is built for C first (C gets its own tree, amd64-2).
    const r3 = await runCliJson<{ package: string; abi: string; repo: { packages: number; added: boolean } }>(
      ['package', 'hello-abi/1.0', '-k', C, '--repo', repo, '--maintainer', MAINTAINER, '-o', out],
      { root: build.root },
    );
    expect(r3.exitCode).toBe(0);
    expect([r3.json.package, r3.json.abi, r3.json.repo.packages, r3.json.repo.added]).toEqual([
      'hello-abi-modules-amd64-2',
      'amd64-2',
      3,
      true,
    ]);
    // The same file again is fine; another build under the same version is refused.
    const same = await onBuild(
      'package',
      'blobdrv/1.0',
      '--abi',
      'amd64-1',
      '--repo',
      repo,
      '--maintainer',
      MAINTAINER,
    );
    expect(same.stdout).toContain(`already in ${repo} (3 packages indexed)`);
    const other = await onBuild(
      'package',
      'blobdrv/1.0',
      '--abi',
      'amd64-1',
      '--repo',
      repo,
      '--maintainer',
      'Other <o@example.org>',
    );
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toContain('already exists with other contents; give the new build another revision');

    expect((await readdir(repo)).sort()).toEqual(
      [
        '.dkms-abi-repo.lock',
        'Packages',
        'Packages.gz',
        'Release',
        BLOB_DEB,
        'hello-abi-modules-amd64-1_1.0-1_amd64.deb',
        'hello-abi-modules-amd64-2_1.0-1_amd64.deb',
      ].filter((n) => n !== '.dkms-abi-repo.lock'),
    );
    const packages = await readFile(path.join(repo, 'Packages'), 'utf8');
    expect([...packages.matchAll(/^Package: (.*)$/gm)].map((m) => m[1]).sort()).toEqual([
      BLOB,
      'hello-abi-modules-amd64-1',
      'hello-abi-modules-amd64-2',
    ]);
    const sha = (await execa('sha256sum', ['Packages', 'Packages.gz'], { cwd: repo })).stdout;
    const release = await readFile(path.join(repo, 'Release'), 'utf8');
    for (const line of sha.split('\n')) {
      const [hash, name] = line.split(/\s+/);
      expect(release).toMatch(new RegExp(`^ ${hash} +[0-9]+ ${name}$`, 'm'));
    }
  });

  it('makes packages lintian finds no error in', async () => {
    const debs = (await readdir(repo)).filter((n) => n.endsWith('.deb')).map((n) => path.join(repo, n));
    const r = await timed('lintian (3 packages)', () =>
      execa('lintian', ['--tag-display-limit', '0', ...debs], { reject: false }),
    );
    const tags = r.stdout.split('\n').filter((l) => /^[EWI]: /.test(l));
    expect(tags.filter((l) => l.startsWith('E: '))).toEqual([]);
    // What remains is documented in docs/packaging.md.
    const kinds = new Set(tags.map((l) => l.split(' ')[2]));
    for (const k of kinds)
      expect(['copyright-without-copyright-notice', 'initial-upload-closes-no-bugs']).toContain(k);
  });
});

describe('installing on a machine without headers or compiler', () => {
  let target: SandboxRoot;
  let tools: ToolDir;
  let before: Record<string, string>;
  const ignore = (rel: string) =>
    rel === 'var/lib/dpkg' ||
    rel.startsWith('var/lib/dpkg/') ||
    rel === 'var/lib/dkms-abi' ||
    rel === 'var/lib/dkms-abi/journal' ||
    // dkms-abi's own state: its layout version, written with its first change, stays.
    rel === 'var/lib/dkms-abi/layout-version';
  const onTarget = (...args: string[]) => runCli(args, { root: target.root });

  beforeAll(async () => {
    tools = await makeToolDir();
    target = await makeSandboxRoot({ kernels: [A, C], withHeaders: false });
    await bootFilesOnly(target, A);
    await bootFilesOnly(target, C);
    await addSameAbiKernel(target, A, B, { headers: false });
    await initDpkgDatabase(target.root);
    // Debian's /usr/lib is never empty (base-files' os-release): dpkg -r would prune an empty one.
    await writeFile(target.host('usr/lib/os-release'), await readFile('/etc/os-release'));
    // As the kernel packages left them.
    for (const k of [A, B, C]) await execa('depmod', ['-a', '-b', target.root, k]);
    before = await snapshotTree(target.root, { ignore });
  });
  afterAll(async () => {
    await target.cleanup();
    await tools.cleanup();
  });

  it('dpkg --root installs the packages; blobdrv is installed-abi on both kernels of the ABI', async () => {
    const r = await timed('dpkg -i blobdrv', () =>
      dpkgOnRoot(target.root, tools, ['--force-depends', '-i', path.join(repo, BLOB_DEB)]),
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`blobdrv/1.0, ${A}, x86_64: installed\n`);
    expect(r.stdout).toContain(`blobdrv/1.0, ${B}, x86_64: installed-abi (from ${A})`);
    expect(r.stderr).toContain(`${BLOB}: registered ${A} in kernel-abi-amd64-1`);
    // dpkg set DPKG_ROOT to the root; the payload path is the one inside it.
    expect(await tools.calls()).toEqual([`--root ${target.root} package-install /${PAYLOAD}`]);

    const s = await runCliJson<{
      entries: { module: string; kernel: string; state: string; builtFor: string }[];
    }>(['status', 'blobdrv'], { root: target.root });
    expect(s.json.entries.map((e) => [e.kernel, e.state, e.builtFor])).toEqual([
      [A, 'installed', A],
      [B, 'installed-abi', A],
    ]);
    for (const k of [A, B]) {
      // Through extra/, or the updates/dkms link into it that keeps stock dkms status quiet.
      expect(await readFile(target.host(`lib/modules/${k}/modules.dep`), 'utf8')).toMatch(
        /^(extra|updates)\/dkms\/blobdrv\.ko:/m,
      );
    }
    expect(await readFile(target.host(`lib/modules/${C}/modules.dep`), 'utf8')).not.toContain('blobdrv');
    // Nothing was compiled, and nothing could have been.
    expect(await tools.tripped()).toEqual([]);
    expect(await readdir(target.host('var/lib/dkms'))).toEqual([]);
    expect(await readdir(target.host('usr/src'))).toEqual([]);
    expect((await onTarget('verify')).exitCode).toBe(0);
  });

  it('installs the hello-abi packages of two ABIs side by side', async () => {
    const debs = ['hello-abi-modules-amd64-1', 'hello-abi-modules-amd64-2'].map((n) =>
      path.join(repo, `${n}_1.0-1_amd64.deb`),
    );
    const r = await dpkgOnRoot(target.root, tools, ['--force-depends', '-i', ...debs]);
    expect(r.stderr).not.toContain('dkms-abi:');
    expect(r.exitCode).toBe(0);
    const s = await onTarget('status', 'hello-abi');
    expect(s.stdout).toBe(
      [
        `hello-abi/1.0, ${A}, x86_64: installed`,
        `hello-abi/1.0, ${B}, x86_64: installed-abi (from ${A})`,
        `hello-abi/1.0, ${C}, x86_64: installed`,
        '',
      ].join('\n'),
    );
    const list = await runCliJson<{ kernels: { kernel: string; tree: string }[] }>(['kernel', 'list'], {
      root: target.root,
    });
    expect(list.json.kernels.map((k) => [k.kernel, k.tree])).toEqual([
      [A, 'kernel-abi-amd64-1'],
      [B, 'kernel-abi-amd64-1'],
      [C, 'kernel-abi-amd64-2'],
    ]);
  });

  it('configuring again changes nothing; reinstalling puts back the same files', async () => {
    const snap = await snapshotTree(target.root, { ignore });
    // postinst abort-upgrade/abort-remove on a package whose modules are in place.
    const again = await onTarget('package-install', `/${PAYLOAD}`);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toBe(
      `blobdrv/1.0, ${A}, x86_64: installed\nblobdrv/1.0, ${B}, x86_64: installed-abi (from ${A})\n`,
    );
    expect(await snapshotTree(target.root, { ignore })).toEqual(snap);
    // dpkg -i of the same version: prerm upgrade takes the modules out, postinst puts them back.
    const r = await dpkgOnRoot(target.root, tools, ['--force-depends', '-i', path.join(repo, BLOB_DEB)]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`blobdrv/1.0, ${B}, x86_64: removed\n`);
    // Only the install records differ: the kernels blobdrv had registered passed to hello-abi's
    // record when blobdrv left the tree for a moment.
    const records = (rel: string) => ignore(rel) || rel.startsWith('var/lib/dkms-abi/packages/');
    expect(await snapshotTree(target.root, { ignore: records })).toEqual(
      Object.fromEntries(Object.entries(snap).filter(([rel]) => !records(rel))),
    );
  });

  it('gives a kernel of that ABI installed later the modules through kernel add, and takes them back', async () => {
    const D = '6.1.0-47.2-amd64';
    await addSameAbiKernel(target, A, D, { headers: false });
    expect((await onTarget('kernel', 'add', D)).exitCode).toBe(0);
    expect((await onTarget('status', '-k', D)).stdout).toBe(
      [
        `blobdrv/1.0, ${D}, x86_64: installed-abi (from ${A})`,
        `hello-abi/1.0, ${D}, x86_64: installed-abi (from ${A})`,
        '',
      ].join('\n'),
    );
    expect(await tools.tripped()).toEqual([]);
    // The kernel package goes again: its hook unregisters it, then its files go.
    expect((await onTarget('kernel', 'remove', D)).exitCode).toBe(0);
    await rm(target.host(`lib/modules/${D}`), { recursive: true });
    await rm(target.host(`boot/config-${D}`));
    await rm(target.host(`boot/vmlinuz-${D}`));
  });

  it('dpkg -r leaves the root as it was before', async () => {
    const r = await timed('dpkg -r (3 packages)', () =>
      dpkgOnRoot(target.root, tools, ['-r', BLOB, 'hello-abi-modules-amd64-1', 'hello-abi-modules-amd64-2']),
    );
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`blobdrv/1.0, ${B}, x86_64: removed`);
    expect(await readdir(target.host('var/lib/dkms-abi/journal'))).toEqual([]);
    expect(await snapshotTree(target.root, { ignore })).toEqual(before);
    expect((await onTarget('status')).stdout).toBe('');
  });
});

describe('when the last kernel of the ABI goes first', () => {
  it('package-install (what dpkg-reconfigure runs) puts the modules back for a kernel added later', async () => {
    const sb = await makeSandboxRoot({ kernels: [A], withHeaders: false });
    await bootFilesOnly(sb, A);
    await initDpkgDatabase(sb.root);
    await writeFile(sb.host('usr/lib/os-release'), await readFile('/etc/os-release'));
    const tools = await makeToolDir();
    expect(
      (await dpkgOnRoot(sb.root, tools, ['--force-depends', '-i', path.join(repo, BLOB_DEB)])).exitCode,
    ).toBe(0);
    const cli = (...args: string[]) => runCli(args, { root: sb.root });
    // An upgrade that removes the old kernel before the new one is set up prunes the tree.
    expect((await cli('kernel', 'remove', A)).exitCode).toBe(0);
    expect((await cli('status')).stdout).toBe('');
    expect((await cli('kernel', 'add', A)).exitCode).toBe(0);
    const r = await cli('package-install', `/${PAYLOAD}`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`blobdrv/1.0, ${A}, x86_64: installed\n`);
    expect((await cli('status')).stdout).toBe(`blobdrv/1.0, ${A}, x86_64: installed\n`);
    expect((await dpkgOnRoot(sb.root, tools, ['-r', BLOB])).exitCode).toBe(0);
    expect((await cli('status')).stdout).toBe('');
    expect(await readdir(sb.host('var/lib/dkms-abi'))).not.toContain('packages');
  });
});

describe('apt on the fleet', () => {
  it("finds the package for a kernel's ABI in the flat repository", async () => {
    const apt = await makeAptSandbox(repo);
    const update = await apt.run('apt-get', ['update']);
    expect(update.stderr).not.toMatch(/^E:/m);
    expect(update.exitCode).toBe(0);
    // The build host names each kernel's ABI; the package name follows from it.
    for (const [kernel, abi] of [
      [A, 'amd64-1'],
      [C, 'amd64-2'],
    ] as const) {
      const show = await runCliJson<{ flavour: string; abiver: string }>(['abi', 'show', kernel], {
        root: build.root,
      });
      expect(`${show.json.flavour}-${show.json.abiver}`).toBe(abi);
      const name = `hello-abi-modules-${abi}`;
      const policy = await apt.run('apt-cache', ['policy', name]);
      expect(policy.stdout).toContain('Candidate: 1.0-1');
      const dl = await mkdtemp(path.join(apt.dir, 'dl-'));
      const got = await apt.run('apt-get', ['download', name], dl);
      expect(got.exitCode).toBe(0);
      expect(await readFile(path.join(dl, `${name}_1.0-1_amd64.deb`))).toEqual(
        await readFile(path.join(repo, `${name}_1.0-1_amd64.deb`)),
      );
    }
    const virtual = await apt.run('apt-cache', ['showpkg', 'hello-abi-modules-abi']);
    expect(virtual.stdout).toContain('hello-abi-modules-amd64-1 1.0-1');
    expect(virtual.stdout).toContain('hello-abi-modules-amd64-2 1.0-1');
  });
});

describe('a kernel whose loader would refuse the modules', () => {
  it('exits 1 and changes nothing when every kernel of the ABI refuses them', async () => {
    // The kernel is declared into amd64-1 by configuration, but its symbols are 6.1.0-50's.
    const sb = await makeSandboxRoot({ kernels: [C], withHeaders: false });
    await bootFilesOnly(sb, C);
    await mkdir(sb.host('etc'), { recursive: true });
    await writeFile(sb.host('etc/dkms-abi.conf'), `[kernel:${C}]\nabiver = 1\n`);
    await execa('dpkg-deb', ['-x', path.join(repo, BLOB_DEB), sb.root]);
    const snap = await snapshotTree(sb.root, { ignore: (rel) => rel.startsWith('var/lib/dkms-abi') });
    const r = await runCli(['package-install', `/${PAYLOAD}`], { root: sb.root });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(`blobdrv/1\\.0 is not usable on ${C}: .*CRC 0x[0-9a-f]{8} != 0x[0-9a-f]{8}`),
    );
    expect(r.stderr).toContain(
      `no installed kernel of kernel-abi-amd64-1 accepts the modules; nothing was changed`,
    );
    expect(await snapshotTree(sb.root, { ignore: (rel) => rel.startsWith('var/lib/dkms-abi') })).toEqual(
      snap,
    );
    // No package record left; the layout version and status's generation counter
    // (cache/generation) came with the first (since undone) change.
    expect(await readdir(sb.host('var/lib/dkms-abi'))).toEqual(['cache', 'journal', 'layout-version']);
    // And package-remove of a package never installed is a no-op.
    const rm1 = await runCli(['package-remove', BLOB], { root: sb.root });
    expect(rm1.exitCode).toBe(0);
    expect(rm1.stderr).toContain('nothing to do');
  });

  it('refuses a payload whose module file was altered', async () => {
    const sb = await makeSandboxRoot({ kernels: [A], withHeaders: false });
    await bootFilesOnly(sb, A);
    await execa('dpkg-deb', ['-x', path.join(repo, BLOB_DEB), sb.root]);
    await writeFile(sb.host(`${PAYLOAD}/dkms/blobdrv.ko`), 'not the module');
    const r = await runCli(['package-install', `/${PAYLOAD}`], { root: sb.root });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toBe(
      `dkms-abi: /${PAYLOAD}/dkms/blobdrv.ko: differs from the package (sha256 mismatch): reinstall the package\n`,
    );
    expect(await readdir(sb.host('lib/modules'))).toEqual([A]);
  });
});
