import { describe, expect, it } from 'vitest';
import {
  classifyAdd,
  classifyBuild,
  classifyLdtarball,
  classifyRemove,
  dkmsAddArgv,
  dkmsBuildArgv,
  dkmsEnv,
  dkmsErrorMessage,
  dkmsLdtarballArgv,
  dkmsMktarballArgv,
  dkmsRemoveArgv,
  dkmsStatusArgv,
  dkmsUnbuildArgv,
  dkmsUninstallArgv,
  type DkmsTrees,
} from './dkms-argv.js';
import { UsageError } from './errors.js';

const R = '/tmp/root';
const TREES: DkmsTrees = {
  dkmsTree: `${R}/var/lib/dkms`,
  sourceTree: `${R}/usr/src`,
  installTree: `${R}/lib/modules`,
};
const TREE_ARGS = [
  '--dkmstree',
  `${R}/var/lib/dkms`,
  '--sourcetree',
  `${R}/usr/src`,
  '--installtree',
  `${R}/lib/modules`,
];
const MV = { module: 'hello-abi', version: '1.0' };
const K = { kernel: '6.1.0-47-amd64', arch: 'x86_64' };
const HEADERS = `${R}/usr/src/linux-headers-6.1.0-47-amd64`;

describe('dkms argv builders', () => {
  it.each<[string, () => string[], string[]]>([
    ['add', () => dkmsAddArgv(TREES, MV), ['dkms', 'add', '-m', 'hello-abi', '-v', '1.0', ...TREE_ARGS]],
    [
      'add checked against a kernel',
      () => dkmsAddArgv(TREES, MV, { target: { ...K, kernelSourceDir: HEADERS } }),
      [
        'dkms',
        'add',
        '-m',
        'hello-abi',
        '-v',
        '1.0',
        '-k',
        '6.1.0-47-amd64/x86_64',
        '--kernelsourcedir',
        HEADERS,
        ...TREE_ARGS,
      ],
    ],
    [
      'build',
      () => dkmsBuildArgv(TREES, MV, K, { kernelSourceDir: HEADERS }),
      [
        'dkms',
        'build',
        '-m',
        'hello-abi',
        '-v',
        '1.0',
        '-k',
        '6.1.0-47-amd64/x86_64',
        '--kernelsourcedir',
        HEADERS,
        ...TREE_ARGS,
      ],
    ],
    [
      'build -j, --force, --verbose',
      () => dkmsBuildArgv(TREES, MV, K, { kernelSourceDir: HEADERS, jobs: 4, force: true, verbose: true }),
      [
        'dkms',
        'build',
        '-m',
        'hello-abi',
        '-v',
        '1.0',
        '-k',
        '6.1.0-47-amd64/x86_64',
        '--kernelsourcedir',
        HEADERS,
        '-j',
        '4',
        '--force',
        '--verbose',
        ...TREE_ARGS,
      ],
    ],
    [
      'remove for all kernels, never running depmod',
      () => dkmsRemoveArgv(TREES, MV, 'all'),
      ['dkms', 'remove', '-m', 'hello-abi', '-v', '1.0', '--all', '--no-depmod', ...TREE_ARGS],
    ],
    [
      'uninstall what stock dkms installed for one kernel, never running depmod',
      () => dkmsUninstallArgv(TREES, MV, [K]),
      [
        'dkms',
        'uninstall',
        '-m',
        'hello-abi',
        '-v',
        '1.0',
        '-k',
        '6.1.0-47-amd64/x86_64',
        '--no-depmod',
        ...TREE_ARGS,
      ],
    ],
    [
      'remove for two kernels',
      () => dkmsRemoveArgv(TREES, MV, [K, { kernel: '6.1.0-50-amd64', arch: 'x86_64' }]),
      [
        'dkms',
        'remove',
        '-m',
        'hello-abi',
        '-v',
        '1.0',
        '-k',
        '6.1.0-47-amd64/x86_64',
        '-k',
        '6.1.0-50-amd64/x86_64',
        '--no-depmod',
        ...TREE_ARGS,
      ],
    ],
    [
      'unbuild',
      () => dkmsUnbuildArgv(TREES, MV, K),
      [
        'dkms',
        'unbuild',
        '-m',
        'hello-abi',
        '-v',
        '1.0',
        '-k',
        '6.1.0-47-amd64/x86_64',
        '--no-depmod',
        ...TREE_ARGS,
      ],
    ],
    ['status', () => dkmsStatusArgv(TREES), ['dkms', 'status', ...TREE_ARGS]],
    [
      'status of one module on one kernel',
      () => dkmsStatusArgv(TREES, { module: 'hello-abi', version: '1.0', target: K }),
      ['dkms', 'status', '-m', 'hello-abi', '-v', '1.0', '-k', '6.1.0-47-amd64/x86_64', ...TREE_ARGS],
    ],
    [
      'mktarball, binaries only',
      () => dkmsMktarballArgv(TREES, MV, { archive: `${R}/out/h.tar.gz`, kernel: K, binariesOnly: true }),
      [
        'dkms',
        'mktarball',
        '-m',
        'hello-abi',
        '-v',
        '1.0',
        '-k',
        '6.1.0-47-amd64/x86_64',
        `--archive=${R}/out/h.tar.gz`,
        '--binaries-only',
        ...TREE_ARGS,
      ],
    ],
    [
      'ldtarball',
      () => dkmsLdtarballArgv(TREES, `${R}/out/h.tar.gz`),
      ['dkms', 'ldtarball', `--archive=${R}/out/h.tar.gz`, ...TREE_ARGS],
    ],
    [
      'ldtarball checked against a kernel, forced',
      () => dkmsLdtarballArgv(TREES, `${R}/out/h.tar.gz`, { target: K, force: true }),
      [
        'dkms',
        'ldtarball',
        `--archive=${R}/out/h.tar.gz`,
        '-k',
        '6.1.0-47-amd64/x86_64',
        '--force',
        ...TREE_ARGS,
      ],
    ],
  ])('%s', (_name, build, want) => {
    expect(build()).toEqual(want);
  });

  it.each<[string, () => unknown, RegExp]>([
    [
      'a root with a space',
      () => dkmsAddArgv({ ...TREES, dkmsTree: '/tmp/my root/var/lib/dkms' }, MV),
      /DKMS tree/,
    ],
    ['a relative tree', () => dkmsAddArgv({ ...TREES, sourceTree: 'usr/src' }, MV), /must be absolute/],
    [
      'a glob in a tree',
      () => dkmsStatusArgv({ ...TREES, installTree: '/tmp/r*/lib/modules' }),
      /install tree/,
    ],
    [
      '".." in a tree',
      () => dkmsStatusArgv({ ...TREES, installTree: '/tmp/r/../lib/modules' }),
      /install tree/,
    ],
    ['a module with "/"', () => dkmsAddArgv(TREES, { module: 'a/b', version: '1' }), /module "a\/b"/],
    [
      'a version like an option',
      () => dkmsAddArgv(TREES, { module: 'a', version: '--all' }),
      /version "--all"/,
    ],
    [
      'a kernel with "/"',
      () => dkmsBuildArgv(TREES, MV, { ...K, kernel: '6.1/x' }, { kernelSourceDir: HEADERS }),
      /kernel/,
    ],
    [
      'headers with a newline',
      () => dkmsBuildArgv(TREES, MV, K, { kernelSourceDir: '/usr/src/a\nb' }),
      /headers/,
    ],
    [
      'zero jobs',
      () => dkmsBuildArgv(TREES, MV, K, { kernelSourceDir: HEADERS, jobs: 0 }),
      /positive integer/,
    ],
    ['remove without kernels', () => dkmsRemoveArgv(TREES, MV, []), /--all or a kernel/],
    ['status version without module', () => dkmsStatusArgv(TREES, { version: '1' }), /needs a module/],
  ])('refuses %s', (_name, build, want) => {
    expect(build).toThrow(UsageError);
    expect(build).toThrow(want);
  });
});

describe('dkmsEnv', () => {
  it('points MOK signing and TMPDIR into another root, and passes extra symbols', () => {
    expect(
      dkmsEnv({
        root: R,
        trees: TREES,
        tmpDir: `${R}/tmp`,
        extraSymbols: ['/a/Module.symvers', '/b/Module.symvers'],
      }),
    ).toEqual({
      mok_signing_key: `${R}/var/lib/dkms/mok.key`,
      mok_certificate: `${R}/var/lib/dkms/mok.pub`,
      TMPDIR: `${R}/tmp`,
      KBUILD_EXTRA_SYMBOLS: '/a/Module.symvers /b/Module.symvers',
    });
  });

  it('leaves dkms’s own signing defaults alone on the real root', () => {
    const trees = { dkmsTree: '/var/lib/dkms', sourceTree: '/usr/src', installTree: '/lib/modules' };
    expect(dkmsEnv({ root: '/', trees })).toEqual({});
    expect(dkmsEnv({ root: '/', trees, traceIncludes: true })).toEqual({ KCFLAGS: '-H' });
  });

  it('refuses a symvers path KBUILD_EXTRA_SYMBOLS would split', () => {
    expect(() => dkmsEnv({ root: R, trees: TREES, extraSymbols: ['/a b/Module.symvers'] })).toThrow(
      UsageError,
    );
  });
});

describe('dkms exit codes', () => {
  const headers3010 =
    "Error! Your kernel headers for kernel 6.1.0-99-amd64 cannot be found at /lib/modules/6.1.0-99-amd64/build or /lib/modules/6.1.0-99-amd64/source.\nPlease install the linux-headers-6.1.0-99-amd64 package or use the --kernelsourcedir option to tell DKMS where it's located.\n";

  it.each<[string, number, string, string, string]>([
    ['success', 0, 'Building module:\n', '', 'built'],
    [
      'already built (3.0.10 skips and exits 0)',
      0,
      'Module m/1 already built for kernel k (x86_64), skip. You may override by specifying --force.\n',
      '',
      'already-built',
    ],
    [
      'BUILD_EXCLUSIVE',
      77,
      '',
      'Error! The /var/lib/dkms/m/1/k/x86_64/dkms.conf for module m includes a BUILD_EXCLUSIVE directive which does not match this kernel/arch/config.\n',
      'excluded',
    ],
    ['headers missing, dkms 3.0.10', 1, '', headers3010, 'no-headers'],
    [
      'headers missing, dkms >= 3.1',
      21,
      '',
      'Error! Your kernel headers for kernel k cannot be found\n',
      'no-headers',
    ],
    [
      'make failed',
      10,
      '',
      'Error! Bad return status for module build on kernel: k (x86_64)\nConsult /x/make.log for more information.\n',
      'build-failed',
    ],
    ['no .ko after make', 7, '', 'Error!  Build of m\r.ko failed for: k (x86_64)\n', 'build-failed'],
    [
      'bad dkms.conf',
      8,
      '',
      "dkms.conf: Error! No 'PACKAGE_NAME' directive specified.\nError! Bad conf file.\n",
      'bad-conf',
    ],
    ['other', 1, '', 'Error! You must be root to use this command.\n', 'failed'],
    [
      'BUILD_DEPENDS missing, dkms >= 3.1.8',
      13,
      '',
      'Error! Aborting build of module c/1 for kernel k (x86_64) due to missing BUILD_DEPENDS: p.\nYou may override by specifying --force.\n',
      'missing-build-depends',
    ],
  ])('build: %s', (_name, code, stdout, stderr, kind) => {
    expect(classifyBuild(code, stdout, stderr).kind).toBe(kind);
  });

  it('build: names every missing BUILD_DEPENDS module (dkms 3.2.2’s exit 13 text)', () => {
    const stderr =
      '\nError! Aborting build of module abi-consumer/1.0 for kernel 6.12.117+deb13-amd64 (x86_64) due to missing BUILD_DEPENDS: abi-provider other-dep.\nYou may override by specifying --force.\n';
    expect(classifyBuild(13, 'Sign command: x\n', stderr)).toEqual({
      kind: 'missing-build-depends',
      missing: ['abi-provider', 'other-dep'],
      message:
        'Aborting build of module abi-consumer/1.0 for kernel 6.12.117+deb13-amd64 (x86_64) due to missing BUILD_DEPENDS: abi-provider other-dep. You may override by specifying --force.',
    });
  });

  it('build: keeps read_conf’s own findings as the message for a bad conf', () => {
    const r = classifyBuild(
      8,
      '',
      "dkms.conf: Error! No 'PACKAGE_NAME' directive specified.\nError! Bad conf file.\nFile: x\n",
    );
    expect(r).toEqual({ kind: 'bad-conf', message: "No 'PACKAGE_NAME' directive specified." });
  });

  it.each<[string, number, string, string]>([
    ['added', 0, 'Creating symlink /x -> /y\n', 'added'],
    [
      'already',
      3,
      'Error! DKMS tree already contains: m-1\nYou cannot add the same module/version combo more than once.\n',
      'already-added',
    ],
    [
      'no source',
      2,
      'Error! Could not find module source directory.\nDirectory: /usr/src/m-1 does not exist.\n',
      'no-source',
    ],
    ['bad conf', 8, 'Error! Bad conf file.\n', 'bad-conf'],
    ['other', 1, 'Error! boom\n', 'failed'],
  ])('add: %s', (_name, code, stderr, kind) => {
    expect(classifyAdd(code, '', stderr).kind).toBe(kind);
  });

  it.each<[string, number, string, string]>([
    ['removed', 0, '', 'removed'],
    ['not added', 3, 'Error! The module/version combo: m-1 is not located in the DKMS tree.\n', 'not-added'],
    ['other', 1, 'Error! boom\n', 'failed'],
  ])('remove: %s', (_name, code, stderr, kind) => {
    expect(classifyRemove(code, '', stderr).kind).toBe(kind);
  });

  it.each<[string, number, string, string, string]>([
    ['loaded with source', 0, 'Loading tarball for m-1\n', '', 'loaded'],
    // 3.0.10 exits 1 after loading a --binaries-only archive (it asks for a source tree).
    ['loaded binaries only', 1, 'Loading tarball for m-1\nLoading /x/m/1/k/x86_64...\n', '', 'loaded'],
    ['already added', 8, '', 'Error! m-1 is already added!\nAborting.\n', 'already-added'],
    ['not an archive', 1, 'Loading tarball for m-1\n', 'Error! x is not a valid DKMS tarball.\n', 'failed'],
    ['missing archive', 2, '', 'Error! /x does not exist.\n', 'failed'],
  ])('ldtarball: %s', (_name, code, stdout, stderr, kind) => {
    expect(classifyLdtarball(code, stdout, stderr).kind).toBe(kind);
  });

  it('takes the message from dkms’s "Error!" lines', () => {
    expect(
      dkmsErrorMessage(
        'Sign command: x\nError! Bad return status for module build on kernel: k (x86_64)\nConsult /l for more information.\n',
      ),
    ).toBe('Bad return status for module build on kernel: k (x86_64) Consult /l for more information.');
    // dkms 3.0.10's failed build: the error on stderr, its signing setup on stdout.
    expect(
      dkmsErrorMessage(
        'Error! Bad return status for module build on kernel: k (x86_64)\nConsult /l for more information.\n',
        'Sign command: /usr/lib/linux-kbuild-6.1/scripts/sign-file\nSigning key: /var/lib/dkms/mok.key\n',
      ),
    ).toBe('Bad return status for module build on kernel: k (x86_64) Consult /l for more information.');
    // Only the paragraph after "Error!".
    expect(dkmsErrorMessage('Error! The module is broken.\n\nUsage: dkms [action]\n')).toBe(
      'The module is broken.',
    );
  });
});
