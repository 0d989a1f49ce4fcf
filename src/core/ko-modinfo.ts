// The .modinfo section: "key=value" strings separated by one or more NULs (alignment
// padding), read the way kmod's kmod_elf_get_strings + kmod_module_get_info do, so
// `modinfo -F key` is the oracle. A string without '=' is a key with an empty value.
import { decodeString } from './elf.js';

export interface ModinfoRecord {
  readonly key: string;
  readonly value: string;
}

export interface Modinfo {
  /** Every record, in section order; repeated keys (alias, firmware, parm…) repeat. */
  readonly records: readonly ModinfoRecord[];
  /** First value of each key, as the kernel's get_modinfo() picks it; undefined when absent. */
  readonly name: string | undefined;
  readonly vermagic: string | undefined;
  readonly license: string | undefined;
  readonly srcversion: string | undefined;
  /** "depends=a,b" → ['a','b']; modpost writes "depends=" for none, which is [] (empty parts dropped). */
  readonly depends: readonly string[];
  /** Every import_ns value (MODULE_IMPORT_NS), in order. */
  readonly importNs: readonly string[];
}

/** The keys a Modinfo reads at once; the rest (aliases, firmware, parm… most records) when asked. */
const EAGER_KEYS = ['name', 'vermagic', 'license', 'srcversion', 'depends', 'import_ns'] as const;
const EAGER_KEY_BYTES = EAGER_KEYS.map((k) => Array.from(k, (c) => c.charCodeAt(0)));

export function parseModinfo(section: Uint8Array): Modinfo {
  // A kernel's 4,000 modules hold ~70,000 records, mostly aliases, and a verdict reads six
  // keys: those values are decoded now, every record only if `records` is read (from a copy:
  // the caller's buffer may be reused).
  const bytes = Buffer.from(section); // a copy (Buffer#slice would be a view)
  const firsts = new Map<string, string>();
  const importNs: string[] = [];
  forEachRecord(bytes, (start, eq, end) => {
    const k = eagerKey(bytes, start, eq < 0 ? end : eq);
    if (k === undefined) return;
    const value = eq < 0 ? '' : decodeString(bytes, eq + 1, end);
    if (k === 'import_ns') importNs.push(value);
    if (!firsts.has(k)) firsts.set(k, value);
  });
  let records: ModinfoRecord[] | undefined;
  const depends = firsts.get('depends');
  return {
    get records(): readonly ModinfoRecord[] {
      return (records ??= allRecords(bytes));
    },
    name: firsts.get('name'),
    vermagic: firsts.get('vermagic'),
    license: firsts.get('license'),
    srcversion: firsts.get('srcversion'),
    depends: depends === undefined ? [] : depends.split(',').filter((d) => d !== ''),
    importNs,
  };
}

/** Calls `each` with every record's [start, end) and its first '=' (-1: none), in order. */
function forEachRecord(bytes: Uint8Array, each: (start: number, eq: number, end: number) => void): void {
  let i = 0;
  // The next '=' at or after i (found once for the records without one before it: linear).
  let nextEq = -1;
  while (i < bytes.length) {
    if (bytes[i] === 0) {
      i++;
      continue;
    }
    let end = bytes.indexOf(0, i);
    if (end < 0) end = bytes.length;
    // '=' is one byte that no UTF-8 sequence contains: its first byte is the decoded text's first '='.
    if (nextEq < i) {
      nextEq = bytes.indexOf(0x3d, i);
      if (nextEq < 0) nextEq = bytes.length;
    }
    each(i, nextEq < end ? nextEq : -1, end);
    i = end + 1;
  }
}

/** The eager key bytes[start, end) spells, if any. */
function eagerKey(bytes: Uint8Array, start: number, end: number): (typeof EAGER_KEYS)[number] | undefined {
  const n = end - start;
  for (let k = 0; k < EAGER_KEY_BYTES.length; k++) {
    const key = EAGER_KEY_BYTES[k] as number[];
    if (key.length !== n) continue;
    let same = true;
    for (let j = 0; j < n && same; j++) same = bytes[start + j] === key[j];
    if (same) return EAGER_KEYS[k];
  }
  return undefined;
}

function allRecords(bytes: Uint8Array): ModinfoRecord[] {
  const records: ModinfoRecord[] = [];
  forEachRecord(bytes, (start, eq, end) => {
    records.push(
      eq < 0
        ? { key: decodeString(bytes, start, end), value: '' }
        : { key: decodeString(bytes, start, eq), value: decodeString(bytes, eq + 1, end) },
    );
  });
  return records;
}

/** All values of a key, in order (what `modinfo -F key` prints, one per line). */
export function modinfoValues(info: Pick<Modinfo, 'records'>, key: string): string[] {
  return info.records.filter((r) => r.key === key).map((r) => r.value);
}
