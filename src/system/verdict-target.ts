// Everything the verdict needs to know about a kernel, read from a root: its Module.symvers
// (vmlinux and in-tree modules), its vermagic and sizeof(struct module) (from one of its own
// modules when the root has them, else derived from its config), the loader's rules (release
// and config). The modules of its shared ABI tree are added by the VerdictService, from their
// .ko files.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseKernelRelease } from '../core/release.js';
import type { SymversEntry } from '../core/symvers.js';
import type { VerdictTarget } from '../core/verdict.js';
import {
  loaderRules,
  loaderVersionOf,
  parseKernelConfig,
  targetConfigFacts,
} from '../core/verdict-loader.js';
import { vermagicFromConfig, vermagicRelease } from '../core/vermagic.js';
import { findKernelConfig, findKernelSymvers, symversCandidates } from './kernel-files.js';
import { readKernelModuleFile } from './ko-file.js';
import type { Paths } from './paths.js';
import { readSymversFile } from './symvers-file.js';

export interface VerdictTargetOptions {
  /** A Module.symvers (host path) to judge against instead of a kernel's: no tree, no config. */
  readonly symversFile?: string;
  /** The vermagic to expect, overriding what the kernel's files say. */
  readonly vermagic?: string;
  /** Treat module signatures as enforced (module.sig_enforce=1, lockdown) whatever the config says. */
  readonly signatureEnforced?: boolean;
}

/** Where each fact came from, for messages and `abi compat`'s report. */
export interface TargetSources {
  readonly symvers: string;
  readonly config: string | null;
  readonly vermagic: 'option' | 'in-tree module' | 'config' | 'unknown';
  /** The in-tree module read for vermagic and struct module size. */
  readonly inTreeModule: string | null;
  /** The shared tree whose modules count as present, inside the root. */
  readonly tree: string | null;
}

export type TargetResult =
  | { readonly ok: true; readonly target: VerdictTarget; readonly sources: TargetSources }
  | { readonly ok: false; readonly reason: string };

/** Provider key of a module of the kernel's shared tree (its saved Module.symvers): "tree:<module>/<version>". */
export const TREE_PROVIDER = 'tree:';

/** The kernel alone: vmlinux and its in-tree modules, no shared tree. */
export async function loadKernelTarget(
  paths: Paths,
  kernel: string,
  opts: VerdictTargetOptions = {},
): Promise<TargetResult> {
  if (opts.symversFile !== undefined) return symversOnlyTarget(opts.symversFile, opts);
  const symversFile = await findKernelSymvers(paths, kernel);
  if (symversFile === undefined) {
    return {
      ok: false,
      reason: `no Module.symvers for ${kernel} (looked in ${symversCandidates(paths, kernel).join(', ')})`,
    };
  }
  const symvers = await readSymversFile(symversFile.host, symversFile.inner);
  const configFile = await findKernelConfig(paths, kernel);
  const config =
    configFile === undefined ? undefined : parseKernelConfig(await readFile(configFile.host, 'utf8'));
  const own = await inTreeModule(paths, kernel);

  let vermagic: string | null = null;
  let vermagicSource: TargetSources['vermagic'] = 'unknown';
  if (opts.vermagic !== undefined) {
    vermagic = opts.vermagic;
    vermagicSource = 'option';
  } else if (own?.vermagic !== undefined) {
    vermagic = own.vermagic;
    vermagicSource = 'in-tree module';
  } else if (config !== undefined) {
    vermagic = vermagicFromConfig(kernel, config) ?? null;
    if (vermagic !== null) vermagicSource = 'config';
  }

  const facts = targetConfigFacts(config);
  const target: VerdictTarget = {
    kernel,
    vermagic,
    modversions: facts.modversions ?? hasCrcs(symvers.entries),
    loader: loaderRules({
      version: loaderVersionOf(kernel),
      distro: parseKernelRelease(kernel).distro,
      config,
    }),
    symbols: symvers.bySymbol,
    moduleSignatureEnforced: opts.signatureEnforced ?? facts.moduleSignatureEnforced,
    ...(own?.thisModuleSize !== undefined ? { thisModuleSize: own.thisModuleSize } : {}),
  };
  return {
    ok: true,
    target,
    sources: {
      symvers: symversFile.inner,
      config: configFile?.inner ?? null,
      vermagic: vermagicSource,
      inTreeModule: own?.inner ?? null,
      tree: null,
    },
  };
}

async function symversOnlyTarget(file: string, opts: VerdictTargetOptions): Promise<TargetResult> {
  const symvers = await readSymversFile(file);
  // The release inside --vermagic tells the loader's version and distribution.
  const release = opts.vermagic === undefined ? undefined : vermagicRelease(opts.vermagic);
  const target: VerdictTarget = {
    kernel: release ?? file,
    vermagic: opts.vermagic ?? null,
    modversions: hasCrcs(symvers.entries),
    loader: loaderRules({
      version: release === undefined ? null : loaderVersionOf(release),
      distro: release === undefined ? 'unknown' : parseKernelRelease(release).distro,
      config: undefined,
    }),
    symbols: symvers.bySymbol,
    moduleSignatureEnforced: opts.signatureEnforced ?? false,
  };
  return {
    ok: true,
    target,
    sources: {
      symvers: file,
      config: null,
      vermagic: opts.vermagic === undefined ? 'unknown' : 'option',
      inTreeModule: null,
      tree: null,
    },
  };
}

/** Without CONFIG_MODVERSIONS modpost writes 0x00000000 for every CRC. */
function hasCrcs(entries: readonly SymversEntry[]): boolean {
  return entries.some((e) => e.crc !== 0);
}

interface InTree {
  readonly inner: string;
  readonly vermagic: string | undefined;
  readonly thisModuleSize: number | undefined;
}

/** One module of the kernel's own, for the exact vermagic and struct module size: modules.order's first that exists. */
async function inTreeModule(paths: Paths, kernel: string): Promise<InTree | undefined> {
  const dir = paths.kernelDir(kernel);
  const order = await readFile(path.join(dir, 'modules.order'), 'utf8').catch(() => '');
  const candidates = order
    .split('\n')
    .filter((l) => l !== '')
    .slice(0, 8);
  if (candidates.length === 0)
    candidates.push(...(await firstModulesUnder(path.join(dir, 'kernel'), 'kernel')));
  for (const rel of candidates) {
    for (const suffix of ['', '.xz', '.zst', '.gz']) {
      const host = path.join(dir, rel + suffix);
      const info = await readKernelModuleFile(host).catch(() => undefined);
      if (info === undefined) continue;
      return {
        inner: `${paths.inner.modulesDir}/${kernel}/${rel}${suffix}`,
        vermagic: info.modinfo.vermagic,
        thisModuleSize: info.thisModuleSize ?? undefined,
      };
    }
  }
  return undefined;
}

/** A few module files under dir (breadth-first), as paths relative to the kernel directory. */
async function firstModulesUnder(dir: string, rel: string): Promise<string[]> {
  const queue: [string, string][] = [[dir, rel]];
  while (queue.length > 0) {
    const [d, r] = queue.shift() as [string, string];
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    const mods = entries.filter((e) => e.isFile() && /\.ko$/.test(e.name)).map((e) => `${r}/${e.name}`);
    if (mods.length > 0) return mods.slice(0, 4);
    for (const e of entries) if (e.isDirectory()) queue.push([path.join(d, e.name), `${r}/${e.name}`]);
  }
  return [];
}
