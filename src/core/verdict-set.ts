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

// Judging a set on several threads: each thread judges its share of the members with every
// member's exports visible (checkModule is per module), but whether a member it depends on is
// itself usable is only known once every member is judged. So a thread answers "depends on
// member P" with a placeholder where the loader's order puts that check, and
// resolveDeferredDependencies later turns the placeholders into what checkModuleSet would
// have said, in the same order, with the same cycles left unjudged.

const DEFERRED = '\u0000deferred:';

/**
 * The providerUsability a thread gives checkModule: for another member, "unusable" with a
 * placeholder reason (so checkModule records the dependency once, at the first import from
 * it, as it does for an unusable one); anything else as `base` says.
 */
export function deferredMemberUsability(
  base: ((provider: string) => Usability | undefined) | undefined,
): (provider: string) => Usability | undefined {
  return (provider) =>
    provider.startsWith(MEMBER) ? { usable: false, reason: DEFERRED + provider } : base?.(provider);
}

/** The provider key a set member's exports carry: what presentModuleOf is given for it. */
export function memberProvider(key: string): string {
  return MEMBER + key;
}

/**
 * checkModuleSet's verdicts from verdicts made with deferredMemberUsability (`raw`, by
 * member key): each placeholder becomes the dependency problem if that member is unusable
 * (judged first, recursively, as the loader loads dependencies first), and is dropped if it
 * is usable or is being judged (a cycle).
 */
export function resolveDeferredDependencies(
  members: readonly Pick<SetMember, 'key'>[],
  raw: ReadonlyMap<string, ModuleVerdict>,
): Map<string, ModuleVerdict> {
  const verdicts = new Map<string, ModuleVerdict>();
  const inProgress = new Set<string>();
  const verdictOf = (key: string): ModuleVerdict => {
    const done = verdicts.get(key);
    if (done !== undefined) return done;
    const v = raw.get(key) ?? { usable: true, problems: [] };
    inProgress.add(key);
    const problems = v.problems.flatMap((p) => {
      if (p.kind !== 'dependency' || p.actual === null || !p.actual.startsWith(DEFERRED)) return [p];
      const dep = p.actual.slice(DEFERRED.length + MEMBER.length);
      if (inProgress.has(dep) || !raw.has(dep)) return [];
      const u = summarize(verdictOf(dep));
      return u.usable ? [] : [{ ...p, actual: u.reason }];
    });
    inProgress.delete(key);
    const resolved = { usable: problems.length === 0, problems };
    verdicts.set(key, resolved);
    return resolved;
  };
  for (const m of members) verdictOf(m.key);
  return verdicts;
}

/**
 * A thread's share of a set: `own` judged with every member's exports present (`present`:
 * presentModuleOf(member, memberProvider(member.key)) of every member, in the set's order),
 * dependencies on members deferred; resolveDeferredDependencies finishes the job.
 */
export function checkMembersDeferred(
  present: readonly PresentModule[],
  own: readonly SetMember[],
  base: VerdictTarget,
): Map<string, ModuleVerdict> {
  const target: VerdictTarget = {
    ...base,
    symbols: layeredLookup(base.symbols, present),
    providerUsability: deferredMemberUsability(base.providerUsability),
  };
  return new Map(own.map((m) => [m.key, checkModule(m.module, target, m.name)]));
}
