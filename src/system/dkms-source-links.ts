// DKMS's `<dkmstree>/<m>/<v>/source` link, as dkms-abi keeps it: relative
// (`../../../../usr/src/<m>-<v>`). `dkms add` writes it with the host path of
// `--sourcetree`, i.e. of the root: a root moved elsewhere then finds no sources ("not
// added"), and a copy silently builds from the original's. A relative link names the same
// directory wherever the root is, run with --root or used as "/" (chroot, image, boot).
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Plan } from '../core/plan.js';
import type { Paths } from './paths.js';

/**
 * A plan retargeting every absolute `source` link that names this root's source directory
 * of its module — by a host path of this root or of the one it was built in, or (outside
 * "/") by the path inside the root, which dkms run from the host would follow to the host's
 * /usr/src — to the relative link. Links naming anything else are dkms's or a person's: left.
 */
export async function planSourceLinks(paths: Paths): Promise<Plan> {
  const operations: Plan['operations'][number][] = [];
  for (const m of await list(paths.dkmsTree)) {
    for (const v of await list(path.join(paths.dkmsTree, m))) {
      const link = path.join(paths.dkmsTree, m, v, 'source');
      const target = await readlink(link).catch(() => undefined);
      if (target === undefined || !target.startsWith('/')) continue;
      const inner = path.posix.join(paths.inner.sourceTree, `${m}-${v}`);
      const hostPathElsewhere = target !== inner && target.endsWith(inner);
      const innerFromHost = target === inner && paths.root !== '/';
      if (!hostPathElsewhere && !innerFromHost) continue;
      const wanted = path.relative(path.dirname(link), paths.host(inner));
      operations.push({ op: 'symlink', path: link, target: wanted });
    }
  }
  return { description: 'dkms source links relative to the root', operations, depmod: [] };
}

async function list(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}
