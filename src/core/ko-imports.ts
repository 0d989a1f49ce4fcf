// The symbols a module imports (its undefined global and weak symbols, in symbol-table order)
// as columns: a kernel's modules import ~185,000 symbols, kept until the whole set is judged,
// and an object per import was a large part of what the collector had to copy.

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
  ) {}

  static of(list: readonly ImportedSymbol[]): ModuleImports {
    const weak = new Set<number>();
    list.forEach((imp, i) => {
      if (imp.weak) weak.add(i);
    });
    return new ModuleImports(
      list.map((imp) => imp.name),
      weak,
    );
  }

  /** The reader's columns, taken as they are. */
  static fromColumns(names: readonly string[], weakAt: ReadonlySet<number>): ModuleImports {
    return new ModuleImports(names, weakAt);
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

  toArray(): ImportedSymbol[] {
    return this.names.map((name, i) => ({ name, weak: this.weak(i) }));
  }
}
