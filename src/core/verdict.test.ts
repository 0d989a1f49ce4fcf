import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModVersions, ModuleImports, readKernelModule } from './ko.js';
import type { Modinfo } from './ko-modinfo.js';
import { parseSymvers } from './symvers.js';
import {
  afterRelease,
  checkModule,
  describeProblem,
  moduleNamespaceAllows,
  sameMagic,
  summarize,
  type ModuleVerdict,
  type VerdictModule,
  type VerdictProblem,
  type VerdictTarget,
} from './verdict.js';
import { loaderRules, loaderVersionOf, parseKernelConfig, type LoaderRules } from './verdict-loader.js';
import { moduleNameOf } from './ko-name.js';
import { layeredLookup } from './verdict-lookup.js';
import {
  checkMembersDeferred,
  checkModuleSet,
  memberProvider,
  presentModuleOf,
  resolveDeferredDependencies,
  type SetMember,
} from './verdict-set.js';

/** checkModuleSet as the thread pool does it: shares judged apart, dependencies resolved after. */
function judgedInShares(
  members: readonly SetMember[],
  base: VerdictTarget,
  shares: number,
): Map<string, ModuleVerdict> {
  const present = members.map((m) => presentModuleOf(m, memberProvider(m.key)));
  const raw = new Map<string, ModuleVerdict>();
  for (let s = 0; s < shares; s++) {
    const own = members.filter((_m, i) => i % shares === s);
    for (const [k, v] of checkMembersDeferred(present, own, base)) raw.set(k, v);
  }
  return resolveDeferredDependencies(members, raw);
}

const K = '6.1.0-47-amd64';
const MAGIC = `${K} SMP preempt mod_unload modversions `;
const SYMVERS = [
  '0x160c03af\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t',
  '0x92997ed8\t_printk\tvmlinux\tEXPORT_SYMBOL\t',
  '0x5b8239ca\t__x86_return_thunk\tvmlinux\tEXPORT_SYMBOL\t',
  '0x11111111\tgpl_thing\tvmlinux\tEXPORT_SYMBOL_GPL\t',
  '0x22222222\tns_thing\tvmlinux\tEXPORT_SYMBOL_GPL\tCRYPTO_INTERNAL',
  '0x33333333\tjbd2_journal_start\tfs/jbd2/jbd2\tEXPORT_SYMBOL\t',
  '0x44444444\tmod_only\tvmlinux\tEXPORT_SYMBOL_GPL\tmodule:abi_consumer,vd_*',
].join('\n');
const kernelSymbols = parseSymvers(`${SYMVERS}\n`, 'Module.symvers').bySymbol;

/** Debian 6.1 as shipped: missing versions fatal, MODULE_FORCE_LOAD=y. */
const DEBIAN_61: LoaderRules = loaderRules({
  version: [6, 1],
  distro: 'debian',
  config: parseKernelConfig('CONFIG_MODULE_FORCE_LOAD=y\nCONFIG_MODVERSIONS=y\n'),
});
const UPSTREAM_61: LoaderRules = loaderRules({ version: [6, 1], distro: 'unknown', config: undefined });

function target(over: Partial<VerdictTarget> = {}): VerdictTarget {
  return {
    kernel: K,
    vermagic: MAGIC,
    modversions: true,
    loader: DEBIAN_61,
    symbols: kernelSymbols,
    moduleSignatureEnforced: false,
    thisModuleSize: 1280,
    ...over,
  };
}

interface ModSpec {
  readonly name?: string;
  readonly license?: string | null;
  readonly vermagic?: string | null;
  readonly importNs?: readonly string[];
  /** symbol → CRC; null: no __versions section at all. */
  readonly versions?: Readonly<Record<string, number>> | null;
  readonly imports?: readonly (string | { name: string; weak: boolean })[];
  readonly exports?: readonly { symbol: string; crc?: number; gpl?: boolean; namespace?: string }[];
  readonly thisModuleSize?: number | null;
  readonly signed?: boolean;
}

const GOOD_VERSIONS = { module_layout: 0x160c03af, _printk: 0x92997ed8, __x86_return_thunk: 0x5b8239ca };

function mod(spec: ModSpec = {}): VerdictModule {
  const name = spec.name ?? 'demo';
  const license = spec.license === undefined ? 'GPL' : spec.license;
  const vermagic = spec.vermagic === undefined ? MAGIC : spec.vermagic;
  const records = [
    { key: 'name', value: name },
    ...(vermagic === null ? [] : [{ key: 'vermagic', value: vermagic }]),
    ...(license === null ? [] : [{ key: 'license', value: license }]),
    ...(spec.importNs ?? []).map((ns) => ({ key: 'import_ns', value: ns })),
  ];
  const modinfo: Modinfo = {
    records,
    name,
    vermagic: vermagic ?? undefined,
    license: license ?? undefined,
    srcversion: undefined,
    depends: [],
    importNs: [...(spec.importNs ?? [])],
  };
  const versions =
    spec.versions === null
      ? null
      : ModVersions.of(
          Object.entries(spec.versions ?? GOOD_VERSIONS).map(([n, crc]) => ({ name: n, crc, crcHigh: 0 })),
        );
  return {
    modinfo,
    versions,
    imports: ModuleImports.of(
      (spec.imports ?? ['_printk', '__x86_return_thunk']).map((i) =>
        typeof i === 'string' ? { name: i, weak: false } : i,
      ),
      versions,
    ),
    exports: (spec.exports ?? []).map((x) => ({
      symbol: x.symbol,
      crc: x.crc,
      exportType: x.gpl === true ? 'EXPORT_SYMBOL_GPL' : 'EXPORT_SYMBOL',
      namespace: x.namespace ?? '',
    })),
    thisModuleSize: spec.thisModuleSize === undefined ? 1280 : spec.thisModuleSize,
    signature:
      spec.signed === true
        ? { idType: 'PKCS#7', signer: null, keyIdLength: 0, signatureLength: 256, elfLength: 1 }
        : null,
  };
}

const kinds = (v: ModuleVerdict): string[] => v.problems.map((p) => `${p.kind}:${p.symbol ?? ''}`);

describe('checkModule against the 6.1 loader', () => {
  it('accepts a module whose every import and module_layout match', () => {
    expect(checkModule(mod(), target())).toEqual({ usable: true, problems: [] });
  });

  it('module_layout with another CRC: the loader fails before anything else', () => {
    const v = checkModule(mod({ versions: { ...GOOD_VERSIONS, module_layout: 0xbce1a965 } }), target());
    expect(v.problems).toEqual([
      { kind: 'module-layout', symbol: 'module_layout', expected: '0x160c03af', actual: '0xbce1a965' },
    ]);
    expect(summarize(v)).toEqual({ usable: false, reason: 'module_layout: CRC 0xbce1a965 != 0x160c03af' });
  });

  it('a changed CRC: "disagrees about version of symbol", weak references included', () => {
    const v = checkModule(
      mod({
        versions: { ...GOOD_VERSIONS, _printk: 0xdeadbeef, gpl_thing: 0x1 },
        imports: ['_printk', { name: 'gpl_thing', weak: true }],
      }),
      target(),
    );
    expect(v.problems).toEqual([
      { kind: 'crc-mismatch', symbol: '_printk', expected: '0x92997ed8', actual: '0xdeadbeef' },
      { kind: 'crc-mismatch', symbol: 'gpl_thing', expected: '0x11111111', actual: '0x00000001' },
    ]);
  });

  it('a CRC with high bits set never matches (the loader compares the whole unsigned long)', () => {
    const m = mod();
    const versions = ModVersions.of(
      (m.versions?.toArray() ?? []).map((v) => (v.name === '_printk' ? { ...v, crcHigh: 1 } : v)),
    );
    expect(kinds(checkModule({ ...m, versions }, target()))).toEqual(['crc-mismatch:_printk']);
  });

  it('judges a module whose __versions were replaced after its imports were read by the new ones', () => {
    const m = mod();
    // Reversed, and _printk's CRC wrong: the imports' links to the old entries no longer hold.
    const versions = ModVersions.of(
      (m.versions?.toArray() ?? []).reverse().map((v) => (v.name === '_printk' ? { ...v, crc: 7 } : v)),
    );
    expect(kinds(checkModule({ ...m, versions }, target()))).toEqual(['crc-mismatch:_printk']);
  });

  it('an unknown symbol fails unless the reference is weak', () => {
    expect(kinds(checkModule(mod({ imports: ['_printk', 'nowhere'] }), target()))).toEqual([
      'missing-symbol:nowhere',
    ]);
    expect(checkModule(mod({ imports: [{ name: 'nowhere', weak: true }] }), target()).usable).toBe(true);
  });

  describe('a symbol without a __versions entry', () => {
    const m = mod({ versions: { module_layout: 0x160c03af, _printk: 0x92997ed8 } });
    it('fails on Debian (its patch keeps "no symbol version" fatal)', () => {
      expect(checkModule(m, target()).problems).toEqual([
        { kind: 'no-symbol-version', symbol: '__x86_return_thunk', expected: '0x5b8239ca', actual: null },
      ]);
    });
    it('only warns on an upstream 6.1 kernel', () => {
      expect(checkModule(m, target({ loader: UPSTREAM_61 })).usable).toBe(true);
    });
    it('fails before 4.9, and for module_layout too', () => {
      const old = loaderRules({ version: [4, 4], distro: 'unknown', config: undefined });
      expect(kinds(checkModule(mod({ versions: { _printk: 0x92997ed8 } }), target({ loader: old })))).toEqual(
        ['no-symbol-version:module_layout', 'no-symbol-version:__x86_return_thunk'],
      );
    });
  });

  describe('a module without __versions at all', () => {
    const m = mod({ versions: null });
    it('is force-loaded where CONFIG_MODULE_FORCE_LOAD=y (then vermagic compares whole)', () => {
      expect(checkModule(m, target()).usable).toBe(true);
      const other = mod({ versions: null, vermagic: MAGIC.replace('-47-', '-50-') });
      expect(kinds(checkModule(other, target()))).toEqual(['vermagic:']);
    });
    it('is refused without MODULE_FORCE_LOAD', () => {
      expect(kinds(checkModule(m, target({ loader: UPSTREAM_61 })))).toEqual([
        'no-symbol-version:module_layout',
        'no-symbol-version:_printk',
        'no-symbol-version:__x86_return_thunk',
      ]);
    });
  });

  describe('vermagic', () => {
    it('the release part is skipped when the module has CRCs', () => {
      expect(checkModule(mod({ vermagic: MAGIC.replace('-47-', '-50-') }), target()).usable).toBe(true);
    });
    it('the rest must be equal', () => {
      const v = checkModule(mod({ vermagic: MAGIC.replace('preempt ', '') }), target());
      expect(v.problems).toEqual([
        { kind: 'vermagic', symbol: null, expected: MAGIC, actual: MAGIC.replace('preempt ', '') },
      ]);
      expect(summarize(v)).toEqual({
        usable: false,
        reason: `vermagic "${K} SMP mod_unload modversions" != "${K} SMP preempt mod_unload modversions"`,
      });
    });
    it('a kernel without MODVERSIONS compares it whole and checks no CRC', () => {
      const t = target({ modversions: false, vermagic: `${K} SMP preempt mod_unload ` });
      const m = mod({ vermagic: `${K} SMP preempt mod_unload `, versions: { module_layout: 1 } });
      expect(checkModule(m, t).usable).toBe(true);
      expect(kinds(checkModule({ ...m, modinfo: { ...m.modinfo, vermagic: `x ${K}` } }, t))).toEqual([
        'vermagic:',
      ]);
    });
    it('no vermagic: forced where FORCE_LOAD, refused elsewhere; an unknown kernel vermagic is not checked', () => {
      expect(checkModule(mod({ vermagic: null }), target()).usable).toBe(true);
      expect(kinds(checkModule(mod({ vermagic: null }), target({ loader: UPSTREAM_61 })))).toEqual([
        'vermagic:',
      ]);
      expect(checkModule(mod({ vermagic: 'junk' }), target({ vermagic: null })).usable).toBe(true);
    });
    it('same_magic and the release split', () => {
      expect(afterRelease(MAGIC)).toBe(' SMP preempt mod_unload modversions ');
      expect(afterRelease('norelease')).toBe('');
      expect(sameMagic('a X', 'b X', true)).toBe(true);
      expect(sameMagic('a X', 'b X', false)).toBe(false);
    });
  });

  describe('GPL-only exports', () => {
    it('are invisible to a module whose licence is not GPL-compatible ("Unknown symbol" in 6.1)', () => {
      const v = checkModule(mod({ license: 'Proprietary', imports: ['_printk', 'gpl_thing'] }), target());
      expect(v.problems).toEqual([
        { kind: 'gpl-only', symbol: 'gpl_thing', expected: 'GPL', actual: 'Proprietary' },
      ]);
      expect(summarize(v)).toEqual({ usable: false, reason: 'gpl_thing is GPL-only, licence "Proprietary"' });
    });
    it('a missing licence is "unspecified"; a weak reference is dropped instead', () => {
      expect(kinds(checkModule(mod({ license: null, imports: ['gpl_thing'] }), target()))).toEqual([
        'gpl-only:gpl_thing',
      ]);
      const weak = mod({ license: 'Proprietary', imports: [{ name: 'gpl_thing', weak: true }] });
      expect(checkModule(weak, target()).usable).toBe(true);
    });
    const withGpl = { ...GOOD_VERSIONS, gpl_thing: 0x11111111 };
    it('every licence of license_is_gpl_compatible() may use them', () => {
      for (const license of [
        'GPL',
        'GPL v2',
        'GPL and additional rights',
        'Dual BSD/GPL',
        'Dual MIT/GPL',
        'Dual MPL/GPL',
      ])
        expect(
          checkModule(mod({ license, versions: withGpl, imports: ['gpl_thing'] }), target()).usable,
        ).toBe(true);
      expect(
        checkModule(mod({ license: 'GPLv2', versions: withGpl, imports: ['gpl_thing'] }), target()).usable,
      ).toBe(false);
    });
    it('the kernel treats driverloader and lve as proprietary whatever they claim', () => {
      expect(kinds(checkModule(mod({ name: 'lve', imports: ['gpl_thing'] }), target()))).toEqual([
        'gpl-only:gpl_thing',
      ]);
    });
  });

  describe('inherit_taint: exports of a proprietary module', () => {
    const provider = {
      crc: 7,
      exportType: 'EXPORT_SYMBOL',
      namespace: '',
      module: 'extra/blob',
      proprietary: true,
    };
    const symbols = layeredLookup(kernelSymbols, [{ name: 'blob', exports: [['blob_fn', provider]] }]);
    const versions = { ...GOOD_VERSIONS, gpl_thing: 0x11111111, blob_fn: 7 };
    it('refuse a user already using GPL-only symbols', () => {
      const v = checkModule(mod({ versions, imports: ['gpl_thing', 'blob_fn'] }), target({ symbols }));
      expect(v.problems).toEqual([
        { kind: 'gpl-only', symbol: 'blob_fn', expected: 'GPL', actual: 'blob (proprietary)' },
      ]);
    });
    it('taint a user that then loses the GPL-only symbols it imports later (symbol-table order)', () => {
      const v = checkModule(mod({ versions, imports: ['blob_fn', 'gpl_thing'] }), target({ symbols }));
      expect(v.problems).toEqual([{ kind: 'gpl-only', symbol: 'gpl_thing', expected: 'GPL', actual: 'GPL' }]);
    });
  });

  describe('namespaces', () => {
    const versions = { ...GOOD_VERSIONS, ns_thing: 0x22222222, mod_only: 0x44444444 };
    it('a namespaced export needs MODULE_IMPORT_NS', () => {
      const v = checkModule(mod({ versions, imports: ['ns_thing'], importNs: ['OTHER'] }), target());
      expect(v.problems).toEqual([
        { kind: 'namespace', symbol: 'ns_thing', expected: 'CRYPTO_INTERNAL', actual: 'OTHER' },
      ]);
      expect(describeProblem(v.problems[0] as VerdictProblem)).toBe(
        'ns_thing needs MODULE_IMPORT_NS(CRYPTO_INTERNAL)',
      );
      expect(
        checkModule(mod({ versions, imports: ['ns_thing'], importNs: ['CRYPTO_INTERNAL'] }), target()).usable,
      ).toBe(true);
    });
    it('CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS makes it a warning', () => {
      const loose = loaderRules({
        version: [6, 1],
        distro: 'debian',
        config: parseKernelConfig('CONFIG_MODULE_ALLOW_MISSING_NAMESPACE_IMPORTS=y\n'),
      });
      expect(checkModule(mod({ versions, imports: ['ns_thing'] }), target({ loader: loose })).usable).toBe(
        true,
      );
    });
    it('"module:" namespaces (6.16) name the modules allowed', () => {
      expect(checkModule(mod({ name: 'vd_x', versions, imports: ['mod_only'] }), target()).usable).toBe(true);
      expect(kinds(checkModule(mod({ name: 'other', versions, imports: ['mod_only'] }), target()))).toEqual([
        'namespace:mod_only',
      ]);
      expect(moduleNamespaceAllows('module:a,b*', 'bcd')).toBe(true);
      expect(moduleNamespaceAllows('module:a,b*', 'ab')).toBe(false);
      expect(moduleNamespaceAllows('CRYPTO', 'a')).toBe(false);
    });
  });

  it('struct module size: checked from 6.4 only; a missing section always fails', () => {
    expect(checkModule(mod({ thisModuleSize: 1344 }), target()).usable).toBe(true);
    const r64 = loaderRules({ version: [6, 4], distro: 'debian', config: undefined });
    expect(checkModule(mod({ thisModuleSize: 1344 }), target({ loader: r64 })).problems).toEqual([
      { kind: 'struct-module-size', symbol: null, expected: '1280', actual: '1344' },
    ]);
    expect(kinds(checkModule(mod({ thisModuleSize: null }), target()))).toEqual(['struct-module-size:']);
  });

  it('an unsigned module where signatures are enforced', () => {
    expect(kinds(checkModule(mod(), target({ moduleSignatureEnforced: true })))).toEqual(['signature:']);
    expect(checkModule(mod({ signed: true }), target({ moduleSignatureEnforced: true })).usable).toBe(true);
  });

  it("exporting what vmlinux exports fails; exporting an in-tree module's symbol does not", () => {
    const v = checkModule(
      mod({ exports: [{ symbol: '_printk' }, { symbol: 'jbd2_journal_start' }] }),
      target(),
    );
    expect(v.problems).toEqual([
      { kind: 'duplicate-export', symbol: '_printk', expected: null, actual: 'vmlinux' },
    ]);
  });

  it('an exporter without CRCs is not version-checked', () => {
    const symbols = layeredLookup(kernelSymbols, [
      {
        name: 'nocrc',
        exports: [['nocrc_fn', { crc: null, exportType: 'EXPORT_SYMBOL', namespace: '', module: 'nocrc' }]],
      },
    ]);
    expect(checkModule(mod({ imports: ['nocrc_fn'] }), target({ symbols })).usable).toBe(true);
  });

  it('lists every problem in the loader order', () => {
    const v = checkModule(
      mod({
        license: 'Proprietary',
        vermagic: `${K} SMP mod_unload `,
        versions: { module_layout: 1, _printk: 2 },
        imports: ['_printk', '__x86_return_thunk', 'gpl_thing', 'nowhere'],
        exports: [{ symbol: '_printk' }],
        thisModuleSize: null,
      }),
      target({ moduleSignatureEnforced: true }),
    );
    expect(kinds(v)).toEqual([
      'signature:',
      'struct-module-size:',
      'module-layout:module_layout',
      'vermagic:',
      'crc-mismatch:_printk',
      'no-symbol-version:__x86_return_thunk',
      'gpl-only:gpl_thing',
      'missing-symbol:nowhere',
      'duplicate-export:_printk',
    ]);
    expect(summarize(v)).toEqual({
      usable: false,
      reason: 'unsigned, and the kernel enforces module signatures',
    });
  });
});

describe('loader rules', () => {
  it('are derived from the release and the config', () => {
    expect(loaderVersionOf('6.1.0-47-amd64')).toEqual([6, 1]);
    expect(loaderVersionOf('vmlinuz')).toBeNull();
    const config = parseKernelConfig('# CONFIG_MODULE_SIG_FORCE is not set\nCONFIG_MODULE_FORCE_LOAD=y\n');
    expect(loaderRules({ version: [6, 1], distro: 'debian', config })).toEqual({
      version: [6, 1],
      missingVersionFatal: true,
      forceLoad: true,
      allowMissingNamespaceImports: false,
      checksStructModuleSize: false,
    });
    expect(loaderRules({ version: [6, 8], distro: 'ubuntu', config: undefined })).toMatchObject({
      missingVersionFatal: false,
      forceLoad: false,
      checksStructModuleSize: true,
    });
    expect(loaderRules({ version: [4, 8], distro: 'rhel', config: undefined }).missingVersionFatal).toBe(
      true,
    );
  });
});

describe('module sets (present together)', () => {
  const provider = mod({
    name: 'abi_provider',
    exports: [
      { symbol: 'abi_provider_add', crc: 0x85ee738e },
      { symbol: 'abi_provider_ns_value', crc: 0x89f44eec, gpl: true, namespace: 'DKMS_ABI_DEMO' },
    ],
  });
  const consumer = mod({
    name: 'abi_consumer',
    importNs: ['DKMS_ABI_DEMO'],
    versions: { ...GOOD_VERSIONS, abi_provider_add: 0x85ee738e, abi_provider_ns_value: 0x89f44eec },
    imports: ['_printk', 'abi_provider_add', 'abi_provider_ns_value'],
  });
  const member = (key: string, m: VerdictModule): SetMember => ({
    key,
    module: m,
    name: m.modinfo.name ?? key,
  });

  it("see each other's exports", () => {
    const v = checkModuleSet([member('c.ko', consumer), member('p.ko', provider)], target());
    expect([...v.values()].map((x) => x.usable)).toEqual([true, true]);
  });

  it('without the provider the consumer misses its symbols', () => {
    const v = checkModuleSet([member('c.ko', consumer)], target());
    expect(kinds(v.get('c.ko') as ModuleVerdict)).toEqual([
      'missing-symbol:abi_provider_add',
      'missing-symbol:abi_provider_ns_value',
    ]);
  });

  it('a consumer of an unusable provider is unusable (transitively), named once', () => {
    const broken = {
      ...provider,
      versions: ModVersions.of(
        (provider.versions?.toArray() ?? []).map((x) => ({
          ...x,
          crc: x.name === 'module_layout' ? 9 : x.crc,
        })),
      ),
    };
    const wrapper = mod({
      name: 'wrapper',
      versions: { ...GOOD_VERSIONS },
      imports: [],
    });
    const v = checkModuleSet(
      [member('c.ko', consumer), member('p.ko', broken), member('w.ko', wrapper)],
      target(),
    );
    expect((v.get('c.ko') as ModuleVerdict).problems).toEqual([
      {
        kind: 'dependency',
        symbol: 'abi_provider',
        expected: null,
        actual: 'module_layout: CRC 0x00000009 != 0x160c03af',
      },
    ]);
    expect(summarize(v.get('c.ko') as ModuleVerdict)).toEqual({
      usable: false,
      reason: 'needs abi_provider: module_layout: CRC 0x00000009 != 0x160c03af',
    });
    expect((v.get('w.ko') as ModuleVerdict).usable).toBe(true);
  });

  it('a member replaces the in-tree module of its name; vmlinux is never replaced', () => {
    const jbd2 = mod({ name: 'jbd2', exports: [{ symbol: 'jbd2_other', crc: 5 }] });
    const user = mod({
      versions: { ...GOOD_VERSIONS, jbd2_journal_start: 0x33333333 },
      imports: ['jbd2_journal_start'],
    });
    expect(checkModuleSet([member('u.ko', user)], target()).get('u.ko')?.usable).toBe(true);
    const v = checkModuleSet([member('u.ko', user), member('j.ko', jbd2)], target());
    expect(kinds(v.get('u.ko') as ModuleVerdict)).toEqual(['missing-symbol:jbd2_journal_start']);
    expect(moduleNameOf('fs/jbd2/jbd2')).toBe('jbd2');
    expect(moduleNameOf('/x/abi-provider.ko.xz')).toBe('abi_provider');
  });

  it('a dependency cycle does not hang', () => {
    const a = mod({
      name: 'a',
      versions: { ...GOOD_VERSIONS, b_fn: 2 },
      imports: ['b_fn'],
      exports: [{ symbol: 'a_fn', crc: 1 }],
    });
    const b = mod({
      name: 'b',
      versions: { ...GOOD_VERSIONS, a_fn: 1 },
      imports: ['a_fn'],
      exports: [{ symbol: 'b_fn', crc: 2 }],
    });
    const v = checkModuleSet([member('a.ko', a), member('b.ko', b)], target());
    expect([...v.values()].every((x) => x.usable)).toBe(true);
  });

  it('judged in shares on several threads, with dependencies resolved after, gives the same verdicts', () => {
    const broken = {
      ...provider,
      versions: ModVersions.of(
        (provider.versions?.toArray() ?? []).map((x) => ({
          ...x,
          crc: x.name === 'module_layout' ? 9 : x.crc,
        })),
      ),
    };
    // A chain (top → consumer → broken provider), a cycle through a broken module, a self-user.
    const top = mod({
      name: 'top',
      versions: { ...GOOD_VERSIONS, c_fn: 3 },
      imports: ['c_fn'],
    });
    const consumer2 = mod({
      name: 'abi_consumer',
      importNs: ['DKMS_ABI_DEMO'],
      versions: { ...GOOD_VERSIONS, abi_provider_add: 0x85ee738e, abi_provider_ns_value: 0x89f44eec },
      imports: ['_printk', 'abi_provider_add', 'abi_provider_ns_value'],
      exports: [{ symbol: 'c_fn', crc: 3 }],
    });
    const x = mod({
      name: 'x',
      versions: { ...GOOD_VERSIONS, module_layout: 7, y_fn: 2 },
      imports: ['y_fn'],
      exports: [{ symbol: 'x_fn', crc: 1 }],
    });
    const y = mod({
      name: 'y',
      versions: { ...GOOD_VERSIONS, x_fn: 1 },
      imports: ['x_fn'],
      exports: [{ symbol: 'y_fn', crc: 2 }],
    });
    const self = mod({
      name: 'self',
      versions: { ...GOOD_VERSIONS, s_fn: 4 },
      imports: ['s_fn'],
      exports: [{ symbol: 's_fn', crc: 4 }],
    });
    const sets = [
      [member('t.ko', top), member('c.ko', consumer2), member('p.ko', broken)],
      [member('p.ko', broken), member('c.ko', consumer2), member('t.ko', top)],
      [member('c.ko', consumer), member('p.ko', provider)],
      [member('x.ko', x), member('y.ko', y), member('s.ko', self), member('c.ko', consumer)],
      [member('y.ko', y), member('x.ko', x)],
    ];
    for (const set of sets) {
      const expected = checkModuleSet(set, target());
      for (const shares of [1, 2, 3]) expect(judgedInShares(set, target(), shares)).toEqual(expected);
    }
  });
});

describe('real Debian modules', () => {
  it('a kernel subtree judged in shares gives the verdicts of one set, on its own ABI and another', () => {
    const dir = '/var/cache/dkms-abi/images/6.1.0-47-amd64/lib/modules/6.1.0-47-amd64/kernel';
    const files = ['net/netfilter', 'fs', 'drivers/scsi']
      .flatMap((d) =>
        readdirSync(`${dir}/${d}`, { recursive: true, encoding: 'utf8' })
          .filter((f) => f.endsWith('.ko'))
          .map((f) => `${dir}/${d}/${f}`),
      )
      .sort();
    const members = files.map((f) => {
      const m = readKernelModule(readFileSync(f));
      return { key: f, module: m, name: m.modinfo.name ?? f };
    });
    expect(members.length).toBeGreaterThan(300);
    for (const kver of ['6.1.0-47-amd64', '6.1.0-50-amd64']) {
      const symbols = parseSymvers(
        readFileSync(`/usr/src/linux-headers-${kver}/Module.symvers`, 'utf8'),
        kver,
      ).bySymbol;
      const base = target({ kernel: kver, vermagic: null, symbols });
      const expected = checkModuleSet(members, base);
      expect(judgedInShares(members, base, 2)).toEqual(expected);
    }
  });

  const IMAGES = '/var/cache/dkms-abi/images';
  const ko = (kver: string, rel: string) =>
    readKernelModule(readFileSync(`${IMAGES}/${kver}/lib/modules/${kver}/kernel/${rel}`));
  const symvers = (kver: string) =>
    parseSymvers(readFileSync(`/usr/src/linux-headers-${kver}/Module.symvers`, 'utf8'), kver).bySymbol;
  const real = (kver: string): VerdictTarget =>
    target({ kernel: kver, vermagic: `${kver} SMP preempt mod_unload modversions `, symbols: symvers(kver) });

  it('an in-tree module of 6.1.0-47 is usable on 6.1.0-47 and refused by 6.1.0-50 for module_layout first', () => {
    const crc7 = ko('6.1.0-47-amd64', 'lib/crc7.ko');
    expect(checkModule(crc7, real('6.1.0-47-amd64'))).toEqual({ usable: true, problems: [] });
    const v = checkModule(crc7, real('6.1.0-50-amd64'));
    expect(v.problems[0]).toEqual({
      kind: 'module-layout',
      symbol: 'module_layout',
      expected: '0xbce1a965',
      actual: '0x160c03af',
    });
  });
});
