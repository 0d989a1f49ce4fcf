// What a module package's maintainer scripts ask of dkms-abi, inside a session:
// install — archive the package's ABI reference if this machine has none that fits, register
// every installed kernel of that ABI, then copy the modules into the tree for the kernels
// whose verdict passes, depmod; remove — undo exactly what the install recorded, pruning a
// tree that only the package used. Each step is a transaction that also updates the record,
// so a crash between steps leaves a record that package-remove can still undo.
import { lstat, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { abiTreeName, sameAbi, type AbiId } from '../core/abi-id.js';
import { treeMetaDir } from '../core/layout.js';
import type { Operation } from '../core/plan.js';
import { chooseTargetAbi } from '../core/package-abi.js';
import { parseRecord, RECORD_FORMAT, serializeRecord, type PackageRecord } from '../core/package-record.js';
import type { TreeModule } from '../core/snapshot.js';
import { parseSymvers } from '../core/symvers.js';
import { InputError } from '../core/errors.js';
import type { Context } from '../system/context.js';
import { checkReferences, identifyKernel } from '../system/kernel-identity.js';
import { planRegisterKernel } from '../system/kernel-register.js';
import { planInstall, planLinkKernel, planRemoveFromTree, planUnmark } from '../system/tree-plans.js';
import { kernelsOfTree } from '../system/module-build.js';
import { PlanBuilder } from '../system/plan-helpers.js';
import { readPayload, sha256, type Payload } from '../system/package-payload.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import type { UsabilityChecker } from '../system/usability.js';

export interface RejectedKernel {
  readonly kernel: string;
  readonly reason: string;
}

export type PackageInstallOutcome =
  | {
      readonly kind: 'installed';
      readonly abi: AbiId;
      readonly accepted: readonly string[];
      readonly rejected: readonly RejectedKernel[];
      readonly registered: readonly string[];
      readonly archivedReference: boolean;
    }
  /** Every kernel of the tree refuses the modules: nothing changed. */
  | { readonly kind: 'unusable'; readonly abi: AbiId; readonly rejected: readonly RejectedKernel[] }
  /** Something else occupies the module's place in the tree: nothing changed. */
  | { readonly kind: 'conflict'; readonly abi: AbiId; readonly message: string };

export function recordsDir(ctx: Context): string {
  return path.join(ctx.paths.stateDir, 'packages');
}

export function recordFile(ctx: Context, name: string): string {
  return path.join(recordsDir(ctx), `${name}.json`);
}

export async function readRecord(ctx: Context, name: string): Promise<PackageRecord | undefined> {
  const file = recordFile(ctx, name);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const r = parseRecord(text);
  if (typeof r === 'string') throw new InputError(file, r);
  return r;
}

export async function readAllRecords(ctx: Context): Promise<PackageRecord[]> {
  const out: PackageRecord[] = [];
  for (const n of (await readdir(recordsDir(ctx)).catch(() => [] as string[])).sort()) {
    if (!n.endsWith('.json')) continue;
    const r = await readRecord(ctx, n.slice(0, -'.json'.length));
    if (r !== undefined) out.push(r);
  }
  return out;
}

const inner = (ctx: Context, host: string) => `/${path.relative(ctx.paths.root, host)}`;

function createdDirs(ctx: Context, ops: readonly Operation[]): string[] {
  return ops.filter((o) => o.op === 'mkdir').map((o) => inner(ctx, o.path));
}

async function writeRecord(ctx: Context, plan: PlanBuilder, r: PackageRecord): Promise<void> {
  await plan.add({ op: 'write', path: recordFile(ctx, r.package), data: Buffer.from(serializeRecord(r)) });
}

async function exists(p: string): Promise<boolean> {
  return (await lstat(p).catch(() => undefined)) !== undefined;
}

export async function installPayload(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  payload: Payload,
): Promise<PackageInstallOutcome> {
  const { paths } = ctx;
  const m = payload.meta;
  const old = await readRecord(ctx, m.package);
  if (old !== undefined) {
    // Configured again (dpkg's abort-* paths, a repeated configure): nothing to redo.
    if (await stillInstalled(ctx, old, payload)) return reconfirm(ctx, session, verdicts, payload, old);
    await removeRecorded(ctx, session, old);
  }

  // 1. The tree: where a kernel with the package's Module.symvers would go on this machine.
  const refModel = parseSymvers(payload.reference, `${payload.inner}/abi-reference.symvers`);
  const { checks, used } = await checkReferences(ctx, m.flavour, refModel);
  const target = chooseTargetAbi(m.abiver, checks, used);
  const abi = { flavour: m.flavour, abiver: target.abiver };
  const tree = paths.abiTree(abi.flavour, abi.abiver);

  const conflict = await findConflict(ctx, abi, payload);
  if (conflict !== undefined) return { kind: 'conflict', abi, message: conflict };

  let record: PackageRecord = {
    format: RECORD_FORMAT,
    package: m.package,
    module: m.module,
    version: m.version,
    arch: m.arch,
    builtFor: m.builtFor,
    payload: payload.inner,
    abi,
    files: [],
    archivedReference: null,
    registeredKernels: [],
    createdTree: !(await exists(tree)),
    createdDirs: [],
  };
  const first = new PlanBuilder(paths.root);
  if (target.kind === 'archive') {
    const file = paths.abiReference(abi.flavour, abi.abiver);
    await first.add({ op: 'write', path: file, data: Buffer.from(payload.reference) });
    record = { ...record, archivedReference: { path: inner(ctx, file), sha256: sha256(payload.reference) } };
  }
  await first.ensureDir(tree);
  record = { ...record, createdDirs: createdDirs(ctx, first.operations) };
  await writeRecord(ctx, first, record);
  await session.apply({
    description: `${m.package}: ABI ${abiTreeName(abi)}`,
    operations: first.operations,
    depmod: [],
  });

  // 2. Installed kernels of that ABI that nobody registered yet.
  const registered = await registerKernels(ctx, session, abi, record);
  record = registered.record;

  // 3. Verdicts for every kernel of the tree, then the modules.
  const snap = await scanRoot(paths);
  const kernels = kernelsOfTree(snap, abi);
  const { accepted, rejected } = await judge(verdicts, payload, kernels);
  if (kernels.length > 0 && accepted.length === 0) {
    await removeRecorded(ctx, session, record);
    return { kind: 'unusable', abi, rejected };
  }
  const plan = new PlanBuilder(paths.root);
  await planInstall(
    paths,
    {
      module: m.module,
      version: m.version,
      arch: m.arch,
      builtFor: m.builtFor,
      abi,
      files: payload.files,
      symvers: payload.symvers,
      kernels: accepted,
      previous: undefined,
      // DKMS's marks only mean something when DKMS knows this module version.
      dkmsBookkeeping: snap.dkms.some((d) => d.module === m.module && d.version === m.version && d.added),
    },
    plan,
  );
  record = {
    ...record,
    files: payload.files.map((f) => f.rel),
    createdDirs: [...record.createdDirs, ...createdDirs(ctx, plan.operations)],
  };
  await writeRecord(ctx, plan, record);
  await session.apply({
    description: `${m.package}: install ${m.module}/${m.version} into ${abiTreeName(abi)}`,
    operations: plan.operations,
    depmod: kernels,
  });
  return {
    kind: 'installed',
    abi,
    accepted,
    rejected,
    registered: record.registeredKernels,
    archivedReference: record.archivedReference !== null,
  };
}

/** Which kernels' loaders would accept the payload's modules. */
async function judge(
  verdicts: UsabilityChecker,
  payload: Payload,
  kernels: readonly string[],
): Promise<{ accepted: string[]; rejected: RejectedKernel[] }> {
  const accepted: string[] = [];
  const rejected: RejectedKernel[] = [];
  for (const k of kernels) {
    const u = await verdicts.filesUsable(
      payload.files.map((f) => f.host),
      k,
    );
    if (u.usable) accepted.push(k);
    else rejected.push({ kernel: k, reason: u.reason });
  }
  return { accepted, rejected };
}

/** The record is of this very payload and its module is still in its tree. */
async function stillInstalled(ctx: Context, r: PackageRecord, payload: Payload): Promise<boolean> {
  const m = payload.meta;
  if (r.version !== m.version || r.builtFor !== m.builtFor || r.arch !== m.arch) return false;
  if (
    !sameFiles(
      r.files,
      payload.files.map((f) => f.rel),
    )
  )
    return false;
  return (await recordedModule(ctx, r)) !== undefined;
}

/** The tree module a record installed, when it is still there unchanged. */
async function recordedModule(ctx: Context, r: PackageRecord): Promise<TreeModule | undefined> {
  const snap = await scanRoot(ctx.paths);
  return snap.trees
    .find((t) => sameAbi(t.abi, r.abi))
    ?.modules.find(
      (t) =>
        t.module === r.module &&
        t.version === r.version &&
        t.arch === r.arch &&
        t.builtFor === r.builtFor &&
        sameFiles(t.files, r.files),
    );
}

/** An install that is still in place: register kernels that came since, link those that accept it. */
async function reconfirm(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  payload: Payload,
  old: PackageRecord,
): Promise<PackageInstallOutcome> {
  const m = payload.meta;
  let record = (await registerKernels(ctx, session, old.abi, old)).record;
  const snap = await scanRoot(ctx.paths);
  const kernels = kernelsOfTree(snap, old.abi);
  const { accepted, rejected } = await judge(verdicts, payload, kernels);
  const plan = new PlanBuilder(ctx.paths.root);
  const dkmsBookkeeping = snap.dkms.some((d) => d.module === m.module && d.version === m.version && d.added);
  for (const k of accepted) await planLinkKernel(ctx.paths, { ...old, dkmsBookkeeping }, k, plan);
  if (plan.operations.length > 0 || record !== old) {
    record = { ...record, createdDirs: [...record.createdDirs, ...createdDirs(ctx, plan.operations)] };
    if (plan.operations.length > 0) await writeRecord(ctx, plan, record);
    await session.apply({
      description: `${m.package}: link ${m.module}/${m.version} for ${accepted.join(', ')}`,
      operations: plan.operations,
      depmod: kernels,
    });
  }
  return {
    kind: 'installed',
    abi: old.abi,
    accepted,
    rejected,
    registered: record.registeredKernels.filter((k) => !old.registeredKernels.includes(k)),
    archivedReference: false,
  };
}

/** The module (any version) or one of its files is in the tree already, put there by someone else. */
async function findConflict(ctx: Context, abi: AbiId, payload: Payload): Promise<string | undefined> {
  const tree = ctx.paths.abiTree(abi.flavour, abi.abiver);
  const snap = await scanRoot(ctx.paths);
  const modules = snap.trees.find((t) => sameAbi(t.abi, abi))?.modules ?? [];
  const m = payload.meta;
  const same = modules.find((t) => t.module === m.module && t.arch === m.arch);
  if (same !== undefined) {
    return `${same.module}/${same.version} (built for ${same.builtFor}) is already in ${abiTreeName(abi)}; take it out first (dkms-abi uninstall ${same.module}/${same.version})`;
  }
  for (const f of payload.files) {
    const owner = modules.find((t) => t.files.includes(f.rel));
    if (owner !== undefined)
      return `${abiTreeName(abi)}/${f.rel} belongs to ${owner.module}/${owner.version}`;
    if (await exists(path.join(tree, f.rel))) return `${abiTreeName(abi)}/${f.rel} exists already`;
  }
  return undefined;
}

/** Links every unregistered kernel whose identity is `abi` into its tree (one transaction). */
async function registerKernels(
  ctx: Context,
  session: Session,
  abi: AbiId,
  record: PackageRecord,
): Promise<{ record: PackageRecord }> {
  const snap = await scanRoot(ctx.paths);
  const plan = new PlanBuilder(ctx.paths.root);
  const registered: string[] = [];
  for (const k of snap.kernels) {
    // A real extra/ holds other packages' files: moving them is kernel add's decision.
    if (k.abi !== undefined || k.extra !== 'absent') continue;
    let id;
    try {
      id = await identifyKernel(ctx, k.kernel);
    } catch (err) {
      ctx.out.note(`${record.package}: cannot tell the ABI of ${k.kernel}: ${(err as Error).message}`);
      continue;
    }
    if (!sameAbi(id.abi, abi) || id.decision?.kind === 'new') continue;
    await planRegisterKernel(ctx, id, plan);
    registered.push(k.kernel);
  }
  if (registered.length === 0) return { record };
  const next = {
    ...record,
    registeredKernels: [...record.registeredKernels, ...registered],
    createdDirs: [...record.createdDirs, ...createdDirs(ctx, plan.operations)],
  };
  await writeRecord(ctx, plan, next);
  await session.apply({
    description: `${record.package}: register ${registered.join(', ')} in ${abiTreeName(abi)}`,
    operations: plan.operations,
    depmod: [],
  });
  return { record: next };
}

export interface PackageRemoval {
  /** Kernels from whose tree the modules went. */
  readonly kernels: readonly string[];
  readonly unregistered: readonly string[];
  readonly prunedTree: boolean;
  readonly removedReference: boolean;
}

/** Undoes what a record says an install did, as far as it is still there and still ours. */
export async function removeRecorded(
  ctx: Context,
  session: Session,
  record: PackageRecord,
): Promise<PackageRemoval> {
  const { paths } = ctx;
  const snap = await scanRoot(paths);
  const abi = record.abi;
  const tree = paths.abiTree(abi.flavour, abi.abiver);
  const modules = snap.trees.find((t) => sameAbi(t.abi, abi))?.modules ?? [];
  const ours = await recordedModule(ctx, record);
  const others = modules.filter(
    (t) => !(t.module === ours?.module && t.version === ours.version && t.arch === ours.arch),
  );
  const treeKernels = kernelsOfTree(snap, abi);
  // Kernels we linked go again when the tree holds nothing else for them.
  const unregister =
    others.length === 0 ? record.registeredKernels.filter((k) => treeKernels.includes(k)) : [];
  const staying = treeKernels.filter((k) => !unregister.includes(k));
  const prune =
    record.createdTree &&
    (await exists(tree)) &&
    others.length === 0 &&
    staying.length === 0 &&
    (await onlyOurs(tree, ours));

  const plan = new PlanBuilder(paths.root);
  if (ours !== undefined) {
    if (prune) for (const k of treeKernels) await planUnmark(paths, ours, k, plan);
    else await planRemoveFromTree(paths, abi, ours, plan, new Set(), treeKernels);
  }
  for (const k of unregister) await plan.add({ op: 'remove', path: paths.extraLink(k) });
  if (prune) await plan.add({ op: 'remove', path: tree });

  // The reference goes with the last kernel of its ABI, when this package archived it.
  const removedReference = staying.length === 0 ? await planRemoveReference(ctx, record, plan) : false;
  await plan.add({ op: 'remove', path: recordFile(ctx, record.package) });
  await planRemoveEmptyDirs(ctx, [...record.createdDirs, inner(ctx, recordsDir(ctx))], plan);
  if (others.length > 0) await planHandOver(ctx, record, unregister, removedReference, plan);
  await session.apply({
    description: `${record.package}: remove ${record.module}/${record.version} from ${abiTreeName(abi)}`,
    operations: plan.operations,
    // Registering kernels ran no depmod; only the module leaving changes their indexes.
    depmod: ours === undefined ? [] : treeKernels,
  });
  return { kernels: treeKernels, unregistered: unregister, prunedTree: prune, removedReference };
}

/**
 * Modules of other packages stay in the tree: the kernels, reference and directories this
 * package created now serve them, so the next of them in the tree inherits the duty to undo.
 */
async function planHandOver(
  ctx: Context,
  record: PackageRecord,
  unregistered: readonly string[],
  removedReference: boolean,
  plan: PlanBuilder,
): Promise<void> {
  const heirs = (await readAllRecords(ctx)).filter(
    (r) => r.package !== record.package && sameAbi(r.abi, record.abi),
  );
  const [heir] = heirs;
  if (heir === undefined) return; // the others came without a package: they keep what serves them
  const removed = new Set(plan.operations.filter((o) => o.op === 'remove').map((o) => o.path));
  const gone = (p: string) => [...removed].some((r) => p === r || p.startsWith(`${r}/`));
  const next: PackageRecord = {
    ...heir,
    registeredKernels: [
      ...heir.registeredKernels,
      ...record.registeredKernels.filter(
        (k) => !unregistered.includes(k) && !heir.registeredKernels.includes(k),
      ),
    ],
    archivedReference: heir.archivedReference ?? (removedReference ? null : record.archivedReference),
    createdTree: heir.createdTree || record.createdTree,
    createdDirs: [
      ...record.createdDirs.filter((d) => !gone(ctx.paths.host(d)) && !heir.createdDirs.includes(d)),
      ...heir.createdDirs,
    ],
  };
  await writeRecord(ctx, plan, next);
}

function sameFiles(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((f, i) => f === [...b].sort()[i]);
}

/** The tree holds nothing but the module's files, its metadata and empty directories. */
async function onlyOurs(tree: string, tm: TreeModule | undefined): Promise<boolean> {
  const mine = new Set(tm?.files ?? []);
  const meta = tm === undefined ? undefined : `${treeMetaDir(tm.module, tm.version)}/`;
  const walk = async (rel: string): Promise<boolean> => {
    for (const name of await readdir(path.join(tree, rel)).catch(() => [] as string[])) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(path.join(tree, r));
      if (st.isDirectory()) {
        if (!(await walk(r))) return false;
      } else if (!mine.has(r) && (meta === undefined || !r.startsWith(meta))) return false;
    }
    return true;
  };
  return walk('');
}

/** The archived reference goes when it is still ours (unchanged) and no other package or kernel uses it. */
async function planRemoveReference(ctx: Context, record: PackageRecord, plan: PlanBuilder): Promise<boolean> {
  const ref = record.archivedReference;
  if (ref === null) return false;
  const file = ctx.paths.host(ref.path);
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined || sha256(text) !== ref.sha256) return false;
  const others = (await readAllRecords(ctx)).filter(
    (r) => r.package !== record.package && sameAbi(r.abi, record.abi),
  );
  if (others.length > 0) return false;
  await plan.add({ op: 'remove', path: file });
  return true;
}

/**
 * Directories the install created go when nothing but what this plan removes is left in
 * them (deepest first, so a parent sees its emptied children go too).
 */
async function planRemoveEmptyDirs(ctx: Context, dirs: readonly string[], plan: PlanBuilder): Promise<void> {
  const removed = new Set(plan.operations.filter((o) => o.op === 'remove').map((o) => o.path));
  const gone = (p: string) => [...removed].some((r) => p === r || p.startsWith(`${r}/`));
  const hosts = [...new Set(dirs.map((d) => ctx.paths.host(d)))].sort((a, b) => b.length - a.length);
  for (const d of hosts) {
    if (gone(d)) continue;
    const st = await lstat(d).catch(() => undefined);
    if (st?.isDirectory() !== true) continue;
    const entries = await readdir(d);
    if (entries.every((n) => gone(path.join(d, n)))) {
      await plan.add({ op: 'remove', path: d });
      removed.add(d);
    }
  }
}

/**
 * Puts the modules of installed packages back into an ABI tree that lost them (its last
 * kernel went and the tree was pruned, then a kernel of that ABI came back). For kernel add.
 */
export async function restorePackages(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  abi: AbiId,
): Promise<PackageInstallOutcome[]> {
  const out: PackageInstallOutcome[] = [];
  const snap = await scanRoot(ctx.paths);
  const modules = snap.trees.find((t) => sameAbi(t.abi, abi))?.modules ?? [];
  for (const r of await readAllRecords(ctx)) {
    if (!sameAbi(r.abi, abi) || modules.some((t) => t.module === r.module && t.version === r.version))
      continue;
    const payload = await readPayload(ctx.paths, r.payload).catch(() => undefined);
    if (payload === undefined) continue;
    out.push(await installPayload(ctx, session, verdicts, payload));
  }
  return out;
}
