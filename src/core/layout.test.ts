import { describe, expect, it } from 'vitest';
import {
  isSafeComponent,
  isSafeRelative,
  parseManifest,
  serializeManifest,
  treeLocation,
  treeModulePath,
} from './layout.js';

describe('tree layout', () => {
  it.each([
    ['/kernel/drivers/misc', 'drivers/misc'],
    ['/updates/dkms', ''],
    ['/updates', ''],
    ['/extra', ''],
    ['/extra/nvidia', 'nvidia'],
    ['/kernel/../x', '../x'],
  ])('maps DEST_MODULE_LOCATION %s to %s', (loc, want) => {
    expect(treeLocation(loc)).toBe(want);
  });

  it('places modules under dkms/', () => {
    expect(treeModulePath('/updates/dkms', 'hello_abi', '.ko')).toBe('dkms/hello_abi.ko');
    expect(treeModulePath('/kernel/drivers/video', 'nvidia', '.ko.xz')).toBe(
      'dkms/drivers/video/nvidia.ko.xz',
    );
  });

  it('round-trips manifests and rejects ones that point outside the tree', () => {
    const m = {
      module: 'hello-abi',
      version: '1.0',
      arch: 'x86_64',
      builtFor: '6.1.0-47-amd64',
      files: ['dkms/a.ko'],
    };
    expect(parseManifest(serializeManifest(m))).toEqual(m);
    expect(parseManifest(JSON.stringify({ ...m, files: ['../../etc/passwd'] }))).toBe(
      '"files" must list paths inside the tree',
    );
    expect(parseManifest('{')).toMatch(/^not JSON/);
    expect(parseManifest(JSON.stringify({ ...m, builtFor: '' }))).toBe('missing "builtFor"');
  });

  it('keeps the modules the build kernel refuses, and writes the field only when there are some', () => {
    const m = {
      module: 'dahdi',
      version: '2.11',
      arch: 'x86_64',
      builtFor: '6.1.0-47-amd64',
      files: ['dkms/a.ko', 'dkms/b.ko'],
    };
    const partial = { ...m, unloadable: { b: 'no symbol version for oslec_create' } };
    expect(parseManifest(serializeManifest(partial))).toEqual(partial);
    expect(serializeManifest({ ...m, unloadable: {} })).toBe(serializeManifest(m));
    expect(parseManifest(JSON.stringify({ ...m, unloadable: { b: 1 } }))).toBe(
      '"unloadable" must map module names to reasons',
    );
    expect(parseManifest(JSON.stringify({ ...m, unloadable: ['b'] }))).toBe(
      '"unloadable" must map module names to reasons',
    );
  });

  it.each([
    ['module', '../hello'],
    ['version', '1.0/../../x'],
    ['arch', '..'],
    ['builtFor', '.'],
    ['module', 'a\nb'],
    ['version', 'x'.repeat(256)],
  ])('rejects a manifest whose %s is not one path component (%j)', (key, value) => {
    const m = { module: 'm', version: '1', arch: 'x86_64', builtFor: '6.1.0-47-amd64', files: [] };
    expect(parseManifest(JSON.stringify({ ...m, [key]: value }))).toBe(
      `"${key}" is not a single path component`,
    );
  });

  it('treats . and .. as unsafe in relative paths and components', () => {
    for (const p of ['.', './a', 'a/./b', 'a/..', '', '/a', 'a//b']) expect(isSafeRelative(p)).toBe(false);
    for (const p of ['a', 'dkms/a.ko', 'dkms/.hidden.ko']) expect(isSafeRelative(p)).toBe(true);
    for (const c of ['.', '..', '', 'a/b', 'a\0b']) expect(isSafeComponent(c)).toBe(false);
    expect(isSafeComponent('6.1.0-47-amd64')).toBe(true);
  });
});
