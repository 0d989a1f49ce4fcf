import { describe, expect, it } from 'vitest';
import { chooseTargetAbi } from './package-abi.js';

const fits = (abiver: string) => ({ abiver, breaking: 0, added: 0 });
const breaks = (abiver: string) => ({ abiver, breaking: 12, added: 0 });

describe('the tree a package goes to on the installing machine', () => {
  it('archives the reference under the package abiver on a machine that has none', () => {
    expect(chooseTargetAbi('1', [], [])).toEqual({ kind: 'archive', abiver: '1' });
    expect(chooseTargetAbi('4', [], [])).toEqual({ kind: 'archive', abiver: '4' });
  });

  it('joins its own abiver when the reference there fits', () => {
    expect(chooseTargetAbi('1', [fits('1'), fits('2')], ['1', '2'])).toEqual({ kind: 'join', abiver: '1' });
  });

  it('follows the reference, not the number, when the machine numbered its ABIs differently', () => {
    // Here amd64-1 is another ABI and the package's ABI is this machine's amd64-3.
    expect(chooseTargetAbi('1', [breaks('1'), breaks('2'), fits('3')], ['1', '2', '3'])).toEqual({
      kind: 'join',
      abiver: '3',
    });
  });

  it('takes a new abiver when its own number is used by another ABI', () => {
    expect(chooseTargetAbi('1', [breaks('1')], ['1'])).toEqual({ kind: 'archive', abiver: '2' });
    expect(chooseTargetAbi('2', [breaks('1')], ['1'])).toEqual({ kind: 'archive', abiver: '2' });
  });
});
