// One place derives every path dkms-abi touches from --root. Nothing else hard-codes
// /lib/modules, /var/lib/dkms, /usr/src or /etc.
import path from 'node:path';
import type { PathOverrides } from '../core/config.js';

export interface Paths {
  readonly root: string;
  /** Inside-root absolute paths (for messages, symlink targets, dkms arguments after re-rooting). */
  readonly inner: Required<PathOverrides>;
  readonly modulesDir: string;
  readonly dkmsTree: string;
  readonly sourceTree: string;
  readonly stateDir: string;
  readonly bootDir: string;
  readonly etcDir: string;
  readonly configFile: string;
  readonly configDropInDir: string;
  readonly lockFile: string;
  readonly journalDir: string;
  /** Changed whenever a journal closes (src/system/txn.ts): lets status read without the lock. */
  readonly generationFile: string;
  readonly abiArchiveDir: string;
  kernelDir(kver: string): string;
  extraLink(kver: string): string;
  /** Name of the shared tree directory, relative to modulesDir. */
  abiTreeName(flavour: string, abiver: string): string;
  abiTree(flavour: string, abiver: string): string;
  abiReference(flavour: string, abiver: string): string;
  /** Host path of an inside-root absolute path, without following symlinks. */
  host(inner: string): string;
}

export function makePaths(root: string, overrides: PathOverrides = {}): Paths {
  const hostRoot = path.resolve(root);
  const inner = {
    modulesDir: overrides.modulesDir ?? '/lib/modules',
    dkmsTree: overrides.dkmsTree ?? '/var/lib/dkms',
    sourceTree: overrides.sourceTree ?? '/usr/src',
    stateDir: overrides.stateDir ?? '/var/lib/dkms-abi',
    bootDir: overrides.bootDir ?? '/boot',
  };
  const host = (p: string): string => path.join(hostRoot, p);
  const modulesDir = host(inner.modulesDir);
  const stateDir = host(inner.stateDir);
  const abiTreeName = (flavour: string, abiver: string): string => `kernel-abi-${flavour}-${abiver}`;
  return {
    root: hostRoot,
    inner,
    modulesDir,
    dkmsTree: host(inner.dkmsTree),
    sourceTree: host(inner.sourceTree),
    stateDir,
    bootDir: host(inner.bootDir),
    etcDir: host('/etc'),
    configFile: host('/etc/dkms-abi.conf'),
    configDropInDir: host('/etc/dkms-abi.conf.d'),
    lockFile: path.join(stateDir, 'lock'),
    journalDir: path.join(stateDir, 'journal'),
    generationFile: path.join(stateDir, 'cache', 'generation'),
    abiArchiveDir: path.join(stateDir, 'abi'),
    kernelDir: (kver) => path.join(modulesDir, kver),
    extraLink: (kver) => path.join(modulesDir, kver, 'extra'),
    abiTreeName,
    abiTree: (flavour, abiver) => path.join(modulesDir, abiTreeName(flavour, abiver)),
    abiReference: (flavour, abiver) => path.join(stateDir, 'abi', flavour, `${abiver}.symvers`),
    host,
  };
}
