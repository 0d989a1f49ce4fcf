// A second kernel release with the same ABI as a real one, in a sandbox root
// (helpers/debian-root.ts has the implementation, shared with the benchmarks).
import { rm } from 'node:fs/promises';
import { addSameAbiKernel as addToRoot } from './debian-root.js';
import type { SandboxRoot } from './sandbox.js';

export function addSameAbiKernel(
  sb: SandboxRoot,
  from: string,
  to: string,
  opts: { readonly headers: boolean; readonly bootSymvers?: boolean; readonly image?: boolean },
): Promise<void> {
  return addToRoot(sb.root, from, to, { ...opts, system: sb.system });
}

/**
 * The kernel package of `release` upgraded in place to a build with another ABI, as a rebuilt
 * vendor kernel or Debian's experimental ABI "0" is (dkms-project/dkms#364): the same release
 * string, `from`'s Module.symvers, config and headers. The root's old headers, build link and
 * /boot files of `release` are replaced (the sandbox's copies only: hard links are unlinked,
 * never written through).
 */
export async function upgradeInPlace(
  sb: SandboxRoot,
  release: string,
  from: string,
  opts: { readonly headers: boolean },
): Promise<void> {
  for (const inner of [
    `usr/src/linux-headers-${release}`,
    `lib/modules/${release}/build`,
    `boot/config-${release}`,
    `boot/symvers-${release}.gz`,
    `boot/vmlinuz-${release}`,
  ]) {
    await rm(sb.host(inner), { recursive: true, force: true });
  }
  await addSameAbiKernel(sb, from, release, opts);
}
