import { describe, expect, it } from 'vitest';
import { abiTreeName, nextAbiver, parseAbiSpec, parseAbiTreeName } from './abi-id.js';

describe('ABI identity', () => {
  it.each([
    ['kernel-abi-amd64-1', { flavour: 'amd64', abiver: '1' }],
    ['../kernel-abi-cloud-amd64-12', { flavour: 'cloud-amd64', abiver: '12' }],
    ['/lib/modules/kernel-abi-desktop-3/', { flavour: 'desktop', abiver: '3' }],
    ['kernel-abi-x86_64+rt-2', { flavour: 'x86_64+rt', abiver: '2' }],
  ])('parses the tree name %s', (name, want) => {
    expect(parseAbiTreeName(name)).toEqual(want);
    expect(abiTreeName(want)).toBe(name.replace(/\/$/, '').split('/').pop());
  });

  it.each(['extra', 'kernel-abi-amd64', 'kernel-abi--1', 'kernel-abi-../x-1', 'kernel-abi-amd64-x'])(
    'rejects %s',
    (name) => {
      expect(parseAbiTreeName(name)).toBeUndefined();
    },
  );

  it('parses --abi specs and allocates the next abiver', () => {
    expect(parseAbiSpec('amd64-7')).toEqual({ flavour: 'amd64', abiver: '7' });
    expect(parseAbiSpec('amd64')).toBeUndefined();
    expect(nextAbiver([])).toBe('1');
    expect(nextAbiver(['1', '3', '2'])).toBe('4');
  });
});
