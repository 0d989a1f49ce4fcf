// Real dkms 3.0.10 builds of the four examples in a sandbox root, through src/system/dkms.ts,
// against the Debian 6.1.0-47 and -50 headers: where the modules land, their vermagic and
// signature, the consumer's dependency on the provider's Module.symvers (KBUILD_EXTRA_SYMBOLS
// passed through dkms's environment), exit-code mapping, and that nothing leaks to the host.
import { execa } from 'execa';
import { cp, lstat, mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateBuildExclusive } from '../../src/core/dkms-conf.js';
import { EnvironmentError } from '../../src/core/errors.js';
import { readDkmsConf } from '../../src/system/dkms-conf.js';
import {
  checkHostFramework,
  dkmsAdd,
  dkmsBuild,
  dkmsLdtarball,
  dkmsMktarball,
  dkmsRemove,
  dkmsStatus,
  type BuildOutcome,
} from '../../src/system/dkms.js';
import { makePaths, type Paths } from '../../src/system/paths.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';
import { snapshotTree, type TreeSnapshot } from '../helpers/tree-snapshot.js';

const K47 = '6.1.0-47-amd64';
const K50 = '6.1.0-50-amd64';
const KERNELS = [K47, K50];
const ARCH = os.machine();
const EXAMPLES = ['hello-abi', 'abi-provider', 'abi-consumer', 'blobdrv'] as const;
const KO: Record<(typeof EXAMPLES)[number], string> = {
  'hello-abi': 'hello_abi',
  'abi-provider': 'abi_provider',
  'abi-consumer': 'abi_consumer',
  blobdrv: 'blobdrv',
};
const HOST_DKMS_TREE = '/var/lib/dkms';

let sb: SandboxRoot;
let paths: Paths;
let hostBefore: TreeSnapshot;
let startedAt: number;
const timings: string[] = [];

const mv = (module: string) => ({ module, version: '1.0' });
const target = (kernel: string) => ({ kernel, arch: ARCH, kernelSourceDir: sb.headersDir(kernel) });
const vermagic = (kernel: string) => `${kernel} SMP preempt mod_unload modversions `;

async function modinfo(field: string, ko: string): Promise<string> {
  return (await execa('modinfo', ['-F', field, ko])).stdout;
}

async function build(module: string, kernel: string, extraSymbols?: string[]): Promise<BuildOutcome> {
  const outcome = await dkmsBuild(
    paths,
    { ...mv(module), ...target(kernel) },
    extraSymbols !== undefined ? { extraSymbols } : {},
  );
  if ('ms' in outcome) timings.push(`${module} ${kernel}: ${outcome.kind} in ${String(outcome.ms)} ms`);
  return outcome;
}

/** The provider's Module.symvers, from a plain kbuild run of its source against the root's headers. */
async function providerSymvers(kernel: string): Promise<string> {
  const dir = sb.host(`tmp/abi-provider-symvers-${kernel}`);
  await cp(sb.host('usr/src/abi-provider-1.0'), dir, { recursive: true });
  await execa('make', ['-C', sb.headersDir(kernel), `M=${dir}`, 'modules'], {
    env: { LC_ALL: 'C' },
  });
  return path.join(dir, 'Module.symvers');
}

beforeAll(async () => {
  hostBefore = await snapshotTree(HOST_DKMS_TREE);
  sb = await makeSandboxRoot({ kernels: KERNELS });
  paths = makePaths(sb.root);
  for (const name of EXAMPLES) await copyExampleSource(sb.root, name);
  startedAt = Date.now();
});

afterAll(async () => {
  if (timings.length > 0) console.log(`dkms build timings:\n  ${timings.join('\n  ')}`);
  await sb.cleanup();
});

describe('dkms add', () => {
  it('registers every example in the root’s DKMS tree, pointing at the root’s source tree', async () => {
    for (const name of EXAMPLES) {
      expect(await dkmsAdd(paths, mv(name), { ...target(K47) })).toBe('added');
      expect(await readlink(path.join(paths.dkmsTree, name, '1.0', 'source'))).toBe(
        path.join(paths.sourceTree, `${name}-1.0`),
      );
    }
    expect(await dkmsAdd(paths, mv('hello-abi'))).toBe('already-added');
  });
});

describe.each(KERNELS)('dkms build for %s', (kernel) => {
  it.each(['hello-abi', 'abi-provider', 'blobdrv'] as const)(
    '%s: the .ko lands in the root’s DKMS tree with this kernel’s vermagic, signed with the root’s MOK key',
    async (name) => {
      const outcome = await build(name, kernel);
      const ko = path.join(paths.dkmsTree, name, '1.0', kernel, ARCH, 'module', `${KO[name]}.ko`);
      expect(outcome).toMatchObject({ kind: 'built', modules: [ko] });
      expect(await modinfo('vermagic', ko)).toBe(vermagic(kernel));
      expect(await modinfo('name', ko)).toBe(KO[name]);
      expect(await modinfo('signer', ko)).toBe('DKMS module signing key');
      await lstat(path.join(paths.dkmsTree, 'mok.key'));
      await lstat(path.join(paths.dkmsTree, 'mok.pub'));
    },
  );

  it('blobdrv: the glue and the prebuilt blob linked into one proprietary module', async () => {
    const ko = path.join(paths.dkmsTree, 'blobdrv', '1.0', kernel, ARCH, 'module', 'blobdrv.ko');
    expect(await modinfo('license', ko)).toBe('Proprietary');
    const { stdout: symbols } = await execa('nm', [ko]);
    expect(symbols).toMatch(/ T blob_device_compute$/m);
    expect(symbols).toMatch(/ T blobdrv_os_alloc$/m);
  });

  it('abi-consumer: fails without the provider’s Module.symvers (modpost: undefined!)', async () => {
    const outcome = await build('abi-consumer', kernel);
    expect(outcome.kind).toBe('build-failed');
    if (outcome.kind !== 'build-failed') return;
    expect(outcome.exitCode).toBe(10);
    expect(outcome.logTail).toMatch(/ERROR: modpost: "abi_provider_add" \[.*abi_consumer\.ko\] undefined!/);
    expect(outcome.logTail).toMatch(/"abi_provider_ns_value" .* undefined!/);
    await expect(lstat(path.join(paths.dkmsTree, 'abi-consumer', '1.0', kernel))).rejects.toThrow(/ENOENT/);
  });

  it('abi-consumer: builds with KBUILD_EXTRA_SYMBOLS passed through dkms’s environment, recording the provider’s CRCs', async () => {
    const symvers = await providerSymvers(kernel);
    const outcome = await build('abi-consumer', kernel, [symvers]);
    const ko = path.join(paths.dkmsTree, 'abi-consumer', '1.0', kernel, ARCH, 'module', 'abi_consumer.ko');
    expect(outcome).toMatchObject({ kind: 'built', modules: [ko] });
    expect(await modinfo('vermagic', ko)).toBe(vermagic(kernel));
    expect(await modinfo('depends', ko)).toBe('abi_provider');
    expect(await modinfo('import_ns', ko)).toBe('DKMS_ABI_DEMO');

    const exported = new Map(
      (await readFile(symvers, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.split('\t'))
        .map(([crc, sym]) => [sym ?? '', crc ?? '']),
    );
    expect([...exported.keys()].sort()).toEqual([
      'abi_provider_add',
      'abi_provider_ns_value',
      'abi_provider_secret',
    ]);
    const { stdout } = await execa('modprobe', ['--dump-modversions', ko]);
    const imported = new Map(stdout.split('\n').map((l) => [l.split('\t')[1] ?? '', l.split('\t')[0] ?? '']));
    for (const [sym, crc] of exported) expect(imported.get(sym)).toBe(crc);
  });
});

describe('dkms status and exit codes', () => {
  it('dkms status sees every build in the root', async () => {
    const lines = await dkmsStatus(paths);
    for (const name of EXAMPLES) {
      for (const kernel of KERNELS) expect(lines).toContain(`${name}/1.0, ${kernel}, ${ARCH}: built`);
    }
  });

  it('a second build is "already built", not an error', async () => {
    const outcome = await build('hello-abi', K47);
    expect(outcome.kind).toBe('already-built');
  });

  it('BUILD_EXCLUSIVE: dkms exits 77 ("excluded") exactly where evaluateBuildExclusive says so', async () => {
    const src = sb.host('usr/src/hello-excl-1.0');
    await cp(sb.host('usr/src/hello-abi-1.0'), src, { recursive: true });
    await writeFile(
      path.join(src, 'dkms.conf'),
      [
        'PACKAGE_NAME="hello-excl"',
        'PACKAGE_VERSION="1.0"',
        'BUILT_MODULE_NAME[0]="hello_abi"',
        'DEST_MODULE_LOCATION[0]="/extra"',
        'BUILD_EXCLUSIVE_KERNEL="^6\\.1\\.0-50-"',
        'BUILD_EXCLUSIVE_CONFIG="CONFIG_MODVERSIONS"',
        '',
      ].join('\n'),
    );
    expect(await dkmsAdd(paths, mv('hello-excl'), target(K47))).toBe('added');
    for (const kernel of KERNELS) {
      const conf = await readDkmsConf(path.join(src, 'dkms.conf'), {
        module: 'hello-excl',
        moduleVersion: '1.0',
        ...target(kernel),
        dkmsTree: paths.dkmsTree,
        sourceTree: paths.sourceTree,
        installTree: paths.modulesDir,
        root: sb.root,
      });
      const predicted = evaluateBuildExclusive(conf.buildExclusive, {
        kernel,
        arch: ARCH,
        kernelConfig: await readFile(path.join(sb.headersDir(kernel), '.config'), 'utf8'),
      });
      const outcome = await build('hello-excl', kernel);
      expect(outcome.kind).toBe(predicted.excluded ? 'excluded' : 'built');
      expect(predicted.excluded).toBe(kernel === K47);
    }
  });

  it('missing headers: an EnvironmentError naming the package to install', async () => {
    const kernel = '6.1.0-99-amd64';
    const err = await dkmsBuild(paths, { ...mv('hello-abi'), ...target(kernel) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as EnvironmentError).message).toMatch(
      /no kernel headers for 6\.1\.0-99-amd64 .*install linux-headers-6\.1\.0-99-amd64/,
    );
  });

  it('remove --all unregisters; removing again is "not-added"', async () => {
    expect(await dkmsRemove(paths, mv('hello-excl'), 'all')).toBe('removed');
    await expect(lstat(path.join(paths.dkmsTree, 'hello-excl'))).rejects.toThrow(/ENOENT/);
    expect(await dkmsRemove(paths, mv('hello-excl'), 'all')).toBe('not-added');
  });
});

describe('dkms mktarball / ldtarball', () => {
  it('carries binaries, one archive per kernel, to a root without headers or compiler', async () => {
    const other = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const otherPaths = makePaths(other.root);
    for (const [i, kernel] of KERNELS.entries()) {
      const archive = await dkmsMktarball(paths, mv('hello-abi'), {
        archive: sb.host(`tmp/out/hello-abi-1.0-${kernel}.dkms.tar.gz`),
        kernel: { kernel, arch: ARCH },
        binariesOnly: true,
      });
      const loaded = await dkmsLdtarball(otherPaths, archive, {
        target: { kernel, arch: ARCH },
        force: i > 0,
      });
      expect(loaded).toBe('loaded');
    }
    const lines = await dkmsStatus(otherPaths);
    for (const kernel of KERNELS) {
      expect(lines).toContain(`hello-abi/1.0, ${kernel}, ${ARCH}: built`);
      const rel = path.join('hello-abi', '1.0', kernel, ARCH, 'module', 'hello_abi.ko');
      const copy = await readFile(path.join(otherPaths.dkmsTree, rel));
      expect(copy.equals(await readFile(path.join(paths.dkmsTree, rel)))).toBe(true);
    }
    await other.cleanup();
  });
});

describe('nothing outside the root', () => {
  it('refuses to run when the host’s framework.conf sets signing paths dkms would use for the root', async () => {
    const fw = sb.host('tmp/etc-dkms');
    await mkdir(path.join(fw, 'framework.conf.d'), { recursive: true });
    await writeFile(path.join(fw, 'framework.conf'), '# mok_signing_key=/var/lib/dkms/mok.key\n');
    await checkHostFramework(fw);
    await writeFile(
      path.join(fw, 'framework.conf.d', 'signing.conf'),
      'mok_signing_key="/var/lib/dkms/mok.key"\n',
    );
    await expect(checkHostFramework(fw)).rejects.toThrow(/sets mok_signing_key=\/var\/lib\/dkms\/mok\.key/);
    await expect(
      dkmsBuild(paths, { ...mv('hello-abi'), ...target(K47) }, { frameworkDir: fw }),
    ).rejects.toBeInstanceOf(EnvironmentError);
  });

  it('the host’s /var/lib/dkms is untouched and no header file in the root was written through its hard link', async () => {
    expect(await snapshotTree(HOST_DKMS_TREE)).toEqual(hostBefore);
    for (const kernel of KERNELS) {
      const written: string[] = [];
      const walk = async (dir: string): Promise<void> => {
        for (const name of await readdir(dir)) {
          const full = path.join(dir, name);
          const st = await lstat(full);
          if (st.isDirectory()) await walk(full);
          else if (st.mtimeMs >= startedAt) written.push(full);
        }
      };
      await walk(sb.headersDir(kernel));
      expect(written).toEqual([]);
      // Same inode as the host's: the hard-linked copy is what kbuild used.
      const inRoot = await stat(path.join(sb.headersDir(kernel), 'Module.symvers'));
      const onHost = await stat(`/usr/src/linux-headers-${kernel}/Module.symvers`);
      expect(inRoot.ino).toBe(onHost.ino);
    }
  });
});
