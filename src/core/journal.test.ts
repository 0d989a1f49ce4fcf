import { describe, expect, it } from 'vitest';
import { JOURNAL_FORMAT_VERSION } from './format-version.js';
import { parseJournal, serializeJournal, type Journal } from './journal.js';

const journal: Journal = {
  id: 'm3x-0a1b2c3d',
  description: 'install hello/1.0',
  root: '/tmp/root',
  entries: [
    { op: 'mkdir', path: '/tmp/root/lib/modules/t/dkms', before: { kind: 'absent' } },
    {
      op: 'copy',
      path: '/tmp/root/lib/modules/t/dkms/a.ko',
      from: '/tmp/root/var/a.ko',
      before: { kind: 'present' },
    },
    {
      op: 'symlink',
      path: '/tmp/root/lib/modules/k/extra',
      target: '../t',
      before: { kind: 'symlink', target: '../old' },
    },
    { op: 'rename', path: '/tmp/root/x', from: '/tmp/root/y', before: { kind: 'absent' } },
    { op: 'remove', path: '/tmp/root/z', before: { kind: 'present' } },
    { op: 'write', path: '/tmp/root/w', before: { kind: 'absent' } },
  ],
  depmod: ['6.1.0-47-amd64'],
  depmodDirs: ['/tmp/root/lib/modules/6.1.0-47-amd64'],
};

const withField = (key: string, value: unknown): string =>
  JSON.stringify({ ...(JSON.parse(serializeJournal(journal)) as object), [key]: value });

describe('the journal format', () => {
  it('carries its format version and reads back what it wrote', () => {
    const text = serializeJournal(journal);
    expect(JSON.parse(text)).toMatchObject({ format: JOURNAL_FORMAT_VERSION });
    expect(parseJournal(text)).toEqual(journal);
  });

  it('reads a journal written before journals were versioned (no "format") as version 1', () => {
    expect(parseJournal(JSON.stringify(journal))).toEqual(journal);
    const { root: _root, depmodDirs: _dirs, ...older } = journal;
    expect(parseJournal(JSON.stringify(older))).toEqual(older);
  });

  it('refuses a newer format instead of undoing it by guesswork', () => {
    expect(parseJournal(withField('format', 2))).toBe(
      'journal format version 2 is newer than this dkms-abi reads (version 1): use the dkms-abi that wrote it, or a newer one',
    );
    expect(parseJournal(withField('format', 'v1'))).toMatch(/^unknown journal format version "v1"/);
  });

  it.each([
    ['not JSON', '{"id":', /^not JSON: /],
    ['an array', '[]', /^not an object$/],
    ['no id', withField('id', undefined), /"id"/],
    ['an id with a slash', withField('id', '../x'), /"id"/],
    ['a relative root', withField('root', 'tmp/root'), /"root"/],
    ['depmod not a list', withField('depmod', '6.1.0'), /"depmod"/],
    ['relative depmodDirs', withField('depmodDirs', ['lib']), /"depmodDirs"/],
    ['entries not a list', withField('entries', {}), /"entries"/],
    [
      'an unknown operation',
      withField('entries', [{ op: 'chmod', path: '/a', before: { kind: 'absent' } }]),
      /^entry 0: unknown operation "chmod"$/,
    ],
    [
      'a relative path',
      withField('entries', [{ op: 'mkdir', path: 'a', before: { kind: 'absent' } }]),
      /^entry 0: "path"/,
    ],
    [
      'a relative from',
      withField('entries', [{ op: 'rename', path: '/a', from: 'b', before: { kind: 'absent' } }]),
      /"from"/,
    ],
    [
      'an unknown prior state',
      withField('entries', [{ op: 'mkdir', path: '/a', before: { kind: 'fifo' } }]),
      /"before"/,
    ],
    [
      'a symlink state without target',
      withField('entries', [{ op: 'mkdir', path: '/a', before: { kind: 'symlink' } }]),
      /"before"/,
    ],
  ])('refuses %s', (_what, text, want) => {
    const r = parseJournal(text);
    expect(typeof r).toBe('string');
    expect(r).toMatch(want);
  });
});
