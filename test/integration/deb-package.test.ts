// Issue 14 item 1: dkms-abi's own Debian package, as `npm run deb` builds it from the bundle in
// dist/. lintian finds nothing; the program runs from the extracted package with no
// node_modules; the files setup-hooks installs are the package's; the man page and completion
// know every command; dpkg --root installs it into a sandbox root whose dpkg database has
// only nodejs, dkms and kmod, and a module package made by `dkms-abi package` with the default
// maintainer then installs next to it with no --force-depends, its postinst running the
// packaged program. Removal and purge leave what the man page says they leave.
import { execa } from 'execa';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOOK_TARGETS } from '../../src/core/hook-targets.js';
import { runCli } from '../helpers/cli.js';
import { bootFilesOnly, initDpkgDatabase, makeToolDir, type ToolDir } from '../helpers/dpkg-root.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI as A, no headers (its image and modules only)
const BLOB = 'blobdrv-modules-amd64-1';

const pkgJson = JSON.parse(await readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
const VERSION = `${pkgJson.version}-1`;
const DEB_NAME = `dkms-abi_${VERSION}_all.deb`;

let work: string;
let deb: string;
let unpacked: string;

// Without module-syntax detection (on by default since Node 20.19), as older Node 20 runs it:
// the packaged entry must be an ES module by its name alone (no package.json says so there).
const NO_DETECTION = process.allowedNodeEnvironmentFlags.has('--experimental-detect-module')
  ? ['--no-experimental-detect-module']
  : [];

/** The packaged program, run from a tree the package was extracted or installed into. */
function packaged(tree: string, args: readonly string[], env: Record<string, string> = {}) {
  return execa(process.execPath, [...NO_DETECTION, path.join(tree, 'usr/sbin/dkms-abi'), ...args], {
    reject: false,
    extendEnv: false,
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C', ...env },
    stdin: 'ignore',
  });
}

/** Command names from a commander help text's "Commands:" section. */
function helpCommands(help: string): string[] {
  const section = help.split(/^Commands:$/m)[1] ?? '';
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1] ?? '');
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-debpkg-'));
  const r = await execa('sh', [path.join(REPO, 'scripts/build-deb.sh'), '-o', work], { reject: false });
  if (r.exitCode !== 0) throw new Error(`build-deb.sh failed (${r.exitCode}):\n${r.stderr}`);
  deb = path.join(work, DEB_NAME);
  expect(r.stdout.trim()).toBe(deb);
  unpacked = path.join(work, 'unpacked');
  await execa('dpkg-deb', ['-x', deb, unpacked]);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the dkms-abi package', () => {
  it('has the version of package.json and depends on nodejs, dkms and kmod', async () => {
    const field = async (f: string) => (await execa('dpkg-deb', ['-f', deb, f])).stdout;
    expect(await field('Package')).toBe('dkms-abi');
    expect(await field('Version')).toBe(VERSION);
    expect(await field('Architecture')).toBe('all');
    expect(await field('Depends')).toBe('nodejs (>= 20), dkms, kmod, xz-utils, zstd');
    expect(await field('Maintainer')).toBe('dkms-abi maintainers <dkms-abi@localhost.invalid>');
  });

  it('is lintian-clean: no error or warning, one override with its reason', async () => {
    const r = await execa('lintian', ['--tag-display-limit', '0', '-I', '--show-overrides', deb], {
      reject: false,
    });
    const tags = r.stdout.split('\n').filter((l) => /^[EWIO]: /.test(l));
    expect(tags).toEqual([
      // Informational: the boot unit has no SysV counterpart; on sysvinit the kernel hooks do the work.
      'I: dkms-abi: package-supports-alternative-init-but-no-init.d-script [usr/lib/systemd/system/dkms-abi.service]',
      'O: dkms-abi: initial-upload-closes-no-bugs [usr/share/doc/dkms-abi/changelog.Debian.gz:1]',
    ]);
  });

  it('holds the bundle, no node_modules, and the files setup-hooks would install', async () => {
    const listing = (await execa('dpkg-deb', ['-c', deb])).stdout.split('\n');
    const names = listing.map((l) => l.replace(/^.* \.\//, '/').replace(/ -> .*$/, ''));
    expect(names.some((n) => n.includes('node_modules'))).toBe(false);
    expect(
      names.filter((n) => !n.endsWith('/') && !n.startsWith('/usr/lib/dkms-abi/dist/chunks/')).sort(),
    ).toEqual(
      [
        '/etc/depmod.d/dkms-abi.conf',
        '/etc/kernel/header_postinst.d/05dkms-abi',
        '/etc/kernel/postinst.d/05dkms-abi',
        '/etc/kernel/preinst.d/05dkms-abi',
        '/etc/kernel/prerm.d/05dkms-abi',
        '/usr/lib/dkms-abi/bin/dkms-abi.mjs',
        '/usr/lib/dkms-abi/dist/cli.mjs',
        '/usr/lib/dkms-abi/hooks/depmod.conf',
        '/usr/lib/dkms-abi/hooks/dkms-abi.service',
        '/usr/lib/dkms-abi/hooks/header-postinst',
        '/usr/lib/dkms-abi/hooks/kernel-install.install',
        '/usr/lib/dkms-abi/hooks/kernel-postinst',
        '/usr/lib/dkms-abi/hooks/kernel-preinst',
        '/usr/lib/dkms-abi/hooks/kernel-prerm',
        '/usr/lib/kernel/install.d/40-dkms-abi.install',
        '/usr/lib/systemd/system/dkms-abi.service',
        '/usr/sbin/dkms-abi',
        '/usr/share/bash-completion/completions/dkms-abi',
        '/usr/share/doc/dkms-abi/README.md',
        '/usr/share/doc/dkms-abi/changelog.Debian.gz',
        '/usr/share/doc/dkms-abi/configuration.md',
        '/usr/share/doc/dkms-abi/copyright',
        '/usr/share/doc/dkms-abi/packaging.md',
        '/usr/share/doc/dkms-abi/safety.md',
        '/usr/share/doc/dkms-abi/verdicts.md',
        '/usr/share/lintian/overrides/dkms-abi',
        '/usr/share/man/man8/dkms-abi.8.gz',
      ].sort(),
    );
    expect(await readdir(path.join(unpacked, 'usr/lib/dkms-abi/dist/chunks'))).toEqual(
      (await readdir(path.join(REPO, 'dist/chunks'))).filter((n) => n.endsWith('.mjs')),
    );
    expect(await readlink(path.join(unpacked, 'usr/sbin/dkms-abi'))).toBe('../lib/dkms-abi/bin/dkms-abi.mjs');
    // Debian's nodejs provides /usr/bin/node.
    expect(
      (await readFile(path.join(unpacked, 'usr/lib/dkms-abi/bin/dkms-abi.mjs'), 'utf8')).split('\n')[0],
    ).toBe('#!/usr/bin/node');

    // The kernel hooks and the depmod order at the paths setup-hooks uses; the kernel-install
    // plugin and the boot unit where packages put theirs. The same bytes as hooks/ either way.
    const packagedPath: Record<string, string> = {
      'kernel-install.install': '/usr/lib/kernel/install.d/40-dkms-abi.install',
      'dkms-abi.service': '/usr/lib/systemd/system/dkms-abi.service',
    };
    for (const h of HOOK_TARGETS) {
      const where = packagedPath[h.source] ?? h.target;
      const file = path.join(unpacked, where);
      expect(await readFile(file), where).toEqual(await readFile(path.join(REPO, 'hooks', h.source)));
      expect((await lstat(file)).mode & 0o777, where).toBe(h.mode);
    }
    const control = await mkdtemp(path.join(work, 'control-'));
    await execa('dpkg-deb', ['-e', deb, control]);
    expect(
      (await readFile(path.join(control, 'conffiles'), 'utf8')).split('\n').filter(Boolean).sort(),
    ).toEqual([
      '/etc/depmod.d/dkms-abi.conf',
      '/etc/kernel/header_postinst.d/05dkms-abi',
      '/etc/kernel/postinst.d/05dkms-abi',
      '/etc/kernel/preinst.d/05dkms-abi',
      '/etc/kernel/prerm.d/05dkms-abi',
    ]);
  });

  it('runs from the extracted package alone: version, usage error, status, setup-hooks', async () => {
    const version = await packaged(unpacked, ['--version']);
    expect(version).toMatchObject({ exitCode: 0, stdout: pkgJson.version, stderr: '' });
    const bad = await packaged(unpacked, ['frobnicate']);
    expect(bad).toMatchObject({ exitCode: 2, stderr: "dkms-abi: unknown command 'frobnicate'" });

    const sb = await makeSandboxRoot({ kernels: [A], withHeaders: false });
    expect(await packaged(unpacked, ['--root', sb.root, 'status'])).toMatchObject({
      exitCode: 0,
      stdout: '',
    });
    // setup-hooks finds the hooks/ the package ships beside its bundle.
    const hooks = await packaged(unpacked, ['--root', sb.root, 'setup-hooks']);
    expect(hooks.exitCode).toBe(0);
    for (const h of HOOK_TARGETS)
      expect(await readFile(sb.host(h.target))).toEqual(await readFile(path.join(REPO, 'hooks', h.source)));
  });

  it('has a man page that renders without warnings and names every command', async () => {
    const page = path.join(unpacked, 'usr/share/man/man8/dkms-abi.8.gz');
    const man = await execa('man', ['--warnings', '-l', page], {
      reject: false,
      env: { MANWIDTH: '80', LC_ALL: 'C.UTF-8', MAN_KEEP_FORMATTING: '' },
    });
    expect(man.exitCode).toBe(0);
    expect(man.stderr).toBe('');
    expect(man.stdout).toContain('DKMS-ABI(8)');
    expect(man.stdout).toContain(`dkms-abi ${pkgJson.version}`);
    const text = man.stdout.replace(/\u2010\n\s*/g, '').replace(/\s+/g, ' ');
    const top = helpCommands((await runCli(['--help'], { root: '/nonexistent' })).stdout).filter(
      (c) => c !== 'help',
    );
    expect(top.length).toBeGreaterThan(10);
    for (const group of ['kernel', 'abi']) {
      const subs = helpCommands((await runCli([group, '--help'], { root: '/nonexistent' })).stdout);
      for (const s of subs.filter((c) => c !== 'help'))
        expect(text, `${group} ${s}`).toContain(`${group} ${s}`);
    }
    for (const c of top) expect(text, c).toMatch(new RegExp(`(^| )${c} `));
    for (const state of ['added', 'built', 'installed', 'installed-abi', 'abi-mismatch', 'needs-depmod'])
      expect(text).toContain(state);
  });

  it('has a bash completion offering the commands of --help', async () => {
    const completion = path.join(unpacked, 'usr/share/bash-completion/completions/dkms-abi');
    const complete = async (line: string) => {
      const words = line.split(' ');
      const script = [
        'source /usr/share/bash-completion/bash_completion',
        `source ${completion}`,
        `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
        `COMP_CWORD=${words.length - 1}`,
        `COMP_LINE='${line}'`,
        'COMP_POINT=${#COMP_LINE}',
        `_dkms_abi dkms-abi '${words.at(-1) ?? ''}' '${words.at(-2) ?? ''}'`,
        'printf "%s\\n" "${COMPREPLY[@]}"',
      ].join('\n');
      const r = await execa('bash', ['-c', script], { reject: false });
      expect(r.stderr).toBe('');
      return r.stdout.split('\n').filter(Boolean);
    };
    const top = helpCommands((await runCli(['--help'], { root: '/nonexistent' })).stdout);
    expect((await complete('dkms-abi ')).sort()).toEqual([...top].sort());
    const kernelSubs = helpCommands((await runCli(['kernel', '--help'], { root: '/nonexistent' })).stdout);
    expect((await complete('dkms-abi kernel ')).sort()).toEqual(
      kernelSubs.filter((c) => c !== 'help').sort(),
    );
    const abiSubs = helpCommands((await runCli(['abi', '--help'], { root: '/nonexistent' })).stdout);
    expect((await complete('dkms-abi abi ')).sort()).toEqual(abiSubs.filter((c) => c !== 'help').sort());
    expect(await complete('dkms-abi verify --r')).toEqual(['--repair']);
    expect(await complete('dkms-abi --root /tmp package --maint')).toEqual(['--maintainer']);
  });
});

describe('maintainer scripts', () => {
  // A dkms-abi that has `adopt` and fails it (exit 3): the injected failure. The scripts run
  // as dpkg runs them chrootless, DPKG_ROOT naming the root they act on.
  it('postinst runs adopt, prerm remove runs adopt --undo; their failure only warns', async () => {
    const sb = await makeSandboxRoot({ kernels: [A], withHeaders: false });
    const control = await mkdtemp(path.join(work, 'control-'));
    await execa('dpkg-deb', ['-e', deb, control]);
    const stubs = await mkdtemp(path.join(work, 'stubs-'));
    const log = path.join(stubs, 'calls.log');
    await writeFile(
      path.join(stubs, 'dkms-abi'),
      [
        '#!/bin/sh',
        `[ "$*" = "help adopt" ] && exit 0`,
        `echo "$*" >> ${log}`,
        'echo "dkms-abi: cannot adopt: injected failure" >&2',
        'exit 3',
        '',
      ].join('\n'),
    );
    await chmod(path.join(stubs, 'dkms-abi'), 0o755);
    const run = (script: string, ...args: string[]) =>
      execa('sh', [path.join(control, script), ...args], {
        reject: false,
        extendEnv: false,
        env: {
          PATH: `${stubs}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
          DPKG_ROOT: sb.root,
        },
      });
    const calls = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean);

    const postinst = await run('postinst', 'configure');
    expect(postinst.exitCode).toBe(0);
    expect(postinst.stderr).toContain("dkms-abi: warning: 'dkms-abi adopt' failed");
    expect(await calls()).toEqual([`--root ${sb.root} adopt`]);

    expect((await run('prerm', 'upgrade', VERSION)).exitCode).toBe(0);
    expect(await calls()).toHaveLength(1);
    const prerm = await run('prerm', 'remove');
    expect(prerm.exitCode).toBe(0);
    expect(prerm.stderr).toContain("dkms-abi: warning: 'dkms-abi adopt --undo' failed");
    expect(await calls()).toEqual([`--root ${sb.root} adopt`, `--root ${sb.root} adopt --undo`]);
  });
});

describe('installed with dpkg into a root next to a module package', () => {
  let build: SandboxRoot;
  let target: SandboxRoot;
  let tools: ToolDir;
  let moduleDeb: string;
  let env: Record<string, string>;

  /** dpkg on the target root, its maintainer scripts running the program the package installed there. */
  const dpkg = (args: readonly string[]) =>
    execa(
      'dpkg',
      [
        `--root=${target.root}`,
        '--force-script-chrootless',
        `--log=${path.join(tools.dir, 'dpkg.log')}`,
        ...args,
      ],
      { reject: false, env, extendEnv: false, stdin: 'ignore' },
    );

  beforeAll(async () => {
    // The build host: headers and a compiler; the module package gets the default maintainer.
    build = await makeSandboxRoot({ kernels: [A] });
    await copyExampleSource(build.root, 'blobdrv');
    expect((await runCli(['add', 'blobdrv/1.0'], { root: build.root })).exitCode).toBe(0);
    const out = path.join(work, 'modules');
    const made = await runCli(['package', 'blobdrv/1.0', '-k', A, '-o', out], { root: build.root });
    expect(made.exitCode, made.stderr).toBe(0);
    moduleDeb = path.join(out, `${BLOB}_1.0-1_amd64.deb`);

    // The target: no headers, no compiler, dpkg's database with only what Depends names.
    target = await makeSandboxRoot({ kernels: [A], withHeaders: false });
    await bootFilesOnly(target, A);
    await addSameAbiKernel(target, A, B, { headers: false });
    await initDpkgDatabase(target.root);
    await writeFile(target.host('usr/lib/os-release'), await readFile('/etc/os-release'));
    const registered = [
      ['nodejs', '20.19.2+dfsg-1'],
      ['dkms', '3.2.2-1~deb13u1'],
      ['kmod', '34.2-2'],
      ['xz-utils', '5.8.1-1'],
      ['zstd', '1.5.7+dfsg-1'],
    ] as const;
    const status = registered
      .map(([pkg, version]) =>
        [
          `Package: ${pkg}`,
          'Status: install ok installed',
          'Priority: optional',
          'Maintainer: Debian <debian@example.org>',
          'Architecture: amd64',
          `Version: ${version}`,
          `Description: ${pkg}, registered for the test`,
          '',
        ].join('\n'),
      )
      .join('\n');
    await writeFile(target.host('var/lib/dpkg/status'), status);
    for (const [pkg] of registered) await writeFile(target.host(`var/lib/dpkg/info/${pkg}.list`), '');
    // Maintainer scripts run on the host (chrootless): `dkms-abi` is the one dpkg installed into
    // the root, started by this node (the package's own #! names Debian's /usr/bin/node).
    tools = await makeToolDir();
    const bin = path.join(tools.dir, 'packaged');
    await mkdir(bin);
    await writeFile(
      path.join(bin, 'dkms-abi'),
      `#!/bin/sh\nexec ${process.execPath} ${NO_DETECTION.join(' ')} ${target.host('usr/sbin/dkms-abi')} "$@"\n`,
    );
    await chmod(path.join(bin, 'dkms-abi'), 0o755);
    env = { PATH: `${bin}:${tools.path}`, LC_ALL: 'C', HOME: process.env['HOME'] ?? '/root' };
  });

  afterAll(async () => {
    await build.cleanup();
    await target.cleanup();
    await tools.cleanup();
  });

  it('the default maintainer of a module package passes lintian', async () => {
    expect((await execa('dpkg-deb', ['-f', moduleDeb, 'Maintainer'])).stdout).toBe(
      'dkms-abi <dkms-abi@localhost.invalid>',
    );
    const r = await execa('lintian', ['--tag-display-limit', '0', moduleDeb], { reject: false });
    expect(r.stdout.split('\n').filter((l) => /^E: /.test(l))).toEqual([]);
    expect(r.stdout).not.toMatch(/root-in-contact|bogus-mail-host|mail/);
  });

  it('dpkg -i installs dkms-abi, enabling the boot unit inside the root', async () => {
    const r = await dpkg(['-i', deb]);
    // The postinst registers the kernels (adopt): B, without headers, has its exports read from
    // its image, and says so; nothing else.
    expect(r.stderr).toMatch(
      new RegExp(
        `^${B.replaceAll('.', '\\.')}: no Module\\.symvers \\(no headers installed\\); reading the exports of /boot/vmlinuz-\\S+ and of its \\d+ modules$`,
      ),
    );
    expect(r.exitCode).toBe(0);
    const status = await dpkg(['-s', 'dkms-abi']);
    expect(status.stdout).toContain('Status: install ok installed');
    expect(status.stdout).toContain(`Version: ${VERSION}`);
    expect(await readlink(target.host('etc/systemd/system/multi-user.target.wants/dkms-abi.service'))).toBe(
      '/usr/lib/systemd/system/dkms-abi.service',
    );
    expect((await packaged(target.root, ['--root', target.root, 'status'])).exitCode).toBe(0);
  });

  it('a module package then installs with plain dpkg -i, its postinst running the packaged program', async () => {
    const r = await dpkg(['-i', moduleDeb]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`blobdrv/1.0, ${A}, x86_64: installed\n`);
    expect(r.stdout).toContain(`blobdrv/1.0, ${B}, x86_64: installed-abi (from ${A})`);
    expect(await tools.tripped()).toEqual([]);
    // The wrapper on PATH ran the root's program, not the repository's.
    expect(await tools.calls()).toEqual([]);
    const s = await packaged(target.root, ['--root', target.root, 'status', 'blobdrv']);
    expect(s.stdout).toBe(
      `blobdrv/1.0, ${A}, x86_64: installed\nblobdrv/1.0, ${B}, x86_64: installed-abi (from ${A})`,
    );
  });

  it('dkms-abi cannot be removed under a module package; after it, removal and purge leave the state', async () => {
    const refused = await dpkg(['-r', 'dkms-abi']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(`${BLOB} depends on dkms-abi`);

    expect((await dpkg(['-r', BLOB])).exitCode).toBe(0);
    const state = (await readdir(target.host('var/lib/dkms-abi'), { recursive: true })).sort();
    expect(state).not.toEqual([]);
    const removed = await dpkg(['-r', 'dkms-abi']);
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(await lstat(target.host('usr/sbin/dkms-abi')).catch(() => undefined)).toBeUndefined();
    // Conffiles stay until purge; the hooks do nothing without the program.
    expect((await lstat(target.host('etc/kernel/postinst.d/05dkms-abi'))).isFile()).toBe(true);
    const hook = await execa('sh', [target.host('etc/kernel/postinst.d/05dkms-abi'), A], {
      reject: false,
      env: { PATH: '/usr/bin:/bin' },
      extendEnv: false,
    });
    expect(hook).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });

    const purged = await dpkg(['--purge', 'dkms-abi']);
    expect(purged.exitCode, purged.stderr).toBe(0);
    for (const f of ['etc/kernel/postinst.d/05dkms-abi', 'etc/depmod.d/dkms-abi.conf'])
      expect(await lstat(target.host(f)).catch(() => undefined), f).toBeUndefined();
    expect(
      await lstat(target.host('etc/systemd/system/multi-user.target.wants/dkms-abi.service')).catch(
        () => undefined,
      ),
    ).toBeUndefined();
    // What purge keeps (dkms-abi(8)): dkms-abi's state, as it was.
    expect((await readdir(target.host('var/lib/dkms-abi'), { recursive: true })).sort()).toEqual(state);
  });
});
