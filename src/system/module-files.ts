// Module files named on the command line (abi compat): files as given, directories walked.
import { readdirSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError, InputError } from '../core/errors.js';
import { isModuleFile } from '../core/ko-name.js';
import { statOrUndefined } from './quiet-read.js';

/**
 * Module files named by the user: files as they are, directories walked for .ko[.gz|.xz|.zst]
 * (skipping build/ and source/ like depmod, following other links such as extra/ once each).
 * Sorted within each directory; an argument that holds no module is an InputError.
 */
export async function collectModuleFiles(args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const seenDirs = new Set<string>();
  // Synchronous reads inside, like scan.ts: a kernel's tree is ~300 directories and 4,000
  // files, and a thread-pool round trip per directory cost more than the reads themselves.
  // A directory is known by its device and inode: a link back to one already walked (a loop,
  // or extra/ leading into the same tree) is walked once.
  // `top`: an argument as given, joined the way path.join joins; below it, paths are already
  // normal and a name has no '/', so concatenation gives the same path (path.join on each of a
  // kernel's ~5,000 entries was a third of the walk).
  const walk = (dir: string, st: Stats, top: boolean): void => {
    const id = `${st.dev}:${st.ino}`;
    if (seenDirs.has(id)) return;
    seenDirs.add(id);
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const e of entries) {
      if (e.name === 'build' || e.name === 'source') continue;
      const p = top ? path.join(dir, e.name) : `${dir}/${e.name}`;
      if (e.isFile()) {
        if (isModuleFile(e.name)) out.push(p);
        continue;
      }
      if (!e.isDirectory() && !e.isSymbolicLink()) continue;
      // Directories need their inode; links, what they lead to.
      const target = statOrUndefined(p);
      if (target === undefined) continue;
      if (target.isDirectory()) walk(p, target, false);
      else if (target.isFile() && isModuleFile(e.name)) out.push(p);
    }
  };
  for (const arg of args) {
    const st = await stat(arg).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR')
        throw new InputError(arg, 'no such file or directory');
      throw new EnvironmentError(`cannot read ${arg}: ${err.code ?? String(err)}`);
    });
    if (st.isDirectory()) {
      const before = out.length;
      walk(arg, st, true);
      if (out.length === before)
        throw new InputError(arg, 'no kernel modules (.ko, .ko.gz, .ko.xz, .ko.zst) in this directory');
    } else {
      out.push(arg);
    }
  }
  return out;
}
