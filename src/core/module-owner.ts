// One module file, one owner. Two DKMS packages may ship a module of the same name (a fork
// and its upstream, a vendor driver and its community build); in a shared tree the second
// install would replace the first one's file, and uninstalling either would delete what the
// other still lists. Conflicts are found here and resolved the way dkms's own install
// resolves them (check_version_sanity): the newer `version:` replaces the older, an equal or
// older one does not.
import { moduleNameOf } from './ko-name.js';
import type { TreeModule } from './snapshot.js';

export interface OwnerConflict {
  /** The tree module that lists the file now. */
  readonly owner: TreeModule;
  /** The owner's file (relative to the tree). */
  readonly theirs: string;
  /** The file of the module being installed with the same kernel module name. */
  readonly ours: string;
}

/**
 * Files of other tree modules that hold a kernel module named like one of `files`: the
 * loader knows a module by name only, so two such files are one module to modprobe.
 */
export function ownerConflicts(
  treeModules: readonly TreeModule[],
  installing: { readonly module: string; readonly arch: string },
  files: readonly string[],
): OwnerConflict[] {
  const byName = new Map(files.map((rel) => [moduleNameOf(rel), rel]));
  const out: OwnerConflict[] = [];
  for (const tm of treeModules) {
    if (tm.module === installing.module || tm.arch !== installing.arch) continue;
    for (const theirs of tm.files) {
      const ours = byName.get(moduleNameOf(theirs));
      if (ours !== undefined) out.push({ owner: tm, theirs, ours });
    }
  }
  return out;
}

/** Files listed by tree modules other than `tm`: never removed with it. */
export function filesOfOthers(
  treeModules: readonly TreeModule[],
  tm: Pick<TreeModule, 'module' | 'version' | 'arch'>,
): Set<string> {
  const out = new Set<string>();
  for (const other of treeModules) {
    if (other.module === tm.module && other.version === tm.version && other.arch === tm.arch) continue;
    for (const f of other.files) out.add(f);
  }
  return out;
}

/**
 * dkms's VER(): every run of digits padded to three, so that versions compare as strings
 * ("2.6.9-1cvs2004" → "002.006.009-001cvs2004").
 */
function dkmsVersionKey(version: string): string {
  return version.replace(/\d+/g, (d) => d.padStart(3, '0'));
}

/**
 * dkms's compare_module_version on two modules' `version:`, as its install uses it: whether
 * `candidate` may replace `installed`. dkms replaces an older one, and one where either
 * lacks a version (it cannot tell); it keeps an equal or newer one.
 */
export function replacesInstalled(installed: string | undefined, candidate: string | undefined): boolean {
  const [a, b] = [installed ?? '', candidate ?? ''];
  if (a === b) return false;
  if (a === '' || b === '') return true;
  // dkms answers "<" (install) for anything not equal and not newer, "1.01" against "1.1" too.
  return !(dkmsVersionKey(a) > dkmsVersionKey(b));
}
