import { describe, expect, it } from 'vitest';
import { JOURNAL_FORMAT_VERSION } from './format-version.js';
import { parseJournal, serializeJournal, type Journal } from './journal.js';

const journal: Journal = {
  id: 'm3x-0a1b2c3d',
  description: 'install hello/1.0',
  root: '/tmp/root',
  entries: [
    { op: 'mkdir', path: '/tmp/root/lib/modules/t/dkms', before: { kind: 'absent' } },
    { op: 'copy', path: '/tmp/root/lib/modules/t/dkms/a.ko', before: { kind: 'present' } },
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

/** The same journal in a root moved or copied to /srv/copy. */
const moved = (j: Journal, to: string): Journal =>
  JSON.parse(JSON.stringify(j).replaceAll(j.root, to)) as Journal;

describe('the journal format', () => {
  it('carries its format version and reads back what it wrote', () => {
    const text = serializeJournal(journal);
    expect(JSON.parse(text)).toMatchObject({ format: JOURNAL_FORMAT_VERSION });
    expect(parseJournal(text, '/tmp/root')).toEqual(journal);
  });

  it('names no host path: paths are written as seen inside the root, read under the root it is read for', () => {
    const text = serializeJournal(journal);
    expect(text).not.toContain('/tmp/root');
    const written = JSON.parse(text) as { entries: object[]; depmodDirs: string[] };
    expect(written.entries.slice(2, 4)).toMatchObject([
      { path: '/lib/modules/k/extra', target: '../t' },
      { path: '/x', from: '/y' },
    ]);
    expect(written.depmodDirs).toEqual(['/lib/modules/6.1.0-47-amd64']);
    expect(parseJournal(text, '/srv/copy')).toEqual(moved(journal, '/srv/copy'));
    expect(parseJournal(text, '/')).toEqual({ ...moved(journal, ''), root: '/' });
  });

  it('reads format 1 (host paths, and no "format" before journals were versioned) under the root it is read for', () => {
    const v1 = JSON.stringify({ ...journal, format: 1 });
    expect(parseJournal(v1, '/tmp/root')).toEqual(journal);
    // A copy's source, which format 1 wrote and undo never needs, may lie anywhere.
    const copyFrom = JSON.parse(v1) as { entries: { from?: string }[] };
    copyFrom.entries[1] = { ...copyFrom.entries[1], from: '/var/cache/payload/a.ko' };
    expect(parseJournal(JSON.stringify(copyFrom), '/tmp/root')).toEqual(journal);
    expect(parseJournal(JSON.stringify(journal), '/srv/copy')).toEqual(moved(journal, '/srv/copy'));
    const { root: _root, ...older } = journal;
    expect(parseJournal(JSON.stringify(older), '/tmp/root')).toEqual(journal);
    // Without the root it was written for, a path outside the one it is read for is refused.
    expect(parseJournal(JSON.stringify(older), '/srv/copy')).toMatch(/^"depmodDirs": "\/tmp\/root\//);
  });

  it('refuses a newer format instead of undoing it by guesswork', () => {
    expect(parseJournal(withField('format', 3), '/tmp/root')).toBe(
      'journal format version 3 is newer than this dkms-abi reads (version 2): use the dkms-abi that wrote it, or a newer one',
    );
    expect(parseJournal(withField('format', 'v1'), '/tmp/root')).toMatch(
      /^unknown journal format version "v1"/,
    );
  });

  it.each([
    ['not JSON', '{"id":', /^not JSON: /],
    ['an array', '[]', /^not an object$/],
    ['no id', withField('id', undefined), /"id"/],
    ['an id with a slash', withField('id', '../x'), /"id"/],
    ['a relative root (format 1)', JSON.stringify({ ...journal, format: 1, root: 'tmp/root' }), /"root"/],
    [
      'a path outside the root it names (format 1)',
      JSON.stringify({ ...journal, format: 1, depmodDirs: ['/etc'] }),
      /"depmodDirs"/,
    ],
    [
      'a path climbing out of the root',
      withField('entries', [{ op: 'mkdir', path: '/lib/../../etc', before: { kind: 'absent' } }]),
      /^entry 0: "path": "\/lib\/..\/..\/etc" is not a path inside the root$/,
    ],
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
    const r = parseJournal(text, '/tmp/root');
    expect(typeof r).toBe('string');
    expect(r).toMatch(want);
  });
});
