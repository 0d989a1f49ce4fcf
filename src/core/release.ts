// Kernel release (uname -r) → flavour, the part of the release that names a kernel
// configuration line whose modules can be shared. Configured patterns are tried first,
// then the distributions' schemes below; anything else gets a stated fallback.
import type { FlavourPattern } from './config.js';

export type Distro = 'debian' | 'ubuntu' | 'mandriva' | 'rhel' | 'suse' | 'unknown';

export interface KernelRelease {
  readonly release: string;
  readonly flavour: string;
  readonly distro: Distro;
  /** Upstream version part ("6.1.0", "4.18.0"), when the scheme has one. */
  readonly base: string | undefined;
  /** Which rule decided the flavour, for `abi show` and messages. */
  readonly source: string;
}

// Debian's architecture flavours (the suffix after an optional featureset like cloud- or rt-).
const DEBIAN_ARCH =
  '(?:amd64|arm64|armmp|armmp-lpae|marvell|rpi|686|686-pae|powerpc64le|ppc64el|s390x|riscv64|loong64|loongson-3|mips32r2el|mips64r2el|mips64r6el|octeon|4kc-malta|5kc-malta)';

interface Rule {
  readonly distro: Distro;
  readonly name: string;
  readonly re: RegExp;
  /** Builds the flavour from the match. */
  readonly flavour: (m: RegExpExecArray) => string | undefined;
}

const RULES: readonly Rule[] = [
  {
    // 6.1.0-47-amd64, 6.1.0-47-cloud-amd64, 6.1.0-0.deb11.13-amd64 (backports)
    distro: 'debian',
    name: 'Debian <version>-<abiname>-<flavour>',
    re: new RegExp(`^(\\d+\\.\\d+\\.\\d+)-(\\d+(?:\\.deb\\d+\\.\\d+)?)-((?:[a-z0-9]+-)?${DEBIAN_ARCH})$`),
    flavour: (m) => m[3],
  },
  {
    // 6.12.111+deb12-amd64, 6.12.48+deb13-cloud-amd64 (Debian's scheme since trixie)
    distro: 'debian',
    name: 'Debian <version>+deb<N>-<flavour>',
    re: new RegExp(`^(\\d+\\.\\d+\\.\\d+)\\+deb\\d+(?:\\.\\d+)?-((?:[a-z0-9]+-)?${DEBIAN_ARCH})$`),
    flavour: (m) => m[2],
  },
  {
    // 2.6.29.1-desktop-1mnb, 6.1.192-tiny-1mnb, 6.6.58-server-1.mga9
    distro: 'mandriva',
    name: 'Mandriva/Mageia <version>-<flavour>-<release>mnb|.mgaN',
    re: /^(\d+(?:\.\d+){2,3})-([a-z][a-z0-9]*)-\d+(?:\.\d+)*(?:mnb|mdv|\.mga\d+)$/,
    flavour: (m) => m[2],
  },
  {
    // 4.18.0-477.10.1.el8_8.x86_64, 5.14.0-362.8.1.el9_3.x86_64+rt, 6.5.6-300.fc39.x86_64
    distro: 'rhel',
    name: 'RHEL/Fedora <version>-<release>.<dist>.<arch>[+<variant>]',
    re: /^(\d+\.\d+\.\d+)-[\d.]+\.(?:el\d+(?:_\d+)?|fc\d+)\.([a-z0-9_]+)(?:\+([a-z0-9]+))?$/,
    flavour: (m) => (m[3] === undefined ? m[2] : `${m[2]}+${m[3]}`),
  },
  {
    // 5.14.21-150500.55.39-default, 6.4.0-150600.23.7-azure (the release part has dots)
    distro: 'suse',
    name: 'SUSE <version>-<release>-<flavour>',
    re: /^(\d+\.\d+\.\d+)-\d+(?:\.\d+)+-([a-z][a-z0-9_]*)$/,
    flavour: (m) => m[2],
  },
  {
    // 5.15.0-91-generic, 6.8.0-1015-aws, 5.15.0-91-lowlatency
    distro: 'ubuntu',
    name: 'Ubuntu <version>-<abi>-<flavour>',
    re: /^(\d+\.\d+\.\d+)-\d+-([a-z][a-z0-9-]*[a-z0-9])$/,
    flavour: (m) => m[2],
  },
];

export function parseKernelRelease(release: string, patterns: readonly FlavourPattern[] = []): KernelRelease {
  for (const p of patterns) {
    const m = p.pattern.exec(release);
    const flavour = m?.[p.group];
    if (flavour !== undefined && validatePathComponent(flavour) === undefined) {
      return { release, flavour, distro: 'unknown', base: undefined, source: `pattern ${p.source}` };
    }
  }
  for (const rule of RULES) {
    const m = rule.re.exec(release);
    if (m === null) continue;
    const flavour = rule.flavour(m);
    if (flavour !== undefined && validatePathComponent(flavour) === undefined) {
      return { release, flavour, distro: rule.distro, base: m[1], source: rule.name };
    }
  }
  return fallback(release);
}

/**
 * Unknown scheme: the last dash-separated word if it looks like a flavour ("6.5.0-custom" →
 * "custom"), else "default". Stated in `source` so `abi show` can tell the user.
 */
function fallback(release: string): KernelRelease {
  const last = release.split('-').pop() ?? '';
  const usable = /^[A-Za-z][A-Za-z0-9_+]{0,63}$/.test(last) && last !== release;
  return {
    release,
    flavour: usable ? last : 'default',
    distro: 'unknown',
    base: /^\d+\.\d+(?:\.\d+)?/.exec(release)?.[0],
    source: usable
      ? 'unknown scheme: flavour taken from the last "-" part (set [flavour] patterns to override)'
      : 'unknown scheme: flavour "default" (set [flavour] patterns to override)',
  };
}

const PATH_COMPONENT = /^[A-Za-z0-9._+-]+$/;

/** A problem with a name used as one path component (flavour, abiver, kernel release), or undefined. */
export function validatePathComponent(s: string): string | undefined {
  if (s === '') return 'empty';
  if (s.length > 128) return `longer than 128 characters`;
  if (s === '.' || s === '..' || s.startsWith('.')) return 'starts with "."';
  if (!PATH_COMPONENT.test(s)) return 'only letters, digits and . _ + - are allowed';
  return undefined;
}
