// depmod command lines. -b makes depmod work on a root; -a all modules of that kernel.
// With -E it also checks symbol versions against a symvers file (used to compare verdicts).

export function depmodArgv(root: string, kernel: string): string[] {
  return ['depmod', '-a', '-b', root, kernel];
}

/** depmod's own "would these load" report: -e with -E prints unresolved or version-mismatched symbols. */
export function depmodCheckArgv(root: string, kernel: string, symvers: string): string[] {
  return ['depmod', '-n', '-e', '-E', symvers, '-b', root, kernel];
}
