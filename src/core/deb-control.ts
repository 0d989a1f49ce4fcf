// The DEBIAN/control file of a module package, as deb822 text: fields in the order
// dpkg-gencontrol writes them, a wrapped extended description, and a kernel relation that
// says what is true — the modules serve every kernel of one ABI, so the package names the
// kernels it was verified on with Enhances (no install-time pull) instead of depending on one.
import type { AbiId } from './abi-id.js';
import { formatAbi } from './abi-id.js';
import { kernelImagePackage, moduleVirtualPackage } from './deb-names.js';

export type Field = readonly [name: string, value: string];

/** deb822: "Name: value", continuation lines start with a space, empty lines are " .". */
export function renderStanza(fields: readonly Field[]): string {
  const out: string[] = [];
  for (const [name, value] of fields) {
    const [first = '', ...rest] = value.split('\n');
    out.push(first === '' ? `${name}:` : `${name}: ${first}`);
    for (const line of rest) out.push(line.trim() === '' ? ' .' : ` ${line}`);
  }
  return `${out.join('\n')}\n`;
}

/** Greedy word wrap (a word longer than the width gets a line of its own). */
export function wrap(text: string, width = 72): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (cur === '') cur = word;
    else if (cur.length + 1 + word.length <= width) cur += ` ${word}`;
    else {
      lines.push(cur);
      cur = word;
    }
  }
  if (cur !== '') lines.push(cur);
  return lines;
}

/** Synopsis plus paragraphs, as the Description field's value. */
export function description(synopsis: string, paragraphs: readonly string[]): string {
  return [synopsis, ...paragraphs.flatMap((p, i) => [...(i > 0 ? [''] : []), ...wrap(p)])].join('\n');
}

export interface ModuleControlInput {
  readonly name: string;
  readonly version: string;
  readonly debArch: string;
  readonly maintainer: string;
  readonly installedSizeKiB: number;
  readonly module: string;
  readonly moduleVersion: string;
  readonly abi: AbiId;
  readonly builtFor: string;
  /** Kernels of the build host's ABI tree whose verdict accepted the modules. */
  readonly verifiedKernels: readonly string[];
  /** Packages of other modules of the same tree these modules need (modinfo depends). */
  readonly dependsOn: readonly string[];
  /** Module file names, e.g. "blobdrv.ko". */
  readonly moduleFiles: readonly string[];
}

export function moduleControl(c: ModuleControlInput): string {
  const abi = formatAbi(c.abi);
  const enhances = [...new Set([c.builtFor, ...c.verifiedKernels])]
    .map(kernelImagePackage)
    .filter((p): p is string => p !== undefined);
  const fields: Field[] = [
    ['Package', c.name],
    ['Version', c.version],
    ['Architecture', c.debArch],
    ['Maintainer', c.maintainer],
    ['Installed-Size', String(c.installedSizeKiB)],
    // The maintainer scripts run dkms-abi; packages of modules these link against come first.
    ['Depends', ['dkms-abi', ...c.dependsOn].join(', ')],
    ['Provides', `${moduleVirtualPackage(c.module)} (= ${c.version})`],
    ...(enhances.length > 0 ? [['Enhances', enhances.join(', ')] as const] : []),
    ['Section', 'kernel'],
    ['Priority', 'optional'],
    [
      'Description',
      description(`${c.module} ${c.moduleVersion} kernel modules for kernel ABI ${abi}`, [
        `Prebuilt binaries of the DKMS module ${c.module} ${c.moduleVersion}, built once by dkms-abi for ${c.builtFor} and usable on every kernel whose module ABI is ${abi} (the shared tree kernel-abi-${c.abi.flavour}-${c.abi.abiver}). Installing this package needs neither a compiler nor kernel headers.`,
        `On installation dkms-abi checks each installed kernel's symbol CRCs and vermagic against the modules and makes them available to the kernels that accept them; kernels of the same ABI installed later pick them up through dkms-abi's kernel hooks.`,
        `Modules: ${c.moduleFiles.join(', ')}.`,
      ]),
    ],
  ];
  return renderStanza(fields);
}

/** What dpkg-gencontrol counts: KiB per file rounded up, one per directory or link. */
export function installedSizeKiB(
  entries: readonly { kind: 'file' | 'dir' | 'link'; size: number }[],
): number {
  let kib = 0;
  for (const e of entries) kib += e.kind === 'file' ? Math.ceil(e.size / 1024) : 1;
  return Math.max(kib, 1);
}
