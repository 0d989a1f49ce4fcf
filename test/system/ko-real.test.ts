// The .ko reader on real toolchain output: Debian's signed 6.1 modules cut at every byte,
// corrupted, stripped and re-encoded big-endian; a 32-bit module-shaped object built with
// gcc -m32 and read back against kmod.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfFormatError, parseElf } from '../../src/core/elf.js';
import { exportsFromKsymtab } from '../../src/core/ko-exports.js';
import { splitSignature } from '../../src/core/ko-signature.js';
import { formatModVersionCrc, readKernelModule } from '../../src/core/ko.js';
import type { ExportedSymbol, KernelModuleInfo } from '../../src/core/ko.js';
import { toBigEndian } from '../helpers/ko-byteswap.js';
import { I386_FIXTURE_EXPORTS, buildI386Module } from '../helpers/ko-i386-fixture.js';

const exec = promisify(execFile);
const KERNEL = '/var/cache/dkms-abi/images/6.1.0-47-amd64/lib/modules/6.1.0-47-amd64/kernel';
const SMALL = `${KERNEL}/drivers/dma/idxd/idxd_bus.ko`;
const BIG = `${KERNEL}/drivers/ata/libata.ko`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-ko-real-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const byName = (a: ExportedSymbol, b: ExportedSymbol): number =>
  a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0;
const sorted = (list: readonly ExportedSymbol[]): ExportedSymbol[] => [...list].sort(byName);

describe('real Debian 6.1 modules', () => {
  it('fails with ElfFormatError at every truncation of an unsigned module', async () => {
    const { elf } = splitSignature(await readFile(SMALL));
    expect(readKernelModule(elf).exports).toHaveLength(3);
    for (let len = 0; len < elf.length; len++) {
      expect(() => readKernelModule(elf.subarray(0, len))).toThrow(ElfFormatError);
    }
  });

  it('reads a signed module cut inside its signature as the unsigned ELF it still is, and fails before that', async () => {
    const signed = await readFile(SMALL);
    const whole = readKernelModule(signed);
    const elfLength = whole.signature?.elfLength ?? 0;
    expect(elfLength).toBeGreaterThan(0);
    for (let len = 0; len < signed.length; len++) {
      let info: KernelModuleInfo;
      try {
        info = readKernelModule(signed.subarray(0, len));
      } catch (err) {
        expect(err).toBeInstanceOf(ElfFormatError);
        expect(len).toBeLessThan(elfLength);
        continue;
      }
      expect(len).toBeGreaterThanOrEqual(elfLength);
      expect(info).toEqual({ ...whole, signature: null });
    }
  });

  it('never throws anything but ElfFormatError on random corruption of a real module', async () => {
    const { elf } = splitSignature(await readFile(SMALL));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(elf.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (edits) => {
          const copy = new Uint8Array(elf); // a copy: Buffer#slice would share memory
          for (const [at, v] of edits) copy[at] = v;
          try {
            readKernelModule(copy);
            exportsFromKsymtab(parseElf(copy));
            return true;
          } catch (err) {
            return err instanceof ElfFormatError;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('finds the exports of a module stripped with --strip-unneeded through __ksymtab relocations', async () => {
    const stripped = path.join(dir, 'libata-stripped.ko');
    await exec('strip', ['--strip-unneeded', '-o', stripped, BIG]);
    const before = readKernelModule(await readFile(BIG));
    const after = readKernelModule(await readFile(stripped));
    expect(before.exports.length).toBeGreaterThan(200);
    expect(sorted(after.exports)).toEqual(sorted(before.exports));
    expect(after.versions).toEqual(before.versions);
    expect(after.modinfo).toEqual(before.modinfo);
    expect(after.signature).toBeNull();
  });

  it.each([SMALL, BIG])('reads %s re-encoded big-endian exactly as the original', async (file) => {
    const { elf } = splitSignature(await readFile(file));
    const le = readKernelModule(elf);
    const be = readKernelModule(toBigEndian(elf));
    expect(be.littleEndian).toBe(false);
    expect({ ...be, littleEndian: true }).toEqual(le);
    expect(exportsFromKsymtab(parseElf(toBigEndian(elf)))).toEqual(exportsFromKsymtab(parseElf(elf)));
  });
});

describe('a 32-bit module from gcc -m32', () => {
  let ko: string;
  beforeAll(async () => {
    ko = await buildI386Module(dir);
  });

  it('reads modinfo, 32-bit __versions, imports and exports with their CRCs', async () => {
    const info = readKernelModule(await readFile(ko));
    expect(info).toMatchObject({
      elfClass: 32,
      littleEndian: true,
      machine: 3,
      thisModuleSize: 0x140,
      signature: null,
    });
    expect(info.modinfo).toMatchObject({
      name: 'fixture',
      license: 'GPL',
      depends: [],
      vermagic: '6.1.0-1-686 SMP preempt mod_unload modversions 686 ',
    });
    expect(info.versions?.toArray()).toEqual([
      { name: 'printk', crc: 0x92997ed8, crcHigh: 0 },
      { name: 'module_layout', crc: 0xf00d5735, crcHigh: 0 },
    ]);
    expect(new Set(info.imports.toArray())).toEqual(
      new Set([
        { name: 'printk', weak: false },
        { name: 'maybe_hook', weak: true },
      ]),
    );
    expect(info.exports).toEqual(I386_FIXTURE_EXPORTS);
  });

  it('resolves the REL relocations (addends in the bytes) of its __ksymtab to the same exports', async () => {
    const elf = parseElf(await readFile(ko));
    const want = I386_FIXTURE_EXPORTS as readonly ExportedSymbol[];
    expect(exportsFromKsymtab(elf)).toEqual([
      ...sorted(want.filter((e) => e.exportType === 'EXPORT_SYMBOL')),
      ...sorted(want.filter((e) => e.exportType === 'EXPORT_SYMBOL_GPL')),
    ]);
  });

  it('agrees with modprobe --dump-modversions and modinfo', async () => {
    const info = readKernelModule(await readFile(ko));
    const dump = await exec('modprobe', ['--dump-modversions', ko]);
    expect(dump.stdout).toBe(
      (info.versions?.toArray() ?? []).map((v) => `${formatModVersionCrc(v)}\t${v.name}\n`).join(''),
    );
    const modinfo = await exec('modinfo', ['-0', ko]);
    const records = modinfo.stdout.split('\0').slice(1, -1);
    expect(records).toEqual(info.modinfo.records.map((r) => `${r.key}=${r.value}`));
  });

  it('reads the same when re-encoded big-endian, relocations and all', async () => {
    const bytes = await readFile(ko);
    const be = toBigEndian(bytes);
    expect({ ...readKernelModule(be), littleEndian: true }).toEqual(readKernelModule(bytes));
    expect(exportsFromKsymtab(parseElf(be))).toEqual(exportsFromKsymtab(parseElf(bytes)));
  });
});
