// Gathers what one boot needs into cpio entries: busybox-static as the shell, kmod with
// the libraries ldd names (modprobe must read modules.dep.bin the way a real system
// does), the /init script, and from the sandbox root only the part of
// lib/modules/<kver> the steps can reach: the index files, every top-level link such as
// `extra -> ../kernel-abi-<flavour>-<abiver>` together with the tree it points to, and
// the dependency closure of the modules named.
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { CpioEntry } from './cpio.js';

const BUSYBOX = '/bin/busybox';
const KMOD_CANDIDATES = ['/usr/bin/kmod', '/bin/kmod'];
const KMOD_LINKS = ['modprobe', 'insmod', 'rmmod', 'lsmod', 'modinfo'];
/** Links at the top of lib/modules/<kver> that lead out to headers, not modules. */
const NOT_MODULE_LINKS = new Set(['build', 'source']);
const MAX_LINKS = 40;

/** Busybox with a link per applet, kmod with its libraries, and the device/mount points. */
export async function toolEntries(): Promise<CpioEntry[]> {
  const entries: CpioEntry[] = [
    { kind: 'dir', path: 'dev' },
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'dir', path: 'proc' },
    { kind: 'dir', path: 'sys' },
    { kind: 'dir', path: 'tmp', mode: 0o1777 },
    { kind: 'file', path: 'bin/busybox', data: await readFile(BUSYBOX), mode: 0o755 },
  ];
  const applets = (await execa(BUSYBOX, ['--list'])).stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a));
  for (const applet of applets) {
    if (applet !== 'busybox') entries.push({ kind: 'symlink', path: `bin/${applet}`, target: 'busybox' });
  }
  const kmod = await firstExisting(KMOD_CANDIDATES);
  entries.push({ kind: 'file', path: 'usr/bin/kmod', data: await readFile(kmod), mode: 0o755 });
  // kmod's links go to /sbin, ahead of busybox's applets of the same name in PATH.
  for (const name of KMOD_LINKS)
    entries.push({ kind: 'symlink', path: `sbin/${name}`, target: '/usr/bin/kmod' });
  for (const lib of await sharedLibraries(kmod)) {
    entries.push({ kind: 'file', path: lib, data: await readFile(lib), mode: 0o755 });
  }
  return entries;
}

/** Absolute paths of the shared objects (and the ELF interpreter) ldd reports for `binary`. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await execa('ldd', [binary]);
  const libs = new Set<string>();
  for (const line of stdout.split('\n')) {
    // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m?.[1] !== undefined) libs.add(m[1]);
  }
  return [...libs].sort();
}

async function firstExisting(candidates: readonly string[]): Promise<string> {
  for (const c of candidates) {
    try {
      await lstat(c);
      return c;
    } catch {
      // try the next one
    }
  }
  throw new Error(`none of ${candidates.join(', ')} exists: install kmod`);
}

/** modules.dep as a map from the module's path (relative to lib/modules/<kver>) to its dependencies. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const rest = line.slice(colon + 1).trim();
    deps.set(line.slice(0, colon), rest === '' ? [] : rest.split(/\s+/));
  }
  return deps;
}

/** The name the kernel gives a module file: basename without .ko[.xz|.zst|.gz], "-" as "_". */
export function moduleNameOfPath(p: string): string {
  return normalizeModuleName(path.basename(p).replace(/\.ko(?:\.(?:xz|zst|gz))?$/, ''));
}

export function normalizeModuleName(name: string): string {
  return name.replaceAll('-', '_');
}

/**
 * Paths (relative to lib/modules/<kver>) of the named modules and everything they
 * depend on. Names modules.dep does not know (built-in, or missing) contribute nothing:
 * modprobe in the guest then gives its own answer.
 */
export function dependencyClosure(
  deps: ReadonlyMap<string, readonly string[]>,
  names: readonly string[],
): string[] {
  const byName = new Map<string, string>();
  for (const p of deps.keys()) {
    const n = moduleNameOfPath(p);
    if (!byName.has(n)) byName.set(n, p);
  }
  const out = new Set<string>();
  const visit = (p: string): void => {
    if (out.has(p)) return;
    out.add(p);
    for (const d of deps.get(p) ?? []) visit(d);
  };
  for (const name of names) {
    const p = byName.get(normalizeModuleName(name));
    if (p !== undefined) visit(p);
  }
  return [...out].sort();
}

/**
 * Copies paths out of a sandbox root with chroot semantics, recording every symlink it
 * passes through as a symlink, so the guest sees the same layout (the `extra` link stays
 * a link).
 */
export class RootCollector {
  readonly #root: string;
  readonly #entries = new Map<string, CpioEntry>();

  constructor(root: string) {
    this.#root = path.resolve(root);
  }

  entries(): CpioEntry[] {
    return [...this.#entries.values()];
  }

  /** Host path of `inner` after following links inside the root; records the links and a final file. */
  async addPath(
    inner: string,
  ): Promise<{ readonly inner: string; readonly host: string; readonly isDir: boolean }> {
    let pending = components(inner);
    const done: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const [head, ...rest] = pending as [string, ...string[]];
      pending = rest;
      if (head === '..') {
        done.pop();
        continue;
      }
      const innerPath = [...done, head].join('/');
      const host = path.join(this.#root, innerPath);
      const st = await lstat(host);
      if (st.isSymbolicLink()) {
        if (++hops > MAX_LINKS) throw new Error(`too many symlinks resolving ${inner} in ${this.#root}`);
        const target = await readlink(host);
        this.#entries.set(innerPath, { kind: 'symlink', path: innerPath, target });
        if (target.startsWith('/')) done.length = 0;
        pending = [...components(target), ...pending];
        continue;
      }
      done.push(head);
      if (st.isFile()) {
        if (pending.length > 0) throw new Error(`${innerPath} in ${this.#root} is a file, not a directory`);
        this.#entries.set(innerPath, {
          kind: 'file',
          path: innerPath,
          data: await readFile(host),
          mode: st.mode & 0o777,
        });
      } else if (!st.isDirectory()) {
        throw new Error(`${innerPath} in ${this.#root} is neither file, directory nor symlink`);
      }
    }
    const resolved = done.join('/');
    const st = await lstat(path.join(this.#root, resolved));
    return { inner: `/${resolved}`, host: path.join(this.#root, resolved), isDir: st.isDirectory() };
  }

  /** `inner` and, if it is (or leads to) a directory, everything below it; links inside are kept as links. */
  async addTree(inner: string): Promise<void> {
    const top = await this.addPath(inner);
    if (!top.isDir) return;
    const walk = async (dirInner: string): Promise<void> => {
      const names = (await readdir(path.join(this.#root, dirInner))).sort();
      for (const name of names) {
        const childInner = `${dirInner}/${name}`;
        const host = path.join(this.#root, childInner);
        const st = await lstat(host);
        const key = components(childInner).join('/');
        if (st.isSymbolicLink()) {
          this.#entries.set(key, { kind: 'symlink', path: key, target: await readlink(host) });
        } else if (st.isDirectory()) {
          this.#entries.set(key, { kind: 'dir', path: key, mode: st.mode & 0o777 });
          await walk(childInner);
        } else if (st.isFile()) {
          this.#entries.set(key, {
            kind: 'file',
            path: key,
            data: await readFile(host),
            mode: st.mode & 0o777,
          });
        }
      }
    };
    await walk(top.inner);
  }
}

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * The module side of the initramfs: lib/modules/<kver>/modules.* , the module links at
 * its top with their trees, the closure of `modprobeNames`, and each `insmodPaths` file
 * (returned with its host path).
 */
export async function moduleEntries(
  root: string,
  kver: string,
  modprobeNames: readonly string[],
  insmodPaths: readonly string[],
): Promise<{ readonly entries: CpioEntry[]; readonly hostPaths: ReadonlyMap<string, string> }> {
  const collector = new RootCollector(root);
  const modDir = `/lib/modules/${kver}`;
  const { host: hostModDir } = await collector.addPath(modDir);
  for (const name of (await readdir(hostModDir)).sort()) {
    const st = await lstat(path.join(hostModDir, name));
    if (name.startsWith('modules.') && st.isFile()) await collector.addPath(`${modDir}/${name}`);
    else if (st.isSymbolicLink() && !NOT_MODULE_LINKS.has(name)) await collector.addTree(`${modDir}/${name}`);
  }
  const depFile = path.join(hostModDir, 'modules.dep');
  const depText = await readFile(depFile, 'utf8').catch(() => {
    throw new Error(`${depFile} is missing: run depmod -b ${root} ${kver} first`);
  });
  const deps = parseModulesDep(depText);
  for (const rel of dependencyClosure(deps, modprobeNames)) await collector.addPath(`${modDir}/${rel}`);
  const hostPaths = new Map<string, string>();
  for (const p of insmodPaths) hostPaths.set(p, (await collector.addPath(p)).host);
  return { entries: collector.entries(), hostPaths };
}
