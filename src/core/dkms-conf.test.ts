import { describe, expect, it } from 'vitest';
import {
  CONF_RECORDS_HEADER,
  CONF_RECORDS_TRAILER,
  bashRegex,
  decodeConfRecords,
  distributionFromOsRelease,
  evaluateBuildExclusive,
  overrideDestModuleLocation,
  parseDkmsConf,
  type ConfContext,
  type DkmsConfRecord,
} from './dkms-conf.js';
import { InputError } from './errors.js';

const FILE = '/usr/src/m-1.0/dkms.conf';
const DEBIAN: ConfContext = { kernel: '6.1.0-47-amd64', arch: 'x86_64', distribution: 'debian' };
const PLAIN: ConfContext = { ...DEBIAN, distribution: 'unknown' };

/** Records from `NAME[i]=value` / `NAME=value` shorthand (value may hold anything but NUL). */
function recs(...lines: string[]): DkmsConfRecord[] {
  return lines.map((l) => {
    const m = /^([A-Z_]+)(?:\[(\d+)\])?=([\s\S]*)$/.exec(l);
    if (m?.[1] === undefined || m[3] === undefined) throw new Error(`bad fixture ${l}`);
    return { name: m[1], index: m[2] ?? '0', value: m[3] };
  });
}

const BASE = ['PACKAGE_NAME=m', 'PACKAGE_VERSION=1.0'];

function problem(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) {
      expect(err.file).toBe(FILE);
      return err.problem;
    }
    throw err;
  }
  throw new Error('expected an InputError');
}

describe('decodeConfRecords', () => {
  const out = (...fields: string[]) => fields.map((f) => `${f}\0`).join('');

  it('reads triples between the header and the trailer, values with newlines and empty ones', () => {
    const text = out(CONF_RECORDS_HEADER, 'MAKE', '0', 'make\nall', 'CLEAN', '0', '', CONF_RECORDS_TRAILER);
    expect(decodeConfRecords(text, FILE)).toEqual([
      { name: 'MAKE', index: '0', value: 'make\nall' },
      { name: 'CLEAN', index: '0', value: '' },
    ]);
  });

  it('rejects output without the header, and output cut short', () => {
    expect(() => decodeConfRecords('garbage', FILE)).toThrow(InputError);
    expect(() => decodeConfRecords(out(CONF_RECORDS_HEADER, 'MAKE', '0'), FILE)).toThrow(/stopped early/);
  });
});

describe('parseDkmsConf defaults (read_conf)', () => {
  it('fills BUILT_MODULE_NAME from PACKAGE_NAME when there is exactly one DEST_MODULE_LOCATION', () => {
    const conf = parseDkmsConf(recs(...BASE, 'DEST_MODULE_LOCATION[0]=/extra'), FILE, PLAIN);
    expect(conf.modules).toEqual([
      {
        index: 0,
        builtName: 'm',
        builtLocation: '',
        destName: 'm',
        destLocation: '/extra',
        declaredDestLocation: '/extra',
        strip: true,
      },
    ]);
  });

  it('defaults DEST_MODULE_NAME to BUILT_MODULE_NAME and ends BUILT_MODULE_LOCATION with a slash', () => {
    const conf = parseDkmsConf(
      recs(
        ...BASE,
        'BUILT_MODULE_NAME[0]=a',
        'BUILT_MODULE_LOCATION[0]=src/a',
        'DEST_MODULE_LOCATION[0]=/kernel/drivers/misc',
        'BUILT_MODULE_NAME[1]=b',
        'DEST_MODULE_NAME[1]=b_renamed',
        'DEST_MODULE_LOCATION[1]=/updates',
      ),
      FILE,
      PLAIN,
    );
    expect(conf.modules.map((m) => [m.builtName, m.builtLocation, m.destName, m.destLocation])).toEqual([
      ['a', 'src/a/', 'a', '/kernel/drivers/misc'],
      ['b', '', 'b_renamed', '/updates'],
    ]);
  });

  it('applies the distribution override to where dkms installs, keeping what was declared', () => {
    const conf = parseDkmsConf(recs(...BASE, 'DEST_MODULE_LOCATION[0]=/extra'), FILE, DEBIAN);
    expect(conf.modules[0]?.destLocation).toBe('/updates/dkms');
    expect(conf.modules[0]?.declaredDestLocation).toBe('/extra');
  });

  it.each([
    ['debian', '/updates/dkms'],
    ['ubuntu', '/updates/dkms'],
    ['arch', '/updates/dkms'],
    ['rhel fedora', '/extra'],
    ['fedora', '/extra'],
    ['opensuse-leap', '/updates'],
    ['sles', '/updates'],
    ['unknown', '/kernel/x'],
    ['', '/kernel/x'],
  ])('override_dest_module_location for %s', (distribution, want) => {
    expect(overrideDestModuleLocation('/kernel/x', distribution)).toBe(want);
  });

  it('lets ADDON_MODULES_DIR win over every distribution', () => {
    expect(overrideDestModuleLocation('/extra', 'debian', 'weak-updates/x')).toBe('/weak-updates/x');
  });

  it('STRIP: n… keeps symbols, y… strips, empty follows record 0, other words strip', () => {
    const conf = parseDkmsConf(
      recs(
        ...BASE,
        ...['a', 'b', 'c', 'd'].flatMap((n, i) => [
          `BUILT_MODULE_NAME[${i}]=${n}`,
          `DEST_MODULE_LOCATION[${i}]=/extra`,
        ]),
        'STRIP[0]=no',
        'STRIP[2]=false',
        'STRIP[3]=Yes',
      ),
      FILE,
      PLAIN,
    );
    expect(conf.modules.map((m) => m.strip)).toEqual([false, false, true, true]);
  });

  it('MAKE[0] unless MAKE_MATCH[0] is set; the last matching MAKE_MATCH wins', () => {
    const make = (...extra: string[]) =>
      parseDkmsConf(recs(...BASE, 'DEST_MODULE_LOCATION[0]=/extra', ...extra), FILE, PLAIN).makeCommand;
    expect(make()).toBeUndefined();
    expect(make('MAKE[0]=make all')).toBe('make all');
    expect(make('MAKE[0]=make old', 'MAKE_MATCH[0]=^5\\.', 'MAKE[1]=make new', 'MAKE_MATCH[1]=^6\\.1')).toBe(
      'make new',
    );
    expect(make('MAKE[0]=make old', 'MAKE_MATCH[0]=^5\\.')).toBeUndefined();
    expect(make('MAKE[0]=make base', 'MAKE[1]=make 61', 'MAKE_MATCH[1]=-47-')).toBe('make 61');
  });

  it('keeps PATCH entries whose PATCH_MATCH matches the kernel', () => {
    const conf = parseDkmsConf(
      recs(
        ...BASE,
        'DEST_MODULE_LOCATION[0]=/extra',
        'PATCH[0]=all.patch',
        'PATCH[1]=old.patch',
        'PATCH_MATCH[1]=^5',
        'PATCH[2]=new.patch',
        'PATCH_MATCH[2]=^6\\.[[:digit:]]',
      ),
      FILE,
      PLAIN,
    );
    expect(conf.patches).toEqual(['all.patch', 'new.patch']);
  });

  it('splits BUILD_DEPENDS on whitespace as the autoinstaller does', () => {
    const conf = parseDkmsConf(
      recs(
        ...BASE,
        'DEST_MODULE_LOCATION[0]=/extra',
        'BUILD_DEPENDS[0]=abi-provider  zfs',
        'BUILD_DEPENDS[1]=spl',
      ),
      FILE,
      PLAIN,
    );
    expect(conf.buildDepends).toEqual(['abi-provider', 'zfs', 'spl']);
  });

  it('treats any non-empty AUTOINSTALL as yes, as dkms does, and says so for "no"', () => {
    const parse = (v: string) =>
      parseDkmsConf(recs(...BASE, 'DEST_MODULE_LOCATION[0]=/extra', `AUTOINSTALL=${v}`), FILE, PLAIN);
    expect(parse('yes').autoinstall).toBe(true);
    expect(parse('yes').warnings).toEqual([]);
    expect(parse('').autoinstall).toBe(false);
    const no = parse('no');
    expect(no.autoinstall).toBe(true);
    expect(no.warnings.join()).toMatch(/still means yes/);
  });

  it('collects scripts, CLEAN, OBSOLETE_BY and deprecated settings', () => {
    const conf = parseDkmsConf(
      recs(
        ...BASE,
        'DEST_MODULE_LOCATION[0]=/extra',
        'PRE_BUILD=build-blob.sh',
        'POST_INSTALL=post.sh arg',
        'CLEAN=make -C src clean',
        'OBSOLETE_BY=6.2',
        'REMAKE_INITRD=yes',
      ),
      FILE,
      PLAIN,
    );
    expect(conf.scripts).toEqual({ preBuild: 'build-blob.sh', postInstall: 'post.sh arg' });
    expect(conf.cleanCommand).toBe('make -C src clean');
    expect(conf.obsoleteBy).toBe('6.2');
    expect(conf.warnings).toEqual(['REMAKE_INITRD is deprecated and ignored by dkms']);
  });

  it('ignores variables dkms does not import', () => {
    const conf = parseDkmsConf(recs(...BASE, 'DEST_MODULE_LOCATION[0]=/extra', 'FOO=bar'), FILE, PLAIN);
    expect(conf.packageName).toBe('m');
  });
});

describe('parseDkmsConf rejects what dkms rejects, naming the file', () => {
  it.each([
    [['PACKAGE_VERSION=1', 'DEST_MODULE_LOCATION[0]=/extra'], /no 'PACKAGE_NAME'/],
    [['PACKAGE_NAME=m', 'DEST_MODULE_LOCATION[0]=/extra'], /no 'PACKAGE_VERSION'/],
    [[...BASE], /no 'DEST_MODULE_LOCATION' directive specified$/],
    [[...BASE, 'BUILT_MODULE_NAME[0]=m'], /no 'DEST_MODULE_LOCATION' directive specified for record #0/],
    // Two DEST_MODULE_LOCATIONs: no default for BUILT_MODULE_NAME[1].
    [
      [...BASE, 'BUILT_MODULE_NAME[0]=a', 'DEST_MODULE_LOCATION[0]=/extra', 'DEST_MODULE_LOCATION[1]=/extra'],
      /no 'BUILT_MODULE_NAME' directive specified for record #1/,
    ],
    [[...BASE, 'BUILT_MODULE_NAME[0]=m.ko', 'DEST_MODULE_LOCATION[0]=/extra'], /ends in \.o or \.ko/],
    [
      [...BASE, 'BUILT_MODULE_NAME[0]=m', 'DEST_MODULE_NAME[0]=x.o', 'DEST_MODULE_LOCATION[0]=/extra'],
      /DEST_MODULE_NAME\[0\] "x\.o" ends in \.o or \.ko/,
    ],
    [[...BASE, 'DEST_MODULE_LOCATION[0]=/lib/foo'], /does not begin with \/kernel, \/updates or \/extra/],
  ])('%j', (lines, want) => {
    expect(problem(() => parseDkmsConf(recs(...lines), FILE, PLAIN))).toMatch(want);
  });

  it('reports every problem at once', () => {
    const p = problem(() => parseDkmsConf(recs('BUILT_MODULE_NAME[0]=a.ko'), FILE, PLAIN));
    expect(p).toMatch(/PACKAGE_NAME.*PACKAGE_VERSION.*\.ko.*DEST_MODULE_LOCATION/);
  });
});

describe('parseDkmsConf: names that end up in paths and argv', () => {
  const withModule =
    (...lines: string[]) =>
    () =>
      parseDkmsConf(
        recs(...BASE, 'BUILT_MODULE_NAME[0]=m', 'DEST_MODULE_LOCATION[0]=/extra', ...lines),
        FILE,
        PLAIN,
      );

  it.each([
    ['PACKAGE_NAME=../evil', /PACKAGE_NAME "\.\.\/evil" must start/],
    ['PACKAGE_NAME=a/b', /PACKAGE_NAME "a\/b"/],
    ['PACKAGE_NAME=-rf', /PACKAGE_NAME "-rf"/],
    ['PACKAGE_VERSION=1.0 beta', /PACKAGE_VERSION "1\.0 beta"/],
    ['PACKAGE_VERSION=1\n2', /PACKAGE_VERSION "1\\x0a2"/],
    [`PACKAGE_VERSION=${'9'.repeat(200)}`, /PACKAGE_VERSION is absurdly long/],
    ['BUILT_MODULE_NAME[0]=a/b', /not a kernel module name/],
    [`BUILT_MODULE_NAME[0]=${'x'.repeat(56)}`, /56 characters long; the kernel accepts at most 55/],
    ['DEST_MODULE_NAME[0]=x y', /DEST_MODULE_NAME\[0\] "x y" is not a kernel module name/],
    ['BUILT_MODULE_LOCATION[0]=/abs', /must be relative to the build directory/],
    ['BUILT_MODULE_LOCATION[0]=../../etc', /climbs out with "\.\."/],
    ['DEST_MODULE_LOCATION[0]=/extra/../../etc', /climbs out/],
    ['DEST_MODULE_LOCATION[0]=/extra/a b', /characters dkms cannot put in a path/],
    ['BUILD_DEPENDS[0]=../x', /BUILD_DEPENDS "\.\.\/x"/],
    ['PATCH[0]=../../x.patch', /PATCH\[0\] "\.\.\/\.\.\/x\.patch" climbs out/],
    [`MAKE[0]=${'x'.repeat(70_000)}`, /MAKE\[0\] is absurdly long/],
  ])('%s', (line, want) => {
    expect(problem(withModule(line))).toMatch(want);
  });

  it('accepts real-world names', () => {
    const conf = withModule(
      'PACKAGE_NAME=nvidia-current',
      'PACKAGE_VERSION=535.183.01+deb12u1~bpo',
      'BUILT_MODULE_NAME[1]=nvidia-drm',
      'BUILT_MODULE_LOCATION[1]=./kernel/',
      'DEST_MODULE_LOCATION[1]=/kernel/drivers/video',
    )();
    expect(conf.packageVersion).toBe('535.183.01+deb12u1~bpo');
    expect(conf.modules[1]?.builtLocation).toBe('./kernel/');
  });

  it('explains CRLF line endings instead of failing on a name with \\r in it', () => {
    const p = problem(() => parseDkmsConf(recs('PACKAGE_NAME=m\r', 'PACKAGE_VERSION=1\r'), FILE, PLAIN));
    expect(p).toMatch(/CRLF \(DOS\) line endings: dkms 3\.0\.10 keeps the carriage return/);
    expect(p).toMatch(/sed -i/);
  });

  it('reports a gap in a sparse array: dkms counts elements, so the last one would be ignored', () => {
    const p = problem(() =>
      parseDkmsConf(
        recs(
          ...BASE,
          'BUILT_MODULE_NAME[0]=a',
          'BUILT_MODULE_NAME[2]=c',
          'DEST_MODULE_LOCATION[0]=/extra',
          'DEST_MODULE_LOCATION[2]=/extra',
        ),
        FILE,
        PLAIN,
      ),
    );
    expect(p).toMatch(/BUILT_MODULE_NAME has a gap \(indices 0, 2\): dkms reads indices 0\.\.1 only/);
    expect(p).toMatch(/no 'BUILT_MODULE_NAME' directive specified for record #1/);
  });

  it('rejects associative-array keys', () => {
    expect(
      problem(() =>
        parseDkmsConf([{ name: 'MAKE', index: 'x', value: 'make' }, ...recs(...BASE)], FILE, PLAIN),
      ),
    ).toMatch(/MAKE has the index "x"/);
  });

  it('rejects a broken BUILD_EXCLUSIVE expression as the conf’s fault', () => {
    expect(problem(withModule('BUILD_EXCLUSIVE_KERNEL=^6.(1'))).toMatch(
      /BUILD_EXCLUSIVE_KERNEL "\^6\.\(1" is not a valid regular expression/,
    );
  });
});

describe('evaluateBuildExclusive', () => {
  const config = 'CONFIG_MODVERSIONS=y\nCONFIG_PCI=m\n# CONFIG_X86_KERNEL_IBT is not set\nCONFIG_PCIEAER=y\n';
  const be = (kernel?: string, arch?: string, cfg = '') =>
    parseDkmsConf(
      recs(
        ...BASE,
        'DEST_MODULE_LOCATION[0]=/extra',
        ...(kernel !== undefined ? [`BUILD_EXCLUSIVE_KERNEL=${kernel}`] : []),
        ...(arch !== undefined ? [`BUILD_EXCLUSIVE_ARCH=${arch}`] : []),
        `BUILD_EXCLUSIVE_CONFIG=${cfg}`,
      ),
      FILE,
      PLAIN,
    ).buildExclusive;
  const target = { kernel: '6.1.0-47-amd64', arch: 'x86_64', kernelConfig: config };

  it.each([
    ['nothing set', be(), false, undefined],
    ['kernel matches (unanchored)', be('-amd64'), false, undefined],
    ['kernel differs', be('^6\\.1\\.0-50-'), true, 'kernel'],
    ['kernel with POSIX class', be('^6\\.[[:digit:]]+\\.'), false, undefined],
    ['arch differs', be(undefined, '^(arm64|aarch64)$'), true, 'arch'],
    [
      'config present (=y and =m)',
      be(undefined, undefined, 'CONFIG_MODVERSIONS CONFIG_PCI'),
      false,
      undefined,
    ],
    ['config missing ("is not set")', be(undefined, undefined, 'CONFIG_X86_KERNEL_IBT'), true, 'config'],
    ['config excluded but present', be(undefined, undefined, '!CONFIG_PCI'), true, 'config'],
    ['config excluded and absent', be(undefined, undefined, '!CONFIG_X86_KERNEL_IBT'), false, undefined],
    // grep -E "^CONFIG_PCI=[ym]" does not match CONFIG_PCIEAER=y.
    ['prefix of another option', be(undefined, undefined, '!CONFIG_PCIE'), false, undefined],
  ])('%s', (_name, excl, excluded, reason) => {
    const got = evaluateBuildExclusive(excl, target, FILE);
    expect(got.excluded).toBe(excluded);
    if (got.excluded) expect(got.reason).toBe(reason);
  });

  it('skips the config test when the headers have no .config, as dkms does', () => {
    const { kernelConfig: _ignored, ...noConfig } = target;
    expect(evaluateBuildExclusive(be(undefined, undefined, 'CONFIG_NOPE'), noConfig).excluded).toBe(false);
  });
});

describe('bashRegex', () => {
  it('translates POSIX bracket classes and keeps ERE operators', () => {
    expect(bashRegex('^[[:alpha:]]+-[[:digit:]]{2}$', FILE, 'X').test('abc-47')).toBe(true);
    expect(bashRegex('^(5\\.15|6\\.1)\\.', FILE, 'X').test('6.1.0')).toBe(true);
  });
});

describe('distributionFromOsRelease', () => {
  it.each([
    ['PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', 'debian'],
    ['ID=ubuntu\nID_LIKE=debian\n', 'ubuntu'],
    ['ID=linuxmint\nID_LIKE="ubuntu debian"\n', 'ubuntu debian'],
    ['ID="rocky"\nID_LIKE="rhel centos fedora"\n', 'rhel centos fedora'],
    ['ID=weird\nID_LIKE=\n', ''],
  ])('%j → %s', (text, want) => {
    expect(distributionFromOsRelease(text)).toBe(want);
  });

  it('is "unknown" without an os-release file', () => {
    expect(distributionFromOsRelease(undefined)).toBe('unknown');
  });
});
