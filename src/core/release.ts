// Kernel release (uname -r) → flavour: the part of the release that names a line of kernel
// builds whose modules may be shared ("amd64", "cloud-amd64", "x86_64+rt", "desktop"). The
// flavour goes into the shared tree's name, kernel-abi-<flavour>-<abiver>, so it must be a
// safe path component. Configured patterns are tried first, then the distributions' schemes
// below; anything else gets a stated fallback, never an error: which ABI a kernel joins is
// decided from its Module.symvers, the flavour only groups the candidates.
import { TREE_PREFIX } from './abi-id.js';
import { UsageError } from './errors.js';

/** A configured rule that names a release's flavour ([flavour] in the config). */
export interface FlavourPattern {
  /** Regular expression matched against the whole kernel release. */
  readonly pattern: RegExp;
  /** Capture group (1-based) holding the flavour. */
  readonly group: number;
  /** Where the pattern was defined, for messages. */
  readonly source: string;
  /** Its [flavour] key ("pattern.10"), so that a later file can replace or remove it. */
  readonly key?: string;
}

export type Distro = 'debian' | 'ubuntu' | 'mandriva' | 'rhel' | 'suse' | 'unknown';

export interface KernelRelease {
  readonly release: string;
  readonly flavour: string;
  /** Upstream version ("6.1.0", "4.18.0"), when the release starts with one. */
  readonly base?: string;
  /**
   * The distribution's ABI name, where the release carries one: Debian "6.1.0-47",
   * "6.1.0-0.deb11.13", "6.12.111+deb12"; Ubuntu "5.15.0-91". RHEL, SUSE and Mandriva
   * releases name a package build, not an ABI.
   */
  readonly abiname?: string;
  /** The scheme recognised ('rhel' covers the RPM family: Fedora, CentOS, Alma, Rocky, Oracle, Amazon). */
  readonly distro: Distro;
  /** Which rule decided the flavour, or why none did: for `abi show` and messages. */
  readonly source: string;
}

/** The flavour of a release no rule recognises. */
export const FALLBACK_FLAVOUR = 'generic';

// Debian's flavours: an architecture, optionally after a featureset (cloud-, rt-).
const DEBIAN_FLAVOUR =
  /^(?:(?:cloud|rt)-)?(?:amd64|arm64(?:-16k)?|686(?:-pae)?|armmp(?:-lpae)?|marvell|rpi|powerpc64le|powerpc64|powerpc(?:-smp)?|ppc64el|ppc64|s390x|riscv64|loong64|loongson-3|[45]kc-malta|octeon|mips32r2e[lb]|mips64r2e[lb]|mips64r6e[lb]|sparc64(?:-smp)?|parisc(?:64)?|m68k|alpha-generic|alpha-smp|sh7751r|sh7785lcr)$/;
// Ubuntu's flavours, by their first word (generic-64k, intel-iotg, nvidia-lowlatency…).
const UBUNTU_FLAVOUR_HEADS = new Set([
  'generic',
  'lowlatency',
  'aws',
  'azure',
  'gcp',
  'gke',
  'gkeop',
  'oracle',
  'kvm',
  'raspi',
  'raspi2',
  'ibm',
  'nvidia',
  'realtime',
  'intel',
  'oem',
  'virtual',
  'server',
  'fips',
  'bluefield',
  'xilinx',
  'snapdragon',
  'allwinner',
  'starfive',
  'mtk',
]);
// SUSE's flavours (SLE, Leap, Tumbleweed).
const SUSE_FLAVOURS = new Set([
  'default',
  '64kb',
  'rt',
  'rt_debug',
  'kvmsmall',
  'preempt',
  'pae',
  'lpae',
  'vanilla',
  'debug',
  'zfcpdump',
  'xen',
  'ec2',
  'trace',
]);
const RPM_ARCH = '(x86_64|aarch64|ppc64le|ppc64|s390x|i686|i586|i386|armv7hl|riscv64|loongarch64)';

interface Rule {
  readonly name: string;
  readonly re: RegExp;
  /** The release's parts from a match, or undefined when the match is not this scheme after all. */
  readonly read: (m: RegExpExecArray) => Omit<KernelRelease, 'release' | 'source'> | undefined;
}

// Tried in order; the first rule that reads the release decides.
const RULES: readonly Rule[] = [
  {
    // 6.12.111+deb12-amd64, 6.12.38+deb13-cloud-arm64, 6.12.12+bpo-amd64 (Debian since
    // trixie and its backports), 6.6.31+rpt-rpi-v8 (Raspberry Pi OS, Debian-built)
    name: 'Debian <version>+deb<N>-<flavour>',
    re: /^(\d+\.\d+(?:\.\d+)?)\+((?:deb|bpo|rpt)\d*(?:u\d+)?)-([a-z0-9][a-z0-9+_-]*)$/,
    read: (m) => ({ flavour: g(m, 3), base: g(m, 1), abiname: `${g(m, 1)}+${g(m, 2)}`, distro: 'debian' }),
  },
  {
    // 6.10.12-amd64 (Debian unstable: no ABI number)
    name: 'Debian unstable <version>-<flavour>',
    re: /^(\d+\.\d+\.\d+)-([a-z0-9][a-z0-9-]*)$/,
    read: (m) =>
      DEBIAN_FLAVOUR.test(g(m, 2))
        ? { flavour: g(m, 2), base: g(m, 1), abiname: g(m, 1), distro: 'debian' }
        : undefined,
  },
  {
    // 2.6.29.1-desktop-1mnb, 6.1.192-tiny-1mnb (Mandriva), 6.6.58-server-1.mga9 (Mageia),
    // 6.6.8-desktop-1omv2390 (OpenMandriva): <version>-<flavour>-<package release>
    name: 'Mandriva/Mageia <version>-<flavour>-<release>',
    re: /^(\d+(?:\.\d+){1,3})-([A-Za-z][A-Za-z0-9_+]*(?:-[A-Za-z][A-Za-z0-9_+]*)*)-\d+(?:\.\d+)*\.?(?:mnb|mdv|mdk|mga|omv)[A-Za-z0-9._]*$/,
    read: (m) => ({ flavour: g(m, 2), base: g(m, 1), distro: 'mandriva' }),
  },
  {
    // 4.18.0-477.10.1.el8_8.x86_64, 5.14.0-362.8.1.el9_3.x86_64+rt, 6.5.6-300.fc39.x86_64,
    // 4.18.0-477.10.1.rt7.273.el8_8.x86_64 (kernel-rt before 9.3), 3.10.0-1160.el7.x86_64.debug
    // The flavour is the architecture plus the variant: x86_64, x86_64+rt, aarch64+64k,
    // i686+PAE, x86_64+debug; '+' is a safe path character and keeps the tree name readable.
    name: 'RHEL/Fedora <version>-<release>.<arch>[+<variant>]',
    re: new RegExp(
      `^(\\d+\\.\\d+\\.\\d+)-(\\d[0-9A-Za-z._]*?)\\.${RPM_ARCH}(?:\\+([A-Za-z0-9_-]+)|\\.(debug))?$`,
    ),
    read: (m) => {
      const variants = [
        ...(/(?:^|\.)rt\d+(?:\.|$)/.test(g(m, 2)) ? ['rt'] : []),
        ...(m[4] !== undefined ? [m[4]] : m[5] !== undefined ? [m[5]] : []),
      ];
      return { flavour: [g(m, 3), ...variants].join('+'), base: g(m, 1), distro: 'rhel' };
    },
  },
  {
    // <version>-<abi>-<flavour>: Debian 6.1.0-47-amd64, 6.1.0-0.deb11.13-cloud-amd64; Ubuntu
    // 5.15.0-91-generic, 6.8.0-1015-aws; SUSE 5.14.21-150500.55.39-default, 6.11.0-1-default.
    // The flavour is the same whoever built it; the distribution is told by its flavours.
    name: '<version>-<abi>-<flavour>',
    re: /^(\d+\.\d+\.\d+)-(\d+(?:\.\d+)*|0\.deb\d+\.\d+)-([A-Za-z0-9][A-Za-z0-9+_.-]*)$/,
    read: (m) => {
      const [base, abi, flavour] = [g(m, 1), g(m, 2), g(m, 3)];
      const abiname = `${base}-${abi}`;
      if (abi.includes('.deb')) return { flavour, base, abiname, distro: 'debian' };
      if (abi.includes('.') || SUSE_FLAVOURS.has(flavour)) return { flavour, base, distro: 'suse' };
      if (UBUNTU_FLAVOUR_HEADS.has(flavour.split('-')[0] ?? ''))
        return { flavour, base, abiname, distro: 'ubuntu' };
      if (DEBIAN_FLAVOUR.test(flavour)) return { flavour, base, abiname, distro: 'debian' };
      // Proxmox 6.8.12-4-pve, Arch 6.6.32-1-lts…: the shape is clear, the distribution is not.
      return { flavour, base, distro: 'unknown' };
    },
  },
  {
    // 6.5.0-custom, 6.1.21-v8+: a self-built kernel's LOCALVERSION
    name: '<version>-<localversion>',
    re: /^(\d+\.\d+(?:\.\d+)?)(?:-rc\d+)?-([A-Za-z][A-Za-z0-9_+]*)$/,
    read: (m) => ({ flavour: g(m, 2), base: g(m, 1), distro: 'unknown' }),
  },
];

function g(m: RegExpExecArray, i: number): string {
  return m[i] ?? '';
}

/**
 * The release's flavour and what else its scheme tells. `patterns` (from the config) are
 * tried first, in order, and decide the flavour when they match; the distribution, base
 * and ABI name still come from the built-in schemes. A pattern whose capture is not a safe
 * flavour is passed over, and `source` says so.
 */
export function parseKernelRelease(release: string, patterns: readonly FlavourPattern[] = []): KernelRelease {
  const builtin = builtinRelease(release);
  const notes: string[] = [];
  for (const p of patterns) {
    const m = p.pattern.exec(release);
    if (m === null) continue;
    const flavour = m[p.group];
    const problem = flavour === undefined ? undefined : validatePathComponent(flavour);
    if (flavour !== undefined && problem === undefined) return { ...builtin, flavour, source: p.source };
    notes.push(
      `${p.source} matched but group ${p.group} ${flavour === undefined ? 'captured nothing' : `gave "${flavour}": ${problem}`}`,
    );
  }
  return notes.length === 0 ? builtin : { ...builtin, source: `${notes.join('; ')}; ${builtin.source}` };
}

function builtinRelease(release: string): KernelRelease {
  for (const rule of RULES) {
    const m = rule.re.exec(release);
    if (m === null) continue;
    const read = rule.read(m);
    if (read === undefined) continue;
    const problem = validatePathComponent(read.flavour);
    if (problem !== undefined) return fallback(release, `${rule.name} gave "${read.flavour}": ${problem}`);
    return { release, ...read, source: `built-in: ${rule.name}` };
  }
  return fallback(release, `no built-in scheme recognises "${release}"`);
}

function fallback(release: string, why: string): KernelRelease {
  const base = /^\d+\.\d+(?:\.\d+)?/.exec(release)?.[0];
  return {
    release,
    flavour: FALLBACK_FLAVOUR,
    ...(base === undefined ? {} : { base }),
    distro: 'unknown',
    source: `${why}: flavour "${FALLBACK_FLAVOUR}" (set a [flavour] pattern or [kernel:<release>] flavour in dkms-abi.conf)`,
  };
}

/** A kernel release is at most 64 characters (the kernel's __NEW_UTS_LEN); so are flavours. */
export const MAX_NAME_LENGTH = 64;

const NAME_CHARS = /^[A-Za-z0-9._+-]*$/;

/**
 * Checks a name used as one path component: a kernel release, a flavour, an abiver.
 * Returns the problem, or undefined when the name is safe: 1 to 64 characters from
 * [A-Za-z0-9._+-], no "..", not starting with "." (hidden, "." and "..") or "-" (would read
 * as an option in the argv of dkms or depmod). No "/", NUL or newline can get through.
 */
export function validatePathComponent(name: string): string | undefined {
  if (name === '') return 'empty';
  if (name.length > MAX_NAME_LENGTH) return `longer than ${MAX_NAME_LENGTH} characters`;
  if (!NAME_CHARS.test(name)) return 'only letters, digits and . _ + - are allowed';
  if (name.includes('..')) return 'contains ".."';
  if (name.startsWith('.')) return 'starts with "."';
  if (name.startsWith('-')) return 'starts with "-"';
  return undefined;
}

/**
 * Checks a kernel release given by a user or found on disk: a safe path component that does
 * not name one of the shared trees (/lib/modules/kernel-abi-*), which are not kernels.
 */
export function kernelReleaseProblem(kver: string): string | undefined {
  const problem = validatePathComponent(kver);
  if (problem !== undefined) return problem;
  if (kver.startsWith(TREE_PREFIX)) return `names a shared ABI tree ("${TREE_PREFIX}…"), not a kernel`;
  return undefined;
}

/** kernelReleaseProblem as a usage error (exit 2) naming the release. */
export function checkKernelRelease(kver: string): void {
  const problem = kernelReleaseProblem(kver);
  if (problem !== undefined) throw new UsageError(`invalid kernel release "${kver}": ${problem}`);
}

/**
 * Checks an abiver: a decimal number of 1 to 9 digits, so that "kernel-abi-<flavour>-<abiver>"
 * parses back unambiguously (flavours may contain dashes and digits). Returns the problem.
 */
export function validateAbiver(abiver: string): string | undefined {
  return /^[0-9]{1,9}$/.test(abiver) ? undefined : 'must be a decimal number of 1 to 9 digits';
}
