// depmod command lines. -b makes depmod work on a root. depmod reads its depmod.d search
// order from the host's /etc, /run and /lib, not from -b: for any other root we name the
// root's own configuration directories with -C (repeatable) so its search order applies.

export function depmodConfigDirs(root: string): string[] {
  if (root === '/') return [];
  return ['/etc/depmod.d', '/run/depmod.d', '/lib/depmod.d'].map((d) => `${root}${d}`);
}

export function depmodArgv(root: string, kernel: string): string[] {
  return ['depmod', '-a', '-b', root, ...depmodConfigDirs(root).flatMap((d) => ['-C', d]), kernel];
}

/** depmod's own "would these load" report: -e with -E prints unresolved or version-mismatched symbols. */
export function depmodCheckArgv(root: string, kernel: string, symvers: string): string[] {
  return [
    'depmod',
    '-n',
    '-e',
    '-E',
    symvers,
    '-b',
    root,
    ...depmodConfigDirs(root).flatMap((d) => ['-C', d]),
    kernel,
  ];
}

/**
 * The files depmod (kmod) writes in a kernel's module directory. modules.order,
 * modules.builtin and modules.builtin.modinfo come with the kernel and are only read.
 */
export const DEPMOD_OUTPUT =
  /^modules\.(dep|dep\.bin|alias|alias\.bin|softdep|weakdep|symbols|symbols\.bin|builtin\.bin|builtin\.alias\.bin|devname)$/;
