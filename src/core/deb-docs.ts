// The documentation every Debian binary package carries (policy §12.5, §12.7):
// /usr/share/doc/<pkg>/copyright and changelog.Debian.gz, plus the maintainer address
// both name. The copyright file says honestly what dkms-abi knows: where the binaries came
// from and the licence the modules declare; holders are those of the module's source.
import type { AbiId } from './abi-id.js';
import { formatAbi } from './abi-id.js';
import { wrap } from './deb-control.js';

const MAINTAINER = /^[^<>\n,]+ <[^<>@\s]+@[^<>\s]+>$/;

/** "Full Name <address>", as policy §5.6.2 wants it (no comma: dpkg would read two people). */
export function checkMaintainer(m: string): string | undefined {
  return MAINTAINER.test(m) ? undefined : `maintainer "${m}" is not of the form "Full Name <address>"`;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date in UTC, as changelogs and Release files write it. */
export function rfc2822(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()] ?? ''}, ${p2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()] ?? ''} ${d.getUTCFullYear()} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} +0000`;
}

export interface ChangelogInput {
  readonly name: string;
  readonly version: string;
  readonly module: string;
  readonly moduleVersion: string;
  readonly abi: AbiId;
  readonly builtFor: string;
  readonly maintainer: string;
  readonly epochSeconds: number;
}

export function changelog(c: ChangelogInput): string {
  const text = `Binary build of ${c.module} ${c.moduleVersion} by dkms-abi for kernel ABI ${formatAbi(c.abi)}, built for ${c.builtFor}.`;
  const [first = '', ...rest] = wrap(text, 74);
  return [
    `${c.name} (${c.version}) unstable; urgency=medium`,
    '',
    `  * ${first}`,
    ...rest.map((l) => `    ${l}`),
    '',
    ` -- ${c.maintainer}  ${rfc2822(c.epochSeconds)}`,
    '',
  ].join('\n');
}

export interface CopyrightInput {
  readonly module: string;
  readonly moduleVersion: string;
  readonly abi: AbiId;
  readonly builtFor: string;
  /** MODULE_LICENSE of each module file, e.g. ["GPL"], ["Proprietary"]. */
  readonly licenses: readonly string[];
  /** The source tree's own licence file, when it has one (COPYING, LICENSE…). */
  readonly sourceLicense?: { readonly name: string; readonly text: string };
}

/** GPL licence strings the kernel knows (include/linux/license.h) → the common-licenses file. */
function commonLicense(license: string): string | undefined {
  if (license === 'GPL v2' || license === 'GPL and additional rights') return 'GPL-2';
  if (license === 'GPL') return 'GPL-2';
  if (license.startsWith('Dual BSD/GPL') || license.startsWith('Dual MIT/GPL') || license === 'Dual MPL/GPL')
    return 'GPL-2';
  return undefined;
}

export function copyright(c: CopyrightInput): string {
  const licenses = [...new Set(c.licenses)];
  const paragraphs = [
    `${c.module} ${c.moduleVersion} kernel modules for kernel ABI ${formatAbi(c.abi)}`,
    `These binaries were built by dkms-abi from the DKMS source tree of ${c.module} ${c.moduleVersion} for the kernel ${c.builtFor}. Their copyright holders and licence are those of that source; dkms-abi adds no code to them.`,
    `The modules declare this licence (MODULE_LICENSE): ${licenses.length === 0 ? 'none' : licenses.join(', ')}.`,
  ];
  const common = [...new Set(licenses.map(commonLicense).filter((l): l is string => l !== undefined))];
  for (const l of common) {
    paragraphs.push(
      `On Debian systems, the complete text of the GNU General Public License version 2 can be found in /usr/share/common-licenses/${l}.`,
    );
  }
  const out = paragraphs.flatMap((p, i) => [...(i > 0 ? [''] : []), ...wrap(p, 76)]);
  if (c.sourceLicense !== undefined) {
    out.push('', `The source tree's ${c.sourceLicense.name} follows.`, '', c.sourceLicense.text.trimEnd());
  }
  return `${out.join('\n')}\n`;
}
