// What `verify` reads: collect what src/core/verify.ts needs beside the Snapshot (links that
// do not resolve, journals, each tree's files and metadata, modules.dep entries that are
// gone, verdicts) and derive its findings. The repairs are src/flows/verify-repair.ts.
import { lstat, open, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { abiTreeName, parseAbiTreeName } from '../core/abi-id.js';
import { DEPMOD_INDEX_FACT_FILES, type IndexFileFact } from '../core/depmod-index.js';
import { moduleFileStem } from '../core/ko-name.js';
import { MANIFEST_FILE, SAVED_SYMVERS_FILE, TREE_META_DIR, parseManifest } from '../core/layout.js';
import { type Snapshot, type TreeModule, treeModulesOf, treeOf } from '../core/snapshot.js';
import type { HeaderFinding } from '../core/header-record.js';
import { treeModuleHeaders } from './header-files.js';
import type { Usability } from '../core/status.js';
import {
  diagnose,
  type DanglingDkmsLink,
  type Diagnosis,
  type KernelFacts,
  type LinkFact,
  type TreeFacts,
  type VerifyFacts,
} from '../core/verify.js';
import type { Context } from './context.js';
import { readKernelModuleFile } from './ko-file.js';
import type { Paths } from './paths.js';
import { linkTarget } from './plan-helpers.js';
import { resolveInRoot } from './rootfs.js';
import { scanRoot } from './scan.js';
import { pendingJournals } from './txn.js';
import type { UsabilityChecker } from './usability.js';
import { VerdictService } from './verdict-service.js';

/** Reads the root and derives its findings (with fixes). Run it under the root's lock. */
export async function diagnoseRoot(ctx: Context): Promise<Diagnosis[]> {
  const facts = await collectFacts(ctx.paths, new VerdictService(ctx.paths));
  if (ctx.config.headerDrift === 'ignore') return diagnose(facts);
  // Reused builds only (built for another kernel of the tree), where a record exists.
  const findings = new Map<string, HeaderFinding>();
  const key = (tm: TreeModule, kernel: string) => `${tm.module}\0${tm.version}\0${tm.arch}\0${kernel}`;
  for (const k of facts.snapshot.kernels) {
    if (k.abi === undefined) continue;
    const dir = ctx.paths.abiTree(k.abi.flavour, k.abi.abiver);
    for (const tm of treeOf(facts.snapshot, k.abi)?.modules ?? []) {
      if (tm.builtFor === k.kernel) continue;
      const f = await treeModuleHeaders(ctx.paths, dir, tm, k.kernel);
      if (f !== undefined) findings.set(key(tm, k.kernel), f);
    }
  }
  return diagnose({ ...facts, headers: (tm, kernel) => findings.get(key(tm, kernel)) });
}

export async function collectFacts(paths: Paths, checker: UsabilityChecker): Promise<VerifyFacts> {
  const scanned = await scanRoot(paths);
  const kernels: KernelFacts[] = [];
  for (const k of scanned.kernels) kernels.push(await kernelFacts(paths, k.kernel));
  const trees: TreeFacts[] = [];
  for (const name of await listDir(paths.modulesDir)) {
    if (parseAbiTreeName(name) === undefined) continue;
    const dir = path.join(paths.modulesDir, name);
    if ((await lstat(dir).catch(() => undefined))?.isDirectory() !== true) continue;
    trees.push(await treeFacts(dir, name));
  }
  const snapshot = withoutTemporaries(scanned, trees);
  const { dangling, buildFiles } = await dkmsFacts(paths, snapshot);
  const verdicts = await precomputeVerdicts(snapshot, checker);
  return {
    snapshot,
    layout: {
      modulesDir: paths.inner.modulesDir,
      dkmsTree: paths.inner.dkmsTree,
      journalDir: `${paths.inner.stateDir}/journal`,
    },
    journals: await pendingJournals(paths.journalDir),
    kernels,
    trees,
    danglingDkms: dangling,
    buildFiles,
    usability: (tm, kernel) => verdicts.get(verdictKey(tm, kernel)),
  };
}

/**
 * An interrupted transaction leaves set-aside entries (.dkms-abi.<id>.<n>.gone) next to what
 * it changed, even a module's metadata directory, whose manifest still names the module: a
 * tree module counts only when its own .dkms-abi/<module>/<version>/ directory is there.
 */
function withoutTemporaries(s: Snapshot, trees: readonly TreeFacts[]): Snapshot {
  return {
    ...s,
    trees: s.trees.map((t) => {
      const meta = trees.find((f) => f.name === abiTreeName(t.abi))?.meta ?? [];
      return {
        ...t,
        modules: t.modules.filter((m) => meta.some((d) => d.module === m.module && d.version === m.version)),
      };
    }),
  };
}

const isTemporary = (name: string): boolean => name.startsWith('.dkms-abi.');

async function listDir(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

/** Inside-root path of a host path under the root. */
function innerOf(paths: Paths, host: string): string {
  return `/${path.relative(paths.root, host)}`;
}

/** A symlink's target and whether it resolves (chroot semantics; dkms may write host paths). */
async function linkFact(
  paths: Paths,
  host: string,
): Promise<(LinkFact & { isDirectory: boolean }) | undefined> {
  const target = await linkTarget(host);
  if (target === undefined) return undefined;
  let resolved: string;
  try {
    resolved = target.startsWith(`${paths.root}/`)
      ? target
      : await resolveInRoot(paths.root, innerOf(paths, host));
  } catch {
    return { target, resolves: false, isDirectory: false }; // a loop of links
  }
  const st = await stat(resolved).catch(() => undefined);
  return { target, resolves: st !== undefined, isDirectory: st?.isDirectory() === true };
}

async function kernelFacts(paths: Paths, kernel: string): Promise<KernelFacts> {
  const dir = paths.kernelDir(kernel);
  const extra = await linkFact(paths, paths.extraLink(kernel));
  const updatesDir = path.join(dir, 'updates', 'dkms');
  const updates: KernelFacts['updates'][number][] = [];
  for (const name of await listDir(updatesDir)) {
    const link = await linkFact(paths, path.join(updatesDir, name));
    updates.push(
      link === undefined ? { name } : { name, link: { target: link.target, resolves: link.resolves } },
    );
  }
  return {
    kernel,
    // extra/ must lead to a directory: a tree that is a file is as good as none.
    ...(extra === undefined ? {} : { extra: { target: extra.target, resolves: extra.isDirectory } }),
    updates,
    ...(await depEntries(paths, kernel)),
    depmodIndex: await depmodIndexFacts(dir),
  };
}

/** Size, first bytes and last byte of each file of depmod's index that exists. */
async function depmodIndexFacts(kernelDir: string): Promise<Map<string, IndexFileFact>> {
  const facts = new Map<string, IndexFileFact>();
  for (const name of DEPMOD_INDEX_FACT_FILES) {
    // Not following links: depmod writes regular files; anything else is not its output.
    const st = await lstat(path.join(kernelDir, name)).catch(() => undefined);
    if (st?.isFile() !== true) continue;
    const fh = await open(path.join(kernelDir, name), 'r');
    try {
      const head = new Uint8Array(Math.min(8, st.size));
      await fh.read(head, 0, head.length, 0);
      const last = new Uint8Array(1);
      const got = st.size > 0 ? (await fh.read(last, 0, 1, st.size - 1)).bytesRead : 0;
      facts.set(name, { size: st.size, head, endsWithNewline: got === 1 && last[0] === 0x0a });
    } finally {
      await fh.close();
    }
  }
  return facts;
}

/** modules.dep entries for extra/ and updates/ (what dkms-abi changes): names, and those gone. */
async function depEntries(
  paths: Paths,
  kernel: string,
): Promise<{ depMissing: string[]; depIndexed: string[] }> {
  const text = await readFile(path.join(paths.kernelDir(kernel), 'modules.dep'), 'utf8').catch(() => '');
  const kernelInner = `${paths.inner.modulesDir}/${kernel}`;
  const gone: string[] = [];
  const indexed: string[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const entry = line.slice(0, colon);
    const inner = entry.startsWith('/') ? entry : `${kernelInner}/${entry}`;
    if (!inner.startsWith(`${kernelInner}/extra/`) && !inner.startsWith(`${kernelInner}/updates/`)) continue;
    indexed.push(moduleFileStem(entry));
    const host = await resolveInRoot(paths.root, inner).catch(() => undefined);
    if (host === undefined || (await stat(host).catch(() => undefined)) === undefined) gone.push(entry);
  }
  return { depMissing: gone, depIndexed: indexed };
}

async function treeFacts(dir: string, name: string): Promise<TreeFacts> {
  const files: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await listDir(path.join(dir, rel))) {
      const r = rel === '' ? entry : `${rel}/${entry}`;
      if (r === TREE_META_DIR || isTemporary(entry)) continue;
      const st = await lstat(path.join(dir, r)).catch(() => undefined);
      if (st === undefined) continue;
      if (st.isDirectory()) await walk(r);
      else files.push(r);
    }
  };
  await walk('');
  const meta: TreeFacts['meta'][number][] = [];
  const unreadable: TreeFacts['unreadable'][number][] = [];
  const metaDir = path.join(dir, TREE_META_DIR);
  for (const module of await listDir(metaDir)) {
    if (module.startsWith('.')) continue;
    for (const version of await listDir(path.join(metaDir, module))) {
      if (version.startsWith('.')) continue;
      const d = path.join(metaDir, module, version);
      if ((await lstat(d).catch(() => undefined))?.isDirectory() !== true) continue;
      const manifest = await readFile(path.join(d, MANIFEST_FILE), 'utf8').catch(() => undefined);
      const symvers = await readFile(path.join(d, SAVED_SYMVERS_FILE), 'utf8').catch(() => undefined);
      meta.push({
        module,
        version,
        ...(manifest === undefined ? {} : { manifest }),
        ...(symvers === undefined ? {} : { symvers }),
      });
      const parsed = manifest === undefined ? undefined : parseManifest(manifest);
      if (parsed === undefined || typeof parsed === 'string') continue;
      for (const f of parsed.files) {
        if (!files.includes(f)) continue;
        try {
          await readKernelModuleFile(path.join(dir, f));
        } catch (err) {
          unreadable.push({ file: f, problem: problemOf(err) });
        }
      }
    }
  }
  return { name, files, meta, unreadable };
}

function problemOf(err: unknown): string {
  const e = err as { problem?: unknown; message?: unknown };
  return typeof e.problem === 'string' ? e.problem : String(e.message ?? err);
}

/** DKMS's marks and our module/ links that do not resolve, and the files of each build. */
async function dkmsFacts(
  paths: Paths,
  snapshot: Snapshot,
): Promise<{ dangling: DanglingDkmsLink[]; buildFiles: Map<string, string[]> }> {
  const dangling: DanglingDkmsLink[] = [];
  for (const module of await listDir(paths.dkmsTree)) {
    const mdir = path.join(paths.dkmsTree, module);
    if ((await lstat(mdir).catch(() => undefined))?.isDirectory() !== true) continue;
    for (const entry of await listDir(mdir)) {
      const p = path.join(mdir, entry);
      const st = await lstat(p).catch(() => undefined);
      if (entry.startsWith('kernel-') && st?.isSymbolicLink() === true) {
        const l = await linkFact(paths, p);
        if (l !== undefined && !l.resolves) dangling.push({ module, name: entry, target: l.target });
        continue;
      }
      if (st?.isDirectory() !== true || entry === 'original_module') continue;
      for (const kernel of await listDir(p)) {
        for (const arch of await listDir(path.join(p, kernel))) {
          const link = path.join(p, kernel, arch, 'module');
          if ((await lstat(link).catch(() => undefined))?.isSymbolicLink() !== true) continue;
          const l = await linkFact(paths, link);
          if (l !== undefined && !l.resolves)
            dangling.push({ module, name: `${entry}/${kernel}/${arch}/module`, target: l.target });
        }
      }
    }
  }
  const buildFiles = new Map<string, string[]>();
  for (const mv of snapshot.dkms) {
    for (const b of mv.builds) {
      if (b.kind !== 'built') continue;
      const dir = path.join(paths.dkmsTree, mv.module, mv.version, b.kernel, b.arch, 'module');
      buildFiles.set(`${mv.module}/${mv.version}/${b.kernel}/${b.arch}`, await listDir(dir));
    }
  }
  return { dangling, buildFiles };
}

const verdictKey = (tm: TreeModule, kernel: string) => `${tm.module}\0${tm.version}\0${tm.arch}\0${kernel}`;

/** Verdicts for tree modules on the tree's other kernels; a module that cannot be read has none. */
async function precomputeVerdicts(
  snapshot: Snapshot,
  checker: UsabilityChecker,
): Promise<Map<string, Usability>> {
  const out = new Map<string, Usability>();
  for (const k of snapshot.kernels) {
    if (k.abi === undefined) continue;
    const abi = k.abi;
    for (const tm of treeModulesOf(snapshot, abi)) {
      if (tm.builtFor === k.kernel) continue;
      try {
        out.set(verdictKey(tm, k.kernel), await checker.usability(tm, k.kernel));
      } catch {
        // Unreadable binaries are findings of their own.
      }
    }
  }
  await checker.flush();
  return out;
}
