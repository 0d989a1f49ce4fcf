// metadata.json of a module package: what was built, for which ABI and kernel, and what
// each module needs from a kernel (its __versions CRCs and vermagic), so a machine without
// headers — or a person — can see what the package requires. Read back by package-install,
// which trusts nothing in it it has not validated.
import { formatProblem, isListOf, missingString, parseJsonObject } from './json-record.js';
import { isModuleFile } from './ko-name.js';
import { isSafeRelative } from './layout.js';
import { isPackageName } from './deb-names.js';
import { parseAbiSpec } from './abi-id.js';

export const METADATA_FILE = 'metadata.json';
/** The module's own exports, as saved in the tree. */
export const PAYLOAD_SYMVERS_FILE = 'Module.symvers';
/** The kernel ABI's Module.symvers the modules were built against. */
export const PAYLOAD_REFERENCE_FILE = 'abi-reference.symvers';
export const METADATA_FORMAT = 1;

export interface RequiredSymbol {
  readonly symbol: string;
  /** "0x1234abcd", as Module.symvers and modprobe --dump-modversions write it. */
  readonly crc: string;
}

export interface PackagedModuleFile {
  /** Relative to the ABI tree (and to the payload directory): "dkms/blobdrv.ko". */
  readonly path: string;
  readonly name: string;
  readonly vermagic: string;
  readonly license: string | null;
  readonly depends: readonly string[];
  readonly sha256: string;
  readonly requires: readonly RequiredSymbol[];
}

export interface PackageMetadata {
  readonly format: number;
  readonly package: string;
  readonly debVersion: string;
  readonly module: string;
  readonly version: string;
  readonly flavour: string;
  readonly abiver: string;
  readonly arch: string;
  readonly builtFor: string;
  /** Kernels of the build host's tree whose verdict accepted the modules. */
  readonly verifiedKernels: readonly string[];
  /** Where the reference came from on the build host, e.g. "/var/lib/dkms-abi/abi/amd64/1.symvers". */
  readonly referenceSource: string;
  readonly referenceSha256: string;
  readonly files: readonly PackagedModuleFile[];
}

export function serializeMetadata(m: PackageMetadata): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const CRC = /^0x[0-9a-f]{1,16}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Validates metadata read from a payload; returns a problem string when it is not usable. */
export function parseMetadata(text: string): PackageMetadata | string {
  const o = parseJsonObject(text);
  if (typeof o === 'string') return o;
  const bad =
    formatProblem(o, METADATA_FORMAT) ??
    missingString(o, ['package', 'debVersion', 'module', 'version', 'flavour', 'abiver', 'arch', 'builtFor']);
  if (bad !== undefined) return bad;
  const s = (k: string) => o[k] as string;
  if (!isPackageName(s('package'))) return `"package" ${s('package')} is not a package name`;
  for (const k of ['module', 'version', 'arch', 'builtFor'])
    if (!NAME.test(s(k)) || s(k).includes('..')) return `"${k}" ${s(k)} is not a plain name`;
  if (parseAbiSpec(`${s('flavour')}-${s('abiver')}`) === undefined)
    return `"${s('flavour')}-${s('abiver')}" is not an ABI`;
  if (typeof o['referenceSource'] !== 'string') return 'missing "referenceSource"';
  if (typeof o['referenceSha256'] !== 'string' || !SHA256.test(o['referenceSha256']))
    return '"referenceSha256" is not a sha256';
  const kernels = o['verifiedKernels'];
  if (!isListOf(kernels, (k) => NAME.test(k))) return '"verifiedKernels" must list kernel releases';
  if (!Array.isArray(o['files']) || o['files'].length === 0) return '"files" must list the modules';
  const files: PackagedModuleFile[] = [];
  for (const [i, f] of (o['files'] as unknown[]).entries()) {
    const file = parseFile(f);
    if (typeof file === 'string') return `files[${i}]: ${file}`;
    files.push(file);
  }
  return {
    format: METADATA_FORMAT,
    package: s('package'),
    debVersion: s('debVersion'),
    module: s('module'),
    version: s('version'),
    flavour: s('flavour'),
    abiver: s('abiver'),
    arch: s('arch'),
    builtFor: s('builtFor'),
    verifiedKernels: kernels,
    referenceSource: o['referenceSource'],
    referenceSha256: o['referenceSha256'],
    files,
  };
}

function parseFile(f: unknown): PackagedModuleFile | string {
  if (typeof f !== 'object' || f === null) return 'not an object';
  const o = f as Record<string, unknown>;
  const p = o['path'];
  if (typeof p !== 'string' || !isSafeRelative(p) || !p.startsWith('dkms/') || !isModuleFile(p))
    return `"path" must be a module file under dkms/ in the tree`;
  if (typeof o['name'] !== 'string' || typeof o['vermagic'] !== 'string')
    return 'missing "name" or "vermagic"';
  if (o['license'] !== null && typeof o['license'] !== 'string') return '"license" must be a string or null';
  if (typeof o['sha256'] !== 'string' || !SHA256.test(o['sha256'])) return '"sha256" is not a sha256';
  const deps = o['depends'];
  if (!isListOf(deps, () => true)) return '"depends" must list names';
  const req = o['requires'];
  if (!Array.isArray(req)) return '"requires" must be a list';
  const requires: RequiredSymbol[] = [];
  for (const r of req as unknown[]) {
    const e = r as Record<string, unknown> | null;
    if (typeof e?.['symbol'] !== 'string' || typeof e['crc'] !== 'string' || !CRC.test(e['crc']))
      return '"requires" entries need "symbol" and a hex "crc"';
    requires.push({ symbol: e['symbol'], crc: e['crc'] });
  }
  return {
    path: p,
    name: o['name'],
    vermagic: o['vermagic'],
    license: o['license'],
    depends: deps,
    sha256: o['sha256'],
    requires,
  };
}
