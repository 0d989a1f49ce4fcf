// Header drift in a sandbox root: a same-ABI kernel whose headers differ from the original's
// in one file of the shared source headers (Debian's linux-headers-<abi>-common), by one edit.
// The kernel's own headers directory is pointed at a private copy of the common directory.
import { execa } from 'execa';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { privateCopy } from './sandbox.js';

/**
 * Gives `kernel` (headers already in the root, e.g. from addSameAbiKernel) a private copy of
 * its common headers in which `rel` has `from` replaced by `to`. Returns the copy's host path.
 */
export async function driftCommonHeader(
  root: string,
  kernel: string,
  rel: string,
  from: string,
  to: string,
): Promise<string> {
  const makefileInner = `usr/src/linux-headers-${kernel}/Makefile`;
  const makefile = await readFile(path.join(root, makefileInner), 'utf8');
  const m = /^include\s+(\/\S+)\/Makefile\s*$/m.exec(makefile);
  if (m?.[1] === undefined) throw new Error(`${makefileInner}: no "include <common>/Makefile" line`);
  const common = path.join(root, 'usr/src', `linux-headers-${kernel}-common`);
  await execa('cp', ['-al', m[1], common]);
  const file = await privateCopy(root, path.relative(root, path.join(common, rel)));
  const text = await readFile(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${rel}: no "${from}" to change`);
  await writeFile(`${file}.new`, text.replace(from, to));
  await rename(`${file}.new`, file);
  const own = await privateCopy(root, makefileInner);
  await writeFile(own, makefile.replace(m[0], `include ${common}/Makefile`));
  return common;
}

/** The edit the ground truth makes: minmax_get() returns 1000 more than the stored sample. */
export const MINMAX_DRIFT = {
  rel: 'include/linux/win_minmax.h',
  from: 'return m->s[0].v;\n}',
  to: 'return m->s[0].v + 1000;\n}',
} as const;
