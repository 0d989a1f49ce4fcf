import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TextBytes } from './text-bytes.js';

const decoded = (t: TextBytes) => new TextDecoder().decode(t.result());

describe('TextBytes', () => {
  it('is the UTF-8 of what was added, past its first size, whatever the characters (property)', () => {
    const piece = fc.oneof(
      fc.string({ maxLength: 20 }).map((text) => ({ text })),
      fc.nat({ max: 40 }).map((pad) => ({ pad })),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), fc.nat({ max: 16 }), (pieces, expected) => {
        const t = new TextBytes(expected);
        let want = '';
        for (const p of pieces) {
          if ('text' in p) {
            t.add(p.text);
            want += p.text;
          } else {
            t.pad(p.pad);
            want += ' '.repeat(p.pad);
          }
        }
        expect(Buffer.from(t.result())).toEqual(Buffer.from(want));
      }),
      { numRuns: 500 },
    );
  });

  it('encodes a string whole when a character past ASCII comes after an ASCII start', () => {
    const t = new TextBytes(4).add('ab').add('cdé→f').pad(2).add('g');
    expect(decoded(t)).toBe('abcdé→f  g');
    expect(t.result().length).toBe(13);
  });

  it('pads nothing for a count of zero or less', () => {
    expect(decoded(new TextBytes(8).add('x').pad(0).pad(-3).add('y'))).toBe('xy');
  });
});
