// The first checks of every JSON file dkms-abi reads back (tree manifests, package metadata,
// package records): problems are strings, which the reader turns into an InputError naming
// the file.

/** The text as a JSON object, or what is wrong with it. */
export function parseJsonObject(text: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (typeof v !== 'object' || v === null) return 'not an object';
  return v as Record<string, unknown>;
}

/** A file in another format than the one this program writes is not read as if it were. */
export function formatProblem(o: Record<string, unknown>, format: number): string | undefined {
  return o['format'] === format ? undefined : `format ${String(o['format'])} is not ${format}`;
}

/** The first of `keys` that is not a non-empty string, as a problem. */
export function missingString(o: Record<string, unknown>, keys: readonly string[]): string | undefined {
  for (const k of keys) if (typeof o[k] !== 'string' || o[k] === '') return `missing "${k}"`;
  return undefined;
}

/** A list of strings that each pass `ok`. */
export function isListOf(v: unknown, ok: (s: string) => boolean): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string' && ok(x));
}
