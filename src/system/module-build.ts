// The module operations shared by install, build, autoinstall and kernel add: read a
// module's dkms.conf, build it with the merged symvers of its ABI tree, and turn a build
// into an install request for that tree.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { unameArch } from '../core/arch.js';
import type { AbiId } from '../core/abi-id.js';
import { evaluateBuildExclusive, type DkmsConf } from '../core/dkms-conf.js';
import { headersPackageHint } from '../core/dkms-argv.js';
import { EnvironmentError, InputError, UsageError } from '../core/errors.js';
import { symversLinesFor } from '../core/ko.js';
import { isModuleFileOf } from '../core/ko-name.js';
import { SAVED_SYMVERS_FILE, TREE_META_DIR, treeModulePath } from '../core/layout.js';
import type { Context } from './context.js';
import { readDkmsConf } from './dkms-conf.js';
import { dkmsBuild, dkmsBuildDir, type BuildOutcome } from './dkms.js';
import { findKernelHeaders } from './kernel-files.js';
import { recordBuildHeaders } from './header-files.js';
import { formatHeaderRecord } from '../core/header-record.js';
import { readKernelModuleFile } from './ko-file.js';
import type { TreeFile } from './tree-plans.js';

/** A binary dkms built, with where dkms.conf says it goes. */
export interface BuiltFile {
  readonly destName: string;
  /** DEST_MODULE_LOCATION after the distribution override. */
  readonly destLocation: string;
  /** ".ko", ".ko.xz", …: as dkms saved it. */
  readonly suffix: string;
  readonly host: string;
}

export function treeFiles(files: readonly BuiltFile[]): TreeFile[] {
  return files.map((f) => ({ rel: treeModulePath(f.destLocation, f.destName, f.suffix), host: f.host }));
}

export interface ModuleVersionRef {
  readonly module: string;
  readonly version: string;
}

export const hostArch = (): string => unameArch(process.arch);

export function confFile(ctx: Context, mv: ModuleVersionRef): string {
  return path.join(ctx.paths.dkmsTree, mv.module, mv.version, 'source', 'dkms.conf');
}

/**
 * M/V's dkms.conf as dkms reads it for the kernel and arch. A command asks this several times
 * per module (is it excluded, where do its files go, install): each bash run costs tens of
 * milliseconds, so a command reads each once. Nothing a command does changes a conf it read.
 */
export function readModuleConf(
  ctx: Context,
  mv: ModuleVersionRef,
  kernel: string,
  arch: string,
): Promise<DkmsConf> {
  let confs = confsRead.get(ctx);
  if (confs === undefined) {
    confs = new Map();
    confsRead.set(ctx, confs);
  }
  const key = `${mv.module}\0${mv.version}\0${kernel}\0${arch}`;
  let conf = confs.get(key);
  if (conf === undefined) {
    conf = readModuleConfOnce(ctx, mv, kernel, arch);
    confs.set(key, conf);
    // A failure (not added yet, a broken conf) is asked again.
    conf.catch(() => confs.delete(key));
  }
  return conf;
}

const confsRead = new WeakMap<Context, Map<string, Promise<DkmsConf>>>();

/** Each bash run reading a conf takes ~10-25 ms, mostly waiting: a few run at once. */
const CONF_READS_AT_ONCE = 8;

/** readModuleConf of many module versions, a few at a time; the outcomes in their order. */
export async function readModuleConfs(
  ctx: Context,
  mvs: readonly ModuleVersionRef[],
  kernel: string,
  arch: string,
): Promise<PromiseSettledResult<DkmsConf>[]> {
  const out: PromiseSettledResult<DkmsConf>[] = [];
  for (let i = 0; i < mvs.length; i += CONF_READS_AT_ONCE) {
    const batch = mvs.slice(i, i + CONF_READS_AT_ONCE);
    out.push(...(await Promise.allSettled(batch.map((mv) => readModuleConf(ctx, mv, kernel, arch)))));
  }
  return out;
}

async function readModuleConfOnce(
  ctx: Context,
  mv: ModuleVersionRef,
  kernel: string,
  arch: string,
): Promise<DkmsConf> {
  if ((await stat(confFile(ctx, mv)).catch(() => undefined)) === undefined) {
    throw new UsageError(
      `${mv.module}/${mv.version} is not added (run: dkms-abi add ${mv.module}/${mv.version})`,
    );
  }
  const headers = await findKernelHeaders(ctx.paths, kernel);
  return readDkmsConf(confFile(ctx, mv), {
    module: mv.module,
    moduleVersion: mv.version,
    kernel,
    arch,
    dkmsTree: ctx.paths.dkmsTree,
    sourceTree: ctx.paths.sourceTree,
    installTree: ctx.paths.modulesDir,
    ...(headers !== undefined ? { kernelSourceDir: headers.host } : {}),
    root: ctx.paths.root,
  });
}

/**
 * Would dkms exclude M/V on the kernel (BUILD_EXCLUSIVE_KERNEL/_ARCH/_CONFIG, exit 77)? Its
 * dkms.conf evaluated for that kernel, as dkms evaluates it; the config tested is the one dkms
 * reads, <kernel_source_dir>/.config, or /boot/config-<kver> for a kernel without headers
 * (which only reuses builds). The reason when excluded, else undefined. Reuse obeys it as a
 * build does: dkms-abi never links a build into a kernel dkms would not build it for.
 */
export async function buildExclusion(
  ctx: Context,
  mv: ModuleVersionRef,
  kernel: string,
  arch: string,
): Promise<string | undefined> {
  const conf = await readModuleConf(ctx, mv, kernel, arch);
  const headers = await findKernelHeaders(ctx.paths, kernel);
  const configFile =
    headers !== undefined
      ? path.join(headers.host, '.config')
      : path.join(ctx.paths.bootDir, `config-${kernel}`);
  const kernelConfig = await readFile(configFile, 'utf8').catch(() => undefined);
  const r = evaluateBuildExclusive(
    conf.buildExclusive,
    { kernel, arch, ...(kernelConfig !== undefined ? { kernelConfig } : {}) },
    conf.file,
  );
  return r.excluded ? r.detail : undefined;
}

/** Saved Module.symvers of every module in a tree but `exclude`: what a new build links against. */
export async function treeSymversFiles(ctx: Context, abi: AbiId, exclude?: string): Promise<string[]> {
  const meta = path.join(ctx.paths.abiTree(abi.flavour, abi.abiver), TREE_META_DIR);
  const files: string[] = [];
  for (const module of (await readdir(meta).catch(() => [] as string[])).sort()) {
    if (module === exclude) continue;
    for (const version of (await readdir(path.join(meta, module)).catch(() => [] as string[])).sort()) {
      files.push(path.join(meta, module, version, SAVED_SYMVERS_FILE));
    }
  }
  return files;
}

/** dkms build against the kernel's headers, resolving the other modules' exports through the tree. */
export async function buildModule(
  ctx: Context,
  mv: ModuleVersionRef,
  kernel: string,
  arch: string,
  abi: AbiId | undefined,
): Promise<BuildOutcome> {
  const headers = await findKernelHeaders(ctx.paths, kernel);
  if (headers === undefined) {
    throw new EnvironmentError(
      `cannot build ${mv.module}/${mv.version} for ${kernel}: no kernel headers`,
      headersPackageHint(kernel),
    );
  }
  const extraSymbols = abi === undefined ? [] : await treeSymversFiles(ctx, abi, mv.module);
  // dkms-style progress on stderr, TTY or not: inside apt a long build would otherwise
  // print nothing for minutes (stdout stays the command's answer, or --json's document).
  const name = `${mv.module}/${mv.version}`;
  ctx.out.note(`${name}: building for ${kernel}…`);
  let outcome: BuildOutcome;
  try {
    outcome = await dkmsBuild(
      ctx.paths,
      { module: mv.module, version: mv.version, kernel, arch, kernelSourceDir: headers.host },
      { extraSymbols, stream: ctx.out.isTTY && !ctx.json, traceIncludes: true },
    );
  } catch (err) {
    // The reason reaches the user once, from whoever handles the error.
    ctx.out.note(`${name}: build failed`);
    throw err;
  }
  ctx.out.note(`${name}: ${buildProgress(outcome)}`);
  return outcome;
}

/** The line that ends a build's progress: how long it took, or where its log is. */
function buildProgress(o: BuildOutcome): string {
  switch (o.kind) {
    case 'built':
      return `done in ${(o.ms / 1000).toFixed(1)} s`;
    case 'already-built':
      return 'already built';
    case 'excluded':
      return `skipped (${o.message})`;
    case 'build-failed':
      return `failed: see ${o.makeLog}`;
  }
}

/** The built binaries of M/V for a kernel, as the conf names them. */
export async function builtFiles(
  ctx: Context,
  mv: ModuleVersionRef,
  conf: DkmsConf,
  kernel: string,
  arch: string,
): Promise<BuiltFile[]> {
  const dir = path.join(dkmsBuildDir(ctx.paths, { ...mv, kernel, arch }), 'module');
  const names = await readdir(dir).catch(() => [] as string[]);
  // dkms accepts one BUILT_MODULE_NAME listed twice; it is one file in the tree.
  const modules = conf.modules.filter(
    (m, i) =>
      conf.modules.findIndex((o) => o.destName === m.destName && o.destLocation === m.destLocation) === i,
  );
  return modules.map((m) => {
    const file = names.find((n) => isModuleFileOf(n, m.destName));
    if (file === undefined) {
      throw new InputError(
        path.join(dir, `${m.destName}.ko`),
        `${mv.module}/${mv.version} is not built for ${kernel}`,
      );
    }
    return {
      destName: m.destName,
      destLocation: m.destLocation,
      suffix: file.slice(m.destName.length),
      host: path.join(dir, file),
    };
  });
}

/**
 * The kernel headers the build of M/V for a kernel read, as the record saved beside its
 * Module.symvers; undefined when its make.log has no include trace (built before dkms-abi
 * traced includes, or by plain dkms) or the headers are gone.
 */
export async function buildHeaderRecord(
  ctx: Context,
  mv: ModuleVersionRef,
  kernel: string,
  arch: string,
): Promise<string | undefined> {
  const headers = await findKernelHeaders(ctx.paths, kernel);
  if (headers === undefined) return undefined;
  const makeLog = path.join(dkmsBuildDir(ctx.paths, { ...mv, kernel, arch }), 'log', 'make.log');
  const hashes = await recordBuildHeaders(ctx.paths, makeLog, headers.host, kernel);
  return hashes.length === 0 ? undefined : formatHeaderRecord(hashes);
}

/** The module's own exports in Module.symvers form, module paths as placed in the tree. */
export async function exportsSymvers(files: readonly BuiltFile[]): Promise<string> {
  const lines: string[] = [];
  for (const f of files) {
    const info = await readKernelModuleFile(f.host);
    const rel = treeModulePath(f.destLocation, f.destName, '');
    lines.push(...symversLinesFor(info, rel));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
