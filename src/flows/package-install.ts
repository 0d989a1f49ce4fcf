// package-install, inside a session: archive the package's ABI reference if this machine has
// none that fits, register every installed kernel of that ABI, then copy the modules into
// the tree for the kernels whose verdict passes, depmod. Each step is a transaction that
// also updates the package's record (src/system/package-records.ts), so a crash between
// steps leaves a record that package-remove (src/flows/package-remove.ts) can still undo.
import path from 'node:path';
import { abiTreeName, sameAbi, type AbiId } from '../core/abi-id.js';
import { chooseTargetAbi } from '../core/package-abi.js';
import { RECORD_FORMAT, type PackageRecord } from '../core/package-record.js';
import type { RejectedKernel } from '../core/status.js';
import { parseSymvers } from '../core/symvers.js';
import type { Context } from '../system/context.js';
import { checkReferences, identifyKernel } from '../system/kernel-identity.js';
import { planRegisterKernel } from '../system/kernel-register.js';
import { sha256, type Payload } from '../system/package-payload.js';
import {
  createdDirs,
  innerPath,
  readRecord,
  recordedModule,
  sameFiles,
  writeRecord,
} from '../system/package-records.js';
import { PlanBuilder, exists } from '../system/plan-helpers.js';
import { scanRoot } from '../system/scan.js';
import type { Session } from '../system/session.js';
import { planInstall, planLinkKernel } from '../system/tree-plans.js';
import { judgeOnKernels, type UsabilityChecker } from '../system/usability.js';
import { removeRecorded } from './package-remove.js';
import { treeModulesOf, kernelsOfTree } from '../core/snapshot.js';

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
    record = {
      ...record,
      archivedReference: { path: innerPath(ctx, file), sha256: sha256(payload.reference) },
    };
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
  const { accepted, rejected } = await judgeOnKernels(
    verdicts,
    payload.files.map((f) => f.host),
    kernels,
  );
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
  const { accepted, rejected } = await judgeOnKernels(
    verdicts,
    payload.files.map((f) => f.host),
    kernels,
  );
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
  const modules = treeModulesOf(snap, abi);
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
