// Debian's own kernel ABI check as a peer for `abi check`: debian/bin/buildcheck.py (class
// CheckAbi) with debian/lib/python/debian_linux/abi.py, from the `linux` source package of
// Debian 12. Fetched here, at bench time, from Debian's archive (the CI reaches only Debian's
// and npm's registries): the small linux_*.debian.tar.xz alone, found through apt's source
// index with a private apt configuration (the machine's sources are not touched), cached
// under /var/cache/dkms-abi/bench-peers/. Its code is never committed here: only the driver
// bench/alt-debian-abi-check.py, which runs CheckAbi on two Module.symvers files.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { mustRun } from './measure.js';
import { REPO } from './roots.js';

const CACHE =
  process.env['DKMS_ABI_CACHE'] !== undefined
    ? `${process.env['DKMS_ABI_CACHE']}/bench-peers/debian-linux`
    : '/var/cache/dkms-abi/bench-peers/debian-linux';
const SUITE = 'bookworm';

/** The unpacked debian/ files the driver needs; fetched once. Returns the driver's argv prefix. */
export function debianAbiChecker(log = () => {}) {
  const src = path.join(CACHE, 'src');
  const buildcheck = path.join(src, 'debian/bin/buildcheck.py');
  const lib = path.join(src, 'debian/lib/python');
  if (!existsSync(path.join(lib, 'debian_linux/abi.py')) || !existsSync(buildcheck)) fetch(log);
  const driver = path.join(REPO, 'bench/alt-debian-abi-check.py');
  // Debian's python, as a package build runs it (not whatever python3 comes first on PATH).
  return { argv: ['/usr/bin/python3', driver, src], version: readVersion() };
}

function fetch(log) {
  log(`fetching Debian's linux source (debian/ only) from the ${SUITE} archive`);
  for (const d of ['lists/partial', 'archives/partial', 'src'])
    mkdirSync(path.join(CACHE, d), { recursive: true });
  const list = path.join(CACHE, 'sources.list');
  writeFileSync(
    list,
    `deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian ${SUITE} main\n`,
  );
  const apt = [
    '-o',
    `Dir::Etc::SourceList=${list}`,
    '-o',
    'Dir::Etc::SourceParts=/dev/null',
    '-o',
    `Dir::State::Lists=${path.join(CACHE, 'lists')}`,
    '-o',
    `Dir::Cache::Archives=${path.join(CACHE, 'archives')}`,
  ];
  mustRun(['apt-get', '-qq', ...apt, 'update']);
  const uris = mustRun(['apt-get', '-qq', ...apt, 'source', '--print-uris', 'linux']);
  // 'URI' filename size SHA256:hash
  const m = /^'([^']+)' (linux_([^ ]+)\.debian\.tar\.xz) \d+ (SHA256:[0-9a-f]+)$/m.exec(uris);
  if (m === null) throw new Error(`no linux_*.debian.tar.xz in apt's source index:\n${uris}`);
  const tarball = path.join(CACHE, m[2]);
  mustRun(['/usr/lib/apt/apt-helper', 'download-file', m[1], tarball, m[4]]);
  mustRun([
    'tar',
    '-xJf',
    tarball,
    '-C',
    path.join(CACHE, 'src'),
    'debian/bin/buildcheck.py',
    'debian/lib/python/debian_linux',
  ]);
  writeFileSync(path.join(CACHE, 'version'), `${m[3]}\n`);
}

function readVersion() {
  try {
    return mustRun(['cat', path.join(CACHE, 'version')]).trim();
  } catch {
    return 'unknown';
  }
}
