// Finds a kernel's files inside a root the way distributions lay them out: its
// Module.symvers (headers, RHEL's kernels dir, /boot/symvers-*.gz which exists without
// headers, else the one dkms-abi derived from the kernel's image: image-symvers.ts) and its
// config. Paths resolve with chroot semantics.
import { accessSync } from 'node:fs';
import type { Paths } from './paths.js';
import { resolveInRoot } from './rootfs.js';

export interface FoundFile {
  /** Path as seen inside the root, for messages. */
  readonly inner: string;
  readonly host: string;
}

export function symversCandidates(paths: Paths, kernel: string): string[] {
  return [
    `${paths.inner.modulesDir}/${kernel}/build/Module.symvers`,
    `${paths.inner.sourceTree}/linux-headers-${kernel}/Module.symvers`,
    `${paths.inner.sourceTree}/kernels/${kernel}/Module.symvers`,
    `${paths.inner.bootDir}/symvers-${kernel}.gz`,
    `${paths.inner.bootDir}/symvers-${kernel}`,
    derivedSymversFile(paths, kernel),
  ];
}

/** Where the Module.symvers derived from a headerless kernel's image is kept (inside the root). */
export function derivedSymversFile(paths: Paths, kernel: string): string {
  return `${paths.inner.stateDir}/kernels/${kernel}/Module.symvers`;
}

export function configCandidates(paths: Paths, kernel: string): string[] {
  return [
    `${paths.inner.bootDir}/config-${kernel}`,
    `${paths.inner.modulesDir}/${kernel}/build/.config`,
    `${paths.inner.sourceTree}/linux-headers-${kernel}/.config`,
  ];
}

export function headersCandidates(paths: Paths, kernel: string): string[] {
  return [
    `${paths.inner.modulesDir}/${kernel}/build`,
    `${paths.inner.sourceTree}/linux-headers-${kernel}`,
    `${paths.inner.sourceTree}/kernels/${kernel}`,
  ];
}

export async function findFirst(paths: Paths, candidates: readonly string[]): Promise<FoundFile | undefined> {
  for (const inner of candidates) {
    const host = await resolveInRoot(paths.root, inner);
    try {
      accessSync(host);
      return { inner, host };
    } catch {
      // try the next place
    }
  }
  return undefined;
}

export const findKernelSymvers = (paths: Paths, kernel: string) =>
  findFirst(paths, symversCandidates(paths, kernel));
export const findKernelConfig = (paths: Paths, kernel: string) =>
  findFirst(paths, configCandidates(paths, kernel));
/** The headers directory dkms builds against (its Makefile must exist). */
export async function findKernelHeaders(paths: Paths, kernel: string): Promise<FoundFile | undefined> {
  const found = await findFirst(
    paths,
    headersCandidates(paths, kernel).map((d) => `${d}/Makefile`),
  );
  return found === undefined
    ? undefined
    : { inner: found.inner.replace(/\/Makefile$/, ''), host: found.host.replace(/\/Makefile$/, '') };
}
