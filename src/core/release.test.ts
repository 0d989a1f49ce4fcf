import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { FlavourPattern } from './release.js';
import {
  FALLBACK_FLAVOUR,
  parseKernelRelease,
  validateAbiver,
  kernelReleaseProblem,
  validatePathComponent,
  type Distro,
} from './release.js';

describe('parseKernelRelease: the distributions’ schemes', () => {
  it.each<[string, string, Distro, string | undefined, string | undefined]>([
    // release, flavour, distro, base, abiname
    ['6.1.0-47-amd64', 'amd64', 'debian', '6.1.0', '6.1.0-47'],
    ['6.1.0-50-amd64', 'amd64', 'debian', '6.1.0', '6.1.0-50'],
    ['6.1.0-47-cloud-amd64', 'cloud-amd64', 'debian', '6.1.0', '6.1.0-47'],
    ['6.1.0-47-rt-amd64', 'rt-amd64', 'debian', '6.1.0', '6.1.0-47'],
    ['6.1.0-47-686-pae', '686-pae', 'debian', '6.1.0', '6.1.0-47'],
    ['6.1.0-47-rt-686-pae', 'rt-686-pae', 'debian', '6.1.0', '6.1.0-47'],
    ['6.1.0-47-armmp-lpae', 'armmp-lpae', 'debian', '6.1.0', '6.1.0-47'],
    ['6.1.0-47-arm64-16k', 'arm64-16k', 'debian', '6.1.0', '6.1.0-47'],
    ['6.12.111+deb12-amd64', 'amd64', 'debian', '6.12.111', '6.12.111+deb12'],
    ['6.12.48+deb13-cloud-arm64', 'cloud-arm64', 'debian', '6.12.48', '6.12.48+deb13'],
    ['6.12.12+bpo-amd64', 'amd64', 'debian', '6.12.12', '6.12.12+bpo'],
    ['6.6.31+rpt-rpi-v8', 'rpi-v8', 'debian', '6.6.31', '6.6.31+rpt'],
    ['6.1.0-0.deb11.13-amd64', 'amd64', 'debian', '6.1.0', '6.1.0-0.deb11.13'],
    ['5.10.0-0.deb10.16-cloud-amd64', 'cloud-amd64', 'debian', '5.10.0', '5.10.0-0.deb10.16'],
    ['6.10.12-amd64', 'amd64', 'debian', '6.10.12', '6.10.12'],
    ['5.15.0-91-generic', 'generic', 'ubuntu', '5.15.0', '5.15.0-91'],
    ['5.15.0-91-lowlatency', 'lowlatency', 'ubuntu', '5.15.0', '5.15.0-91'],
    ['6.8.0-1015-aws', 'aws', 'ubuntu', '6.8.0', '6.8.0-1015'],
    ['6.8.0-1015-azure', 'azure', 'ubuntu', '6.8.0', '6.8.0-1015'],
    ['6.8.0-40-generic-64k', 'generic-64k', 'ubuntu', '6.8.0', '6.8.0-40'],
    ['5.15.0-1040-intel-iotg', 'intel-iotg', 'ubuntu', '5.15.0', '5.15.0-1040'],
    ['2.6.29.1-desktop-1mnb', 'desktop', 'mandriva', '2.6.29.1', undefined],
    ['6.1.192-tiny-1mnb', 'tiny', 'mandriva', '6.1.192', undefined],
    ['2.6.33.7-server-2mnb', 'server', 'mandriva', '2.6.33.7', undefined],
    ['6.6.58-server-1.mga9', 'server', 'mandriva', '6.6.58', undefined],
    ['5.15.45-desktop586-1.mga8', 'desktop586', 'mandriva', '5.15.45', undefined],
    ['6.6.8-desktop-1omv2390', 'desktop', 'mandriva', '6.6.8', undefined],
    ['4.18.0-477.10.1.el8_8.x86_64', 'x86_64', 'rhel', '4.18.0', undefined],
    ['5.14.0-362.8.1.el9_3.x86_64+rt', 'x86_64+rt', 'rhel', '5.14.0', undefined],
    ['5.14.0-362.8.1.el9_3.x86_64+debug', 'x86_64+debug', 'rhel', '5.14.0', undefined],
    ['5.14.0-427.13.1.el9_4.aarch64+64k', 'aarch64+64k', 'rhel', '5.14.0', undefined],
    ['4.18.0-477.10.1.rt7.273.el8_8.x86_64', 'x86_64+rt', 'rhel', '4.18.0', undefined],
    ['3.10.0-1160.rt56.1131.el7.x86_64', 'x86_64+rt', 'rhel', '3.10.0', undefined],
    ['3.10.0-1160.el7.x86_64.debug', 'x86_64+debug', 'rhel', '3.10.0', undefined],
    ['6.5.6-300.fc39.x86_64', 'x86_64', 'rhel', '6.5.6', undefined],
    ['6.5.6-300.fc39.i686+PAE', 'i686+PAE', 'rhel', '6.5.6', undefined],
    ['6.1.61-85.141.amzn2023.x86_64', 'x86_64', 'rhel', '6.1.61', undefined],
    ['5.15.0-200.131.27.el9uek.x86_64', 'x86_64', 'rhel', '5.15.0', undefined],
    ['5.14.21-150500.55.39-default', 'default', 'suse', '5.14.21', undefined],
    ['5.14.21-150500.33.29-azure', 'azure', 'suse', '5.14.21', undefined],
    ['6.4.0-150600.23.7-64kb', '64kb', 'suse', '6.4.0', undefined],
    ['6.11.0-1-default', 'default', 'suse', '6.11.0', undefined],
    ['4.12.14-122.37-default', 'default', 'suse', '4.12.14', undefined],
    // The shape is clear, the distribution is not.
    ['6.8.12-4-pve', 'pve', 'unknown', '6.8.12', undefined],
    ['6.6.32-1-lts', 'lts', 'unknown', '6.6.32', undefined],
    // A self-built kernel's LOCALVERSION.
    ['6.5.0-custom', 'custom', 'unknown', '6.5.0', undefined],
    ['6.1.21-v8+', 'v8+', 'unknown', '6.1.21', undefined],
  ])('%s → %s (%s)', (release, flavour, distro, base, abiname) => {
    const r = parseKernelRelease(release);
    expect(r).toEqual({
      release,
      flavour,
      distro,
      ...(base === undefined ? {} : { base }),
      ...(abiname === undefined ? {} : { abiname }),
      source: expect.stringMatching(/^built-in: /) as unknown,
    });
    expect(validatePathComponent(r.flavour)).toBeUndefined();
    // The flavour names a directory: kernel-abi-<flavour>-<abiver>.
    expect(`kernel-abi-${r.flavour}-1`).toMatch(/^[A-Za-z0-9._+-]+$/);
  });

  it('reads the real Debian kernel images this machine has unpacked', () => {
    // The set-up unpacks Debian 12's two 6.1 ABIs and Debian 13's 6.12 ABIs.
    const kernels = readdirSync('/var/cache/dkms-abi/images').sort();
    expect(kernels).toEqual(expect.arrayContaining(['6.1.0-47-amd64', '6.1.0-50-amd64']));
    for (const k of kernels) {
      const release = parseKernelRelease(k);
      expect(release.flavour, k).toBe('amd64');
      expect(release.abiname, k).toBeDefined();
      expect(k.startsWith(release.abiname ?? '\0'), k).toBe(true);
    }
  });
});

describe('parseKernelRelease: the fallback', () => {
  it.each([
    ['6.9.3-arch1-1', '6.9.3'],
    ['6.5.0', '6.5.0'],
    ['2.6.18-398.el5xen', '2.6.18'],
    ['weird release!', undefined],
    ['', undefined],
    ['../../etc', undefined],
    ['6.1.0-47-amd64\n', '6.1.0'],
    ['x'.repeat(10_000), undefined],
  ])('gives %j the stated fallback, never an error', (release, base) => {
    const r = parseKernelRelease(release);
    expect(r.flavour).toBe(FALLBACK_FLAVOUR);
    expect(r.distro).toBe('unknown');
    expect(r.base).toBe(base);
    expect(r.abiname).toBeUndefined();
    expect(r.source).toContain('no built-in scheme recognises');
    expect(r.source).toContain(`flavour "${FALLBACK_FLAVOUR}"`);
  });

  it('falls back when a scheme would yield an unsafe flavour', () => {
    const r = parseKernelRelease('6.1.0-47-a..b');
    expect(r.flavour).toBe(FALLBACK_FLAVOUR);
    expect(r.source).toMatch(/^<version>-<abi>-<flavour> gave "a\.\.b": contains "\.\."/);
  });
});

describe('parseKernelRelease: configured patterns', () => {
  const pattern = (re: RegExp, source: string, group = 1): FlavourPattern => ({ pattern: re, group, source });

  it('are tried first and in order, keeping the built-in distribution and ABI name', () => {
    const patterns = [
      pattern(/^\d+\.\d+\.\d+-\d+-(cloud)-amd64$/, 'site.conf:3 [flavour] pattern.1'),
      pattern(/^(\d+)\.(\d+)\.\d+-\d+-amd64$/, 'site.conf:4 [flavour] pattern.2', 2),
    ];
    expect(parseKernelRelease('6.1.0-47-cloud-amd64', patterns)).toEqual({
      release: '6.1.0-47-cloud-amd64',
      flavour: 'cloud',
      base: '6.1.0',
      abiname: '6.1.0-47',
      distro: 'debian',
      source: 'site.conf:3 [flavour] pattern.1',
    });
    expect(parseKernelRelease('6.1.0-47-amd64', patterns).flavour).toBe('1');
    // No pattern matches: the table decides.
    expect(parseKernelRelease('5.15.0-91-generic', patterns).source).toBe(
      'built-in: <version>-<abi>-<flavour>',
    );
    // A pattern can give an unknown release its flavour.
    expect(parseKernelRelease('6.9.3-arch1-1', [pattern(/^[\d.]+-(arch)\d+-\d+$/, 'arch')])).toMatchObject({
      flavour: 'arch',
      distro: 'unknown',
      base: '6.9.3',
    });
  });

  it('are passed over, with the reason in source, when their capture is unusable', () => {
    const unusable = [pattern(/^(x)?6/, 'p1'), pattern(/^6(\.1)/, 'p2')];
    const r = parseKernelRelease('6.1.0-47-amd64', unusable);
    expect(r.flavour).toBe('amd64');
    expect(r.source).toBe(
      'p1 matched but group 1 captured nothing; p2 matched but group 1 gave ".1": starts with "."; ' +
        'built-in: <version>-<abi>-<flavour>',
    );
    const later = parseKernelRelease('6.1.0-47-amd64', [
      ...unusable,
      pattern(/^6\.1\.0-(\d+)-(.*)$/, 'p3', 2),
    ]);
    expect([later.flavour, later.source]).toEqual(['amd64', 'p3']);
  });
});

describe('name validation', () => {
  it.each([
    'amd64',
    'cloud-amd64',
    'x86_64+rt',
    '6.1.0-47-amd64',
    '5.14.0-362.8.1.el9_3.x86_64+rt',
    'a'.repeat(64),
  ])('accepts %j as a path component', (s) => {
    expect(validatePathComponent(s)).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['.', 'starts with "."'],
    ['..', 'contains ".."'],
    ['.hidden', 'starts with "."'],
    ['a..b', 'contains ".."'],
    ['-rf', 'starts with "-"'],
    ['a/b', 'only letters, digits and . _ + - are allowed'],
    ['a\nb', 'only letters, digits and . _ + - are allowed'],
    ['a\0b', 'only letters, digits and . _ + - are allowed'],
    ['a b', 'only letters, digits and . _ + - are allowed'],
    ['été', 'only letters, digits and . _ + - are allowed'],
    ['x'.repeat(65), 'longer than 64 characters'],
  ])('rejects %j: %s', (s, problem) => {
    expect(validatePathComponent(s)).toBe(problem);
  });

  it.each([
    ['6.1.0-47-amd64', undefined],
    ['kernel-abi', undefined],
    ['../../x', 'only letters, digits and . _ + - are allowed'],
    ['kernel-abi-amd64-1', 'names a shared ABI tree ("kernel-abi-…"), not a kernel'],
  ])('kernel release %j: %s', (kver, problem) => {
    expect(kernelReleaseProblem(kver)).toBe(problem);
  });

  it.each([
    ['1', undefined],
    ['42', undefined],
    ['123456789', undefined],
    ['', 'must be a decimal number of 1 to 9 digits'],
    ['1234567890', 'must be a decimal number of 1 to 9 digits'],
    ['3a', 'must be a decimal number of 1 to 9 digits'],
    ['-1', 'must be a decimal number of 1 to 9 digits'],
    ['../1', 'must be a decimal number of 1 to 9 digits'],
  ])('abiver %j → %s', (s, problem) => {
    expect(validateAbiver(s)).toBe(problem);
  });
});
