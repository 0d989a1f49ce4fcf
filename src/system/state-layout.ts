// The state directory's layout version (<state>/layout-version): checked before any command
// reads the state, written by the first change made under the lock. A state directory
// without it predates versions and has layout 1, the current one.
import { readdirSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError, InputError } from '../core/errors.js';
import { LAYOUT_VERSION_FILE, parseLayoutVersion, serializeLayoutVersion } from '../core/format-version.js';
import type { Operation } from '../core/plan.js';
import type { Paths } from './paths.js';
import { isInsideRoot, realExistingAncestor, realRootOf } from './rootfs.js';

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

/**
 * The state directory is confined like the trees: refuses (exit 3, one line naming the path)
 * when it, a directory on the way to it, or anything it holds is a symlink leading out of the
 * root — before anything reads or writes there (the lock, the journal, the verdict cache).
 * dkms-abi writes no symlink there; one leading elsewhere inside the root is left alone.
 */
export function checkStateConfined(paths: Paths): void {
  const realRoot = realRootOf(paths.root);
  const outside = (p: string): string | undefined => {
    const real = realExistingAncestor(p);
    return isInsideRoot(realRoot, real) ? undefined : real;
  };
  // The way to it, one component at a time: the message names the link that leads out.
  const rel = path.relative(paths.root, paths.stateDir).split(path.sep);
  for (let i = 1; i <= rel.length; i++) {
    const p = path.join(paths.root, ...rel.slice(0, i));
    const real = outside(p);
    if (real !== undefined) refuse(paths, p, real);
  }
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // not there (yet), or unreadable: nothing in it can be written through
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isSymbolicLink()) {
        // A dangling link is judged by where it points.
        let target: string;
        try {
          target = path.resolve(dir, readlinkSync(p));
        } catch {
          continue;
        }
        const real = outside(target);
        if (real !== undefined) refuse(paths, p, real);
      }
    }
  };
  walk(paths.stateDir);
}

function refuse(paths: Paths, p: string, real: string): never {
  throw new EnvironmentError(
    `refusing to use the state directory: ${p} leads outside the root ${paths.root} (to ${real})`,
  );
}
