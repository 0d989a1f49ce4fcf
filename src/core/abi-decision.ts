// Which ABI a kernel belongs to, decided from its Module.symvers against the references
// archived per flavour (Mandriva's rule, per flavour): a kernel joins an ABI when no
// symbol changed or disappeared; symbols it adds are fine for modules built before.
import type { SymversIndex } from './symvers.js';

export interface ReferenceCheck {
  readonly abiver: string;
  /** Symbols whose CRC, export type, namespace or module changed, or that were removed. */
  readonly breaking: number;
  readonly added: number;
}

export type AbiDecision =
  | { readonly kind: 'join'; readonly abiver: string; readonly added: number }
  | { readonly kind: 'new'; readonly abiver: string; readonly breaksFrom: ReferenceCheck | undefined };

/**
 * Newest compatible reference wins, so a kernel that could join several (identical
 * references) lands where the most recent kernels are. `next` is the abiver to allocate.
 */
export function decideAbi(checks: readonly ReferenceCheck[], next: string): AbiDecision {
  const byNewest = [...checks].sort((a, b) => Number(b.abiver) - Number(a.abiver));
  const fit = byNewest.find((c) => c.breaking === 0);
  if (fit !== undefined) return { kind: 'join', abiver: fit.abiver, added: fit.added };
  return { kind: 'new', abiver: next, breaksFrom: byNewest[0] };
}

/**
 * What decideAbi needs from comparing a reference with a kernel's symvers: the counts
 * diffSymvers would give (each breaking category counted, as breakingCount does, and the
 * added symbols), without building and sorting its lists: kernel add compares with every
 * archived reference of the flavour.
 */
export function compareWithReference(
  ref: SymversIndex,
  next: SymversIndex,
): Pick<ReferenceCheck, 'breaking' | 'added'> {
  const a = ref.bySymbol;
  const b = next.bySymbol;
  let breaking = 0;
  for (const [symbol, o] of a) {
    const n = b.get(symbol);
    if (n === undefined) {
      breaking++;
      continue;
    }
    if (o.crc !== n.crc) breaking++;
    if (o.module !== n.module) breaking++;
    if (o.exportType !== n.exportType) breaking++;
    if (o.namespace !== n.namespace) breaking++;
  }
  let added = 0;
  for (const symbol of b.keys()) if (!a.has(symbol)) added++;
  return { breaking, added };
}
