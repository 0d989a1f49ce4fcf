// What package-install did to a root, kept at <state>/packages/<name>.json so package-remove
// undoes exactly that: the reference it archived, the kernels it registered, the directories
// it created, the module it put into which tree. Paths are inside the root ("/lib/modules/…").
import { parseAbiSpec, type AbiId } from './abi-id.js';
import { isPackageName } from './deb-names.js';
import { formatProblem, isListOf, missingString, parseJsonObject } from './json-record.js';
import { isSafeRelative } from './layout.js';

export const RECORD_FORMAT = 1;

export interface PackageRecord {
  readonly format: number;
  readonly package: string;
  readonly module: string;
  readonly version: string;
  readonly arch: string;
  readonly builtFor: string;
  /** The payload directory the modules were installed from. */
  readonly payload: string;
  /** The tree on this machine (may differ in abiver from the package's name). */
  readonly abi: AbiId;
  /** Module files relative to the tree. */
  readonly files: readonly string[];
  /** The reference archived for this package (absent when it joined an existing one). */
  readonly archivedReference: { readonly path: string; readonly sha256: string } | null;
  /** Kernels whose extra/ link this package created. */
  readonly registeredKernels: readonly string[];
  /** The shared tree did not exist before. */
  readonly createdTree: boolean;
  /** Directories the install created, parents first (removed when empty again). */
  readonly createdDirs: readonly string[];
}

export function serializeRecord(r: PackageRecord): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

function innerPath(p: unknown): p is string {
  return typeof p === 'string' && p.startsWith('/') && isSafeRelative(p.slice(1));
}

export function parseRecord(text: string): PackageRecord | string {
  const o = parseJsonObject(text);
  if (typeof o === 'string') return o;
  const bad =
    formatProblem(o, RECORD_FORMAT) ?? missingString(o, ['package', 'module', 'version', 'arch', 'builtFor']);
  if (bad !== undefined) return bad;
  if (!isPackageName(o['package'] as string)) return '"package" is not a package name';
  if (!innerPath(o['payload'])) return '"payload" must be a path inside the root';
  const abiObj = o['abi'] as Record<string, unknown> | null | undefined;
  const abi =
    typeof abiObj?.['flavour'] === 'string' && typeof abiObj['abiver'] === 'string'
      ? parseAbiSpec(`${abiObj['flavour']}-${abiObj['abiver']}`)
      : undefined;
  if (abi === undefined) return '"abi" is not an ABI';
  const files = o['files'];
  if (!isListOf(files, isSafeRelative)) return '"files" must list paths inside the tree';
  const ref = o['archivedReference'];
  let archivedReference: PackageRecord['archivedReference'] = null;
  if (ref !== null) {
    const r = ref as Record<string, unknown> | undefined;
    if (!innerPath(r?.['path']) || typeof r['sha256'] !== 'string') return '"archivedReference" is malformed';
    archivedReference = { path: r['path'], sha256: r['sha256'] };
  }
  const kernels = o['registeredKernels'];
  if (!isListOf(kernels, (k) => isSafeRelative(k) && !k.includes('/')))
    return '"registeredKernels" must list kernel releases';
  const dirs = o['createdDirs'];
  if (!Array.isArray(dirs) || !dirs.every(innerPath)) return '"createdDirs" must list paths inside the root';
  if (typeof o['createdTree'] !== 'boolean') return '"createdTree" must be true or false';
  return {
    format: RECORD_FORMAT,
    package: o['package'] as string,
    module: o['module'] as string,
    version: o['version'] as string,
    arch: o['arch'] as string,
    builtFor: o['builtFor'] as string,
    payload: o['payload'],
    abi,
    files: files,
    archivedReference,
    registeredKernels: kernels,
    createdTree: o['createdTree'],
    createdDirs: dirs,
  };
}
