import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { compareWithReference, decideAbi } from './abi-decision.js';
import { breakingCount, diffSymvers, parseSymvers, type Symvers } from './symvers.js';

describe('decideAbi', () => {
  it('allocates the first abiver when nothing is archived', () => {
    expect(decideAbi([], '1')).toEqual({ kind: 'new', abiver: '1', breaksFrom: undefined });
  });

  it('joins the newest reference without breakage, even with added symbols', () => {
    const checks = [
      { abiver: '1', breaking: 0, added: 0 },
      { abiver: '2', breaking: 0, added: 3 },
    ];
    expect(decideAbi(checks, '3')).toEqual({ kind: 'join', abiver: '2', added: 3 });
  });

  it('allocates a new abiver when every reference breaks, naming the newest breakage', () => {
    const checks = [
      { abiver: '1', breaking: 40, added: 0 },
      { abiver: '2', breaking: 2, added: 1 },
    ];
    expect(decideAbi(checks, '3')).toEqual({ kind: 'new', abiver: '3', breaksFrom: checks[1] });
  });
});

describe('compareWithReference', () => {
  const DEBIAN = '/usr/src/linux-headers-6.1.0-47-amd64/Module.symvers';
  const DEBIAN_NEXT = '/usr/src/linux-headers-6.1.0-50-amd64/Module.symvers';
  const counts = (ref: Symvers, next: Symvers) => {
    const d = diffSymvers(ref, next);
    return { breaking: breakingCount(d), added: d.added.length };
  };
  const model = (lines: string[]) => parseSymvers(lines.map((l) => `${l}\n`).join(''), 'test');

  it("gives diffSymvers's counts on the real Debian 6.1.0-47 → 6.1.0-50 files, both ways", async () => {
    const a = parseSymvers(await readFile(DEBIAN, 'utf8'), DEBIAN);
    const b = parseSymvers(await readFile(DEBIAN_NEXT, 'utf8'), DEBIAN_NEXT);
    expect(compareWithReference(a, b)).toEqual(counts(a, b));
    expect(compareWithReference(b, a)).toEqual(counts(b, a));
    expect(compareWithReference(a, b).breaking).toBeGreaterThan(18_000);
    expect(compareWithReference(a, a)).toEqual({ breaking: 0, added: 0 });
  });

  it('counts each breaking category of a symbol, like breakingCount', () => {
    const ref = model([
      '0x00000001\tboth\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000002\tgone\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000003\tgpl\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000004\tns\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000005\tsame\tvmlinux\tEXPORT_SYMBOL\t',
    ]);
    const next = model([
      '0x000000ff\tboth\tdrivers/foo\tEXPORT_SYMBOL\t',
      '0x00000003\tgpl\tvmlinux\tEXPORT_SYMBOL_GPL\t',
      '0x00000004\tns\tvmlinux\tEXPORT_SYMBOL\tFOO',
      '0x00000005\tsame\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000006\tnew1\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000007\tnew2\tvmlinux\tEXPORT_SYMBOL\t',
    ]);
    expect(compareWithReference(ref, next)).toEqual({ breaking: 5, added: 2 });
    expect(compareWithReference(ref, next)).toEqual(counts(ref, next));
  });

  it('compares first exports only, as the indexes do', () => {
    const ref = model([
      '0x00000001\tdup\tvmlinux\tEXPORT_SYMBOL\t',
      '0x00000009\tdup\tother\tEXPORT_SYMBOL\t',
    ]);
    const next = model(['0x00000001\tdup\tvmlinux\tEXPORT_SYMBOL\t']);
    expect(compareWithReference(ref, next)).toEqual({ breaking: 0, added: 0 });
    expect(compareWithReference(ref, next)).toEqual(counts(ref, next));
  });
});
