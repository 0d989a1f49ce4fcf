// Which export the loader finds for a symbol, given the kernel's Module.symvers (vmlinux and
// its in-tree modules) and the modules that will be present besides (a shared ABI tree, the
// files being checked together). vmlinux is always loaded and cannot be replaced; a present
// module replaces the in-tree module of the same name (depmod prefers one file per name,
// and dkms-abi's trees are meant to win), so that in-tree module's exports are gone.
import { moduleNameOf } from './ko-name.js';
import type { ExportedBy, SymbolLookup } from './verdict.js';

/** A module that will be present: its name and its exports. */
export interface PresentModule {
  readonly name: string;
  readonly exports: Iterable<readonly [string, ExportedBy]>;
}

export function layeredLookup(kernel: SymbolLookup, present: readonly PresentModule[]): SymbolLookup {
  const overlay = new Map<string, ExportedBy>();
  const replaced = new Set<string>();
  for (const m of present) {
    replaced.add(m.name);
    for (const [symbol, e] of m.exports) if (!overlay.has(symbol)) overlay.set(symbol, e);
  }
  if (overlay.size === 0 && replaced.size === 0) return kernel;
  // Whether an in-tree module path is replaced, per path: a whole kernel's modules import
  // ~10^6 symbols from a few thousand exporters, and the name is a regex away.
  const isReplaced = new Map<string, boolean>();
  return {
    get(symbol: string): ExportedBy | undefined {
      const k = kernel.get(symbol);
      if (k !== undefined && k.module === 'vmlinux') return k;
      const o = overlay.get(symbol);
      if (o !== undefined) return o;
      if (k === undefined) return undefined;
      let r = isReplaced.get(k.module);
      if (r === undefined) {
        r = replaced.has(moduleNameOf(k.module));
        isReplaced.set(k.module, r);
      }
      return r ? undefined : k;
    },
  };
}
