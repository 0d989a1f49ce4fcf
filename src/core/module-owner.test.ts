import { describe, expect, it } from 'vitest';
import { filesOfOthers, ownerConflicts, replacesInstalled } from './module-owner.js';
import type { TreeModule } from './snapshot.js';

const tm = (module: string, version: string, files: string[], arch = 'x86_64'): TreeModule => ({
  module,
  version,
  arch,
  builtFor: '6.1.0-47-amd64',
  files,
  newestMtimeMs: 0,
});

describe('replacesInstalled (dkms check_version_sanity)', () => {
  it.each([
    ['1.0', '1.1', true],
    ['1.1', '1.0', false],
    ['1.0', '1.0', false],
    ['2.6.9', '2.6.10', true], // numbers compare as numbers, padded as dkms's VER() does
    ['2.6.10', '2.6.9', false],
    ['1.01', '1.1', true], // equal after padding, different strings: dkms answers "<", installs
    [undefined, '1.0', true], // one without a version: dkms cannot tell and installs
    ['1.0', undefined, true],
    [undefined, undefined, false], // both without: "==", not replaced
  ])('installed %s, candidate %s → %s', (installed, candidate, expected) => {
    expect(replacesInstalled(installed, candidate)).toBe(expected);
  });
});

describe('ownerConflicts', () => {
  const tree = [
    tm('hello-abi', '1.0', ['dkms/hello_abi.ko']),
    tm('other', '2.0', ['dkms/misc/abi-provider.ko', 'dkms/x.ko']),
    tm('foreign-arch', '1.0', ['dkms/hello_abi.ko'], 'i686'),
  ];
  it('finds another module of the same kernel name, at any place in the tree, - and _ alike', () => {
    const c = ownerConflicts(tree, { module: 'fork', arch: 'x86_64' }, [
      'dkms/hello_abi.ko',
      'dkms/abi_provider.ko',
    ]);
    expect(c.map((x) => [x.owner.module, x.theirs, x.ours])).toEqual([
      ['hello-abi', 'dkms/hello_abi.ko', 'dkms/hello_abi.ko'],
      ['other', 'dkms/misc/abi-provider.ko', 'dkms/abi_provider.ko'],
    ]);
  });
  it('the same module (another version is an upgrade) and other arches are no conflict', () => {
    expect(ownerConflicts(tree, { module: 'hello-abi', arch: 'x86_64' }, ['dkms/hello_abi.ko'])).toEqual([]);
  });
  it('filesOfOthers: what the rest of the tree lists', () => {
    expect([...filesOfOthers(tree, tree[1] as TreeModule)].sort()).toEqual(['dkms/hello_abi.ko']);
  });
});
