// `verify`: what is inconsistent in a root, derived from a Snapshot plus the few facts the
// edge collects beside it (links that do not resolve, pending journals, the files and
// metadata of each shared tree, modules.dep entries that are gone). Each finding says
// whether it is damage (exit 1) or a notice, and, when --repair can fix it safely, how:
// a Fix is data the edge (src/flows/verify-repair.ts) turns into a transaction. Nothing
// here deletes a module file: trees can hold files of other packages.
import { moduleFileStem } from './ko-name.js';
import { abiTreeName, parseAbiTreeName } from './abi-id.js';
import { InputError } from './errors.js';
import { HEADERS_RECORD_FILE, parseManifest, treeMetaDir, type TreeManifest } from './layout.js';
import { driftSummary, type HeaderFinding } from './header-record.js';
import { type KernelEntry, type Snapshot, type TreeModule, treeOf } from './snapshot.js';
import type { Usability } from './status.js';
import { parseSymvers } from './symvers.js';
import { printable } from './printable.js';
import { depmodIndexProblems, type DepmodIndexFacts } from './depmod-index.js';

export type FindingKind =
  | 'journal-interrupted'
  | 'header-drift'
  | 'extra-dangling'
  | 'extra-wrong'
  | 'updates-dangling'
  | 'updates-link-missing'
  | 'updates-shadow'
  | 'mark-dangling'
  | 'module-link-dangling'
  | 'dkms-build-missing'
  | 'dkms-mark-stale'
  | 'dkms-unmarked'
  | 'tree-orphan'
  | 'needs-depmod'
  | 'dkms-build-incomplete'
  | 'manifest-invalid'
  | 'module-file-missing'
  | 'module-unreadable'
  | 'symvers-missing'
  | 'symvers-invalid';

export interface Finding {
  readonly kind: FindingKind;
  /** The path (inside the root) the finding is about. */
  readonly path: string;
  readonly detail: string;
  /** True when the root is inconsistent; false for a notice. */
  readonly damage: boolean;
  /** What --repair does about it; absent when it needs a person or another command. */
  readonly repair?: string;
}

/** A safe repair, as data. Paths are inside the root; kernels name whose modules.dep to redo. */
export type Fix =
  /** Remove a symlink dkms-abi (or dkms) made whose target is gone, if it still has that target. */
  | {
      readonly kind: 'remove-link';
      readonly path: string;
      readonly target: string;
      readonly depmod: readonly string[];
    }
  /** Create a missing (empty) shared tree a kernel's extra/ names. */
  | { readonly kind: 'create-tree'; readonly tree: string; readonly depmod: readonly string[] }
  | {
      readonly kind: 'retarget-link';
      readonly path: string;
      readonly target: string;
      readonly depmod: readonly string[];
    }
  /** Remove a tree no kernel links to and that holds no file at all. */
  | { readonly kind: 'prune-tree'; readonly tree: string }
  | { readonly kind: 'depmod'; readonly kernel: string }
  /** Remove a dkms build directory that holds no built module (a build stopped half-way). */
  | {
      readonly kind: 'remove-incomplete-build';
      readonly module: string;
      readonly version: string;
      readonly kernel: string;
      readonly arch: string;
    }
  /** DKMS's installed mark for a kernel, and our module/ link entry there, if any. */
  | {
      readonly kind: 'unmark';
      readonly module: string;
      readonly version: string;
      readonly kernel: string;
      readonly arch: string;
    }
  /** Mark a tree module installed for a kernel (DKMS bookkeeping and updates/dkms links). */
  | {
      readonly kind: 'link-kernel';
      readonly tree: string;
      readonly module: string;
      readonly version: string;
      readonly arch: string;
      readonly kernel: string;
    }
  /** Rewrite a module's saved Module.symvers from its installed binaries. */
  | {
      readonly kind: 'regenerate-symvers';
      readonly tree: string;
      readonly module: string;
      readonly version: string;
    };

export interface Diagnosis extends Finding {
  readonly fix?: Fix;
}

/** A symlink: its target and whether that resolves (inside the root, chroot semantics). */
export interface LinkFact {
  readonly target: string;
  readonly resolves: boolean;
}

export interface KernelFacts {
  readonly kernel: string;
  /** lib/modules/<kver>/extra when it is a symlink. */
  readonly extra?: LinkFact;
  /** Entries of lib/modules/<kver>/updates/dkms: a link (with its target) or a real file. */
  readonly updates: readonly { readonly name: string; readonly link?: LinkFact }[];
  /** modules.dep entries under extra/ or updates/ whose file is gone. */
  readonly depMissing: readonly string[];
  /** Module names modules.dep lists under extra/ or updates/ ("hello_abi"). */
  readonly depIndexed: readonly string[];
  /** The files of depmod's index, as found (see depmod-index.ts). */
  readonly depmodIndex?: DepmodIndexFacts;
}

export interface TreeMetaFacts {
  readonly module: string;
  readonly version: string;
  /** Text of manifest.json and of the saved Module.symvers; undefined when missing. */
  readonly manifest?: string;
  readonly symvers?: string;
}

export interface TreeFacts {
  /** "kernel-abi-amd64-1". */
  readonly name: string;
  /** Every file or link below the tree outside .dkms-abi/, relative to the tree. */
  readonly files: readonly string[];
  readonly meta: readonly TreeMetaFacts[];
  /** Module files listed by a manifest that exist but do not read as a kernel module. */
  readonly unreadable: readonly { readonly file: string; readonly problem: string }[];
}

/** DKMS bookkeeping links whose target is gone. */
export interface DanglingDkmsLink {
  readonly module: string;
  /** "kernel-<kver>-<arch>" (a mark) or "<version>/<kver>/<arch>/module" (our module/ link). */
  readonly name: string;
  readonly target: string;
}

export interface VerifyFacts {
  readonly snapshot: Snapshot;
  /** Inside-root directories, for the paths findings name. */
  readonly layout: {
    readonly modulesDir: string;
    readonly dkmsTree: string;
    readonly journalDir: string;
  };
  readonly journals: readonly string[];
  readonly kernels: readonly KernelFacts[];
  readonly trees: readonly TreeFacts[];
  readonly danglingDkms: readonly DanglingDkmsLink[];
  /** Files in each built DKMS module/ directory, by "<module>/<version>/<kver>/<arch>". */
  readonly buildFiles: ReadonlyMap<string, readonly string[]>;
  /** The verdict for a tree module on a kernel of its tree; undefined when it could not be checked. */
  readonly usability: (tm: TreeModule, kernel: string) => Usability | undefined;
  /** How a reused build's recorded headers compare on a kernel of its tree (header-record.ts). */
  readonly headers?: (tm: TreeModule, kernel: string) => HeaderFinding | undefined;
}

export function diagnose(facts: VerifyFacts): Diagnosis[] {
  const out: Diagnosis[] = [];
  const ctx = new Context(facts);
  for (const id of facts.journals) {
    out.push({
      kind: 'journal-interrupted',
      path: `${facts.layout.journalDir}/${id}`,
      detail: 'a change was interrupted (killed or crashed) and is neither finished nor rolled back',
      damage: true,
      repair: 'finish or roll it back (every command that takes the lock does this first)',
    });
  }
  for (const k of facts.snapshot.kernels) out.push(...kernelFindings(ctx, k));
  for (const t of facts.trees) out.push(...treeFindings(ctx, t));
  out.push(...dkmsFindings(ctx));
  out.push(...driftFindings(facts));
  return sortFindings(out);
}

/**
 * A build reused on a kernel whose headers differ from the ones it read runs the old inline
 * code there: a notice (the loader accepts it; `kernel add` with header_drift = rebuild would
 * have given the kernel its own build).
 */
function driftFindings(facts: VerifyFacts): Finding[] {
  const out: Finding[] = [];
  const lookup = facts.headers;
  if (lookup === undefined) return out;
  for (const k of facts.snapshot.kernels) {
    if (k.abi === undefined) continue;
    const tree = treeOf(facts.snapshot, k.abi);
    for (const tm of tree?.modules ?? []) {
      const f = lookup(tm, k.kernel);
      if (f?.state !== 'differ') continue;
      out.push({
        kind: 'header-drift',
        path: `${facts.layout.modulesDir}/${abiTreeName(k.abi)}/${treeMetaDir(tm.module, tm.version)}/${HEADERS_RECORD_FILE}`,
        detail: `${tm.module}/${tm.version} built for ${tm.builtFor} is used on ${k.kernel}, whose headers differ: ${driftSummary(f.drifted)}`,
        damage: false,
      });
    }
  }
  return out;
}

/** Lookups shared by the checks. */
class Context {
  readonly kernelFacts: ReadonlyMap<string, KernelFacts>;
  constructor(readonly facts: VerifyFacts) {
    this.kernelFacts = new Map(facts.kernels.map((k) => [k.kernel, k]));
  }

  get modulesDir(): string {
    return this.facts.layout.modulesDir;
  }

  kernelDir(kernel: string): string {
    return `${this.modulesDir}/${kernel}`;
  }

  /** The tree a kernel's extra/ leads to, when it is our link and the tree is there. */
  treeOf(k: KernelEntry): { name: string; modules: readonly TreeModule[] } | undefined {
    if (k.extra !== 'abi-link' || k.abi === undefined) return undefined;
    if (this.kernelFacts.get(k.kernel)?.extra?.resolves !== true) return undefined;
    const abi = k.abi;
    const tree = treeOf(this.facts.snapshot, abi);
    return tree === undefined ? undefined : { name: abiTreeName(abi), modules: tree.modules };
  }

  kernelsOfTree(name: string): KernelEntry[] {
    return this.facts.snapshot.kernels.filter((k) => this.treeOf(k)?.name === name);
  }

  /** DKMS can be told about a tree module: it added that version and holds the build it came from. */
  hasDkmsBuild(tm: TreeModule): boolean {
    const mv = this.facts.snapshot.dkms.find((d) => d.module === tm.module && d.version === tm.version);
    return (
      mv?.added === true &&
      mv.builds.some((b) => b.kernel === tm.builtFor && b.arch === tm.arch && b.kind === 'built')
    );
  }

  /**
   * DKMS added this tree module's version but lost the build it came from (dkms >= 3.1's
   * kernel_preinst or kernel_prerm for the kernel it was built for, a plain `dkms unbuild`),
   * while the tree holds every file and that kernel still uses the tree: --repair puts the
   * build back from the tree's copy (link-kernel on the kernel it was built for).
   */
  restorable(tree: string, tm: TreeModule): boolean {
    const mv = this.facts.snapshot.dkms.find((d) => d.module === tm.module && d.version === tm.version);
    return (
      mv?.added === true &&
      !this.hasDkmsBuild(tm) &&
      this.complete(tree, tm) &&
      this.kernelsOfTree(tree).some((k) => k.kernel === tm.builtFor)
    );
  }

  markedInstalled(module: string, version: string, kernel: string, arch: string): boolean {
    const mv = this.facts.snapshot.dkms.find((d) => d.module === module && d.version === version);
    return mv?.builds.some((b) => b.kernel === kernel && b.arch === arch && b.installed) === true;
  }

  /** Every file of a tree module is there (else it is reported missing, and never linked to). */
  complete(tree: string, tm: TreeModule): boolean {
    const files = this.facts.trees.find((t) => t.name === tree)?.files ?? [];
    return tm.files.every((f) => files.includes(f));
  }

  /** Would --repair mark this tree module installed for the kernel? */
  shouldMark(tree: string, tm: TreeModule, kernel: string): boolean | undefined {
    if (!this.hasDkmsBuild(tm) || !this.complete(tree, tm)) return false;
    if (tm.builtFor === kernel) return true;
    return this.facts.usability(tm, kernel)?.usable;
  }
}

function kernelFindings(ctx: Context, k: KernelEntry): Diagnosis[] {
  const out: Diagnosis[] = [];
  const kf = ctx.kernelFacts.get(k.kernel);
  const dir = ctx.kernelDir(k.kernel);
  const extraPath = `${dir}/extra`;
  if (k.extra === 'abi-link' && k.abi !== undefined && kf?.extra?.resolves === false) {
    const name = abiTreeName(k.abi);
    out.push({
      kind: 'extra-dangling',
      path: extraPath,
      detail: `points at ${kf.extra.target}, but there is no tree ${name}: the kernel's dkms-abi modules are gone`,
      damage: true,
      repair: `create the empty tree ${name} (then \`dkms-abi autoinstall -k ${k.kernel}\` reinstalls its modules)`,
      fix: { kind: 'create-tree', tree: name, depmod: [k.kernel] },
    });
  } else if (k.extra === 'other' && kf?.extra !== undefined) {
    const named = parseAbiTreeName(kf.extra.target);
    const sibling =
      named === undefined ? undefined : ctx.facts.trees.find((t) => t.name === abiTreeName(named));
    out.push({
      kind: 'extra-wrong',
      path: extraPath,
      detail: `is a link to ${kf.extra.target}, not to a tree beside it (../kernel-abi-<flavour>-<abiver>)`,
      damage: true,
      ...(sibling === undefined
        ? {}
        : {
            repair: `point it at ../${sibling.name}`,
            fix: {
              kind: 'retarget-link',
              path: extraPath,
              target: `../${sibling.name}`,
              depmod: [k.kernel],
            },
          }),
    });
  }
  for (const u of kf?.updates ?? []) {
    if (u.link === undefined || u.link.resolves) continue;
    const ours = u.link.target.startsWith('../../extra/');
    out.push({
      kind: 'updates-dangling',
      path: `${dir}/updates/dkms/${u.name}`,
      detail: `links to ${u.link.target}, which does not exist`,
      damage: true,
      ...(ours
        ? {
            repair: 'remove the link',
            fix: {
              kind: 'remove-link',
              path: `${dir}/updates/dkms/${u.name}`,
              target: u.link.target,
              depmod: [k.kernel],
            },
          }
        : {}),
    });
  }
  const incomplete =
    k.modulesDepMtimeMs === undefined || kf?.depmodIndex === undefined
      ? []
      : depmodIndexProblems(kf.depmodIndex);
  const tree = ctx.treeOf(k);
  if (tree === undefined && incomplete.length > 0) out.push(needsDepmod(k.kernel, dir, incomplete));
  if (tree !== undefined) {
    const stale = tree.modules.filter(
      (tm) => k.modulesDepMtimeMs === undefined || tm.newestMtimeMs > k.modulesDepMtimeMs,
    );
    const gone = kf?.depMissing ?? [];
    // A module file modules.dep does not name at all (moved back in with an old mtime, say).
    const indexed = new Set(kf?.depIndexed ?? []);
    const present = new Set(ctx.facts.trees.find((t) => t.name === tree.name)?.files ?? []);
    const unindexed =
      k.modulesDepMtimeMs === undefined
        ? []
        : tree.modules
            .flatMap((tm) => tm.files)
            .filter((f) => present.has(f) && !indexed.has(moduleFileStem(f)));
    if (stale.length > 0 || gone.length > 0 || unindexed.length > 0 || incomplete.length > 0) {
      const why: string[] = [];
      if (k.modulesDepMtimeMs === undefined) why.push('there is no modules.dep');
      else if (stale.length > 0)
        why.push(`newer modules: ${stale.map((tm) => `${tm.module}/${tm.version}`).join(', ')}`);
      if (gone.length > 0)
        why.push(`it lists ${gone.length} file(s) that are gone: ${gone.slice(0, 3).join(', ')}`);
      if (unindexed.length > 0) why.push(`it does not list ${unindexed.slice(0, 3).join(', ')}`);
      out.push(needsDepmod(k.kernel, dir, [...why, ...incomplete]));
    }
  }
  return out;
}

/** modules.dep and the index depmod writes with it must be redone, for these reasons. */
function needsDepmod(kernel: string, dir: string, why: readonly string[]): Diagnosis {
  return {
    kind: 'needs-depmod',
    path: `${dir}/modules.dep`,
    detail: `is out of date (${why.join('; ')})`,
    damage: true,
    repair: 'run depmod',
    fix: { kind: 'depmod', kernel },
  };
}

function treeFindings(ctx: Context, t: TreeFacts): Diagnosis[] {
  const out: Diagnosis[] = [];
  const dir = `${ctx.modulesDir}/${t.name}`;
  if (
    ctx.facts.snapshot.kernels.every(
      (k) => k.extra !== 'abi-link' || k.abi === undefined || abiTreeName(k.abi) !== t.name,
    )
  ) {
    const empty = t.files.length === 0 && t.meta.length === 0;
    out.push({
      kind: 'tree-orphan',
      path: dir,
      detail: empty
        ? 'no kernel links to it and it holds nothing'
        : `no kernel links to it; it holds ${t.meta.length} module(s) (a binary package may install a tree before its kernel)`,
      damage: false,
      ...(empty ? { repair: 'remove the empty tree', fix: { kind: 'prune-tree', tree: t.name } } : {}),
    });
  }
  const present = new Set(t.files);
  for (const m of t.meta) {
    const metaDir = `${dir}/.dkms-abi/${m.module}/${m.version}`;
    if (m.manifest === undefined) {
      out.push({
        kind: 'manifest-invalid',
        path: `${metaDir}/manifest.json`,
        detail: `is missing: which files belong to ${m.module}/${m.version} is unknown (reinstall it)`,
        damage: true,
      });
      continue;
    }
    const manifest = parseManifest(m.manifest);
    if (typeof manifest === 'string') {
      out.push({
        kind: 'manifest-invalid',
        path: `${metaDir}/manifest.json`,
        detail: `cannot be read (${manifest}): which files belong to ${m.module}/${m.version} is unknown (reinstall it)`,
        damage: true,
      });
      continue;
    }
    const missing = manifest.files.filter((f) => !present.has(f));
    for (const f of missing) {
      out.push({
        kind: 'module-file-missing',
        path: `${dir}/${f}`,
        detail: `${m.module}/${m.version} lists it but it is gone (reinstall it: ${reinstallHint(ctx, t.name, manifest)})`,
        damage: true,
      });
    }
    for (const u of t.unreadable) {
      if (!manifest.files.includes(u.file)) continue;
      out.push({
        kind: 'module-unreadable',
        path: `${dir}/${u.file}`,
        detail: `${m.module}/${m.version}'s binary is not a kernel module (${u.problem}); reinstall it: ${reinstallHint(ctx, t.name, manifest)}`,
        damage: true,
      });
    }
    const regenerate =
      missing.length === 0 && !t.unreadable.some((u) => manifest.files.includes(u.file))
        ? {
            repair: 'write it again from the installed binaries',
            fix: { kind: 'regenerate-symvers', tree: t.name, module: m.module, version: m.version } as const,
          }
        : {};
    if (m.symvers === undefined) {
      out.push({
        kind: 'symvers-missing',
        path: `${metaDir}/Module.symvers`,
        detail: `is missing: modules built against ${m.module}'s exports cannot be built`,
        damage: true,
        ...regenerate,
      });
    } else {
      const problem = symversProblem(m.symvers, `${metaDir}/Module.symvers`);
      if (problem !== undefined) {
        out.push({
          kind: 'symvers-invalid',
          path: `${metaDir}/Module.symvers`,
          detail: `cannot be read (${problem})`,
          damage: true,
          ...regenerate,
        });
      }
    }
  }
  return out;
}

function reinstallHint(ctx: Context, tree: string, m: TreeManifest): string {
  const kernel = ctx.kernelsOfTree(tree)[0]?.kernel ?? m.builtFor;
  return `dkms-abi install ${m.module}/${m.version} -k ${kernel}`;
}

function symversProblem(text: string, file: string): string | undefined {
  try {
    parseSymvers(text, file);
    return undefined;
  } catch (err) {
    if (err instanceof InputError)
      return err.line === undefined ? err.problem : `line ${err.line}: ${err.problem}`;
    throw err;
  }
}

function dkmsFindings(ctx: Context): Diagnosis[] {
  const out: Diagnosis[] = [];
  const { facts } = ctx;
  const dkmsTree = facts.layout.dkmsTree;
  for (const l of facts.danglingDkms) {
    const p = `${dkmsTree}/${l.module}/${l.name}`;
    const mark = /^kernel-(.+)-([^-]+)$/.exec(l.name);
    if (mark !== null) {
      out.push({
        kind: 'mark-dangling',
        path: p,
        detail: `DKMS's installed mark points at ${l.target}, which does not exist`,
        damage: true,
        repair: 'remove the mark',
        fix: { kind: 'remove-link', path: p, target: l.target, depmod: [] },
      });
      continue;
    }
    const entry = /^([^/]+)\/([^/]+)\/([^/]+)\/module$/.exec(l.name);
    if (entry?.[1] === undefined || entry[2] === undefined || entry[3] === undefined) continue;
    // A link to a build --repair restores from the tree heals with it (dkms-build-missing).
    if (linksToRestorable(ctx, l.module, entry[1], entry[3], l.target)) continue;
    out.push({
      kind: 'module-link-dangling',
      path: p,
      detail: `points at ${l.target}, a build that is gone`,
      damage: true,
      repair: 'remove the entry and its installed mark',
      fix: { kind: 'unmark', module: l.module, version: entry[1], kernel: entry[2], arch: entry[3] },
    });
  }

  for (const mv of facts.snapshot.dkms) {
    for (const b of mv.incomplete ?? []) {
      out.push({
        kind: 'dkms-build-incomplete',
        path: `${dkmsTree}/${mv.module}/${mv.version}/${b.kernel}/${b.arch}`,
        detail:
          'holds no built module (a build stopped half-way): dkms counts it as not built and refuses to build there again',
        damage: true,
        repair: 'remove it (the next install or autoinstall builds again)',
        fix: { kind: 'remove-incomplete-build', module: mv.module, version: mv.version, ...b },
      });
    }
  }

  for (const k of facts.snapshot.kernels) {
    const tree = ctx.treeOf(k);
    if (tree === undefined) continue;
    const kf = ctx.kernelFacts.get(k.kernel);
    // Marked installed for this kernel, but the kernel's tree does not hold it.
    for (const mv of facts.snapshot.dkms) {
      for (const b of mv.builds) {
        if (b.kernel !== k.kernel || !b.installed) continue;
        const here = tree.modules.find((tm) => tm.module === mv.module && tm.arch === b.arch);
        const mark = `${dkmsTree}/${mv.module}/kernel-${k.kernel}-${b.arch}`;
        if (here?.version === mv.version) {
          // A module with files missing is reported as such; links to them would dangle.
          if (ctx.complete(tree.name, here)) out.push(...updatesLinkFindings(ctx, k, kf, here, tree.name));
          continue;
        }
        // Another version in the tree that --repair will mark instead: that finding covers it.
        if (here !== undefined && ctx.shouldMark(tree.name, here, k.kernel) === true) continue;
        if (installedByPlainDkms(ctx, kf, mv.module, mv.version, b.builtFor, b.arch)) continue;
        out.push({
          kind: 'dkms-mark-stale',
          path: mark,
          detail: `DKMS counts ${mv.module}/${mv.version} as installed for ${k.kernel}, but ${tree.name} does not hold it (stock dkms autoinstall would skip it)`,
          damage: true,
          repair: `remove the mark (then \`dkms-abi autoinstall -k ${k.kernel}\` installs it)`,
          fix: { kind: 'unmark', module: mv.module, version: mv.version, kernel: k.kernel, arch: b.arch },
        });
      }
    }
    // The build a tree module came from is gone from DKMS's tree, the tree still has it.
    for (const tm of tree.modules) {
      if (tm.builtFor !== k.kernel || !ctx.restorable(tree.name, tm)) continue;
      out.push({
        kind: 'dkms-build-missing',
        path: `${dkmsTree}/${tm.module}/${tm.version}/${tm.builtFor}/${tm.arch}/module`,
        detail: `DKMS lost the build of ${tm.module}/${tm.version} that ${tree.name} holds (dkms kernel_preinst or unbuild for ${k.kernel}?): stock dkms counts it as only added on every kernel of the tree, and its autoinstall would build copies into updates/dkms`,
        damage: true,
        repair: `restore the build from ${tree.name} and mark it installed`,
        fix: {
          kind: 'link-kernel',
          tree: tree.name,
          module: tm.module,
          version: tm.version,
          arch: tm.arch,
          kernel: k.kernel,
        },
      });
    }
    // In the kernel's tree, DKMS knows the module, but not as installed here.
    for (const tm of tree.modules) {
      if (!ctx.hasDkmsBuild(tm) || ctx.markedInstalled(tm.module, tm.version, k.kernel, tm.arch)) continue;
      const mark = `${dkmsTree}/${tm.module}/kernel-${k.kernel}-${tm.arch}`;
      const should = ctx.shouldMark(tree.name, tm, k.kernel);
      if (should === false) continue; // the verdict refuses it: status says abi-mismatch
      out.push({
        kind: 'dkms-unmarked',
        path: mark,
        detail:
          should === true
            ? `${tree.name} holds ${tm.module}/${tm.version} and ${k.kernel} can load it, but DKMS does not count it as installed (stock dkms autoinstall would build it again)`
            : `${tree.name} holds ${tm.module}/${tm.version} but DKMS does not count it as installed for ${k.kernel}, and its verdict could not be checked`,
        damage: should === true,
        ...(should === true
          ? {
              repair: 'mark it installed',
              fix: {
                kind: 'link-kernel',
                tree: tree.name,
                module: tm.module,
                version: tm.version,
                arch: tm.arch,
                kernel: k.kernel,
              },
            }
          : {}),
      });
    }
  }
  return out;
}

function linksToRestorable(
  ctx: Context,
  module: string,
  version: string,
  arch: string,
  target: string,
): boolean {
  const m = /^\.\.\/\.\.\/([^/]+)\/([^/]+)\/module$/.exec(target);
  if (m?.[1] === undefined || m[2] !== arch) return false;
  const builtFor = m[1];
  return ctx.facts.snapshot.kernels.some((k) => {
    const tree = ctx.treeOf(k);
    const tm = tree?.modules.find(
      (x) => x.module === module && x.version === version && x.arch === arch && x.builtFor === builtFor,
    );
    return tree !== undefined && tm !== undefined && ctx.restorable(tree.name, tm);
  });
}

/** Installed with plain `dkms install` (a real file where dkms puts it): not dkms-abi's bookkeeping. */
function installedByPlainDkms(
  ctx: Context,
  kf: KernelFacts | undefined,
  module: string,
  version: string,
  builtFor: string,
  arch: string,
): boolean {
  const files = ctx.facts.buildFiles.get(`${module}/${version}/${builtFor}/${arch}`) ?? [];
  return (kf?.updates ?? []).some((u) => u.link === undefined && files.includes(u.name));
}

/** A module marked installed for a kernel has its updates/dkms links into the tree. */
function updatesLinkFindings(
  ctx: Context,
  k: KernelEntry,
  kf: KernelFacts | undefined,
  tm: TreeModule,
  tree: string,
): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (const rel of tm.files) {
    const base = rel.split('/').pop() ?? rel;
    const want = `../../extra/${rel}`;
    const entry = kf?.updates.find((u) => u.name === base);
    if (entry?.link?.target === want) continue;
    const p = `${ctx.kernelDir(k.kernel)}/updates/dkms/${base}`;
    if (entry !== undefined && entry.link === undefined) {
      out.push({
        kind: 'updates-shadow',
        path: p,
        detail: `a real file that depmod ranks above ${tree}'s ${tm.module}/${tm.version}: the kernel loads it instead (remove or move it if it is a stale copy)`,
        damage: true,
      });
      continue;
    }
    if (entry?.link !== undefined && !entry.link.resolves) continue; // reported as dangling
    out.push({
      kind: 'updates-link-missing',
      path: p,
      detail:
        entry?.link === undefined
          ? `missing: stock dkms status warns that ${tm.module}/${tm.version} differs from the installed module`
          : `links to ${entry.link.target} instead of ${want}`,
      damage: true,
      repair: `link it to ${want}`,
      fix: {
        kind: 'link-kernel',
        tree,
        module: tm.module,
        version: tm.version,
        arch: tm.arch,
        kernel: k.kernel,
      },
    });
  }
  return out;
}

const collator = new Intl.Collator('en', { numeric: true });

export function sortFindings<T extends Finding>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => collator.compare(a.path, b.path) || collator.compare(a.kind, b.kind));
}

/** True when any finding is damage (verify's exit 1). */
export function isDamaged(list: readonly Finding[]): boolean {
  return list.some((f) => f.damage);
}

/** The public shape (--json): the fix stays internal. */
export function publicFinding(d: Diagnosis): Finding {
  return {
    kind: d.kind,
    path: d.path,
    detail: d.detail,
    damage: d.damage,
    ...(d.repair === undefined ? {} : { repair: d.repair }),
  };
}

/** "damage extra-dangling /lib/modules/K/extra: … [repair: …]" on one line. */
export function formatFinding(f: Finding): string {
  const repair = f.repair === undefined ? '' : ` [repair: ${printable(f.repair)}]`;
  return `${f.damage ? 'damage' : 'notice'} ${f.kind} ${printable(f.path)}: ${printable(f.detail)}${repair}`;
}

/** A stable key per fix, so a repair round does not try the same fix twice. */
export function fixKey(f: Fix): string {
  return JSON.stringify(f);
}
