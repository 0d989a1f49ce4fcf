// Reads a kernel module file from disk: plain .ko, or compressed with gzip, xz or zstd
// (what kmod accepts as .ko.gz/.ko.xz/.ko.zst), recognised by magic bytes rather than by
// name. Decompression happens in-process (node:zlib, xz-decompress's wasm, fzstd): no
// external tool, no shell. Problems name the file: InputError for a missing or malformed
// module (exit 2), EnvironmentError when the disk lets us down (exit 3).
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { ElfFormatError, ElfUnloadedError } from '../core/elf.js';
import { EnvironmentError, InputError } from '../core/errors.js';
import { moduleReadRanges, readKernelModule } from '../core/ko.js';
import type { KernelModuleInfo } from '../core/ko.js';

export type ModuleCompression = 'none' | 'gzip' | 'xz' | 'zstd';

/** Far above any real module (the biggest Debian 6.1 .ko is ~20 MiB): a bound for corrupt or hostile input. */
const MAX_MODULE_BYTES = 1 << 30;

const MAGICS: readonly (readonly [ModuleCompression, readonly number[]])[] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['none', [0x7f, 0x45, 0x4c, 0x46]],
];

export function detectCompression(bytes: Uint8Array): ModuleCompression | undefined {
  for (const [kind, magic] of MAGICS) {
    if (bytes.length >= magic.length && magic.every((b, i) => bytes[i] === b)) return kind;
  }
  return undefined;
}

const gunzipAsync = promisify(gunzip);

/** The module's uncompressed bytes; compressed data expanding beyond maxBytes is refused. */
export async function readModuleBytes(file: string, maxBytes = MAX_MODULE_BYTES): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    // Synchronous: a module is read whole and parsed right after, and a command reads up to a
    // kernel's 4,000 of them; the thread-pool round trip (and sixteen buffers in flight) made
    // reading them ~1.6x slower.
    raw = readFileSync(file);
  } catch (err) {
    throw readError(file, err);
  }
  const kind = detectCompression(raw);
  if (kind === undefined)
    throw new InputError(file, 'not a kernel module: neither ELF nor gzip, xz or zstd data');
  if (kind === 'none') return raw;
  let out: Uint8Array;
  try {
    out = await decompressModule(kind, raw, maxBytes);
  } catch (err) {
    throw new InputError(file, `corrupt ${kind} data: ${messageOf(err)}`);
  }
  if (detectCompression(out) !== 'none')
    throw new InputError(file, `${kind} data does not hold an ELF object`);
  return out;
}

/** Read and parse a module file; every failure names the file. */
export async function readKernelModuleFile(file: string): Promise<KernelModuleInfo> {
  const sparse = readUncompressedSections(file);
  if (sparse !== undefined) return sparse;
  const bytes = await readModuleBytes(file);
  try {
    return readKernelModule(bytes);
  } catch (err) {
    if (err instanceof ElfFormatError) throw new InputError(file, err.problem);
    throw err;
  }
}

/** Below this size a module is read whole (into the scratch buffer): one read costs less than the positioned ones. */
const SPARSE_MIN_BYTES = 64 << 10;
/** Read first from the end: the signature, and (as ld -r lays modules out) the section headers and their names. */
const TAIL_BYTES = 16 << 10;
/** Ranges closer than this are read as one (a read costs more than a few pages copied). */
const COALESCE_GAP = 16 << 10;
/** Rounds of "the parser needs more" before reading the whole file instead. */
const MAX_ROUNDS = 16;

/**
 * The file's bytes at their offsets; only the ranges read so far hold them. Reused from
 * module to module (per thread): the parser copies out everything it keeps.
 */
let scratch = Buffer.allocUnsafe(0);

/**
 * An uncompressed module parsed from the sections a verdict needs, read by position (the
 * headers and trailer, then .modinfo, __versions, the symbol table and its strings, the
 * export string and CRC tables) rather than whole: on a kernel's 4,000 modules that is
 * ~10 % of the bytes; a small one is read whole into the same buffer. Undefined when the
 * file is compressed, not a regular file,
 * unreadable or malformed: the whole-file path then reads it and gives the same result or
 * the same error.
 */
function readUncompressedSections(file: string): KernelModuleInfo | undefined {
  let fd: number;
  try {
    // The flag as a number: parsing 'r' is measurable over a kernel's 4,000 modules.
    fd = openSync(file, constants.O_RDONLY);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size < 64 || st.size > MAX_MODULE_BYTES) return undefined;
    const size = st.size;
    if (scratch.length < size)
      scratch = Buffer.allocUnsafe(Math.max(size, Math.min(2 * scratch.length, MAX_MODULE_BYTES)));
    const bytes = scratch.subarray(0, size);
    const read: [number, number][] = [];
    const loaded = (start: number, end: number): boolean => read.some(([s, e]) => s <= start && end <= e);
    const load = (start: number, end: number): boolean => {
      let at = start;
      while (at < end) {
        const n = readSync(fd, bytes, at, end - at, at);
        if (n === 0) return false; // the file shrank under us
        at += n;
      }
      read.push([start, end]);
      return true;
    };
    if (!load(0, 64) || detectCompression(bytes) !== 'none') return undefined;
    if (size < SPARSE_MIN_BYTES) {
      // Small: read whole, into the same buffer (no Buffer per module for the collector).
      return load(64, size) ? readKernelModule(bytes) : undefined;
    }
    if (!load(Math.max(64, size - TAIL_BYTES), size)) return undefined;
    let wanted: (readonly [number, number])[] | undefined;
    for (let round = 0; wanted === undefined && round < MAX_ROUNDS; round++) {
      try {
        wanted = moduleReadRanges(bytes, loaded);
      } catch (err) {
        if (!(err instanceof ElfUnloadedError) || !load(err.start, err.end)) return undefined;
      }
    }
    if (wanted === undefined) return undefined;
    for (const [start, end] of coalesce(wanted.filter(([s, e]) => !loaded(s, e)))) {
      if (!load(start, end)) return undefined;
    }
    for (let round = 0; round < MAX_ROUNDS; round++) {
      try {
        return readKernelModule(bytes, loaded);
      } catch (err) {
        if (!(err instanceof ElfUnloadedError) || !load(err.start, err.end)) return undefined;
      }
    }
    return undefined;
  } catch {
    // A read error or a malformed file: the whole-file path reports it as it always has.
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Sorted, with ranges closer than COALESCE_GAP joined. */
function coalesce(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && s <= last[1] + COALESCE_GAP) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

async function decompressModule(
  kind: Exclude<ModuleCompression, 'none'>,
  raw: Uint8Array,
  maxBytes: number,
): Promise<Uint8Array> {
  switch (kind) {
    case 'gzip':
      return await gunzipAsync(raw, { maxOutputLength: maxBytes }).catch((err: unknown) => {
        if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
          throw new Error(`expands beyond ${String(maxBytes)} bytes`);
        throw err;
      });
    case 'zstd':
      return await unzstd(raw, maxBytes);
    case 'xz':
      return await unxz(raw, maxBytes);
  }
}

async function unxz(raw: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  // Loaded on first use, like fzstd: most modules are not compressed, and every command that
  // reads modules would pay for loading the decoders (xz-decompress is a webpack bundle).
  const xzDecompress = (await import('xz-decompress')).default;
  const reader = new xzDecompress.XzReadableStream(new Blob([raw]).stream()).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      throw new Error(`expands beyond ${String(maxBytes)} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/** Input fed to the zstd decoder per step: a step's output is bounded (4 KiB of blocks). */
const ZSTD_STEP = 4096;

async function unzstd(raw: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  // fzstd's one-shot decompress has no output bound: stream it and stop at the cap, so a
  // small hostile file cannot make us write gigabytes (the window is only touched as
  // output is produced).
  const { Decompress } = await import('fzstd');
  const chunks: Uint8Array[] = [];
  let total = 0;
  const decoder = new Decompress((chunk) => {
    total += chunk.length;
    if (total <= maxBytes) chunks.push(chunk);
  });
  for (let at = 0; ; at += ZSTD_STEP) {
    const end = Math.min(at + ZSTD_STEP, raw.length);
    decoder.push(raw.subarray(at, end), end === raw.length);
    if (total > maxBytes) throw new Error(`expands beyond ${String(maxBytes)} bytes`);
    if (end === raw.length) break;
  }
  return Buffer.concat(chunks, total);
}

function readError(file: string, err: unknown): Error {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new InputError(file, 'no such file');
  if (code === 'EISDIR') return new InputError(file, 'is a directory, not a module');
  return new EnvironmentError(`cannot read ${file}: ${messageOf(err)}`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
