// Which ABI tree of the installing machine a package's modules go to. abivers are numbered
// per machine (the build host's archive numbers them for a fleet), so the package's number
// is a hint and its ABI reference decides: the modules go where a kernel with that
// Module.symvers would go — the package's own abiver when its reference fits there, else the
// newest archived reference it does not break, else a new abiver (the package's number when
// it is still free) with the package's reference archived as its definition.
import { decideAbi, type ReferenceCheck } from './abi-decision.js';
import { nextAbiver } from './abi-id.js';

export type TargetAbi =
  | { readonly kind: 'join'; readonly abiver: string }
  /** Archive the package's reference as <flavour>/<abiver>.symvers. */
  | { readonly kind: 'archive'; readonly abiver: string };

export function chooseTargetAbi(
  packageAbiver: string,
  checks: readonly ReferenceCheck[],
  used: readonly string[],
): TargetAbi {
  const own = checks.find((c) => c.abiver === packageAbiver);
  if (own !== undefined && own.breaking === 0) return { kind: 'join', abiver: packageAbiver };
  const d = decideAbi(checks, nextAbiver(used));
  if (d.kind === 'join') return { kind: 'join', abiver: d.abiver };
  return { kind: 'archive', abiver: used.includes(packageAbiver) ? d.abiver : packageAbiver };
}
