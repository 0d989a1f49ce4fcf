// Red Hat's check-kabi (redhat/kabi/check-kabi in RHEL, CentOS Stream and Fedora kernel trees,
// python3) as the peer issue 16 names for `abi check`. It is not in Debian's archive, and this
// machine reaches only Debian's and npm's registries, so the set-up script cannot fetch it: the
// bench measures it when a copy has been placed in the cache, with a file ORIGIN beside it
// saying where it came from, and says so in the report when none has. Its code is never
// committed here.
//
// check-kabi reads four columns (CRC, symbol, module, export type); kernels since 5.10 write a
// fifth (namespace), so each file is cut to four columns once, before timing, as its users do.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const DIR =
  process.env['DKMS_ABI_CACHE'] !== undefined
    ? `${process.env['DKMS_ABI_CACHE']}/bench-peers/redhat`
    : '/var/cache/dkms-abi/bench-peers/redhat';
export const CHECK_KABI = path.join(DIR, 'check-kabi');

/**
 * The peer's argv for REF → NEW (given as Module.symvers paths; their 4-column cuts are written
 * to workDir), and where the copy came from; undefined when no copy is in the cache.
 */
export function checkKabi(workDir, ref, neu) {
  if (!existsSync(CHECK_KABI)) return undefined;
  const cut = (file, name) => {
    const out = path.join(workDir, name);
    const lines = readFileSync(file, 'utf8').split('\n');
    writeFileSync(out, lines.map((l) => l.split('\t').slice(0, 4).join('\t')).join('\n'));
    return out;
  };
  const origin = path.join(DIR, 'ORIGIN');
  const sha256 = createHash('sha256').update(readFileSync(CHECK_KABI)).digest('hex');
  return {
    // Debian's python, as for Debian's own check (not whatever python3 comes first on PATH).
    argv: ['/usr/bin/python3', CHECK_KABI, '-k', cut(ref, 'ref.kabi'), '-s', cut(neu, 'new.symvers')],
    origin: existsSync(origin) ? readFileSync(origin, 'utf8').trim() : 'origin not recorded',
    sha256,
  };
}

/** Its report's counts: "changed" (CRC changed or symbol gone) and "moved" symbols, one a line. */
export function checkKabiCounts(stdout) {
  const section = (heading) => {
    const at = stdout.indexOf(heading);
    if (at < 0) return 0;
    // The heading line, a blank line, then one symbol a line up to a blank line.
    const body = stdout.slice(stdout.indexOf('\n\n', at) + 2);
    const end = body.indexOf('\n\n');
    return (end < 0 ? body : body.slice(0, end)).split('\n').filter((l) => l !== '').length;
  };
  return {
    changed: section('The following symbols have been changed'),
    moved: section('The following symbols moved'),
  };
}
