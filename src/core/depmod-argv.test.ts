import { describe, expect, it } from 'vitest';
import { depmodArgv, depmodCheckArgv } from './depmod-argv.js';

describe('depmod argv', () => {
  it.each([
    ['/', 'k', ['depmod', '-a', '-b', '/', 'k']],
    [
      '/tmp/r',
      'k',
      [
        'depmod',
        '-a',
        '-b',
        '/tmp/r',
        '-C',
        '/tmp/r/etc/depmod.d',
        '-C',
        '/tmp/r/run/depmod.d',
        '-C',
        '/tmp/r/lib/depmod.d',
        'k',
      ],
    ],
  ])('for root %s', (root, kernel, want) => {
    expect(depmodArgv(root, kernel)).toEqual(want);
  });

  it('checks symbol versions against a symvers file without writing', () => {
    expect(depmodCheckArgv('/', 'k', '/s')).toEqual(['depmod', '-n', '-e', '-E', '/s', '-b', '/', 'k']);
  });
});
