// The state directory's layout version (<state>/layout-version): checked before any command
// reads the state, written by the first change made under the lock. A state directory
// without it predates versions and has layout 1, the current one.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError, InputError } from '../core/errors.js';
import { LAYOUT_VERSION_FILE, parseLayoutVersion, serializeLayoutVersion } from '../core/format-version.js';
import type { Operation } from '../core/plan.js';
import type { Paths } from './paths.js';

export function layoutVersionFile(paths: Paths): string {
  return path.join(paths.stateDir, LAYOUT_VERSION_FILE);
}

/**
 * Refuses a state directory of another layout (a newer dkms-abi wrote it) with one line
 * naming the file and both versions. Returns whether the version is written yet.
 */
export async function checkStateLayout(paths: Paths): Promise<{ written: boolean }> {
  const file = layoutVersionFile(paths);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { written: false };
    throw new EnvironmentError(`cannot read ${file}: ${code ?? String(err)}`);
  }
  const version = parseLayoutVersion(text);
  if (typeof version === 'string') throw new InputError(file, version);
  return { written: true };
}

/** The operation that writes the current layout version; made part of a locked change's plan. */
export function writeLayoutVersion(paths: Paths): Operation {
  return { op: 'write', path: layoutVersionFile(paths), data: Buffer.from(serializeLayoutVersion()) };
}
