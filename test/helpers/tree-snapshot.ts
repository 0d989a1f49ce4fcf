// A byte-exact description of a directory tree (types, modes, link targets, content
// hashes), for asserting that a failed or rolled-back change left a root untouched.
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';

export type TreeSnapshot = Record<string, string>;

export async function snapshotTree(
  root: string,
  opts: { ignore?: (rel: string) => boolean } = {},
): Promise<TreeSnapshot> {
  const out: TreeSnapshot = {};
  async function walk(dir: string): Promise<void> {
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (opts.ignore?.(rel) === true) continue;
      const st = await lstat(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out[rel] = `link -> ${await readlink(full)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${mode}`;
        await walk(full);
      } else {
        const hash = createHash('sha256')
          .update(await readFile(full))
          .digest('hex')
          .slice(0, 16);
        out[rel] = `file ${mode} ${st.size} ${hash}`;
      }
    }
  }
  await walk(root);
  return out;
}
