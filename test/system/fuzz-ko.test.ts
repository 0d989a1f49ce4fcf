// Property-based fuzzing of the kernel-module readers with fast-check: random bytes, random
// headers behind a valid ELF magic, real Debian modules with bytes, section-header fields
// and lengths mutated, their signature trailers forged, their compressed forms corrupted.
// Whatever the input, the pure reader returns or throws ElfFormatError, the file reader
// InputError, each within a bounded time; and the CLI turns a corrupt module into exit 2
// with one line naming the file.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElfFormatError } from '../../src/core/elf.js';
import { InputError } from '../../src/core/errors.js';
import { readKernelModule } from '../../src/core/ko.js';
import { readKernelModuleFile } from '../../src/system/ko-file.js';
import { runCli } from '../helpers/cli.js';
import { toBigEndian } from '../helpers/ko-byteswap.js';
import { IMAGES_DIR, copyExampleSource, makeSandboxRoot } from '../helpers/sandbox.js';

const KVER = '6.1.0-47-amd64';
const KERNEL_DIR = path.join(IMAGES_DIR, KVER, 'lib/modules', KVER, 'kernel');
/** Real modules of different shapes: exports with CRCs, namespaces, many imports, a big one. */
const SEEDS = [
  'drivers/misc/eeprom/eeprom_93cx6.ko',
  'net/vmw_vsock/vsock_loopback.ko',
  'drivers/i2c/algos/i2c-algo-bit.ko',
  'drivers/usb/serial/usbserial.ko',
  'fs/fat/fat.ko',
];
/** Per case: far above a real parse (~1 ms), far below a hang. */
const MAX_CASE_MS = 1000;

let seeds: Uint8Array[] = [];
let slowest = 0;
let cases = 0;

beforeAll(async () => {
  seeds = await Promise.all(
    SEEDS.map(async (rel) => new Uint8Array(await readFile(path.join(KERNEL_DIR, rel)))),
  );
  // The same real code, big-endian: the reader's other byte order on toolchain output.
  const first = seeds[0];
  if (first !== undefined) seeds.push(toBigEndian(first));
});

afterAll(() => {
  // What ran, for docs/safety.md.
  process.stderr.write(`fuzz-ko: ${cases} cases, slowest ${slowest.toFixed(1)} ms\n`);
});

/** readKernelModule returns or throws ElfFormatError, in bounded time. */
function readsOrRefuses(bytes: Uint8Array): boolean {
  cases++;
  const t = performance.now();
  try {
    readKernelModule(bytes);
  } catch (err) {
    if (!(err instanceof ElfFormatError)) throw err;
    expect(err.message).not.toContain('\n');
  } finally {
    const ms = performance.now() - t;
    slowest = Math.max(slowest, ms);
    expect(ms).toBeLessThan(MAX_CASE_MS);
  }
  return true;
}

function seed(i: number): Uint8Array {
  const s = seeds[i % seeds.length];
  if (s === undefined) throw new Error('no seed modules');
  return s;
}

/** Where the section header table is (ELF64 or ELF32, either byte order). */
function sectionTable(b: Uint8Array): { shoff: number; shentsize: number; shnum: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = b[5] === 1;
  if (b[4] === 2) {
    return {
      shoff: Number(v.getBigUint64(40, le)),
      shentsize: v.getUint16(58, le),
      shnum: v.getUint16(60, le),
    };
  }
  return { shoff: v.getUint32(32, le), shentsize: v.getUint16(46, le), shnum: v.getUint16(48, le) };
}

describe('readKernelModule on hostile bytes', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), readsOrRefuses), { numRuns: 3000 });
  });

  it('random ELF headers and tables behind a valid magic', () => {
    const header = fc
      .tuple(
        fc.constantFrom(1, 2), // class
        fc.constantFrom(1, 2), // data
        fc.uint8Array({ minLength: 56, maxLength: 56 }),
        fc.uint8Array({ maxLength: 2048 }),
      )
      .map(([cls, data, rest, tail]) => {
        const b = new Uint8Array(8 + rest.length + tail.length);
        b.set([0x7f, 0x45, 0x4c, 0x46, cls, data, 1, 0]);
        b.set(rest, 8);
        b.set(tail, 8 + rest.length);
        // e_type ET_REL more often than not, so parsing goes past the type check.
        if (b[9] !== undefined && b[9] % 4 !== 0) {
          b[16] = data === 1 ? 1 : 0;
          b[17] = data === 1 ? 0 : 1;
        }
        return b;
      });
    fc.assert(fc.property(header, readsOrRefuses), { numRuns: 3000 });
  });

  it('real modules with random bytes overwritten, mostly in the headers and section table', () => {
    const edit = fc.tuple(fc.nat(), fc.boolean(), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 12 }), (which, edits) => {
        const copy = seed(which).slice();
        const { shoff, shentsize, shnum } = sectionTable(copy);
        const tableBytes = Math.max(1, shentsize * shnum);
        for (const [at, inTable, value] of edits) {
          const pos =
            inTable && shoff + tableBytes <= copy.length ? shoff + (at % tableBytes) : at % copy.length;
          copy[pos] = value;
        }
        return readsOrRefuses(copy);
      }),
      { numRuns: 3000 },
    );
  });

  it('section header fields set to extreme values', () => {
    // ELF64 field offsets in a section header: name, type, flags, addr, offset, size, link, info, align, entsize.
    const fields64: readonly [number, 4 | 8][] = [
      [0, 4],
      [4, 4],
      [24, 8],
      [32, 8],
      [40, 4],
      [44, 4],
      [56, 8],
    ];
    const extremes = (len: number) => [
      0,
      1,
      2,
      0x7fffffff,
      0xffffffff,
      len - 1,
      len,
      len + 1,
      2 ** 53,
      2 ** 64 - 1,
    ];
    fc.assert(
      fc.property(
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.option(fc.nat(), { nil: undefined }),
        (which, sec, field, pick, random) => {
          const copy = seed(which).slice();
          if (copy[4] !== 2) return true; // the ELF64 seeds
          const { shoff, shentsize, shnum } = sectionTable(copy);
          const [off, size] = fields64[field % fields64.length] ?? [0, 4];
          const values = extremes(copy.length);
          const value = random ?? values[pick % values.length] ?? 0;
          const v = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
          const at = shoff + (sec % shnum) * shentsize + off;
          const le = copy[5] === 1;
          if (size === 4) v.setUint32(at, value % 2 ** 32, le);
          else v.setBigUint64(at, BigInt.asUintN(64, BigInt(Math.floor(value))), le);
          return readsOrRefuses(copy);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('truncated, extended and spliced real modules', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.nat(),
        fc.uint8Array({ maxLength: 64 }),
        fc.nat(),
        (which, cut, junk, splice) => {
          const s = seed(which);
          const at = cut % (s.length + 1);
          readsOrRefuses(s.subarray(0, at));
          // Bytes appended or inserted in the middle shift everything after them.
          const inserted = new Uint8Array(s.length + junk.length);
          const where = splice % (s.length + 1);
          inserted.set(s.subarray(0, where));
          inserted.set(junk, where);
          inserted.set(s.subarray(where), where + junk.length);
          return readsOrRefuses(inserted);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('forged signature trailers', () => {
    const MAGIC = new TextEncoder().encode('~Module signature appended~\n');
    fc.assert(
      fc.property(
        fc.nat(),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 256 }),
        (which, info, body) => {
          const s = seed(which);
          // struct module_signature (12 bytes, sig_len big-endian at the end) then the magic.
          const out = new Uint8Array(s.length + body.length + info.length + MAGIC.length);
          out.set(s);
          out.set(body, s.length);
          out.set(info, s.length + body.length);
          out.set(MAGIC, s.length + body.length + info.length);
          return readsOrRefuses(out);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('the module file reader on corrupt compressed data', () => {
  let dir: string;
  let compressed: { kind: string; bytes: Uint8Array }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-fuzz-ko-'));
    const plain = seed(0);
    const viaTool = (tool: string, args: string[]) =>
      new Uint8Array(execFileSync(tool, args, { input: plain, maxBuffer: 64 << 20 }));
    compressed = [
      { kind: 'gzip', bytes: new Uint8Array(gzipSync(plain)) },
      { kind: 'xz', bytes: viaTool('xz', ['-c', '--check=crc32']) },
      { kind: 'zstd', bytes: viaTool('zstd', ['-c', '-q']) },
    ];
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the intact compressed forms like the plain module', async () => {
    const plain = readKernelModule(seed(0));
    for (const c of compressed) {
      const file = path.join(dir, `intact.ko.${c.kind}`);
      await writeFile(file, c.bytes);
      expect((await readKernelModuleFile(file)).modinfo).toEqual(plain.modinfo);
    }
  });

  it('truncated or corrupted gzip, xz and zstd data: InputError naming the file, nothing else', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.nat(),
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        async (which, cut, edits) => {
          const c = compressed[which % compressed.length];
          if (c === undefined) return true;
          const bytes = c.bytes.slice(0, Math.max(6, cut % (c.bytes.length + 1)));
          // Keep the magic (the first 6 bytes) so the decompressor, not the sniffer, meets the damage.
          for (const [at, v] of edits) if (bytes.length > 6) bytes[6 + (at % (bytes.length - 6))] = v;
          const file = path.join(dir, `case-${n++}.ko`);
          await writeFile(file, bytes);
          const t = performance.now();
          try {
            await readKernelModuleFile(file);
          } catch (err) {
            if (!(err instanceof InputError)) throw err;
            expect(err.file).toBe(file);
          }
          expect(performance.now() - t).toBeLessThan(5 * MAX_CASE_MS);
          await rm(file);
          return true;
        },
      ),
      { numRuns: 400 },
    );
    cases += n;
  });
});

describe('the CLI on a corrupt module', () => {
  it('abi compat: exit 2 and one line naming the file for every corrupt module, never a crash', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-fuzz-cli-'));
    try {
      await mkdir(path.join(dir, 'lib/modules'), { recursive: true });
      let n = 0;
      let refused = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.nat(),
          fc.oneof(
            fc.nat().map((cut) => ({ cut, edits: [] as [number, number][] })),
            fc
              .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 40 })
              .map((edits) => ({
                cut: undefined,
                edits,
              })),
          ),
          async (which, damage) => {
            const s = seed(which);
            const bytes = damage.cut === undefined ? s.slice() : s.slice(0, damage.cut % s.length);
            const { shoff } = sectionTable(s);
            // Edits land in the section table, where they hurt.
            for (const [at, v] of damage.edits)
              bytes[Math.min(bytes.length - 1, shoff + (at % Math.max(1, s.length - shoff)))] = v;
            const file = path.join(dir, `m${n++}.ko`);
            await writeFile(file, bytes);
            const r = await runCli(
              [
                'abi',
                'compat',
                '--symvers',
                path.join('/usr/src', `linux-headers-${KVER}`, 'Module.symvers'),
                file,
              ],
              { root: dir },
            );
            cases++;
            expect([0, 1, 2]).toContain(r.exitCode);
            if (r.exitCode === 2) {
              refused++;
              expect(r.stdout).toBe('');
              expect(r.stderr).toMatch(new RegExp(`^dkms-abi: ${file.replaceAll('.', '\\.')}: [^\n]+\n$`));
            }
            expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
            return true;
          },
        ),
        { numRuns: 30 },
      );
      expect(refused).toBeGreaterThan(10);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('install: exit 2, one line naming the file, no stack trace', async () => {
    // install reads the module dkms built, so a corrupt build output reaches the reader too.
    const sb = await makeSandboxRoot({ kernels: [KVER] });
    await copyExampleSource(sb.root, 'hello-abi');
    expect((await runCli(['add', 'hello-abi/1.0'], { root: sb.root })).exitCode).toBe(0);
    const moduleDir = sb.host(`var/lib/dkms/hello-abi/1.0/${KVER}/x86_64/module`);
    await mkdir(moduleDir, { recursive: true });
    const corrupt = seed(0).slice(0, 300); // a real module cut short: the section table is gone
    await writeFile(path.join(moduleDir, 'hello_abi.ko'), corrupt);
    const r = await runCli(['install', 'hello-abi/1.0', '-k', KVER], { root: sb.root });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `dkms-abi: ${path.join(moduleDir, 'hello_abi.ko')}: section header table outside the file\n`,
    );
    // The kernel may have been registered first (its own transaction); no module went in.
    const trees = (await readdir(sb.host('lib/modules'))).filter((n) => n.startsWith('kernel-abi-'));
    for (const t of trees) expect(await readdir(sb.host(`lib/modules/${t}`))).toEqual([]);
  });
});
