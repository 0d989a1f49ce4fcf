import { describe, expect, it } from 'vitest';
import { CommandFailedError, InputError, exitCodeOf, formatCommandFailure, shellQuote } from './errors.js';

describe('errors', () => {
  it('names the file and line of bad input, exit 2', () => {
    const e = new InputError('/etc/dkms-abi.conf', 'unknown key "foo"', 7);
    expect(e.message).toBe('/etc/dkms-abi.conf:7: unknown key "foo"');
    expect(exitCodeOf(e)).toBe(2);
  });

  it('keeps bad input on one line whatever the file quoted (the fuzzer found a regex "+\\n")', () => {
    const e = new InputError(
      '/usr/src/x-1/dkms.conf',
      'BUILD_EXCLUSIVE_ARCH "+\n" is not a valid regular expression',
    );
    expect(e.message).toBe(
      '/usr/src/x-1/dkms.conf: BUILD_EXCLUSIVE_ARCH "+\\x0a" is not a valid regular expression',
    );
  });

  it('formats a failed command on one line with the last stderr line', () => {
    const msg = formatCommandFailure({
      argv: ['dkms', 'build', '-m', 'my mod'],
      exitCode: 10,
      signal: undefined,
      stderrTail: 'first\nError! Bad return status\n\n',
    });
    expect(msg).toBe("dkms build -m 'my mod' exited with code 10: Error! Bad return status");
  });

  it("keeps dkms's whole error paragraph, not only its last line", () => {
    const msg = formatCommandFailure({
      argv: ['dkms', 'unbuild'],
      exitCode: 4,
      signal: undefined,
      stderrTail:
        'Sign command: x\nError! Bad return status for module build on kernel: k (x86_64)\nConsult /l/make.log for more information.\n\nUsage: dkms\n',
    });
    expect(msg).toBe(
      'dkms unbuild exited with code 4: Error! Bad return status for module build on kernel: k (x86_64) Consult /l/make.log for more information.',
    );
  });

  it('says a command was stopped for running too long', () => {
    const e = new CommandFailedError({
      argv: ['depmod', '-a'],
      exitCode: undefined,
      signal: 'SIGTERM',
      stderrTail: '',
      timeoutMs: 600_000,
    });
    expect(e.message).toBe('depmod -a did not finish within 600 s and was stopped');
  });

  it('reports signals and maps unknown throwables (bugs) to 70, not 3', () => {
    const e = new CommandFailedError({
      argv: ['depmod'],
      exitCode: undefined,
      signal: 'SIGKILL',
      stderrTail: '',
    });
    expect(e.message).toBe('depmod was killed by SIGKILL');
    expect(exitCodeOf(new Error('bug'))).toBe(70);
    expect(exitCodeOf('thrown text')).toBe(70);
  });

  it.each([
    ['plain', 'plain'],
    ["it's", `'it'\\''s'`],
    ['a b', "'a b'"],
  ])('quotes %s for display', (input, want) => {
    expect(shellQuote(input)).toBe(want);
  });
});
