// What a build read from the kernel headers, and whether another kernel's headers say the
// same. Symbol CRCs do not cover a static inline's body, a macro's value or a struct layout
// reached only through inline code: all are compiled into the module. So each build records
// the kernel header files its objects included, with a content hash; before the build is
// reused for another kernel of the ABI, the same files of that kernel are hashed and compared.
//
// Where the list comes from: dkms deletes its build directory (and kbuild's .<obj>.o.cmd
// dependency lists with it) right after make. The compiler's include trace survives: the
// build runs with KCFLAGS=-H, gcc prints every header it opens to stderr (". /path", one dot
// per nesting level) and dkms appends make's stderr to log/make.log, which it keeps.
//
// Release-only files: utsrelease.h, kernel.release, vermagic and CONFIG_BUILD_SALT carry the
// release string, which differs between every two kernels of an ABI. Every file is hashed
// with the release replaced by a placeholder, so a difference in the release alone is no drift.

import { InputError } from './errors.js';

/** The release, as it appears in a header, is replaced by this before hashing. */
export const RELEASE_PLACEHOLDER = '@KERNELRELEASE@';

/**
 * gcc -H does not list the files kbuild forces in with -include (and what they include):
 * include/linux/compiler-version.h, kconfig.h → generated/autoconf.h, compiler_types.h →
 * compiler_attributes.h, compiler-gcc.h (6.1's scripts/Makefile.lib c_flags, gcc builds).
 * Every C object of every module reads them, so every record has them.
 */
export const KBUILD_FORCED_HEADERS: readonly string[] = [
  'include/linux/compiler-version.h',
  'include/linux/kconfig.h',
  'include/generated/autoconf.h',
  'include/linux/compiler_types.h',
  'include/linux/compiler_attributes.h',
  'include/linux/compiler-gcc.h',
];

/** Header files gcc -H reports opening, in order, duplicates removed. */
export function parseIncludeTrace(log: string): string[] {
  const seen = new Set<string>();
  for (const line of log.split('\n')) {
    const m = /^\.+ (\S.*)$/.exec(line.trimEnd());
    if (m?.[1] !== undefined) seen.add(m[1]);
  }
  return [...seen];
}

/** Lexical normalisation of an absolute or relative path ("a/./b/../c" → "a/c"). */
function normalisePath(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
    } else out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

/** The kernel's header directories: the build (objtree) and, where split, the source (srctree). */
export interface HeaderRoots {
  readonly build: string;
  readonly source?: string;
}

/**
 * A header as recorded: its path relative to the build or source directory, or undefined when
 * it is not a kernel header (the module's own sources, the compiler's and libc's headers).
 * Relative paths in the trace are relative to the build directory (make runs there).
 */
export function kernelHeaderKey(file: string, roots: HeaderRoots): string | undefined {
  const abs = normalisePath(file.startsWith('/') ? file : `${roots.build}/${file}`);
  for (const root of [roots.build, roots.source]) {
    if (root === undefined) continue;
    const r = normalisePath(root);
    if (abs.startsWith(`${r}/`)) return abs.slice(r.length + 1);
  }
  return undefined;
}

/** The header text with the release (and what only says which build it was) replaced. */
export function normaliseHeader(text: string, release: string): string {
  let out = release === '' ? text : text.split(release).join(RELEASE_PLACEHOLDER);
  // autoconf.h's banner names the upstream version ("Linux/x86 6.1.170 Kernel Configuration").
  out = out.replace(/^( \* Linux\/\S+ )\S+( Kernel Configuration)$/m, `$1${RELEASE_PLACEHOLDER}$2`);
  return out;
}

/**
 * Whether normaliseHeader could change a file's bytes (read as latin1): only one that names
 * the release or holds a configuration banner. Nearly every header does neither, and hashes as
 * it is, without a text copy.
 */
export function mayNeedNormalising(bytes: Buffer, release: string): boolean {
  return (
    (release !== '' && bytes.includes(release, 0, 'latin1')) ||
    bytes.includes(' Kernel Configuration', 0, 'latin1')
  );
}

export interface HeaderHash {
  /** Relative to the build or source directory, e.g. "include/linux/mm.h". */
  readonly file: string;
  readonly sha256: string;
}

/** The record saved beside Module.symvers: `sha256sum` lines, sorted by file. */
export function formatHeaderRecord(hashes: readonly HeaderHash[]): string {
  const sorted = [...hashes].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return sorted.map((h) => `${h.sha256}  ${h.file}\n`).join('');
}

export function parseHeaderRecord(text: string, file: string): HeaderHash[] {
  const out: HeaderHash[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (m?.[1] === undefined || m[2] === undefined) {
      throw new InputError(file, `not a "<sha256>  <header>" line`, i + 1);
    }
    out.push({ sha256: m[1], file: m[2] });
  }
  return out;
}

export type HeaderComparison =
  | { readonly kind: 'same' }
  /** Files whose content differs, or that the other kernel's headers lack. */
  | { readonly kind: 'differ'; readonly drifted: readonly string[] };

/** Recorded hashes against the other kernel's (undefined: the file is missing there). */
export function compareHeaders(
  recorded: readonly HeaderHash[],
  current: ReadonlyMap<string, string | undefined>,
): HeaderComparison {
  const drifted = recorded.filter((h) => current.get(h.file) !== h.sha256).map((h) => h.file);
  return drifted.length === 0 ? { kind: 'same' } : { kind: 'differ', drifted };
}

/** "include/linux/a.h, include/linux/b.h and 3 more": short enough for a status line. */
export function driftSummary(drifted: readonly string[], shown = 2): string {
  const head = drifted.slice(0, shown).join(', ');
  return drifted.length > shown ? `${head} and ${drifted.length - shown} more` : head;
}

/** How a reused build's headers compare with a kernel's, as status and --json show it. */
export type HeaderState = 'same' | 'differ' | 'unchecked';

export interface HeaderFinding {
  readonly state: HeaderState;
  /** The files that differ (state "differ"), else empty. */
  readonly drifted: readonly string[];
  /** Why nothing was compared (state "unchecked"): "no headers", "no header record". */
  readonly why?: string;
}

export function headerFinding(
  c: HeaderComparison | { readonly kind: 'unchecked'; readonly why: string },
): HeaderFinding {
  switch (c.kind) {
    case 'same':
      return { state: 'same', drifted: [] };
    case 'differ':
      return { state: 'differ', drifted: c.drifted };
    case 'unchecked':
      return { state: 'unchecked', drifted: [], why: c.why };
  }
}

/** The part of a status detail after "from K0": "", "; headers differ: …", "; headers not checked". */
export function headerDetail(f: HeaderFinding | undefined): string {
  if (f === undefined || f.state === 'same') return '';
  if (f.state === 'differ') return `; headers differ: ${driftSummary(f.drifted)}`;
  return '; headers not checked';
}

/**
 * What reuse does with a finding under `[abi] header_drift` and `require_headers`: reuse
 * quietly, reuse and say so, or build for the kernel. A build without a header record (made
 * before records, or from a binary package) is never rebuilt for it: there is nothing to compare.
 */
export function driftAction(
  f: HeaderFinding,
  policy: 'rebuild' | 'warn' | 'ignore',
  requireHeaders: boolean,
): 'reuse' | 'warn' | 'rebuild' {
  if (policy === 'ignore' || f.state === 'same') return 'reuse';
  if (f.state === 'unchecked') return requireHeaders && f.why === 'no headers' ? 'rebuild' : 'reuse';
  return policy === 'warn' ? 'warn' : 'rebuild';
}
