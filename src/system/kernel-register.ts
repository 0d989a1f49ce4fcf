// Plans a kernel's registration: its shared tree exists, its extra/ is a relative link to
// it, a new ABI reference is archived, and a pre-existing real extra/ directory (files of
// other packages) is moved into the tree file by file, nothing lost or changed.
import { readFile, readdir, lstat } from 'node:fs/promises';
import path from 'node:path';
import { EnvironmentError } from '../core/errors.js';
import type { Context } from './context.js';
import type { KernelIdentity } from './kernel-identity.js';
import type { PlanBuilder } from './plan-helpers.js';
import { readExtra } from './scan.js';

export interface Registration {
  /** True when anything changes (link created or retargeted, tree created, migration). */
  readonly changed: boolean;
  readonly migrated: readonly string[];
}

export async function planRegisterKernel(
  ctx: Context,
  id: KernelIdentity,
  plan: PlanBuilder,
): Promise<Registration> {
  const { paths } = ctx;
  const tree = paths.abiTree(id.abi.flavour, id.abi.abiver);
  const link = paths.extraLink(id.kernel);
  const wanted = `../${id.treeName}`;
  const migrated: string[] = [];
  let changed = false;

  if (
    id.newReference !== undefined &&
    (await lstat(id.newReference.path).catch(() => undefined)) === undefined
  ) {
    await plan.add({ op: 'write', path: id.newReference.path, data: Buffer.from(id.newReference.text) });
    changed = true;
  }
  if ((await lstat(tree).catch(() => undefined)) === undefined) {
    await plan.ensureDir(tree);
    changed = true;
  }
  const extra = await readExtra(paths, id.kernel);
  switch (extra.kind) {
    case 'abi-link':
      if (extra.target === wanted) break;
      // A declared link decides the identity, so this only happens when a caller
      // re-registers on purpose (a split after a verdict failure): retarget atomically.
      await plan.add({ op: 'symlink', path: link, target: wanted });
      changed = true;
      break;
    case 'absent':
      await plan.add({ op: 'symlink', path: link, target: wanted });
      changed = true;
      break;
    case 'directory':
      for (const rel of await listFiles(link)) {
        const from = path.join(link, rel);
        const to = path.join(tree, rel);
        const existing = await readFile(to).catch(() => undefined);
        if (existing !== undefined) {
          const mine = await readFile(from);
          if (Buffer.compare(existing, mine) !== 0) {
            throw new EnvironmentError(
              `cannot move ${paths.inner.modulesDir}/${id.kernel}/extra/${rel} into ${id.treeName}: a different file of that name is already there`,
              'move one of them aside, then run kernel add again',
            );
          }
          // The same bytes already serve the tree: moving would only duplicate them.
          await plan.add({ op: 'remove', path: from });
        } else {
          await plan.add({ op: 'rename', path: to, from });
        }
        migrated.push(rel);
      }
      await plan.add({ op: 'remove', path: link });
      await plan.add({ op: 'symlink', path: link, target: wanted });
      changed = true;
      break;
    case 'other':
      throw new EnvironmentError(
        `${paths.inner.modulesDir}/${id.kernel}/extra is ${extra.target === undefined ? 'not a directory or link' : `a link to ${extra.target}`}; dkms-abi will not replace it`,
        `remove it, or make it a link to ../${id.treeName}`,
      );
  }
  return { changed, migrated };
}

/** Regular files and links below dir, relative, depth first (directories are recreated by their files). */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(path.join(dir, prefix))).sort()) {
    const rel = prefix === '' ? name : `${prefix}/${name}`;
    const st = await lstat(path.join(dir, rel));
    if (st.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out;
}
