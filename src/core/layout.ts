// Where things live inside a shared ABI tree, as pure path arithmetic.
//   <tree>/dkms/<location>/<dest-name>.ko            the installed modules (depmod sees these)
//   <tree>/.dkms-abi/<module>/<version>/manifest.json what dkms-abi installed, for whom it was built
//   <tree>/.dkms-abi/<module>/<version>/Module.symvers the module's own exports, merged for later builds
//   <tree>/.dkms-abi/<module>/<version>/headers.sha256 the kernel headers the build read, hashed

import { isListOf, parseJsonObject } from './json-record.js';

export const TREE_META_DIR = '.dkms-abi';
export const MANIFEST_FILE = 'manifest.json';
export const SAVED_SYMVERS_FILE = 'Module.symvers';
/** The kernel headers the build read, hashed (src/core/header-record.ts). */
export const HEADERS_RECORD_FILE = 'headers.sha256';

/**
 * DKMS's DEST_MODULE_LOCATION starts with /kernel, /updates or /extra (dkms requires it);
 * inside the shared tree only the part below that matters: "/kernel/drivers/misc" → "drivers/misc".
 */
export function treeLocation(destModuleLocation: string): string {
  const parts = destModuleLocation.split('/').filter((p) => p !== '' && p !== '.');
  const [first, second] = parts;
  if (first === 'kernel' || first === 'extra') parts.shift();
  else if (first === 'updates') parts.splice(0, second === 'dkms' ? 2 : 1);
  return parts.join('/');
}

/** Relative path of an installed module inside its tree. */
export function treeModulePath(destModuleLocation: string, destName: string, suffix: string): string {
  const loc = treeLocation(destModuleLocation);
  return ['dkms', ...(loc === '' ? [] : [loc]), `${destName}${suffix}`].join('/');
}

export function treeMetaDir(module: string, version: string): string {
  return `${TREE_META_DIR}/${module}/${version}`;
}

export interface TreeManifest {
  readonly module: string;
  readonly version: string;
  readonly arch: string;
  /** The kernel the binaries were built for. */
  readonly builtFor: string;
  /** Module files relative to the tree. */
  readonly files: readonly string[];
  /**
   * The modules (kernel names) of this build that the loader of the kernel it was built for
   * refuses, with why: installed all the same, as stock dkms installs them. Absent when all load.
   */
  readonly unloadable?: Readonly<Record<string, string>>;
}

export function serializeManifest(m: TreeManifest): string {
  // Written only when some module will not load: other manifests stay as they always were.
  const { unloadable, ...rest } = m;
  const out = unloadable !== undefined && Object.keys(unloadable).length > 0 ? { ...rest, unloadable } : rest;
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Validates a manifest read from disk; returns a problem string when it is not one. */
export function parseManifest(text: string): TreeManifest | string {
  const o = parseJsonObject(text);
  if (typeof o === 'string') return o;
  for (const k of ['module', 'version', 'arch', 'builtFor'] as const) {
    if (typeof o[k] !== 'string' || o[k] === '') return `missing "${k}"`;
    // Each names a directory somewhere (tree, DKMS tree, lib/modules): one component only.
    if (!isSafeComponent(o[k])) return `"${k}" is not a single path component`;
  }
  if (!isListOf(o['files'], isSafeRelative)) return '"files" must list paths inside the tree';
  const unloadable = o['unloadable'];
  if (unloadable !== undefined && !isStringRecord(unloadable))
    return '"unloadable" must map module names to reasons';
  return {
    module: o['module'] as string,
    version: o['version'] as string,
    arch: o['arch'] as string,
    builtFor: o['builtFor'] as string,
    // dkms.conf may list one BUILT_MODULE_NAME twice: one file, listed once (older
    // dkms-abi wrote it twice, and removing it twice failed).
    files: [...new Set(o['files'])],
    ...(unloadable !== undefined && Object.keys(unloadable).length > 0 ? { unloadable } : {}),
  };
}

function isStringRecord(v: unknown): v is Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  return Object.values(v as Record<string, unknown>).every((x) => typeof x === 'string');
}

/** A relative path that stays inside its directory: no "..", no absolute, no NUL. */
export function isSafeRelative(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\0') || p.includes('\n')) return false;
  return p.split('/').every((c) => c !== '..' && c !== '.' && c !== '');
}

/** One path component: not empty, not . or .., no slash, NUL or newline, at most 255 bytes. */
export function isSafeComponent(c: string): boolean {
  return c !== '' && c !== '.' && c !== '..' && !/[/\0\n]/.test(c) && Buffer.byteLength(c, 'utf8') <= 255;
}
