// BUILD_DEPENDS order, as dkms autoinstall walks it: a module goes after the modules it
// depends on that are being installed too; dependencies outside the set are ignored.
// Cycles cannot be ordered: their members follow in name order, as dkms gives up on them.

export interface Dependent {
  readonly module: string;
  readonly buildDepends: readonly string[];
}

export function buildOrder<T extends Dependent>(items: readonly T[]): T[] {
  const byName = new Map(items.map((i) => [i.module, i]));
  const pending = new Map(
    items.map((i) => [i.module, new Set(i.buildDepends.filter((d) => byName.has(d) && d !== i.module))]),
  );
  const out: T[] = [];
  for (;;) {
    const ready = [...pending.entries()]
      .filter(([, deps]) => deps.size === 0)
      .map(([m]) => m)
      .sort();
    if (ready.length === 0) break;
    for (const m of ready) {
      pending.delete(m);
      out.push(byName.get(m) as T);
      for (const deps of pending.values()) deps.delete(m);
    }
  }
  for (const m of [...pending.keys()].sort()) out.push(byName.get(m) as T);
  return out;
}
