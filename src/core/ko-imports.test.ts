import { describe, expect, it } from 'vitest';
import { ModuleImports } from './ko-imports.js';
import { ModVersions } from './ko-versions.js';

const versions = ModVersions.of([
  { name: 'module_layout', crc: 1, crcHigh: 0 },
  { name: 'kfree', crc: 2, crcHigh: 0 },
  { name: 'kmalloc', crc: 3, crcHigh: 0 },
  { name: 'kfree', crc: 4, crcHigh: 0 },
]);

describe('ModuleImports', () => {
  it("links each import to the first __versions entry of its name, as the loader's search finds it", () => {
    const imports = ModuleImports.of(
      [
        { name: 'kmalloc', weak: false },
        { name: 'kfree', weak: false },
        { name: 'maybe', weak: true },
      ],
      versions,
    );
    expect([0, 1, 2].map((i) => imports.version(i))).toEqual([2, 1, -1]);
    expect(imports.linkedTo).toBe(versions);
    expect(imports.toArray()).toEqual([
      { name: 'kmalloc', weak: false },
      { name: 'kfree', weak: false },
      { name: 'maybe', weak: true },
    ]);
    expect(versions.indexOf('kfree')).toBe(1);
    expect(versions.indexOf('absent')).toBe(-1);
  });

  it('links nothing for a module without __versions', () => {
    const imports = ModuleImports.of([{ name: 'kfree', weak: false }], null);
    expect(imports.version(0)).toBe(-1);
    expect(imports.linkedTo).toBeNull();
  });
});
