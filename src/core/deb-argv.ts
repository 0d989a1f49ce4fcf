// Command lines and the flat-repository index files for Debian packaging, as data.
import { renderStanza, type Field } from './deb-control.js';
import { rfc2822 } from './deb-docs.js';

/**
 * dpkg-deb --build: files owned by root:root whatever the build user (no fakeroot needed),
 * xz like the archive's packages. SOURCE_DATE_EPOCH (in the environment) fixes the ar and
 * tar timestamps, so the same inputs give the same bytes.
 */
export function dpkgDebBuildArgv(stageDir: string, debFile: string): string[] {
  return ['dpkg-deb', '--build', '--root-owner-group', '-Zxz', stageDir, debFile];
}

/** The Packages index of a flat repository, run in the repository so Filename is "./x.deb". */
export function dpkgScanpackagesArgv(): string[] {
  return ['dpkg-scanpackages', '--multiversion', '.'];
}

export interface IndexFile {
  readonly name: string;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
}

/**
 * The Release file of a flat repository (`deb [trusted=yes] file:DIR ./`): apt checks the
 * indexes it downloads against these hashes, and it can be signed into InRelease.
 */
export function flatRelease(
  indexes: readonly IndexFile[],
  architectures: readonly string[],
  epochSeconds: number,
): string {
  const sums = (pick: (f: IndexFile) => string) =>
    ['', ...indexes.map((f) => `${pick(f)} ${String(f.size).padStart(8)} ${f.name}`)].join('\n');
  const fields: Field[] = [
    ['Origin', 'dkms-abi'],
    ['Label', 'dkms-abi'],
    ['Date', rfc2822(epochSeconds)],
    ['Architectures', [...new Set(architectures)].sort().join(' ')],
    ['Description', 'dkms-abi binary kernel module packages, one per module and kernel ABI'],
    ['MD5Sum', sums((f) => f.md5)],
    ['SHA256', sums((f) => f.sha256)],
  ];
  return renderStanza(fields);
}

/** Architectures named by a Packages index ("all" is not one a Release lists). */
export function packagesArchitectures(packages: string): string[] {
  const archs = new Set<string>();
  for (const m of packages.matchAll(/^Architecture: (\S+)$/gm))
    if (m[1] !== undefined && m[1] !== 'all') archs.add(m[1]);
  return [...archs].sort();
}
