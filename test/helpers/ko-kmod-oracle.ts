// kmod as a test oracle for the .ko reader, run in batches: thousands of modules cost a
// few processes, not thousands. `modinfo -0` takes many files and prints NUL-separated
// records; `modprobe --dump-modversions` takes one, so a sh loop runs it per file behind a
// delimiter line.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ModinfoRecord } from '../../src/core/ko.js';

const exec = promisify(execFile);
const MAX_BUFFER = 512 * 1024 * 1024;
const DELIMITER = '@@@ ';

function chunks<T>(items: readonly T[], n: number): T[][] {
  const size = Math.ceil(items.length / n);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** `modprobe --dump-modversions FILE` output per file (absolute paths in, same keys out). */
export async function dumpModversions(files: readonly string[], parallel = 2): Promise<Map<string, string>> {
  const script = `for f; do printf '${DELIMITER}%s\\n' "$f"; modprobe --dump-modversions "$f" || echo "!!! failed"; done`;
  const outputs = await Promise.all(
    chunks(files, parallel).map((list) =>
      exec('sh', ['-c', script, 'sh', ...list], { maxBuffer: MAX_BUFFER }),
    ),
  );
  const result = new Map<string, string>();
  for (const { stdout } of outputs) {
    for (const block of stdout.split(DELIMITER).slice(1)) {
      const nl = block.indexOf('\n');
      result.set(block.slice(0, nl), block.slice(nl + 1));
    }
  }
  return result;
}

export interface KmodModinfo {
  /** The key=value records, in the order modinfo printed them (signature fields included). */
  readonly records: ModinfoRecord[];
  /** The merged parameter lines modinfo prints last ("name:description (type)"). */
  readonly params: string[];
}

/** `modinfo -0 FILE…` per file. */
export async function modinfoAll(files: readonly string[], parallel = 2): Promise<Map<string, KmodModinfo>> {
  const outputs = await Promise.all(
    chunks(files, parallel).map((list) => exec('modinfo', ['-0', ...list], { maxBuffer: MAX_BUFFER })),
  );
  const result = new Map<string, KmodModinfo>();
  for (const { stdout } of outputs) {
    let current: KmodModinfo | undefined;
    for (const field of stdout.split('\0')) {
      if (field === '') continue;
      // Fields printed with "%-16s": the key and colon padded to 16 columns.
      if (field.startsWith('filename:')) {
        current = { records: [], params: [] };
        result.set(field.slice(16), current);
      } else if (current === undefined) {
        throw new Error(`modinfo output before any filename: ${field}`);
      } else if (field.startsWith('parm:') && /^parm: {11}/.test(field)) {
        current.params.push(field.slice(16));
      } else {
        const eq = field.indexOf('=');
        current.records.push({ key: field.slice(0, eq), value: field.slice(eq + 1) });
      }
    }
  }
  return result;
}

/** kmod's modinfo parameter merging (tools/modinfo.c, process_parm + printing), from raw records. */
export function kmodParamLines(records: readonly ModinfoRecord[]): string[] {
  // kmod prepends each newly seen name to a list, then prints from the head.
  const params: { name: string; param?: string; type?: string }[] = [];
  for (const { key, value } of records) {
    if (key !== 'parm' && key !== 'parmtype') continue;
    const colon = value.indexOf(':');
    if (colon < 0) continue;
    const name = value.slice(0, colon);
    let p = params.find((x) => x.name === name);
    if (p === undefined) {
      p = { name };
      params.unshift(p);
    }
    if (key === 'parm') p.param = value.slice(colon + 1);
    else p.type = value.slice(colon + 1);
  }
  return params.map((p) =>
    p.param === undefined
      ? `${p.name}:${p.type ?? ''}`
      : p.type !== undefined
        ? `${p.name}:${p.param} (${p.type})`
        : `${p.name}:${p.param}`,
  );
}

/** `modinfo -F FIELD FILE` values, one per line as printed. */
export async function modinfoField(file: string, field: string): Promise<string> {
  return (await exec('modinfo', ['-F', field, file], { maxBuffer: MAX_BUFFER })).stdout;
}
