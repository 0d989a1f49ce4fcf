// A second kernel release with the same ABI as a real one, in a sandbox root
// (helpers/debian-root.ts has the implementation, shared with the benchmarks).
import { addSameAbiKernel as addToRoot } from './debian-root.js';
import type { SandboxRoot } from './sandbox.js';

export function addSameAbiKernel(
  sb: SandboxRoot,
  from: string,
  to: string,
  opts: { readonly headers: boolean },
): Promise<void> {
  return addToRoot(sb.root, from, to, opts);
}
