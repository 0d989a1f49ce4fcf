// The dkms.conf reader against real bash: the repository's examples and tricky confs written
// into temp dirs. Pure parsing rules are covered in src/core/dkms-conf.test.ts.
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { evaluateBuildExclusive } from '../../src/core/dkms-conf.js';
import { InputError } from '../../src/core/errors.js';
import {
  dkmsConfOverrides,
  readDkmsConf,
  readDkmsConfRecords,
  rootDistribution,
  type ConfEnvironment,
} from '../../src/system/dkms-conf.js';

const EXAMPLES = path.resolve(import.meta.dirname, '../../examples');
const K47 = '6.1.0-47-amd64';
const K50 = '6.1.0-50-amd64';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-conf-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function envFor(kernel: string, overrides: Partial<ConfEnvironment> = {}): ConfEnvironment {
  return {
    module: 'm',
    moduleVersion: '1.0',
    kernel,
    arch: 'x86_64',
    dkmsTree: `${dir}/var/lib/dkms`,
    sourceTree: `${dir}/usr/src`,
    installTree: `${dir}/lib/modules`,
    kernelSourceDir: `/usr/src/linux-headers-${kernel}`,
    distribution: 'debian',
    ...overrides,
  };
}

async function conf(text: string, name = 'dkms.conf'): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('the example modules', () => {
  it.each([
    ['hello-abi', 'hello_abi', []],
    ['abi-provider', 'abi_provider', []],
    ['abi-consumer', 'abi_consumer', ['abi-provider']],
    ['blobdrv', 'blobdrv', []],
  ])('%s', async (name, module, deps) => {
    const c = await readDkmsConf(path.join(EXAMPLES, name, 'dkms.conf'), envFor(K47, { module: name }));
    expect(c.packageName).toBe(name);
    expect(c.packageVersion).toBe('1.0');
    expect(c.modules.map((m) => [m.builtName, m.destName, m.declaredDestLocation, m.destLocation])).toEqual([
      [module, module, '/extra', '/updates/dkms'],
    ]);
    expect(c.buildDepends).toEqual(deps);
    expect(c.autoinstall).toBe(true);
    expect(c.makeCommand).toBeUndefined();
    expect(c.warnings).toEqual([]);
  });

  it('blobdrv builds its vendor object in PRE_BUILD, and the script is executable as dkms requires', async () => {
    const c = await readDkmsConf(
      path.join(EXAMPLES, 'blobdrv', 'dkms.conf'),
      envFor(K47, { module: 'blobdrv' }),
    );
    expect(c.scripts).toEqual({ preBuild: 'build-blob.sh' });
    await access(path.join(EXAMPLES, 'blobdrv', 'build-blob.sh'), 1 /* X_OK */);
  });
});

describe('reading tricky confs with bash', () => {
  it('reads every variable a conf set, also one without index 0 or set empty, and $current_kernel as dkms has it', async () => {
    const file = await conf(
      ['PACKAGE_NAME=m', 'PACKAGE_VERSION="$current_kernel"', 'MAKE[3]="make three"', 'CLEAN=', ''].join(
        '\n',
      ),
    );
    const { records } = await readDkmsConfRecords([file], envFor(K47));
    const get = (name: string) => records.filter((r) => r.name === name);
    expect(get('MAKE')).toEqual([{ name: 'MAKE', index: '3', value: 'make three' }]);
    expect(get('CLEAN')).toEqual([{ name: 'CLEAN', index: '0', value: '' }]);
    // dkms sets current_kernel=$(uname -r); the reader is given the same value.
    expect(get('PACKAGE_VERSION')).toEqual([{ name: 'PACKAGE_VERSION', index: '0', value: release() }]);
    expect(get('BUILT_MODULE_NAME')).toEqual([]);
  });

  it('keeps array indices of sparse arrays, and the parser names the gap', async () => {
    const file = await conf(
      [
        'PACKAGE_NAME=m',
        'PACKAGE_VERSION=1.0',
        'BUILT_MODULE_NAME[0]=a',
        'BUILT_MODULE_NAME[2]=c',
        'DEST_MODULE_LOCATION[0]=/extra',
        'DEST_MODULE_LOCATION[2]=/extra',
        '',
      ].join('\n'),
    );
    const { records } = await readDkmsConfRecords([file], envFor(K47));
    expect(records.filter((r) => r.name === 'BUILT_MODULE_NAME')).toEqual([
      { name: 'BUILT_MODULE_NAME', index: '0', value: 'a' },
      { name: 'BUILT_MODULE_NAME', index: '2', value: 'c' },
    ]);
    await expect(readDkmsConf(file, envFor(K47))).rejects.toThrow(
      /BUILT_MODULE_NAME has a gap \(indices 0, 2\)/,
    );
  });

  it('keeps the carriage return of CRLF files, as dkms 3.0.10 does, and explains it', async () => {
    const file = await conf(
      'PACKAGE_NAME="m"\r\nPACKAGE_VERSION="1.0"\r\nBUILT_MODULE_NAME[0]="m"\r\nDEST_MODULE_LOCATION[0]="/extra"\r\n',
    );
    const { records } = await readDkmsConfRecords([file], envFor(K47));
    expect(records.find((r) => r.name === 'BUILT_MODULE_NAME')?.value).toBe('m\r');
    const err = await readDkmsConf(file, envFor(K47)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe(file);
    expect((err as InputError).message).toMatch(/CRLF \(DOS\) line endings/);
  });

  it('evaluates $kernelver conditionals and dkms variables per kernel', async () => {
    const file = await conf(String.raw`
PACKAGE_NAME=m
PACKAGE_VERSION=1.0
if [[ $kernelver == 6.1.0-47-* ]]; then
  BUILT_MODULE_NAME[0]=m_old
else
  BUILT_MODULE_NAME[0]=m_new
fi
DEST_MODULE_LOCATION[0]=/kernel/drivers/$arch
MAKE[0]="make -C $kernel_source_dir M=$dkms_tree/$module/$module_version/build KVER=$kernelver"
`);
    const c47 = await readDkmsConf(file, envFor(K47));
    const c50 = await readDkmsConf(file, envFor(K50));
    expect(c47.modules[0]?.builtName).toBe('m_old');
    expect(c50.modules[0]?.builtName).toBe('m_new');
    expect(c47.modules[0]?.declaredDestLocation).toBe('/kernel/drivers/x86_64');
    expect(c50.makeCommand).toBe(
      `make -C /usr/src/linux-headers-${K50} M=${dir}/var/lib/dkms/m/1.0/build KVER=${K50}`,
    );
  });

  it('gives values dkms’s second expansion: single-quoted $vars expand, runs of spaces collapse', async () => {
    const file = await conf(
      "PACKAGE_NAME=m\nPACKAGE_VERSION=1.0\nDEST_MODULE_LOCATION[0]=/extra\nMAKE[0]='make   KVER=$kernelver'\n",
    );
    expect((await readDkmsConf(file, envFor(K47))).makeCommand).toBe(`make KVER=${K47}`);
  });

  it('reads BUILD_EXCLUSIVE_* and BUILD_DEPENDS, evaluated against the real headers config', async () => {
    const file = await conf(String.raw`
PACKAGE_NAME=m
PACKAGE_VERSION=1.0
BUILT_MODULE_NAME[0]=m
DEST_MODULE_LOCATION[0]=/extra
BUILD_DEPENDS[0]="abi-provider"
BUILD_DEPENDS[1]="spl zfs"
BUILD_EXCLUSIVE_KERNEL="^6\.1\.0-50-"
BUILD_EXCLUSIVE_ARCH="x86_64|aarch64"
BUILD_EXCLUSIVE_CONFIG="CONFIG_MODVERSIONS !CONFIG_X86_KERNEL_IBT"
`);
    const c = await readDkmsConf(file, envFor(K47));
    expect(c.buildDepends).toEqual(['abi-provider', 'spl', 'zfs']);
    expect(c.buildExclusive).toEqual({
      kernel: '^6\\.1\\.0-50-',
      arch: 'x86_64|aarch64',
      config: [
        { option: 'CONFIG_MODVERSIONS', wanted: true },
        { option: 'CONFIG_X86_KERNEL_IBT', wanted: false },
      ],
    });
    for (const [kernel, excluded] of [
      [K47, true],
      [K50, false],
    ] as const) {
      const kernelConfig = await readFile(`/usr/src/linux-headers-${kernel}/.config`, 'utf8');
      expect(
        evaluateBuildExclusive(c.buildExclusive, { kernel, arch: 'x86_64', kernelConfig }).excluded,
      ).toBe(excluded);
    }
  });

  it('lets /etc/dkms overrides win, in dkms’s order', async () => {
    const main = await conf(
      'PACKAGE_NAME=m\nPACKAGE_VERSION=1.0\nDEST_MODULE_LOCATION[0]=/extra\nMAKE[0]=make\n',
    );
    const [perModule, perVersion] = dkmsConfOverrides(dir, 'm', '1.0', K47, 'x86_64');
    expect(path.basename(perVersion ?? '')).toBe('m-1.0.conf');
    await writeFile(perModule ?? '', 'MAKE[0]="make V=1"\n');
    await writeFile(perVersion ?? '', 'MAKE[0]="$' + '{MAKE[0]} W=1"\n');
    const files = [main, ...dkmsConfOverrides(dir, 'm', '1.0', K47, 'x86_64')];
    const { records } = await readDkmsConfRecords(files, envFor(K47));
    expect(records.find((r) => r.name === 'MAKE')?.value).toBe('make V=1 W=1');
    expect((await readDkmsConf(main, envFor(K47, { etcDkmsDir: dir }))).makeCommand).toBe('make V=1 W=1');
    expect((await readDkmsConf(main, envFor(K47))).makeCommand).toBe('make');
  });

  it('runs the conf’s code as dkms does (not a new risk) but with a clean env, stdin at EOF and stdout discarded', async () => {
    process.env['DKMS_ABI_TEST_SECRET'] = 'leaked';
    try {
      const file = await conf(String.raw`
echo "noise on stdout"
echo "noise on stderr" >&2
echo "side effect" > "$PWD/written-by-conf"
echo "secret=[$DKMS_ABI_TEST_SECRET]" > "$PWD/env-seen"
if read -r line; then echo "stdin gave [$line]"; else echo "stdin at EOF"; fi > "$PWD/stdin-seen"
PACKAGE_NAME=m
PACKAGE_VERSION=1.0
DEST_MODULE_LOCATION[0]=/extra
`);
      const c = await readDkmsConf(file, envFor(K47));
      expect(c.packageName).toBe('m');
      expect(await readFile(path.join(dir, 'written-by-conf'), 'utf8')).toBe('side effect\n');
      expect(await readFile(path.join(dir, 'env-seen'), 'utf8')).toBe('secret=[]\n');
      expect(await readFile(path.join(dir, 'stdin-seen'), 'utf8')).toBe('stdin at EOF\n');
      expect(c.warnings).toEqual(['while sourcing: noise on stderr']);
    } finally {
      delete process.env['DKMS_ABI_TEST_SECRET'];
    }
  });

  it('cannot clobber the reader with its own variables or output tricks', async () => {
    const file = await conf(String.raw`
PACKAGE_NAME=m
PACKAGE_VERSION=1.0
DEST_MODULE_LOCATION[0]=/extra
_export_env=PACKAGE_NAME
__dkms_abi_print() { echo hijacked; }
printf '\0garbage\0'
`);
    expect((await readDkmsConf(file, envFor(K47))).packageName).toBe('m');
  });

  it('reports a conf that exits early as missing its directives', async () => {
    const file = await conf('exit 0\nPACKAGE_NAME=m\n');
    await expect(readDkmsConf(file, envFor(K47))).rejects.toThrow(/no 'PACKAGE_NAME' directive/);
  });

  it('reports bash syntax errors as warnings, like dkms shows them', async () => {
    const file = await conf(
      'PACKAGE_NAME=m\nPACKAGE_VERSION=1.0\nDEST_MODULE_LOCATION[0]=/extra\nif then fi\n',
    );
    const c = await readDkmsConf(file, envFor(K47));
    expect(c.warnings.join('\n')).toMatch(/syntax error/);
  });

  it('names a missing conf file', async () => {
    const missing = path.join(dir, 'nope', 'dkms.conf');
    await expect(readDkmsConf(missing, envFor(K47))).rejects.toThrow(`${missing}: cannot read it (ENOENT)`);
  });
});

describe('rootDistribution', () => {
  it('reads the root’s os-release, and is "unknown" without one', async () => {
    expect(await rootDistribution(dir)).toBe('unknown');
    await writeFile(path.join(dir, 'etc-os-release'), '');
    await rm(path.join(dir, 'etc-os-release'));
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(dir, 'etc')));
    await writeFile(path.join(dir, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
    expect(await rootDistribution(dir)).toBe('debian');
  });
});
