import { describe, expect, it } from 'vitest';
import { depmodIndexProblems, type IndexFileFact } from './depmod-index.js';

const text = (s: string): IndexFileFact => {
  const bytes = new TextEncoder().encode(s);
  return { size: bytes.length, head: bytes.slice(0, 8), endsWithNewline: s.endsWith('\n') };
};
const index = (size = 40): IndexFileFact => ({
  size,
  head: Uint8Array.from([0xb0, 0x07, 0xf4, 0x57, 0x00, 0x02, 0x00, 0x01]),
  endsWithNewline: false,
});

/** What kmod 30's depmod writes for a kernel with modules.builtin and modules.builtin.modinfo. */
function complete(): Map<string, IndexFileFact> {
  return new Map([
    ['modules.dep', text('kernel/a.ko:\nextra/b.ko: kernel/a.ko\n')],
    ['modules.alias', text('# Aliases extracted from modules themselves.\nalias x a\n')],
    ['modules.symbols', text('# Aliases for symbols, used by symbol_request().\n')],
    ['modules.softdep', text('# Soft dependencies extracted from modules themselves.\n')],
    ['modules.devname', text('')],
    ['modules.dep.bin', index()],
    ['modules.alias.bin', index()],
    ['modules.symbols.bin', index(12)],
    ['modules.builtin', text('kernel/c.ko\n')],
    ['modules.builtin.bin', index()],
    ['modules.builtin.modinfo', text('c.alias=x\0')],
    ['modules.builtin.alias.bin', index()],
  ]);
}

describe('depmodIndexProblems', () => {
  it('accepts what depmod writes, with and without the builtin sources', () => {
    expect(depmodIndexProblems(complete())).toEqual([]);
    const noBuiltin = complete();
    noBuiltin.delete('modules.builtin');
    noBuiltin.delete('modules.builtin.modinfo');
    noBuiltin.set('modules.builtin.bin', text(''));
    noBuiltin.set('modules.builtin.alias.bin', text(''));
    expect(depmodIndexProblems(noBuiltin)).toEqual([]);
  });

  it.each<[string, (m: Map<string, IndexFileFact>) => void, string[]]>([
    ['a missing file', (m) => m.delete('modules.symbols'), ['modules.symbols is missing']],
    [
      'a 0-byte modules.alias (a full disk)',
      (m) => m.set('modules.alias', text('')),
      ['modules.alias is empty'],
    ],
    [
      'a text file cut short',
      (m) => m.set('modules.dep', text('kernel/a.ko:\nextra/b')),
      ['modules.dep is cut short'],
    ],
    [
      'an index cut to nothing',
      (m) => m.set('modules.alias.bin', text('')),
      ['modules.alias.bin is not a kmod index'],
    ],
    [
      'an index without its magic',
      (m) => m.set('modules.dep.bin', { ...index(), head: new Uint8Array(8) }),
      ['modules.dep.bin is not a kmod index'],
    ],
    [
      'an empty builtin index beside a modules.builtin',
      (m) => m.set('modules.builtin.bin', text('')),
      ['modules.builtin.bin is not a kmod index'],
    ],
    [
      'everything but modules.dep gone',
      (m) => {
        for (const k of [...m.keys()])
          if (k !== 'modules.dep' && !k.endsWith('builtin') && !k.endsWith('modinfo')) m.delete(k);
      },
      [
        'modules.alias is missing',
        'modules.symbols is missing',
        'modules.softdep is missing',
        'modules.devname is missing',
        'modules.dep.bin is missing',
        'modules.alias.bin is missing',
        'modules.symbols.bin is missing',
        'modules.builtin.bin is missing',
        'modules.builtin.alias.bin is missing',
      ],
    ],
  ])('reports %s', (_name, damage, problems) => {
    const m = complete();
    damage(m);
    expect(depmodIndexProblems(m)).toEqual(problems);
  });
});
