import { describe, expect, it } from 'vitest';
import {
  debFileName,
  debianArch,
  debianVersion,
  isPackageName,
  kernelImagePackage,
  modulePackageName,
  moduleVirtualPackage,
  payloadDir,
} from './deb-names.js';

describe('Debian names of a module package', () => {
  it.each([
    ['blobdrv', 'amd64', '1', 'blobdrv-modules-amd64-1'],
    ['hello-abi', 'amd64', '2', 'hello-abi-modules-amd64-2'],
    // "_" and uppercase are common in module names and never legal in package names.
    ['nvidia_Current', 'amd64', '12', 'nvidia-current-modules-amd64-12'],
    ['zfs', 'cloud-amd64', '3', 'zfs-modules-cloud-amd64-3'],
    ['vbox', 'x86_64+rt', '1', 'vbox-modules-x86-64+rt-1'],
  ])('%s for %s-%s is %s', (module, flavour, abiver, want) => {
    expect(modulePackageName(module, { flavour, abiver })).toBe(want);
    expect(isPackageName(want)).toBe(true);
  });

  it('refuses a module name that cannot start a package name', () => {
    expect(modulePackageName('_x', { flavour: 'amd64', abiver: '1' })).toEqual({
      problem: '"-x-modules-amd64-1" is not a valid Debian package name',
    });
  });

  it('names packages for different ABIs differently, so they co-install', () => {
    const a = modulePackageName('blobdrv', { flavour: 'amd64', abiver: '1' });
    const b = modulePackageName('blobdrv', { flavour: 'amd64', abiver: '2' });
    const c = modulePackageName('blobdrv', { flavour: 'rt-amd64', abiver: '1' });
    expect(new Set([a, b, c]).size).toBe(3);
    expect(moduleVirtualPackage('nvidia_current')).toBe('nvidia-current-modules-abi');
  });

  it.each([
    ['1.0', '1', '1.0-1'],
    ['535.154.05', '2', '535.154.05-2'],
    ['1.0-rc1', '1', '1.0-rc1-1'],
    ['2.0_beta', '1', '2.0.beta-1'],
    ['v2.3', '1', '0~v2.3-1'],
    ['1:2', '1', '1.2-1'],
    ['1.0', '1+rebuild.2', '1.0-1+rebuild.2'],
  ])('module version %s, revision %s → %s', (v, rev, want) => {
    expect(debianVersion(v, rev)).toBe(want);
  });

  it('refuses an empty version and a revision with a hyphen', () => {
    expect(debianVersion('')).toEqual({ problem: 'the module version is empty' });
    expect(debianVersion('1.0', '1-2')).toHaveProperty('problem');
  });

  it.each([
    ['x86_64', 'amd64'],
    ['i686', 'i386'],
    ['aarch64', 'arm64'],
    ['ppc64le', 'ppc64el'],
    ['loongarch64', 'loong64'],
  ])('uname arch %s is dpkg arch %s', (u, d) => {
    expect(debianArch(u)).toBe(d);
  });

  it('knows no dpkg name for an unknown arch', () => {
    expect(debianArch('pdp11')).toBeUndefined();
  });

  it('names the file and the payload as Debian does', () => {
    expect(debFileName('x-modules-amd64-1', '1.0-1', 'amd64')).toBe('x-modules-amd64-1_1.0-1_amd64.deb');
    expect(debFileName('x', '2:1.0-1', 'amd64')).toBe('x_1.0-1_amd64.deb');
    expect(payloadDir('x-modules-amd64-1')).toBe('/usr/lib/dkms-abi/packages/x-modules-amd64-1');
  });

  it('names the kernel image package only when the release makes a package name', () => {
    expect(kernelImagePackage('6.1.0-47-amd64')).toBe('linux-image-6.1.0-47-amd64');
    expect(kernelImagePackage('4.18.0-477.10.1.el8_8.x86_64')).toBeUndefined();
  });
});
