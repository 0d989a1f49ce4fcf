import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError, InputError } from '../../src/core/errors.js';
import { readKernelModule } from '../../src/core/ko.js';
import { detectCompression, readKernelModuleFile, readModuleBytes } from '../../src/system/ko-file.js';

const KERNEL = '/var/cache/dkms-abi/images/6.1.0-47-amd64/lib/modules/6.1.0-47-amd64/kernel';
// A small signed module with namespaced GPL exports.
const SAMPLE = `${KERNEL}/drivers/dma/idxd/idxd_bus.ko`;

let dir: string;
let original: Buffer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-ko-file-'));
  original = await readFile(SAMPLE);
  await copyFile(SAMPLE, path.join(dir, 'm.ko'));
  // The same flags kbuild's Makefile.modinst uses, and the tools' defaults.
  execFileSync('gzip', ['-n', '-9', '-k', path.join(dir, 'm.ko')]);
  execFileSync('xz', ['--check=crc32', '--lzma2=dict=1MiB', '-k', path.join(dir, 'm.ko')]);
  execFileSync('zstd', ['-q', '-k', path.join(dir, 'm.ko')]);
  await copyFile(path.join(dir, 'm.ko'), path.join(dir, 'd.ko'));
  execFileSync('xz', ['-k', path.join(dir, 'd.ko')]);
  execFileSync('zstd', ['-q', '--ultra', '-22', '-k', path.join(dir, 'd.ko')]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('module files on disk', () => {
  it.each(['m.ko', 'm.ko.gz', 'm.ko.xz', 'm.ko.zst', 'd.ko.xz', 'd.ko.zst'])(
    'reads %s back byte for byte and parses it',
    async (name) => {
      const file = path.join(dir, name);
      const bytes = await readModuleBytes(file);
      expect(Buffer.compare(Buffer.from(bytes), original)).toBe(0);
      const info = await readKernelModuleFile(file);
      expect(info).toEqual(readKernelModule(original));
      expect(info.modinfo.name).toBe('idxd_bus');
      expect(info.exports.map((e) => e.namespace)).toEqual(['IDXD', 'IDXD', 'IDXD']);
    },
  );

  it.each([
    ['gzip', ['-c', '-1']],
    ['xz', ['-c', '-0']],
    ['zstd', ['-c', '-q']],
  ] as const)(
    'refuses %s data that expands beyond the bound, without decompressing it all',
    async (tool, args) => {
      // A compression bomb in miniature: 64 MiB of an ELF header and zeros, bound 8 MiB.
      const bomb = Buffer.alloc(64 << 20);
      original.copy(bomb, 0, 0, 64);
      const file = path.join(dir, `bomb.ko.${tool}`);
      await writeFile(file, execFileSync(tool, args, { input: bomb, maxBuffer: 64 << 20 }));
      const err = await readModuleBytes(file, 8 << 20).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as InputError).message).toMatch(
        /corrupt (gzip|xz|zstd) data: .*(8388608|buffer|larger|exceed)/i,
      );
      // The same file within a sufficient bound reads back whole.
      expect((await readModuleBytes(file, 65 << 20)).length).toBe(bomb.length);
    },
  );

  it('decides by magic bytes, not by the file name', async () => {
    await copyFile(path.join(dir, 'm.ko.gz'), path.join(dir, 'lies.ko.xz'));
    await copyFile(path.join(dir, 'm.ko.zst'), path.join(dir, 'lies.ko'));
    expect((await readKernelModuleFile(path.join(dir, 'lies.ko.xz'))).modinfo.name).toBe('idxd_bus');
    expect((await readKernelModuleFile(path.join(dir, 'lies.ko'))).modinfo.name).toBe('idxd_bus');
    expect(detectCompression(await readFile(path.join(dir, 'm.ko.xz')))).toBe('xz');
    expect(detectCompression(new Uint8Array([1, 2, 3]))).toBeUndefined();
  });

  async function failure(file: string): Promise<unknown> {
    try {
      await readKernelModuleFile(file);
    } catch (err) {
      return err;
    }
    throw new Error(`${file} was read without error`);
  }

  it('names the file when it is missing, a directory or not a module', async () => {
    const missing = path.join(dir, 'nope.ko');
    const err = await failure(missing);
    expect(err).toBeInstanceOf(InputError);
    expect(err).toMatchObject({ file: missing, problem: 'no such file', exitCode: 2 });
    expect(await failure(dir)).toMatchObject({
      file: dir,
      problem: expect.stringMatching(/directory/) as unknown,
    });
    const text = path.join(dir, 'readme.ko');
    await writeFile(text, 'hello, not a module\n');
    expect(await failure(text)).toMatchObject({
      file: text,
      problem: expect.stringMatching(/not a kernel module/) as unknown,
    });
  });

  it.each([
    ['m.ko.gz', 'gzip'],
    ['m.ko.xz', 'xz'],
    ['m.ko.zst', 'zstd'],
  ])('turns corrupt or truncated %s data into an InputError naming the file', async (name, kind) => {
    const data = await readFile(path.join(dir, name));
    const truncated = path.join(dir, `trunc-${name}`);
    await writeFile(truncated, data.subarray(0, Math.floor(data.length / 2)));
    const err = await failure(truncated);
    expect(err).toBeInstanceOf(InputError);
    expect(err).toMatchObject({
      file: truncated,
      problem: expect.stringContaining(`corrupt ${kind} data`) as unknown,
    });

    const flipped = Buffer.from(data);
    for (let i = 40; i < flipped.length - 40; i += 97) flipped[i] = (flipped[i] ?? 0) ^ 0x5a;
    const corrupt = path.join(dir, `corrupt-${name}`);
    await writeFile(corrupt, flipped);
    expect(await failure(corrupt)).toMatchObject({ file: corrupt, exitCode: 2 });
  });

  it('reports a malformed ELF inside valid compression as an InputError with the reader problem', async () => {
    const broken = Buffer.from(original.subarray(0, 4000));
    const plain = path.join(dir, 'broken.ko');
    await writeFile(plain, broken);
    execFileSync('xz', ['-k', plain]);
    for (const file of [plain, `${plain}.xz`]) {
      const err = await failure(file);
      expect(err).toBeInstanceOf(InputError);
      expect(err).toMatchObject({
        file,
        problem: expect.stringMatching(/section header table outside the file/) as unknown,
      });
    }
    const notElf = path.join(dir, 'text.ko');
    await writeFile(notElf, 'plain text');
    execFileSync('gzip', ['-k', notElf]);
    await rename(`${notElf}.gz`, path.join(dir, 'text.ko.gz'));
    expect(await failure(path.join(dir, 'text.ko.gz'))).toMatchObject({
      problem: 'gzip data does not hold an ELF object',
    });
  });

  it('reports an unreadable file as an environment failure', async () => {
    if (process.getuid?.() === 0) {
      // root reads through any mode bits: use a path the kernel refuses to read instead
      const err = await failure('/proc/self/mem');
      expect(err).toBeInstanceOf(EnvironmentError);
      expect(String(err)).toContain('/proc/self/mem');
      return;
    }
    const locked = path.join(dir, 'locked.ko');
    await copyFile(path.join(dir, 'm.ko'), locked);
    execFileSync('chmod', ['000', locked]);
    expect(await failure(locked)).toBeInstanceOf(EnvironmentError);
  });
});

describe('reading only the sections a verdict needs', () => {
  /** The whole-file answer: the module parsed from all its bytes, or the error that ends in. */
  async function whole(file: string): Promise<unknown> {
    try {
      return readKernelModule(await readFile(file));
    } catch (err) {
      return { error: (err as Error).message };
    }
  }
  async function sparse(file: string): Promise<unknown> {
    try {
      return await readKernelModuleFile(file);
    } catch (err) {
      return { error: (err as InputError).problem };
    }
  }

  it('parses real modules of every size exactly as from the whole file', async () => {
    const files = execFileSync('find', [KERNEL, '-name', '*.ko', '-size', '+48k'], { encoding: 'utf8' })
      .split('\n')
      .filter((f) => f !== '')
      .sort()
      .filter((_f, i) => i % 25 === 0);
    expect(files.length).toBeGreaterThan(40);
    for (const f of [...files, `${KERNEL}/fs/ext4/ext4.ko`, SAMPLE])
      expect(await sparse(f)).toEqual(await whole(f));
  });

  it('gives the same result or error as the whole file when bytes anywhere are damaged', async () => {
    const big = await readFile(`${KERNEL}/fs/ext4/ext4.ko`);
    const file = path.join(dir, 'damaged.ko');
    // Deterministic damage: header fields, the section table at the end, the symbol table, the trailer.
    const spots = [
      0x18,
      0x28,
      0x3c,
      0x3e,
      big.length - 5000,
      big.length - 4000,
      big.length - 30,
      1_000_000,
      1_100_000,
      710_000,
    ];
    for (const at of spots) {
      for (const value of [0x00, 0xff, 0x7f]) {
        const bytes = Buffer.from(big);
        bytes.fill(value, at, at + 8);
        await writeFile(file, bytes);
        const expected = await whole(file);
        const got = await sparse(file);
        expect(got).toEqual(expected);
      }
    }
    // Truncated: the sections past the end are an error, as from the whole file.
    await writeFile(file, big.subarray(0, 900_000));
    expect(await sparse(file)).toEqual(await whole(file));
  });
});
