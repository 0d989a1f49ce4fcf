// Binds the sharing flows' UsabilityChecker to the module loader's rules: every versioned
// import must be exported by the kernel (its Module.symvers) or by a module of its ABI
// tree (their saved Module.symvers) with the same CRC, and vermagic must match after the
// release part. Targets are built once per kernel per command.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { KernelModuleInfo } from '../core/ko.js';
import { SAVED_SYMVERS_FILE, TREE_META_DIR } from '../core/layout.js';
import type { TreeModule } from '../core/snapshot.js';
import type { Usability } from '../core/status.js';
import { formatCrc, type SymversEntry } from '../core/symvers.js';
import { readExtra } from './scan.js';
import { findKernelConfig, findKernelSymvers } from './kernel-files.js';
import { readKernelModuleFile } from './ko-file.js';
import type { Paths } from './paths.js';
import { readSymversFile } from './symvers-file.js';
import type { UsabilityChecker } from './usability.js';

interface Target {
  readonly symbols: ReadonlyMap<string, SymversEntry>;
  /** vermagic after the release: "SMP preempt mod_unload modversions ". */
  readonly magicTail: string | undefined;
}

export function makeChecker(paths: Paths): UsabilityChecker {
  const targets = new Map<string, Promise<Target | string>>();
  // A tree module is checked once per kernel of its tree: parse each file once while it is
  // unchanged (same inode, size and times), re-read it when an install replaced it.
  const modules = new Map<string, { readonly id: string; readonly info: Promise<KernelModuleInfo> }>();
  const moduleInfo = async (file: string): Promise<KernelModuleInfo> => {
    const st = await stat(file).catch(() => undefined);
    const id = st === undefined ? '' : `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    const known = modules.get(file);
    if (known !== undefined && id !== '' && known.id === id) return known.info;
    const info = readKernelModuleFile(file);
    modules.set(file, { id, info });
    return info;
  };
  const target = (kernel: string) => {
    let t = targets.get(kernel);
    if (t === undefined) {
      t = loadTarget(paths, kernel);
      targets.set(kernel, t);
    }
    return t;
  };
  const filesUsable = async (hostPaths: readonly string[], kernel: string): Promise<Usability> => {
    const t = await target(kernel);
    if (typeof t === 'string') return { usable: false, reason: t };
    // The tree's exports only matter for imports the kernel lacks: read them on the first miss.
    let fromTree: Map<string, SymversEntry> | undefined;
    const own = new Set<string>();
    const infos = [];
    for (const p of hostPaths) infos.push(await moduleInfo(p));
    for (const info of infos) for (const e of info.exports) own.add(e.symbol);
    for (const info of infos) {
      const tail = magicTail(info.modinfo.vermagic ?? '');
      if (t.magicTail !== undefined && tail !== t.magicTail) {
        return { usable: false, reason: `vermagic "${tail.trim()}" != "${t.magicTail.trim()}"` };
      }
      for (const v of info.versions ?? []) {
        if (own.has(v.name)) continue;
        let e = t.symbols.get(v.name);
        if (e === undefined) {
          fromTree ??= await treeSymbols(paths, kernel);
          e = fromTree.get(v.name);
        }
        if (e === undefined) return { usable: false, reason: `missing ${v.name}` };
        if (e.crc !== v.crc)
          return { usable: false, reason: `${v.name}: CRC ${formatCrc(v.crc)} != ${formatCrc(e.crc)}` };
      }
    }
    return { usable: true };
  };
  return {
    filesUsable,
    usability: (tm: TreeModule, kernel: string) => filesUsableInTree(paths, tm, kernel, filesUsable),
    flush: () => Promise.resolve(),
  };
}

async function filesUsableInTree(
  paths: Paths,
  tm: TreeModule,
  kernel: string,
  check: (p: readonly string[], k: string) => Promise<Usability>,
): Promise<Usability> {
  const extra = await readExtra(paths, kernel);
  if (extra.abi === undefined) return { usable: false, reason: `${kernel} has no ABI tree` };
  const tree = paths.abiTree(extra.abi.flavour, extra.abi.abiver);
  return check(
    tm.files.map((f) => path.join(tree, f)),
    kernel,
  );
}

async function loadTarget(paths: Paths, kernel: string): Promise<Target | string> {
  const found = await findKernelSymvers(paths, kernel);
  if (found === undefined) return `no Module.symvers for ${kernel}`;
  const kernelSymvers = await readSymversFile(found.host, found.inner);
  return { symbols: kernelSymvers.bySymbol, magicTail: await kernelMagicTail(paths, kernel) };
}

/** Exports of the modules in the kernel's shared tree, read fresh: installs change them. */
async function treeSymbols(paths: Paths, kernel: string): Promise<Map<string, SymversEntry>> {
  const symbols = new Map<string, SymversEntry>();
  const extra = await readExtra(paths, kernel);
  if (extra.abi === undefined) return symbols;
  const meta = path.join(paths.abiTree(extra.abi.flavour, extra.abi.abiver), TREE_META_DIR);
  for (const m of await readdir(meta).catch(() => [] as string[])) {
    for (const v of await readdir(path.join(meta, m)).catch(() => [] as string[])) {
      const saved = await readSymversFile(path.join(meta, m, v, SAVED_SYMVERS_FILE)).catch(() => undefined);
      for (const [s, e] of saved?.bySymbol ?? []) if (!symbols.has(s)) symbols.set(s, e);
    }
  }
  return symbols;
}

/** vermagic after the release part, from the kernel's config (include/linux/vermagic.h). */
async function kernelMagicTail(paths: Paths, kernel: string): Promise<string | undefined> {
  const config = await findKernelConfig(paths, kernel);
  if (config === undefined) return undefined;
  const text = await readFile(config.host, 'utf8');
  const on = (opt: string) => new RegExp(`^${opt}=y$`, 'm').test(text);
  let tail = '';
  if (on('CONFIG_SMP')) tail += 'SMP ';
  // 6.1 vermagic.h: CONFIG_PREEMPT_BUILD (set by PREEMPT and PREEMPT_DYNAMIC) first.
  if (on('CONFIG_PREEMPT_BUILD') || on('CONFIG_PREEMPT')) tail += 'preempt ';
  else if (on('CONFIG_PREEMPT_RT')) tail += 'preempt_rt ';
  if (on('CONFIG_MODULE_UNLOAD')) tail += 'mod_unload ';
  if (on('CONFIG_MODVERSIONS')) tail += 'modversions ';
  return tail;
}

function magicTail(vermagic: string): string {
  const i = vermagic.indexOf(' ');
  return i === -1 ? '' : vermagic.slice(i + 1);
}
