// Stock dkms run on a sandbox root's trees, and the rule of issue 12 that compares it with
// dkms-abi: dkms-abi's status never says less than dkms's about the same module and kernel.
import { execa } from 'execa';
import type { SandboxRoot } from './sandbox.js';

/** `dkms ARGS` on the root's three trees; its temp files and signing key stay in the root. */
export function stockDkms(sb: SandboxRoot, ...args: string[]) {
  return execa(
    'dkms',
    [
      ...args,
      '--dkmstree',
      sb.host('var/lib/dkms'),
      '--sourcetree',
      sb.host('usr/src'),
      '--installtree',
      sb.host('lib/modules'),
    ],
    {
      reject: false,
      stdin: 'ignore',
      env: {
        TMPDIR: sb.host('tmp'),
        mok_signing_key: sb.host('var/lib/dkms/mok.key'),
        mok_certificate: sb.host('var/lib/dkms/mok.pub'),
      },
    },
  );
}

export interface StatusLine {
  /** "M/V" or "M/V, KVER, ARCH": what the line is about. */
  readonly key: string;
  /** The first word of the state: added, built, installed, installed-abi, abi-mismatch. */
  readonly state: string;
  /** Everything after the state ("(from K0)", "(WARNING! …)", ", needs-depmod"). */
  readonly rest: string;
  readonly line: string;
}

/** A dkms-style status line (dkms 3.0.x prints "M/V: added" before any kernel is involved). */
export function parseStatusLine(line: string): StatusLine {
  const m = /^(.+?): (added|built|installed-abi|installed|abi-mismatch)\b(.*)$/.exec(line);
  if (m === null) throw new Error(`not a status line: ${JSON.stringify(line)}`);
  return { key: m[1] ?? '', state: m[2] ?? '', rest: m[3] ?? '', line };
}

export function statusLines(stdout: string): StatusLine[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(parseStatusLine);
}

// How much a state says about a module on a kernel: added < built < installed. dkms-abi's
// installed-abi is dkms's installed (dkms prints "installed" for those kernels too); an
// abi-mismatch is a build dkms-abi judged unusable there, so it says "built", no more.
const RANK: Readonly<Record<string, number>> = {
  added: 0,
  built: 1,
  'abi-mismatch': 1,
  installed: 2,
  'installed-abi': 2,
};

/**
 * Every line of stock dkms's status that dkms-abi's status contradicts: a module/kernel
 * dkms lists that dkms-abi omits, or a state below dkms's. Empty when dkms-abi never says less.
 */
export function saysLessThanDkms(stock: readonly StatusLine[], abi: readonly StatusLine[]): string[] {
  const ours = new Map(abi.map((l) => [l.key, l]));
  const out: string[] = [];
  for (const theirs of stock) {
    const mine = ours.get(theirs.key);
    const need = RANK[theirs.state];
    if (need === undefined) out.push(`dkms printed an unknown state: ${theirs.line}`);
    else if (mine === undefined) out.push(`dkms: "${theirs.line}", dkms-abi: nothing`);
    else if ((RANK[mine.state] ?? -1) < need) out.push(`dkms: "${theirs.line}", dkms-abi: "${mine.line}"`);
  }
  return out;
}
