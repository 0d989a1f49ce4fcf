// Verdicts for modules that will be present together (the .ko files of one DKMS module, a
// whole shared tree, the files given to `abi compat`): each one's exports are visible to the
// others, and a module that needs another of the set is usable only if that one is —
// transitively, as modprobe loads dependencies first and stops at the first failure.
import {
  checkModule,
  normalizeName,
  summarize,
  type ExportedBy,
  type ModuleVerdict,
  type VerdictModule,
  type VerdictTarget,
} from './verdict.js';
import { isGplCompatible } from './verdict-loader.js';
import { layeredLookup, type PresentModule } from './verdict-lookup.js';
import type { Usability } from './status.js';

export interface SetMember {
  /** Unique key (the file's path). */
  readonly key: string;
  readonly module: VerdictModule;
  /** The kernel's name for it: .modinfo name, else the file's base name. */
  readonly name: string;
}

const MEMBER = 'member:';

/** The exports of a module as present-module entries for the lookup. */
export function presentModuleOf(member: SetMember, provider: string): PresentModule {
  const proprietary = !isGplCompatible(member.module.modinfo.license ?? 'unspecified');
  return {
    name: normalizeName(member.name),
    exports: member.module.exports.map(
      (x) =>
        [
          x.symbol,
          {
            crc: x.crc ?? null,
            exportType: x.exportType,
            namespace: x.namespace,
            module: member.name,
            provider,
            ...(proprietary ? { proprietary } : {}),
          } satisfies ExportedBy,
        ] as const,
    ),
  };
}

/** Each member's verdict, keyed by member key, on `base` with every member present. */
export function checkModuleSet(
  members: readonly SetMember[],
  base: VerdictTarget,
): Map<string, ModuleVerdict> {
  const byKey = new Map(members.map((m) => [m.key, m]));
  const symbols = layeredLookup(
    base.symbols,
    members.map((m) => presentModuleOf(m, MEMBER + m.key)),
  );
  const verdicts = new Map<string, ModuleVerdict>();
  const inProgress = new Set<string>();

  const verdictOf = (m: SetMember): ModuleVerdict => {
    const done = verdicts.get(m.key);
    if (done !== undefined) return done;
    inProgress.add(m.key);
    const v = checkModule(m.module, target, m.name);
    inProgress.delete(m.key);
    verdicts.set(m.key, v);
    return v;
  };
  const providerUsability = (provider: string): Usability | undefined => {
    if (!provider.startsWith(MEMBER)) return base.providerUsability?.(provider);
    const key = provider.slice(MEMBER.length);
    const m = byKey.get(key);
    // A dependency cycle: the loader cannot load either first; depmod reports it. Not judged here.
    if (m === undefined || inProgress.has(key)) return undefined;
    return summarize(verdictOf(m));
  };
  const target: VerdictTarget = { ...base, symbols, providerUsability };
  for (const m of members) verdictOf(m);
  return verdicts;
}
