// A build that recorded another build of its kernel release: a kernel package upgraded in
// place (same release, new symbol CRCs; dkms-project/dkms#364) or a module whose provider was
// rebuilt. DKMS keys its builds by release only, so it keeps such a build and calls it built;
// rebuilding against the kernel's current headers and tree is what fixes it. Problems a
// rebuild cannot fix (a symbol the kernel does not export, a GPL-only or namespaced symbol)
// do not make a build stale: rebuilding would only repeat them.
import type { ModuleVerdict, VerdictProblemKind } from './verdict.js';

/** What a build records of the kernel it was made against, and the loader compares. */
const RECORDED_AGAINST: ReadonlySet<VerdictProblemKind> = new Set<VerdictProblemKind>([
  'module-layout',
  'crc-mismatch',
  'vermagic',
  'struct-module-size',
]);

/** True when one of the build's modules was made against another build of the kernel or of a provider. */
export function isStaleBuild(verdicts: readonly ModuleVerdict[]): boolean {
  return verdicts.some((v) => !v.usable && v.problems.some((p) => RECORDED_AGAINST.has(p.kind)));
}
