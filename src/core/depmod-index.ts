// What modprobe needs of depmod's output for one kernel: every file depmod writes, present
// and readable. depmod writes each through a temporary file and a rename, but a full disk or
// a kill can still leave some files new, some missing, some cut short (a 0-byte
// modules.alias): modprobe then fails to find aliases or symbols while modules.dep looks fine.

/** kmod's index files begin with this magic and a 2.x format version (libkmod-index.c). */
const INDEX_MAGIC = 0xb007f457;
const INDEX_VERSION_MAJOR = 0x0002;

/** What one file of the index looks like on disk. */
export interface IndexFileFact {
  readonly size: number;
  /** Its first 8 bytes (fewer when the file is shorter). */
  readonly head: Uint8Array;
  /** Whether the last byte is a newline (text files). */
  readonly endsWithNewline: boolean;
}

/** The files of <kver>/ depmod reads and writes, by name; a missing name is a missing file. */
export type DepmodIndexFacts = ReadonlyMap<string, IndexFileFact>;

/** Written for every kernel (kmod 30, Debian 12; later kmod writes these and more). */
export const DEPMOD_TEXT_FILES = [
  'modules.dep',
  'modules.alias',
  'modules.symbols',
  'modules.softdep',
  'modules.devname',
];
export const DEPMOD_INDEX_FILES = ['modules.dep.bin', 'modules.alias.bin', 'modules.symbols.bin'];
/** Indexes built from a file the kernel package ships: empty when that file is absent. */
export const DEPMOD_BUILTIN_INDEXES: ReadonlyMap<string, string> = new Map([
  ['modules.builtin.bin', 'modules.builtin'],
  ['modules.builtin.alias.bin', 'modules.builtin.modinfo'],
]);
/** Text files depmod always starts with a "# …" comment line. */
const HEADED_TEXT_FILES = new Set(['modules.alias', 'modules.symbols', 'modules.softdep']);

/** Every file verify must look at: what depmod writes and the sources of the builtin indexes. */
export const DEPMOD_INDEX_FACT_FILES: readonly string[] = [
  ...DEPMOD_TEXT_FILES,
  ...DEPMOD_INDEX_FILES,
  ...DEPMOD_BUILTIN_INDEXES.keys(),
  ...DEPMOD_BUILTIN_INDEXES.values(),
];

/** The problems of a kernel's module index, one phrase each; empty when modprobe can use it. */
export function depmodIndexProblems(facts: DepmodIndexFacts): string[] {
  const problems: string[] = [];
  for (const name of DEPMOD_TEXT_FILES) {
    const f = facts.get(name);
    if (f === undefined) problems.push(`${name} is missing`);
    else if (f.size > 0 && !f.endsWithNewline) problems.push(`${name} is cut short`);
    else if (HEADED_TEXT_FILES.has(name) && (f.size === 0 || f.head[0] !== 0x23) /* # */)
      problems.push(`${name} is ${f.size === 0 ? 'empty' : 'not what depmod writes'}`);
  }
  for (const name of DEPMOD_INDEX_FILES) {
    const f = facts.get(name);
    if (f === undefined) problems.push(`${name} is missing`);
    else if (!isKmodIndex(f)) problems.push(`${name} is not a kmod index`);
  }
  for (const [name, source] of DEPMOD_BUILTIN_INDEXES) {
    const f = facts.get(name);
    if (f === undefined) problems.push(`${name} is missing`);
    else if ((facts.get(source)?.size ?? 0) > 0 && !isKmodIndex(f))
      problems.push(`${name} is not a kmod index`);
  }
  return problems;
}

function isKmodIndex(f: IndexFileFact): boolean {
  if (f.size < 12 || f.head.length < 8) return false;
  const view = new DataView(f.head.buffer, f.head.byteOffset, f.head.byteLength);
  return view.getUint32(0) === INDEX_MAGIC && view.getUint16(4) === INDEX_VERSION_MAJOR;
}
