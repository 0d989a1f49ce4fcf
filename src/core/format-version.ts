// Versions of the formats dkms-abi writes and reads back later: the state directory's layout
// and the transaction journal. A file from a newer dkms-abi (or with a version nobody wrote)
// is refused with the version found and the version this program reads; reading it as if
// it were ours could undo a change the wrong way.

/** Bumped when the layout of the state directory (<root>/var/lib/dkms-abi) changes incompatibly. */
export const STATE_LAYOUT_VERSION = 1;

/**
 * Bumped when the journal's plan.json changes incompatibly. 2: paths inside the root instead
 * of host paths (version 1 is still read, see core/journal.ts).
 */
export const JOURNAL_FORMAT_VERSION = 2;

/** Name of the file, in the state directory, that holds STATE_LAYOUT_VERSION. */
export const LAYOUT_VERSION_FILE = 'layout-version';

/**
 * Checks a version read from a file. `undefined` (the file predates versions) reads as 1.
 * Returns the problem as text, or undefined when this program reads that version.
 */
export function versionProblem(found: unknown, reads: number, what: string): string | undefined {
  const version = found === undefined ? 1 : found;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1)
    return `unknown ${what} version ${JSON.stringify(version)} (this dkms-abi reads version ${reads})`;
  if (version > reads)
    return `${what} version ${version} is newer than this dkms-abi reads (version ${reads}): use the dkms-abi that wrote it, or a newer one`;
  // An older version is converted by its reader (the journal's format 1, see core/journal.ts).
  return undefined;
}

/** The layout-version file: one decimal number and a newline. */
export function serializeLayoutVersion(version: number = STATE_LAYOUT_VERSION): string {
  return `${version}\n`;
}

/** Parses the layout-version file; returns the version or the problem as text. */
export function parseLayoutVersion(text: string): number | string {
  const t = text.trim();
  if (!/^\d{1,9}$/.test(t))
    return `unknown state layout version ${JSON.stringify(t.slice(0, 40))} (this dkms-abi reads version ${STATE_LAYOUT_VERSION})`;
  const version = Number(t);
  return versionProblem(version, STATE_LAYOUT_VERSION, 'state layout') ?? version;
}
