// A Module.symvers for a kernel installed without headers, read from what its linux-image
// package installed: the exports of vmlinux (from /boot/vmlinuz-K) and of its in-tree
// modules (/lib/modules/K/kernel), with the CRCs the loader will check. Debian ships
// Module.symvers only in linux-headers (and /boot/System.map is a stub), so without this a
// same-ABI kernel installed without headers could not be identified or judged: the case
// dkms-abi exists for. Kept in the state directory with the stamp of the files it came from.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ElfFormatError } from '../core/elf.js';
import { EnvironmentError, InputError } from '../core/errors.js';
import { withoutModuleSuffix } from '../core/ko-name.js';
import { serializeSymvers, symversFromEntries, type SymversEntry } from '../core/symvers.js';
import { bzImagePayload, vmlinuxExports, type ImageCompression } from '../core/vmlinux-exports.js';
import { writeAtomically } from './atomic-write.js';
import { readBoundedFile } from './bounded-read.js';
import { runBytes } from './exec.js';
import { derivedSymversFile } from './kernel-files.js';
import { collectModuleFiles } from './module-files.js';
import type { Paths } from './paths.js';
import { readMembers } from './verdict-service.js';

/** A bzImage is ~10 MiB; anything far larger at that path is not one. */
const MAX_IMAGE_BYTES = 128 * 1024 * 1024;

const DECOMPRESSORS: Readonly<Record<Exclude<ImageCompression, 'gzip' | 'none'>, readonly string[]>> = {
  xz: ['xz', '-d', '-c', '-q'],
  zstd: ['zstd', '-d', '-c', '-q'],
  lzma: ['xz', '--format=lzma', '-d', '-c', '-q'],
  bzip2: ['bzip2', '-d', '-c', '-q'],
  lz4: ['lz4', '-d', '-c', '-q'],
  lzo: ['lzop', '-d', '-c', '-q'],
};

export interface ImageSymvers {
  /** The derived file, inside the root. */
  readonly inner: string;
  readonly host: string;
}

/** The kernel image a derivation reads (inside the root). */
export function kernelImageFile(paths: Paths, kernel: string): string {
  return `${paths.inner.bootDir}/vmlinuz-${kernel}`;
}

/**
 * The derived Module.symvers of a kernel, derived again when its image or module list changed
 * since (a kernel package reinstalled under the same release). Undefined when the kernel has
 * no image in /boot (there is then nothing to read). Writes only the state directory.
 */
export async function ensureImageSymvers(
  paths: Paths,
  kernel: string,
  note: (line: string) => void,
): Promise<ImageSymvers | undefined> {
  const inner = derivedSymversFile(paths, kernel);
  const host = paths.host(inner);
  const stampFile = path.join(path.dirname(host), 'image.stamp');
  const stamp = sourceStamp(paths, kernel);
  if (stamp === undefined) return undefined;
  const recorded = await readFile(stampFile, 'utf8').catch(() => undefined);
  if (recorded === stamp && statSync(host, { throwIfNoEntry: false })?.isFile() === true)
    return { inner, host };
  const text = await deriveImageSymvers(paths, kernel, note);
  await writeAtomically(host, text, paths.root);
  await writeAtomically(stampFile, stamp, paths.root);
  return { inner, host };
}

/** Module.symvers text: vmlinux's exports, then each in-tree module's, as kbuild would list them. */
export async function deriveImageSymvers(
  paths: Paths,
  kernel: string,
  note: (line: string) => void,
): Promise<string> {
  const image = kernelImageFile(paths, kernel);
  const bytes = await readBoundedFile(paths.host(image), image, MAX_IMAGE_BYTES, 'a kernel image').catch(
    (err: NodeJS.ErrnoException) => {
      if (err instanceof InputError) throw err;
      throw new EnvironmentError(`cannot read ${image}: ${err.code ?? String(err)}`);
    },
  );
  const modulesDir = path.join(paths.kernelDir(kernel), 'kernel');
  const files = await collectModuleFiles([modulesDir]).catch(() => [] as string[]);
  note(
    `${kernel}: no Module.symvers (no headers installed); reading the exports of ${image} and of its ${files.length.toString()} modules`,
  );
  const vmlinux = await decompressImage(image, bytes);
  const entries: SymversEntry[] = [];
  for (const e of readOrInputError(image, () => vmlinuxExports(vmlinux))) {
    entries.push({
      crc: e.crc ?? 0,
      symbol: e.symbol,
      module: 'vmlinux',
      exportType: e.exportType,
      namespace: e.namespace,
    });
  }
  for (const m of await readMembers(files)) {
    const module = withoutModuleSuffix(path.relative(modulesDir, m.key));
    for (const e of m.module.exports) {
      entries.push({
        crc: e.crc ?? 0,
        symbol: e.symbol,
        module,
        exportType: e.exportType,
        namespace: e.namespace,
      });
    }
  }
  return serializeSymvers(symversFromEntries(image, entries));
}

/** A malformed image is bad input naming the file, not a bug. */
function readOrInputError<T>(image: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof ElfFormatError) throw new InputError(image, err.message);
    throw err;
  }
}

async function decompressImage(image: string, bytes: Uint8Array): Promise<Uint8Array> {
  const payload = readOrInputError(image, () => bzImagePayload(bytes));
  if (payload.compression === 'none') return payload.data;
  if (payload.compression === 'gzip') return gunzipSync(payload.data);
  const argv = DECOMPRESSORS[payload.compression];
  return (
    await runBytes(argv, { input: payload.data, hint: `install the ${argv[0] ?? ''} tool to read ${image}` })
  ).stdout;
}

/**
 * "size:mtime" of the image and of modules.order: what the derivation read. dpkg gives each
 * file its archive's mtime, so a rebuilt package shows; the inode is left out because it
 * changes when a root is copied, which must not make the derivation look stale.
 */
function sourceStamp(paths: Paths, kernel: string): string | undefined {
  const image = statSync(paths.host(kernelImageFile(paths, kernel)), { throwIfNoEntry: false });
  if (image?.isFile() !== true) return undefined;
  const order = statSync(path.join(paths.kernelDir(kernel), 'modules.order'), { throwIfNoEntry: false });
  const of = (st: typeof image | undefined) =>
    st === undefined ? '-' : `${st.size.toString()}:${st.mtimeMs.toString()}`;
  return `vmlinuz-${kernel}:${of(image)}\nmodules.order:${of(order)}\n`;
}
