// Which ABI a kernel belongs to, decided from its Module.symvers against the references
// archived per flavour (Mandriva's rule, per flavour): a kernel joins an ABI when no
// symbol changed or disappeared; symbols it adds are fine for modules built before.

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
