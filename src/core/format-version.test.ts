import { describe, expect, it } from 'vitest';
import {
  STATE_LAYOUT_VERSION,
  parseLayoutVersion,
  serializeLayoutVersion,
  versionProblem,
} from './format-version.js';

describe('format versions', () => {
  it('reads the version it writes, and a missing version as 1', () => {
    expect(versionProblem(1, 1, 'journal format')).toBeUndefined();
    expect(versionProblem(undefined, 1, 'journal format')).toBeUndefined();
  });

  it('refuses a newer version, naming the version found and the version read', () => {
    expect(versionProblem(2, 1, 'journal format')).toBe(
      'journal format version 2 is newer than this dkms-abi reads (version 1): use the dkms-abi that wrote it, or a newer one',
    );
  });

  it.each([0, -1, 1.5, '1', null, [1], Number.MAX_SAFE_INTEGER + 2])(
    'refuses the unknown version %j',
    (v) => {
      expect(versionProblem(v, 1, 'journal format')).toMatch(
        /^unknown journal format version .* \(this dkms-abi reads version 1\)$/,
      );
    },
  );

  it('round-trips the layout-version file', () => {
    expect(serializeLayoutVersion()).toBe(`${STATE_LAYOUT_VERSION}\n`);
    expect(parseLayoutVersion(serializeLayoutVersion())).toBe(STATE_LAYOUT_VERSION);
    expect(parseLayoutVersion(' 1 \n')).toBe(1);
  });

  it.each([
    ['2\n', /^state layout version 2 is newer than this dkms-abi reads \(version 1\)/],
    ['999999999\n', /^state layout version 999999999 is newer/],
    ['0\n', /^unknown state layout version 0 /],
    ['', /^unknown state layout version "" /],
    ['1.0\n', /^unknown state layout version "1.0" /],
    ['{"version":1}', /^unknown state layout version "\{\\"version\\":1\}" /],
    ['1\n2\n', /^unknown state layout version "1\\n2" /],
  ])('refuses the layout-version file %j', (text, want) => {
    const r = parseLayoutVersion(text);
    expect(typeof r).toBe('string');
    expect(r).toMatch(want);
  });
});
