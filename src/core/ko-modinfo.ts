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

export function parseModinfo(section: Uint8Array): Modinfo {
  const records: ModinfoRecord[] = [];
  let i = 0;
  while (i < section.length) {
    if (section[i] === 0) {
      i++;
      continue;
    }
    let end = section.indexOf(0, i);
    if (end < 0) end = section.length;
    const text = decodeString(section, i, end);
    const eq = text.indexOf('=');
    records.push(eq < 0 ? { key: text, value: '' } : { key: text.slice(0, eq), value: text.slice(eq + 1) });
    i = end + 1;
  }
  const first = (key: string): string | undefined => records.find((r) => r.key === key)?.value;
  const depends = first('depends');
  return {
    records,
    name: first('name'),
    vermagic: first('vermagic'),
    license: first('license'),
    srcversion: first('srcversion'),
    depends: depends === undefined ? [] : depends.split(',').filter((d) => d !== ''),
    importNs: modinfoValues({ records }, 'import_ns'),
  };
}

/** All values of a key, in order (what `modinfo -F key` prints, one per line). */
export function modinfoValues(info: Pick<Modinfo, 'records'>, key: string): string[] {
  return info.records.filter((r) => r.key === key).map((r) => r.value);
}
