import { describe, expect, it } from 'vitest';
import { parseMetadata, serializeMetadata, type PackageMetadata } from './package-metadata.js';
import { parseRecord, serializeRecord, type PackageRecord } from './package-record.js';
import { flatRelease, packagesArchitectures, dpkgDebBuildArgv, dpkgScanpackagesArgv } from './deb-argv.js';

const SHA = 'a'.repeat(64);
const META: PackageMetadata = {
  format: 1,
  package: 'blobdrv-modules-amd64-1',
  debVersion: '1.0-1',
  module: 'blobdrv',
  version: '1.0',
  flavour: 'amd64',
  abiver: '1',
  arch: 'x86_64',
  builtFor: '6.1.0-47-amd64',
  verifiedKernels: ['6.1.0-47-amd64'],
  referenceSource: '/var/lib/dkms-abi/abi/amd64/1.symvers',
  referenceSha256: SHA,
  files: [
    {
      path: 'dkms/blobdrv.ko',
      name: 'blobdrv',
      vermagic: '6.1.0-47-amd64 SMP preempt mod_unload modversions ',
      license: 'Proprietary',
      depends: [],
      sha256: SHA,
      requires: [{ symbol: 'module_layout', crc: '0x0b0f1dd4' }],
    },
  ],
};

const RECORD: PackageRecord = {
  format: 1,
  package: 'blobdrv-modules-amd64-1',
  module: 'blobdrv',
  version: '1.0',
  arch: 'x86_64',
  builtFor: '6.1.0-47-amd64',
  payload: '/usr/lib/dkms-abi/packages/blobdrv-modules-amd64-1',
  abi: { flavour: 'amd64', abiver: '1' },
  files: ['dkms/blobdrv.ko'],
  archivedReference: { path: '/var/lib/dkms-abi/abi/amd64/1.symvers', sha256: SHA },
  registeredKernels: ['6.1.0-47-amd64'],
  createdTree: true,
  createdDirs: ['/lib/modules/kernel-abi-amd64-1'],
};

const edit = (o: object, patch: Record<string, unknown>) => JSON.stringify({ ...o, ...patch });

describe('metadata.json', () => {
  it('round-trips', () => {
    expect(parseMetadata(serializeMetadata(META))).toEqual(META);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['an unknown format', { format: 2 }, /format 2/],
    [
      'a module path leaving the tree',
      { files: [{ ...META.files[0], path: 'dkms/../../../etc/passwd.ko' }] },
      /"path"/,
    ],
    ['a file that is not a module', { files: [{ ...META.files[0], path: 'dkms/run.sh' }] }, /"path"/],
    [
      'a CRC that is not hex',
      { files: [{ ...META.files[0], requires: [{ symbol: 'x', crc: 'zz' }] }] },
      /crc/,
    ],
    ['a package name dpkg would refuse', { package: 'Blob_Drv' }, /package/],
    ['a builtFor that is a path', { builtFor: '../x' }, /builtFor/],
    ['no modules', { files: [] }, /"files"/],
    ['a bad reference hash', { referenceSha256: 'abc' }, /referenceSha256/],
  ])('refuses %s', (_what, patch, problem) => {
    expect(parseMetadata(edit(META, patch))).toMatch(problem);
  });
});

describe('install record', () => {
  it('round-trips, with and without an archived reference', () => {
    expect(parseRecord(serializeRecord(RECORD))).toEqual(RECORD);
    const joined = { ...RECORD, archivedReference: null };
    expect(parseRecord(serializeRecord(joined))).toEqual(joined);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a created directory outside the root', { createdDirs: ['/lib/../../etc'] }, /createdDirs/],
    ['a relative payload', { payload: 'usr/lib/x' }, /payload/],
    ['a kernel that is a path', { registeredKernels: ['a/b'] }, /registeredKernels/],
    ['a broken ABI', { abi: { flavour: 'amd64', abiver: 'x' } }, /abi/],
  ])('refuses %s', (_what, patch, problem) => {
    expect(parseRecord(edit(RECORD, patch))).toMatch(problem);
  });
});

describe('dpkg-deb, dpkg-scanpackages and the flat Release', () => {
  it('builds argv as data', () => {
    expect(dpkgDebBuildArgv('/s', '/o/x.deb')).toEqual([
      'dpkg-deb',
      '--build',
      '--root-owner-group',
      '-Zxz',
      '/s',
      '/o/x.deb',
    ]);
    expect(dpkgScanpackagesArgv()).toEqual(['dpkg-scanpackages', '--multiversion', '.']);
  });

  it('lists the indexes with sizes and hashes, and the architectures the packages name', () => {
    const archs = packagesArchitectures(
      'Package: a\nArchitecture: amd64\n\nPackage: b\nArchitecture: all\n\nPackage: c\nArchitecture: arm64\n',
    );
    expect(archs).toEqual(['amd64', 'arm64']);
    const release = flatRelease(
      [{ name: 'Packages', size: 2205, md5: 'm'.repeat(32), sha256: 's'.repeat(64) }],
      archs,
      0,
    );
    expect(release).toContain('Date: Thu, 01 Jan 1970 00:00:00 +0000\n');
    expect(release).toContain('Architectures: amd64 arm64\n');
    expect(release).toContain(`MD5Sum:\n ${'m'.repeat(32)}     2205 Packages\n`);
    expect(release).toContain(`SHA256:\n ${'s'.repeat(64)}     2205 Packages\n`);
  });
});
