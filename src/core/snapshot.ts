// What dkms-abi knows about a root at one moment, read by src/system/scan.ts and
// consumed by pure derivations (status, plans, verify). Paths are relative to their tree.
import type { AbiId } from './abi-id.js';

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
}

/** A module version installed into a shared ABI tree (its manifest). */
export interface TreeModule {
  readonly module: string;
  readonly version: string;
  readonly arch: string;
  readonly builtFor: string;
  /** Module files relative to the tree, e.g. "dkms/misc/hello_abi.ko". */
  readonly files: readonly string[];
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
