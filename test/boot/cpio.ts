// A minimal writer for the "newc" cpio format the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Written by hand so the
// archive is deterministic (fixed inode numbers, owners and times, sorted paths) and can
// hold a /dev/console node without running mknod on the host.

export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly data: Buffer; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | { readonly kind: 'chardev'; readonly path: string; readonly major: number; readonly minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/**
 * Encode entries as one newc archive. Paths are archive-relative ("bin/sh"); missing
 * parent directories are added, and entries are written parents first.
 */
export function encodeNewc(entries: readonly CpioEntry[]): Buffer {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const p = normalize(e.path);
    for (const dir of ancestors(p)) {
      if (!byPath.has(dir)) byPath.set(dir, { kind: 'dir', path: dir });
    }
    byPath.set(p, { ...e, path: p });
  }
  // A path sorts after every one of its prefixes, so parents come first.
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const chunks: Buffer[] = [];
  let ino = 1;
  for (const e of sorted) chunks.push(...record(e, ino++));
  chunks.push(...record({ kind: 'file', path: 'TRAILER!!!', data: Buffer.alloc(0), mode: 0 }, 0, true));
  return Buffer.concat(chunks);
}

function record(e: CpioEntry, ino: number, trailer = false): Buffer[] {
  let mode: number;
  let data: Buffer = Buffer.alloc(0);
  let rdev: [number, number] = [0, 0];
  switch (e.kind) {
    case 'dir':
      mode = S_IFDIR | (e.mode ?? 0o755);
      break;
    case 'file':
      mode = trailer ? 0 : S_IFREG | (e.mode ?? 0o644);
      data = e.data;
      break;
    case 'symlink':
      mode = S_IFLNK | 0o777;
      data = Buffer.from(e.target);
      break;
    case 'chardev':
      mode = S_IFCHR | 0o600;
      rdev = [e.major, e.minor];
      break;
  }
  const name = Buffer.from(`${e.path}\0`);
  const fields = [
    ino,
    mode,
    0, // uid
    0, // gid
    e.kind === 'dir' ? 2 : 1, // nlink
    0, // mtime
    data.length,
    0, // devmajor
    0, // devminor
    rdev[0],
    rdev[1],
    name.length,
    0, // check
  ];
  const header = Buffer.from('070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join(''));
  return [header, name, pad(header.length + name.length), data, pad(data.length)];
}

function pad(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function normalize(p: string): string {
  return p
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
}

function ancestors(p: string): string[] {
  const parts = p.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}
