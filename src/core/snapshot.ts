// What dkms-abi knows about a root at one moment, read by src/system/scan.ts and
// consumed by pure derivations (status, plans, verify). Paths are relative to their tree.
import { sameAbi, type AbiId } from './abi-id.js';

export interface KernelEntry {
  readonly kernel: string;
  /** The ABI tree its extra/ link points to; undefined when not registered. */
  readonly abi: AbiId | undefined;
  /** What lib/modules/<kver>/extra is: our link, a real directory, absent, or something else. */
  readonly extra: 'abi-link' | 'directory' | 'absent' | 'other';
  /** mtime (ms) of modules.dep, undefined when missing. */
  readonly modulesDepMtimeMs: number | undefined;
}

/** One kernel/arch directory of a module version in DKMS's tree. */
export interface DkmsBuildDir {
  readonly kernel: string;
  readonly arch: string;
  /** 'built' = a real module/ directory; 'abi-link' = our module/ -> ../../<K0>/<arch>/module. */
  readonly kind: 'built' | 'abi-link';
  /** For abi-link: the kernel the binary was built for. */
  readonly builtFor: string;
  /** True when <m>/kernel-<kver>-<arch> resolves to this directory (DKMS's "installed"). */
  readonly installed: boolean;
}

export interface DkmsModuleVersion {
  readonly module: string;
  readonly version: string;
  /** DKMS's "added": <m>/<v>/source exists. */
  readonly added: boolean;
  readonly builds: readonly DkmsBuildDir[];
  /**
   * <kver>/<arch> directories without a built module (a build stopped half-way): dkms counts
   * them as not built, and refuses to build there again while they exist.
   */
  readonly incomplete?: readonly { readonly kernel: string; readonly arch: string }[];
}

/** A module version installed into a shared ABI tree (its manifest). */
export interface TreeModule {
  readonly module: string;
  readonly version: string;
  readonly arch: string;
  readonly builtFor: string;
  /** Module files relative to the tree, e.g. "dkms/misc/hello_abi.ko". */
  readonly files: readonly string[];
  /** Modules of the build refused by the loader of the kernel it was built for, and why. */
  readonly unloadable?: Readonly<Record<string, string>>;
  /** Newest mtime (ms) among the files, for needs-depmod. */
  readonly newestMtimeMs: number;
}

export interface TreeEntry {
  readonly abi: AbiId;
  readonly modules: readonly TreeModule[];
}

export interface Snapshot {
  readonly kernels: readonly KernelEntry[];
  readonly dkms: readonly DkmsModuleVersion[];
  readonly trees: readonly TreeEntry[];
}

/** The ABI's shared tree as scanned; undefined when the root has none. */
export function treeOf(snap: Pick<Snapshot, 'trees'>, abi: AbiId): TreeEntry | undefined {
  return snap.trees.find((t) => sameAbi(t.abi, abi));
}

/** The module versions in the ABI's tree (none when there is no tree). */
export function treeModulesOf(snap: Pick<Snapshot, 'trees'>, abi: AbiId): readonly TreeModule[] {
  return treeOf(snap, abi)?.modules ?? [];
}

/** The same module (any version) already in the ABI's tree, for an install to replace. */
export function previousInTree(
  snap: Pick<Snapshot, 'trees'>,
  abi: AbiId,
  module: string,
  arch: string,
): TreeModule | undefined {
  return treeModulesOf(snap, abi).find((m) => m.module === module && m.arch === arch);
}

/** Kernels whose extra/ leads to the ABI's tree, plus any about to be registered to it; sorted. */
export function kernelsOfTree(
  snap: Pick<Snapshot, 'kernels'>,
  abi: AbiId,
  plus: readonly string[] = [],
): string[] {
  const ks = snap.kernels.filter((k) => k.abi !== undefined && sameAbi(k.abi, abi)).map((k) => k.kernel);
  return [...new Set([...ks, ...plus])].sort();
}
