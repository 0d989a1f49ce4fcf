import { describe, expect, it } from 'vitest';
import type { Snapshot, TreeModule } from './snapshot.js';
import {
  buildUsability,
  compareSimple,
  deriveStatus,
  formatStatusLine,
  installedState,
  moduleLine,
  rejectedNote,
  unloadableOf,
  type Usability,
} from './status.js';

const amd64_1 = { flavour: 'amd64', abiver: '1' };
const amd64_2 = { flavour: 'amd64', abiver: '2' };
const hello: TreeModule = {
  module: 'hello-abi',
  version: '1.0',
  arch: 'x86_64',
  builtFor: 'k1',
  files: ['dkms/misc/hello_abi.ko'],
  newestMtimeMs: 1000,
};

function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    kernels: [
      { kernel: 'k1', abi: amd64_1, extra: 'abi-link', modulesDepMtimeMs: 2000 },
      { kernel: 'k2', abi: amd64_1, extra: 'abi-link', modulesDepMtimeMs: 500 },
      { kernel: 'k3', abi: amd64_2, extra: 'abi-link', modulesDepMtimeMs: 2000 },
    ],
    dkms: [
      {
        module: 'hello-abi',
        version: '1.0',
        added: true,
        builds: [
          { kernel: 'k1', arch: 'x86_64', kind: 'built', builtFor: 'k1', installed: true },
          { kernel: 'k2', arch: 'x86_64', kind: 'abi-link', builtFor: 'k1', installed: true },
        ],
      },
      { module: 'lonely', version: '2.0', added: true, builds: [] },
    ],
    trees: [{ abi: amd64_1, modules: [hello] }],
    ...overrides,
  };
}

const usable = (): Usability => ({ usable: true });

describe('deriveStatus', () => {
  it('reports installed, installed-abi with its source kernel, needs-depmod, and added', () => {
    const lines = deriveStatus(snapshot(), usable).map(formatStatusLine);
    expect(lines).toEqual([
      'hello-abi/1.0, k1, x86_64: installed',
      'hello-abi/1.0, k2, x86_64: installed-abi (from k1), needs-depmod',
      'lonely/2.0: added',
    ]);
  });

  it('says needs-repair where DKMS lost the build the tree module came from (dkms kernel_preinst)', () => {
    // k1's build is gone: k1 has no entry any more, k2's link points at nothing.
    const snap = snapshot({
      dkms: [
        {
          module: 'hello-abi',
          version: '1.0',
          added: true,
          builds: [{ kernel: 'k2', arch: 'x86_64', kind: 'abi-link', builtFor: 'k1', installed: true }],
        },
      ],
    });
    expect(deriveStatus(snap, usable).map(formatStatusLine)).toEqual([
      'hello-abi/1.0, k1, x86_64: installed, needs-repair',
      'hello-abi/1.0, k2, x86_64: installed-abi (from k1), needs-depmod, needs-repair',
    ]);
    // A module DKMS never added (a binary package) needs no DKMS build.
    const binary = deriveStatus(snapshot({ dkms: [] }), usable);
    expect(binary.every((e) => !e.needsRepair)).toBe(true);
  });

  it("says how a reused build's headers compare with the kernel's, in the line and the entry", () => {
    const drift = (_m: TreeModule, k: string) =>
      k === 'k2' ? { state: 'differ' as const, drifted: ['include/linux/foo.h'] } : undefined;
    const entries = deriveStatus(snapshot(), usable, {}, drift);
    const k2 = entries.find((e) => e.kernel === 'k2');
    expect(k2).toMatchObject({ headers: 'differ', driftedHeaders: ['include/linux/foo.h'] });
    expect(formatStatusLine(k2!)).toBe(
      'hello-abi/1.0, k2, x86_64: installed-abi (from k1; headers differ: include/linux/foo.h), needs-depmod',
    );
    const unchecked = deriveStatus(snapshot(), usable, {}, () => ({ state: 'unchecked', drifted: [] }));
    expect(unchecked.map(formatStatusLine)).toContain(
      'hello-abi/1.0, k2, x86_64: installed-abi (from k1; headers not checked), needs-depmod',
    );
    // The kernel the module was built for is never compared.
    expect(unchecked.find((e) => e.kernel === 'k1')).toMatchObject({ headers: null });
  });

  it('turns an installed module the verdict rejects into abi-mismatch with the reason', () => {
    const verdict = (_m: TreeModule, k: string): Usability =>
      k === 'k2' ? { usable: false, reason: 'module_layout: CRC 0x1 != 0x2' } : { usable: true };
    const entries = deriveStatus(snapshot(), verdict);
    const k2 = entries.find((e) => e.kernel === 'k2');
    expect(k2).toMatchObject({
      state: 'abi-mismatch',
      reason: 'module_layout: CRC 0x1 != 0x2',
      builtFor: 'k1',
    });
    expect(formatStatusLine(k2!)).toBe(
      'hello-abi/1.0, k2, x86_64: abi-mismatch (module_layout: CRC 0x1 != 0x2), needs-depmod',
    );
  });

  it('shows tree modules on kernels without DKMS bookkeeping, and never on another ABI', () => {
    const snap = snapshot({
      dkms: [],
      kernels: [
        ...snapshot().kernels,
        { kernel: 'k4', abi: amd64_1, extra: 'abi-link', modulesDepMtimeMs: 3000 },
      ],
    });
    const lines = deriveStatus(snap, usable).map(formatStatusLine);
    expect(lines).toEqual([
      'hello-abi/1.0, k1, x86_64: installed',
      'hello-abi/1.0, k2, x86_64: installed-abi (from k1), needs-depmod',
      'hello-abi/1.0, k4, x86_64: installed-abi (from k1)',
    ]);
  });

  it('says installed, as dkms does, for a DKMS build marked installed that no tree holds', () => {
    // k1: stock dkms's own install (a copy in updates/dkms). k2: our entry sharing k1's build,
    // missing from the tree: damage, nothing installed (verify reports it).
    const entries = deriveStatus(snapshot({ trees: [{ abi: amd64_1, modules: [] }] }), usable);
    expect(entries.filter((e) => e.kernel !== null).map((e) => e.state)).toEqual(['installed', 'built']);
  });

  it('says installed, as dkms does, on a kernel dkms-abi has not registered', () => {
    const snap = snapshot({
      kernels: [{ kernel: 'k9', abi: undefined, extra: 'absent', modulesDepMtimeMs: 2000 }],
      dkms: [
        {
          module: 'hello-abi',
          version: '1.0',
          added: true,
          builds: [
            { kernel: 'k9', arch: 'x86_64', kind: 'built', builtFor: 'k9', installed: true },
            { kernel: 'k8', arch: 'x86_64', kind: 'built', builtFor: 'k8', installed: false },
          ],
        },
      ],
    });
    expect(deriveStatus(snap, usable).map(formatStatusLine)).toEqual([
      'hello-abi/1.0, k8, x86_64: built',
      'hello-abi/1.0, k9, x86_64: installed',
    ]);
  });

  it('filters by module, version and kernel', () => {
    expect(deriveStatus(snapshot(), usable, { kernel: 'k2' }).map(formatStatusLine)).toEqual([
      'hello-abi/1.0, k2, x86_64: installed-abi (from k1), needs-depmod',
      'lonely/2.0: added',
    ]);
    expect(deriveStatus(snapshot(), usable, { module: 'lonely' })).toHaveLength(1);
  });
});

describe('compareSimple', () => {
  const collator = new Intl.Collator('en', { numeric: true });
  const sign = (n: number): number => Math.sign(n);

  it('orders like Intl.Collator("en", { numeric: true }) on real names', () => {
    const names = [
      '6.1.0-47-amd64',
      '6.1.0-47.10-amd64',
      '6.1.0-47.2-amd64',
      '6.1.0-50-amd64',
      '5.15.0-91-generic',
      '4.18.0-477.10.1.el8_8.x86_64',
      '5.14.21-150500.55.39-default',
      '2.6.29.1-desktop-1mnb',
      'bench-mod-000',
      'bench-mod-0',
      'bench-mod-010',
      'bench_mod_9',
      'hello-abi',
      'hello-abi-b',
      'hello_abi',
      'x86_64',
      'i686',
      '1.0',
      '1.0.1',
      '1.0-1',
      '',
    ];
    for (const a of names)
      for (const b of names)
        expect([a, b, sign(compareSimple(a, b))]).toEqual([a, b, sign(collator.compare(a, b))]);
  });

  it('orders like the collator on random strings of its alphabet', () => {
    const alphabet = '_-.0123456789abmxz';
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const word = (): string =>
      Array.from({ length: random(9) }, () => alphabet[random(alphabet.length)]).join('');
    const mismatches: [string, string, number, number][] = [];
    for (let i = 0; i < 20000; i++) {
      const a = word();
      const b = random(4) === 0 ? a.replace(/\d/, '0$&') : word();
      const got = sign(compareSimple(a, b));
      const want = sign(collator.compare(a, b));
      if (got !== want) mismatches.push([a, b, got, want]);
    }
    expect(mismatches).toEqual([]);
  });
});

describe('dkms-style lines', () => {
  it.each([
    [{ module: 'hello', version: '1.0' }, 'added', 'hello/1.0: added'],
    [
      { module: 'hello', version: '1.0', kernel: '6.1.0-47-amd64' },
      'skipped (x)',
      'hello/1.0, 6.1.0-47-amd64: skipped (x)',
    ],
    [
      { module: 'hello', version: '1.0', kernel: '6.1.0-47-amd64', arch: 'x86_64' },
      'uninstalled',
      'hello/1.0, 6.1.0-47-amd64, x86_64: uninstalled',
    ],
  ])('%o: %s', (place, what, want) => {
    expect(moduleLine(place, what)).toBe(want);
  });

  it('says installed where the build was made and installed-abi elsewhere', () => {
    expect(installedState('6.1.0-47-amd64', '6.1.0-47-amd64')).toBe('installed');
    expect(installedState('6.1.0-50-amd64', '6.1.0-47-amd64')).toBe('installed-abi (from 6.1.0-47-amd64)');
  });

  it('names the module, the kernel and the reason of a refusal', () => {
    expect(rejectedNote({ module: 'hello', version: '1.0' }, { kernel: 'k', reason: 'crc mismatch' })).toBe(
      'hello/1.0 is not usable on k: crc mismatch',
    );
  });
});

describe('a build of several modules judged as one (buildUsability)', () => {
  const ok: Usability = { usable: true };
  const noOslec: Usability = { usable: false, reason: 'no symbol version for oslec_create' };
  const layout: Usability = { usable: false, reason: 'module_layout: 0x1 != 0x2' };

  it('is usable, with no detail, when every module loads', () => {
    expect(buildUsability([{ name: 'a', usability: ok }], undefined)).toEqual({ usable: true });
  });

  it('is usable with a detail naming the modules its own kernel refuses too', () => {
    const members = [
      { name: 'dahdi', usability: ok },
      { name: 'dahdi_echocan_oslec', usability: noOslec },
    ];
    const recorded = unloadableOf(members);
    expect(recorded).toEqual({ dahdi_echocan_oslec: 'no symbol version for oslec_create' });
    expect(buildUsability(members, recorded)).toEqual({
      usable: true,
      detail: 'dahdi_echocan_oslec: no symbol version for oslec_create',
    });
  });

  it('is unusable when a kernel refuses a module the build kernel loads (reuse never loses one)', () => {
    const members = [
      { name: 'dahdi', usability: layout },
      { name: 'dahdi_echocan_oslec', usability: noOslec },
    ];
    expect(buildUsability(members, { dahdi_echocan_oslec: 'x' })).toEqual({
      usable: false,
      reason: 'dahdi: module_layout: 0x1 != 0x2',
    });
    // Nothing recorded (a manifest of an older dkms-abi, or every module loaded): any refusal counts.
    expect(buildUsability([{ name: 'one', usability: noOslec }], undefined)).toEqual(noOslec);
  });

  it('accepts a kernel that loads more of the build than its own kernel', () => {
    expect(buildUsability([{ name: 'x', usability: ok }], { x: 'no symbol version for y' })).toEqual({
      usable: true,
    });
  });

  it('puts the detail after the state, where scripts still find ": installed"', () => {
    const base = {
      module: 'dahdi',
      version: '2.11',
      arch: 'x86_64',
      needsDepmod: false,
      needsRepair: false,
      headers: null,
      driftedHeaders: [],
    };
    const detail = 'dahdi_echocan_oslec: no symbol version for oslec_create';
    expect(
      formatStatusLine({ ...base, kernel: 'k1', state: 'installed', builtFor: 'k1', reason: detail }),
    ).toBe(`dahdi/2.11, k1, x86_64: installed (${detail})`);
    expect(
      formatStatusLine({ ...base, kernel: 'k2', state: 'installed-abi', builtFor: 'k1', reason: detail }),
    ).toBe(`dahdi/2.11, k2, x86_64: installed-abi (from k1) (${detail})`);
  });
});
