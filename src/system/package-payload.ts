// Reads an installed package's payload (/usr/lib/dkms-abi/packages/<name>/ inside the root):
// metadata.json validated, every module file present with the hash the package recorded,
// the saved Module.symvers and the ABI reference. Nothing is used before it is checked.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError, UsageError } from '../core/errors.js';
import {
  METADATA_FILE,
  PAYLOAD_REFERENCE_FILE,
  PAYLOAD_SYMVERS_FILE,
  parseMetadata,
  type PackageMetadata,
} from '../core/package-metadata.js';
import type { TreeFile } from './tree-plans.js';
import type { Paths } from './paths.js';
import { isInsideRoot, resolveInRoot } from './rootfs.js';
import { readSymversText } from './symvers-file.js';

export interface Payload {
  /** The payload directory as seen inside the root. */
  readonly inner: string;
  readonly host: string;
  readonly meta: PackageMetadata;
  /** Module files: where they go in the tree, where they are now. */
  readonly files: readonly TreeFile[];
  readonly symvers: string;
  readonly reference: string;
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function readPayload(paths: Paths, inner: string): Promise<Payload> {
  if (!inner.startsWith('/'))
    throw new UsageError(`package-install needs the payload's absolute path inside the root, got "${inner}"`);
  const host = await resolveInRoot(paths.root, inner);
  if (!isInsideRoot(paths.root, host)) throw new UsageError(`${inner} leads out of the root`);
  const shown = (name: string) => path.posix.join(inner, name);
  const text = await readFile(path.join(host, METADATA_FILE), 'utf8').catch(() => {
    throw new InputError(shown(METADATA_FILE), 'no such file (is this a dkms-abi package payload?)');
  });
  const meta = parseMetadata(text);
  if (typeof meta === 'string') throw new InputError(shown(METADATA_FILE), meta);
  const files: TreeFile[] = [];
  for (const f of meta.files) {
    const file = path.join(host, f.path);
    const bytes = await readFile(file).catch(() => {
      throw new InputError(shown(f.path), 'no such file');
    });
    if (sha256(bytes) !== f.sha256)
      throw new InputError(
        shown(f.path),
        'differs from the package (sha256 mismatch): reinstall the package',
      );
    files.push({ rel: f.path, host: file });
  }
  const symvers = await readFile(path.join(host, PAYLOAD_SYMVERS_FILE), 'utf8').catch(() => {
    throw new InputError(shown(PAYLOAD_SYMVERS_FILE), 'no such file');
  });
  const reference = await readSymversText(
    path.join(host, PAYLOAD_REFERENCE_FILE),
    shown(PAYLOAD_REFERENCE_FILE),
  );
  if (sha256(reference) !== meta.referenceSha256)
    throw new InputError(shown(PAYLOAD_REFERENCE_FILE), 'differs from the package (sha256 mismatch)');
  return { inner, host, meta, files, symvers, reference };
}
