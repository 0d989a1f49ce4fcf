// A kernel ABI identity: flavour plus abiver, named on disk as the shared tree
// "kernel-abi-<flavour>-<abiver>" (Mandriva's scheme). abiver is a decimal number
// allocated per flavour; the flavour may itself contain dashes (cloud-amd64).

export interface AbiId {
  readonly flavour: string;
  readonly abiver: string;
}

export const TREE_PREFIX = 'kernel-abi-';

export function abiTreeName(id: AbiId): string {
  return `${TREE_PREFIX}${id.flavour}-${id.abiver}`;
}

export function formatAbi(id: AbiId): string {
  return `${id.flavour}-${id.abiver}`;
}

/** "kernel-abi-cloud-amd64-3" (or a link target ending in it) → {flavour: "cloud-amd64", abiver: "3"}. */
export function parseAbiTreeName(name: string): AbiId | undefined {
  const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
  if (!base.startsWith(TREE_PREFIX)) return undefined;
  return parseAbiSpec(base.slice(TREE_PREFIX.length));
}

/** "amd64-2" (the --abi FLAVOUR-ABIVER form) → {flavour: "amd64", abiver: "2"}. */
export function parseAbiSpec(spec: string): AbiId | undefined {
  const m = /^([A-Za-z0-9._+-]+)-([0-9]{1,9})$/.exec(spec);
  if (m === null || m[1] === undefined || m[2] === undefined) return undefined;
  if (m[1].includes('..') || m[1].startsWith('.') || m[1].startsWith('-')) return undefined;
  return { flavour: m[1], abiver: m[2] };
}

/** The next free abiver for a flavour, given those already used. */
export function nextAbiver(used: readonly string[]): string {
  let max = 0;
  for (const v of used) {
    const n = Number.parseInt(v, 10);
    if (Number.isFinite(n) && n > max) max = n;
  }
  return String(max + 1);
}

export function sameAbi(a: AbiId, b: AbiId): boolean {
  return a.flavour === b.flavour && a.abiver === b.abiver;
}
