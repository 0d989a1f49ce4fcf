// Every symlink in a root whose target does not exist, resolving absolute targets inside
// the root (chroot semantics) — except host paths dkms itself writes (its `source` links).
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import path from 'node:path';

export async function danglingLinks(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const full = path.join(dir, name);
      const st = await lstat(full);
      if (st.isDirectory()) await walk(full);
      else if (st.isSymbolicLink()) {
        const target = await readlink(full);
        const resolved = !target.startsWith('/')
          ? path.resolve(dir, target)
          : target.startsWith(root + '/')
            ? target
            : path.join(root, target);
        if ((await stat(resolved).catch(() => undefined)) === undefined)
          out.push(`${path.relative(root, full)} -> ${target}`);
      }
    }
  }
  await walk(root);
  return out.sort();
}
