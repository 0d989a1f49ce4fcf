// The Module.symvers derived from a kernel image and its modules (what a Debian kernel
// installed without headers has) against the one its linux-headers package ships, for the
// four real Debian kernels of the tests: the same exports, CRCs, owners, types and namespaces.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseSymvers, type SymversEntry } from '../../src/core/symvers.js';
import { deriveImageSymvers } from '../../src/system/image-symvers.js';
import { makePaths } from '../../src/system/paths.js';

const CACHE = '/var/cache/dkms-abi';
const KERNELS: readonly (readonly [string, string])[] = [
  ['6.1.0-47-amd64', '/usr/src/linux-headers-6.1.0-47-amd64/Module.symvers'],
  ['6.1.0-50-amd64', '/usr/src/linux-headers-6.1.0-50-amd64/Module.symvers'],
  [
    '6.12.117+deb13-amd64',
    `${CACHE}/trixie-chroot/usr/src/linux-headers-6.12.117+deb13-amd64/Module.symvers`,
  ],
  [
    '6.12.118+deb13-amd64',
    `${CACHE}/trixie-chroot/usr/src/linux-headers-6.12.118+deb13-amd64/Module.symvers`,
  ],
];

const line = (e: SymversEntry) => [e.crc, e.symbol, e.module, e.exportType, e.namespace].join(' ');

describe('Module.symvers from a kernel image (no headers)', () => {
  it.each(KERNELS)('%s: equal to the headers package’s, entry for entry', async (kernel, headers) => {
    const notes: string[] = [];
    const text = await deriveImageSymvers(makePaths(`${CACHE}/images/${kernel}`), kernel, (l) =>
      notes.push(l),
    );
    const derived = parseSymvers(text, 'derived').entries.map(line).sort();
    const shipped = parseSymvers(await readFile(headers, 'utf8'), headers)
      .entries.map(line)
      .sort();
    expect(derived.length).toBeGreaterThan(20_000);
    expect(derived).toEqual(shipped);
    expect(notes).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${kernel.replace(/[+.]/g, '\\$&')}: no Module.symvers .*/boot/vmlinuz-.* and of its \\d{4} modules$`,
        ),
      ),
    ]);
  });
});
