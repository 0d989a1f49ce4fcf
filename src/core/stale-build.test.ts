import { describe, expect, it } from 'vitest';
import { isStaleBuild } from './stale-build.js';
import type { ModuleVerdict, VerdictProblemKind } from './verdict.js';

const usable: ModuleVerdict = { usable: true, problems: [] };
const refused = (kind: VerdictProblemKind, symbol: string | null = 'sym'): ModuleVerdict => ({
  usable: false,
  problems: [{ kind, symbol, expected: '0x1', actual: '0x2' }],
});

describe('isStaleBuild', () => {
  it.each([
    ['module-layout', true],
    ['crc-mismatch', true],
    ['vermagic', true],
    ['struct-module-size', true],
    ['missing-symbol', false],
    ['no-symbol-version', false],
    ['gpl-only', false],
    ['namespace', false],
    ['signature', false],
    ['duplicate-export', false],
    ['dependency', false],
  ] as const)('a module refused for %s: stale = %s', (kind, stale) => {
    expect(isStaleBuild([usable, refused(kind)])).toBe(stale);
  });

  it('usable builds are never stale, whatever their problems list says', () => {
    expect(isStaleBuild([usable, { usable: true, problems: refused('crc-mismatch').problems }])).toBe(false);
    expect(isStaleBuild([])).toBe(false);
  });

  it('dahdi on Debian: one module that cannot load (oslec_create not exported) is not a stale build', () => {
    expect(isStaleBuild([usable, refused('missing-symbol', 'oslec_create')])).toBe(false);
    // …but the same package built for the kernel before an in-place upgrade is.
    expect(isStaleBuild([refused('module-layout', 'module_layout'), refused('missing-symbol')])).toBe(true);
  });
});
