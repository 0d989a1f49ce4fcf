import { describe, expect, it } from 'vitest';
import { decideAbi } from './abi-decision.js';

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
