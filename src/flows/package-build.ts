// Turns a module version installed in an ABI tree into a Debian package: the tree's module
// files and saved Module.symvers, the ABI reference the build matches, metadata.json, the
// documentation Debian requires, and maintainer scripts that call dkms-abi.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { formatAbi, type AbiId } from '../core/abi-id.js';
import { moduleControl } from '../core/deb-control.js';
import { changelog, copyright } from '../core/deb-docs.js';
import { debFileName, debianArch, debianVersion, modulePackageName, payloadDir } from '../core/deb-names.js';
import { maintainerScripts } from '../core/deb-scripts.js';
import { EnvironmentError, UsageError } from '../core/errors.js';
import { formatModVersionCrc } from '../core/ko.js';
import { moduleFileStem, moduleNameOf } from '../core/ko-name.js';
import type { RejectedKernel } from '../core/status.js';
import { normalizeName } from '../core/verdict.js';
import { SAVED_SYMVERS_FILE, treeMetaDir } from '../core/layout.js';
import {
  METADATA_FILE,
  METADATA_FORMAT,
  PAYLOAD_REFERENCE_FILE,
  PAYLOAD_SYMVERS_FILE,
  serializeMetadata,
  type PackageMetadata,
  type PackagedModuleFile,
} from '../core/package-metadata.js';
import { type TreeModule, treeModulesOf, kernelsOfTree } from '../core/snapshot.js';
import type { Context } from '../system/context.js';
import { buildDeb, type DebEntry } from '../system/deb-build.js';
import { findKernelSymvers } from '../system/kernel-files.js';
import { readKernelModuleFile } from '../system/ko-file.js';
import { sha256 } from '../system/package-payload.js';
import { scanRoot } from '../system/scan.js';
import { readSymversText } from '../system/symvers-file.js';
import { judgeOnKernels, type UsabilityChecker } from '../system/usability.js';

export interface PackageInputs {
  readonly abi: AbiId;
  readonly tm: TreeModule;
  /** Host paths of the module files, in tm.files order. */
  readonly hostFiles: readonly string[];
  readonly symvers: string;
  readonly reference: { readonly text: string; readonly source: string };
  readonly verifiedKernels: readonly string[];
  readonly rejectedKernels: readonly RejectedKernel[];
  /** Packages of the tree's other modules that these load after (modinfo depends). */
  readonly dependsOn: readonly string[];
  readonly sourceLicense?: { readonly name: string; readonly text: string };
}

/** Reads M/V from an ABI tree: files, symvers, reference, and where the verdict accepts it. */
export async function collectInputs(
  ctx: Context,
  verdicts: UsabilityChecker,
  abi: AbiId,
  module: string,
  version: string,
): Promise<PackageInputs | undefined> {
  const { paths } = ctx;
  const snap = await scanRoot(paths);
  const modules = treeModulesOf(snap, abi);
  const tm = modules.find((m) => m.module === module && m.version === version);
  if (tm === undefined) return undefined;
  const tree = paths.abiTree(abi.flavour, abi.abiver);
  const hostFiles = tm.files.map((f) => path.join(tree, f));
  const symversFile = path.join(tree, treeMetaDir(module, version), SAVED_SYMVERS_FILE);
  const symvers = await readFile(symversFile, 'utf8').catch(() => {
    throw new EnvironmentError(
      `${symversFile} is missing`,
      `reinstall ${module}/${version}, or run dkms-abi verify --repair`,
    );
  });
  const { accepted: verified, rejected } = await judgeOnKernels(
    verdicts,
    hostFiles,
    kernelsOfTree(snap, abi),
  );
  const dependsOn: string[] = [];
  for (const f of hostFiles) {
    const info = await readKernelModuleFile(f);
    for (const dep of info.modinfo.depends) {
      const provider = modules.find(
        (o) => o !== tm && o.files.some((rel) => moduleNameOf(rel) === normalizeName(dep)),
      );
      const name = provider === undefined ? undefined : modulePackageName(provider.module, abi);
      if (typeof name === 'string' && !dependsOn.includes(name)) dependsOn.push(name);
    }
  }
  const license = await sourceLicense(ctx, module, version);
  return {
    abi,
    tm,
    hostFiles,
    symvers,
    reference: await abiReference(ctx, abi, tm.builtFor),
    verifiedKernels: verified,
    rejectedKernels: rejected,
    dependsOn,
    ...(license !== undefined ? { sourceLicense: license } : {}),
  };
}

/** The archived reference of the ABI, else the Module.symvers of the kernel the build was made for. */
async function abiReference(
  ctx: Context,
  abi: AbiId,
  builtFor: string,
): Promise<{ text: string; source: string }> {
  const archived = ctx.paths.abiReference(abi.flavour, abi.abiver);
  const inner = `${ctx.paths.inner.stateDir}/abi/${abi.flavour}/${abi.abiver}.symvers`;
  if ((await stat(archived).catch(() => undefined)) !== undefined)
    return { text: await readSymversText(archived, inner), source: inner };
  const found = await findKernelSymvers(ctx.paths, builtFor);
  if (found === undefined) {
    throw new EnvironmentError(
      `no ABI reference for ${formatAbi(abi)}: neither ${inner} nor a Module.symvers of ${builtFor}`,
      `run dkms-abi abi update ${builtFor} where its headers are installed`,
    );
  }
  return { text: await readSymversText(found.host, found.inner), source: found.inner };
}

const LICENSE_FILES = [
  'COPYING',
  'COPYING.txt',
  'LICENSE',
  'LICENSE.txt',
  'LICENSE.md',
  'LICENCE',
  'LICENCE.txt',
];
/** Licences Debian ships in /usr/share/common-licenses: refer to them, never copy them (lintian). */
const COMMON_LICENSE =
  /GNU (LESSER |LIBRARY |AFFERO )?GENERAL PUBLIC LICENSE|Apache License|Mozilla Public License/i;

/** The source tree's own licence file (a vendor blob's licence must travel with it). */
async function sourceLicense(
  ctx: Context,
  module: string,
  version: string,
): Promise<{ name: string; text: string } | undefined> {
  const dirs = [
    path.join(ctx.paths.dkmsTree, module, version, 'source'),
    path.join(ctx.paths.sourceTree, `${module}-${version}`),
  ];
  for (const dir of dirs) {
    for (const name of LICENSE_FILES) {
      const text = await readFile(path.join(dir, name), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      return COMMON_LICENSE.test(text) ? undefined : { name, text };
    }
  }
  return undefined;
}

export interface PackageOptions {
  readonly revision: string;
  readonly maintainer: string;
  readonly outDir: string;
  /** SOURCE_DATE_EPOCH, else the newest module file's mtime: the same build gives the same bytes. */
  readonly epochSeconds?: number;
}

export interface BuiltPackage {
  readonly name: string;
  readonly version: string;
  readonly debArch: string;
  readonly file: string;
  readonly size: number;
  readonly metadata: PackageMetadata;
}

export async function buildModulePackage(inputs: PackageInputs, opts: PackageOptions): Promise<BuiltPackage> {
  const { tm, abi } = inputs;
  const name = modulePackageName(tm.module, abi);
  if (typeof name !== 'string')
    throw new UsageError(`cannot name a package for ${tm.module}: ${name.problem}`);
  const version = debianVersion(tm.version, opts.revision);
  if (typeof version !== 'string')
    throw new UsageError(`cannot version ${tm.module}/${tm.version}: ${version.problem}`);
  const debArch = debianArch(tm.arch);
  if (debArch === undefined) throw new UsageError(`no Debian architecture is known for ${tm.arch}`);

  const files: PackagedModuleFile[] = [];
  const licenses: string[] = [];
  let newest = 0;
  for (const [i, rel] of tm.files.entries()) {
    const host = inputs.hostFiles[i] ?? '';
    const bytes = await readFile(host);
    const info = await readKernelModuleFile(host);
    newest = Math.max(newest, Math.floor((await stat(host)).mtimeMs / 1000));
    if (info.modinfo.license !== undefined) licenses.push(info.modinfo.license);
    files.push({
      path: rel,
      name: info.modinfo.name ?? moduleFileStem(rel),
      vermagic: info.modinfo.vermagic ?? '',
      license: info.modinfo.license ?? null,
      depends: info.modinfo.depends,
      sha256: sha256(bytes),
      requires: (info.versions?.toArray() ?? []).map((v) => ({
        symbol: v.name,
        crc: formatModVersionCrc(v),
      })),
    });
  }
  const epoch = opts.epochSeconds ?? newest;
  const metadata: PackageMetadata = {
    format: METADATA_FORMAT,
    package: name,
    debVersion: version,
    module: tm.module,
    version: tm.version,
    flavour: abi.flavour,
    abiver: abi.abiver,
    arch: tm.arch,
    builtFor: tm.builtFor,
    verifiedKernels: inputs.verifiedKernels,
    referenceSource: inputs.reference.source,
    referenceSha256: sha256(inputs.reference.text),
    files,
  };

  const payload = payloadDir(name).slice(1);
  const doc = `usr/share/doc/${name}`;
  const entries: DebEntry[] = [
    ...tm.files.map((rel, i) => ({ path: `${payload}/${rel}`, from: { file: inputs.hostFiles[i] ?? '' } })),
    { path: `${payload}/${PAYLOAD_SYMVERS_FILE}`, from: { data: inputs.symvers } },
    { path: `${payload}/${PAYLOAD_REFERENCE_FILE}`, from: { data: inputs.reference.text } },
    { path: `${payload}/${METADATA_FILE}`, from: { data: serializeMetadata(metadata) } },
    {
      path: `${doc}/copyright`,
      from: {
        data: copyright({
          module: tm.module,
          moduleVersion: tm.version,
          abi,
          builtFor: tm.builtFor,
          licenses,
          ...(inputs.sourceLicense !== undefined ? { sourceLicense: inputs.sourceLicense } : {}),
        }),
      },
    },
    {
      path: `${doc}/changelog.Debian.gz`,
      from: {
        // gzip -9n: no name, no timestamp (lintian wants maximal, reproducible compression).
        data: gzipSync(
          changelog({
            name,
            version,
            module: tm.module,
            moduleVersion: tm.version,
            abi,
            builtFor: tm.builtFor,
            maintainer: opts.maintainer,
            epochSeconds: epoch,
          }),
          { level: 9 },
        ),
      },
    },
  ];
  const file = path.join(opts.outDir, debFileName(name, version, debArch));
  const built = await buildDeb(
    {
      files: entries,
      control: (installedSizeKiB) =>
        moduleControl({
          name,
          version,
          debArch,
          maintainer: opts.maintainer,
          installedSizeKiB,
          module: tm.module,
          moduleVersion: tm.version,
          abi,
          builtFor: tm.builtFor,
          verifiedKernels: inputs.verifiedKernels,
          dependsOn: inputs.dependsOn,
          moduleFiles: tm.files.map((f) => f.split('/').pop() ?? f),
        }),
      scripts: maintainerScripts(name),
      epochSeconds: epoch,
    },
    file,
  );
  return { name, version, debArch, file: built.file, size: built.size, metadata };
}
