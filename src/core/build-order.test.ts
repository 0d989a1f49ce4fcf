import { describe, expect, it } from 'vitest';
import { buildOrder } from './build-order.js';

const names = (xs: { module: string }[]) => xs.map((x) => x.module);

describe('buildOrder', () => {
  it('puts providers before their consumers and ignores absent dependencies', () => {
    const order = buildOrder([
      { module: 'abi-consumer', buildDepends: ['abi-provider', 'not-here'] },
      { module: 'hello-abi', buildDepends: [] },
      { module: 'abi-provider', buildDepends: [] },
    ]);
    expect(names(order)).toEqual(['abi-provider', 'hello-abi', 'abi-consumer']);
  });

  it('keeps going past a cycle', () => {
    const order = buildOrder([
      { module: 'b', buildDepends: ['a'] },
      { module: 'a', buildDepends: ['b'] },
      { module: 'c', buildDepends: [] },
    ]);
    expect(names(order)).toEqual(['c', 'a', 'b']);
  });
});
