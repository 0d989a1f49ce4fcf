// Module files named on the command line (abi compat): files as given, directories walked.
import { readdirSync, realpathSync } from 'node:fs';
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
  const walk = (dir: string): void => {
    const real = realpathSync(dir);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const e of entries) {
      if (e.name === 'build' || e.name === 'source') continue;
      const p = path.join(dir, e.name);
      // Only links need a stat to tell what they lead to.
      const st = e.isSymbolicLink() ? statOrUndefined(p) : e;
      if (st === undefined) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && isModuleFile(e.name)) out.push(p);
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
      walk(arg);
      if (out.length === before)
        throw new InputError(arg, 'no kernel modules (.ko, .ko.gz, .ko.xz, .ko.zst) in this directory');
    } else {
      out.push(arg);
    }
  }
  return out;
}
