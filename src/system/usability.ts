// What the sharing flows ask of the per-module verdict: would a kernel's module loader
// accept these binaries (with the other modules of the kernel's ABI tree present)?
// Implemented by the VerdictService (src/system/verdict-service.ts).
import type { TreeModule } from '../core/snapshot.js';
import type { MemberUsability, RejectedKernel, Usability } from '../core/status.js';

export interface UsabilityChecker {
  /**
   * Module files (host paths) of one build on a kernel, as they would be loaded from its
   * tree; `unloadable`: the modules the kernel it was built for refuses (see buildUsability).
   */
  filesUsable(
    hostPaths: readonly string[],
    kernel: string,
    unloadable?: Readonly<Record<string, string>>,
  ): Promise<Usability>;
  /** Each module file's verdict on the kernel; not ok when the kernel cannot be judged. */
  memberUsability(
    hostPaths: readonly string[],
    kernel: string,
  ): Promise<{ ok: true; members: MemberUsability[] } | { ok: false; reason: string }>;
  /**
   * A build whose modules recorded another build of the kernel (or of a provider in its tree)
   * than the one there now: a rebuild against the current headers is what makes it usable.
   */
  filesStale(hostPaths: readonly string[], kernel: string): Promise<boolean>;
  /** A module installed in a tree, on one of the tree's kernels. */
  usability(tm: TreeModule, kernel: string): Promise<Usability>;
  /** Persist whatever was cached (status calls it once at the end). */
  flush(): Promise<void>;
}

/** Which of `kernels` would accept the module files (host paths), and why the others refuse. */
export async function judgeOnKernels(
  checker: UsabilityChecker,
  hostPaths: readonly string[],
  kernels: readonly string[],
  unloadable?: Readonly<Record<string, string>>,
): Promise<{ accepted: string[]; rejected: RejectedKernel[] }> {
  const accepted: string[] = [];
  const rejected: RejectedKernel[] = [];
  for (const k of kernels) {
    const u = await checker.filesUsable(hostPaths, k, unloadable);
    if (u.usable) accepted.push(k);
    else rejected.push({ kernel: k, reason: u.reason });
  }
  return { accepted, rejected };
}
