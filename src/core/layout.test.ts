import { describe, expect, it } from 'vitest';
import { parseManifest, serializeManifest, treeLocation, treeModulePath } from './layout.js';

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
});
