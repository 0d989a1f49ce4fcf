// Hashing a kernel's headers for the header-drift check (src/core/header-record.ts): which
// headers a build read (from the include trace in its make.log), and the same files' hashes
// in another kernel's headers.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  KBUILD_FORCED_HEADERS,
  compareHeaders,
  headerFinding,
  kernelHeaderKey,
  mayNeedNormalising,
  normaliseHeader,
  parseHeaderRecord,
  parseIncludeTrace,
  type HeaderComparison,
  type HeaderFinding,
  type HeaderHash,
  type HeaderRoots,
} from '../core/header-record.js';
import { HEADERS_RECORD_FILE, treeMetaDir } from '../core/layout.js';
import { findKernelHeaders } from './kernel-files.js';
import type { Paths } from './paths.js';
import { readBytesOrUndefined, readTextOrUndefined, statOrUndefined } from './quiet-read.js';

/**
 * The build directory and, for split headers (Debian's -amd64 + -common), the source directory
 * its Makefile includes ("include /usr/src/linux-headers-X-common/Makefile"): make reads that
 * path as written (a host path, also for another root), and so does the check.
 */
export async function headerRoots(buildHost: string): Promise<HeaderRoots> {
  const makefile = await readFile(path.join(buildHost, 'Makefile'), 'utf8').catch(() => '');
  const m = /^include\s+(\/\S+)\/Makefile\s*$/m.exec(makefile);
  if (m?.[1] === undefined) return { build: buildHost };
  return { build: buildHost, source: m[1] };
}

/**
 * Hashes already made in this process, by path and release, kept while the file's size, mtime
 * and inode stay the same: a `kernel add` compares every reused module's record, and the
 * modules of one kernel read mostly the same headers (and each is compared more than once).
 */
const hashed = new Map<string, { readonly stamp: string; readonly sha256: string }>();

function hashHeader(roots: HeaderRoots, file: string, release: string): string | undefined {
  for (const root of [roots.build, roots.source]) {
    if (root === undefined) continue;
    const full = path.join(root, file);
    // Synchronous, like the scan (src/system/scan.ts): a comparison stats about a thousand
    // headers per module, nearly all answered from `hashed`.
    const st = statOrUndefined(full);
    if (st === undefined || !st.isFile()) continue;
    const key = `${release}\0${full}`;
    const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    const known = hashed.get(key);
    if (known?.stamp === stamp) return known.sha256;
    const bytes = readBytesOrUndefined(full);
    if (bytes === undefined) continue;
    const normalised = mayNeedNormalising(bytes, release)
      ? Buffer.from(normaliseHeader(bytes.toString('latin1'), release), 'latin1')
      : bytes;
    const sha256 = createHash('sha256').update(normalised).digest('hex');
    hashed.set(key, { stamp, sha256 });
    return sha256;
  }
  return undefined;
}

/** The kernel headers a build read, hashed, from the gcc -H trace in its make.log. */
export async function recordBuildHeaders(
  paths: Paths,
  makeLog: string,
  kernelSourceDir: string,
  release: string,
): Promise<HeaderHash[]> {
  const log = await readFile(makeLog, 'utf8').catch(() => '');
  const roots = await headerRoots(kernelSourceDir);
  // make.log names paths as seen inside the root (dkms.ts logInsideRoot rewrites the host's).
  const inner = {
    build: insideRoot(paths, roots.build),
    ...(roots.source !== undefined ? { source: insideRoot(paths, roots.source) } : {}),
  };
  const files = new Set<string>();
  for (const f of parseIncludeTrace(log)) {
    const key = kernelHeaderKey(f, roots) ?? kernelHeaderKey(f, inner);
    if (key !== undefined) files.add(key);
  }
  if (files.size > 0) for (const f of KBUILD_FORCED_HEADERS) files.add(f);
  const out: HeaderHash[] = [];
  for (const file of files) {
    const sha256 = hashHeader(roots, file, release);
    if (sha256 !== undefined) out.push({ file, sha256 });
  }
  return out;
}

/** A host path under the root as seen inside it (unchanged when outside the root). */
function insideRoot(paths: Paths, host: string): string {
  return paths.root !== '/' && host.startsWith(`${paths.root}/`) ? host.slice(paths.root.length) : host;
}

async function headersRelease(dir: string): Promise<string> {
  const text = await readFile(path.join(dir, 'include/generated/utsrelease.h'), 'utf8').catch(() => '');
  return /UTS_RELEASE\s+"([^"]+)"/.exec(text)?.[1] ?? '';
}

export type HeaderCheck = HeaderComparison | { readonly kind: 'unchecked'; readonly why: string };

/** Recorded hashes against a headers directory (given, or the kernel's installed headers). */
export async function checkHeaders(
  paths: Paths,
  recorded: readonly HeaderHash[] | undefined,
  kernel: string,
  headersDir?: string,
): Promise<HeaderCheck> {
  if (recorded === undefined) return { kind: 'unchecked', why: 'no header record' };
  const dir = headersDir ?? (await findKernelHeaders(paths, kernel))?.host;
  if (dir === undefined) return { kind: 'unchecked', why: 'no headers' };
  const roots = await headerRoots(dir);
  // A directory given without a kernel: its release is what its utsrelease.h says.
  const release = kernel !== '' ? kernel : await headersRelease(dir);
  const current = new Map<string, string | undefined>();
  for (const h of recorded) current.set(h.file, hashHeader(roots, h.file, release));
  return compareHeaders(recorded, current);
}

/** A tree module's header record as saved (undefined when its build recorded none). */
export interface TreeHeaderRecord {
  readonly file: string;
  readonly text: string;
}

export function readTreeHeaderRecord(
  treeDir: string,
  tm: { readonly module: string; readonly version: string },
): TreeHeaderRecord | undefined {
  const file = path.join(treeDir, treeMetaDir(tm.module, tm.version), HEADERS_RECORD_FILE);
  const text = readTextOrUndefined(file, 'utf8');
  return text === undefined ? undefined : { file, text };
}

/**
 * A tree module's recorded headers against a kernel's (or `headersDir`), as a finding;
 * undefined for a build that recorded none (plain dkms, a binary package): nothing to say.
 */
export async function treeModuleHeaders(
  paths: Paths,
  treeDir: string,
  tm: { readonly module: string; readonly version: string },
  kernel: string,
  headersDir?: string,
): Promise<HeaderFinding | undefined> {
  const record = readTreeHeaderRecord(treeDir, tm);
  return record === undefined ? undefined : recordFinding(paths, record, kernel, headersDir);
}

/** A header record against a kernel's headers (or `headersDir`), as a finding. */
export function recordFinding(
  paths: Paths,
  record: TreeHeaderRecord,
  kernel: string,
  headersDir?: string,
): Promise<HeaderFinding> {
  // kernel add asks this of each reused module more than once (is any drifted? then per
  // module), status of each module on every kernel: the same record against the same kernel
  // gets the answer it got.
  const key = `${kernel}\0${headersDir ?? ''}\0${record.text}`;
  let finding = findings.get(key);
  if (finding === undefined) {
    finding = checkHeaders(paths, parseHeaderRecord(record.text, record.file), kernel, headersDir).then(
      headerFinding,
    );
    findings.set(key, finding);
  }
  return finding;
}

/** recordFinding's answers in this process (headers do not change while a command runs). */
const findings = new Map<string, Promise<HeaderFinding>>();
