// The symbols a module imports (its undefined global and weak symbols, in symbol-table order)
// as columns, each with the __versions entry that carries its CRC: a kernel's modules import
// ~185,000 symbols, kept until the whole set is judged. An object per import, a second string
// per name (the __versions entry has it already) and a map from name to entry built per
// module for every verdict were most of what the collector and the verdicts spent.
import type { ModVersions } from './ko-versions.js';

export interface ImportedSymbol {
  readonly name: string;
  /** A weak reference: modpost gives it a __versions entry only if some module exports it. */
  readonly weak: boolean;
}

export class ModuleImports {
  private constructor(
    private readonly names: readonly string[],
    /** Indexes of the weak ones (few modules have any). */
    private readonly weakAt: ReadonlySet<number>,
    /** Per import: its entry in `linkedTo`, -1 when none. */
    private readonly versionAt: Int32Array,
    /** The __versions the entries are of. */
    readonly linkedTo: ModVersions | null,
  ) {}

  static of(list: readonly ImportedSymbol[], versions: ModVersions | null): ModuleImports {
    const weak = new Set<number>();
    list.forEach((imp, i) => {
      if (imp.weak) weak.add(i);
    });
    return ModuleImports.linked(
      list.map((imp) => imp.name),
      weak,
      versions,
    );
  }

  /**
   * The reader's columns, each import linked to its __versions entry by name (the first entry
   * of a name, as the loader's linear search finds it) and given that entry's string.
   */
  static linked(names: string[], weakAt: ReadonlySet<number>, versions: ModVersions | null): ModuleImports {
    const versionAt = new Int32Array(names.length).fill(-1);
    if (versions !== null && versions.length > 0) {
      const byName = new Map<string, number>();
      for (let j = versions.length - 1; j >= 0; j--) byName.set(versions.name(j), j);
      for (let i = 0; i < names.length; i++) {
        const j = byName.get(names[i] as string);
        if (j === undefined) continue;
        versionAt[i] = j;
        names[i] = versions.name(j);
      }
    }
    return new ModuleImports(names, weakAt, versionAt, versions);
  }

  get length(): number {
    return this.names.length;
  }

  name(i: number): string {
    return this.names[i] as string;
  }

  weak(i: number): boolean {
    return this.weakAt.size > 0 && this.weakAt.has(i);
  }

  /** The import's entry in `linkedTo`; -1 when it has none. */
  version(i: number): number {
    return this.versionAt[i] as number;
  }

  toArray(): ImportedSymbol[] {
    return this.names.map((name, i) => ({ name, weak: this.weak(i) }));
  }
}
