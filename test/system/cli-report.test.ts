// The top-level handler's contract: our errors exit 2 or 3 with their one line; anything else
// is a bug in dkms-abi: exit 70 (EX_SOFTWARE), one line asking for a report, the stack only
// with DKMS_ABI_DEBUG.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { reportError } from '../../src/cli.js';
import { EnvironmentError, InputError } from '../../src/core/errors.js';
import type * as OutputModule from '../../src/system/output.js';

// What the handler writes to standard error (file descriptor 2), captured.
const written: string[] = [];
vi.mock('../../src/system/output.js', async (actual) => ({
  ...(await actual<typeof OutputModule>()),
  writeStderr: (data: string | Uint8Array) => written.push(String(data)),
}));
beforeEach(() => {
  written.length = 0;
});
afterEach(() => {
  delete process.env['DKMS_ABI_DEBUG'];
});

describe('reportError', () => {
  it('an input error: exit 2, its line', () => {
    expect(reportError(new InputError('/etc/x.conf', 'bad', 3))).toBe(2);
    expect(written).toEqual(['dkms-abi: /etc/x.conf:3: bad\n']);
  });

  it('an environment failure: exit 3, its line', () => {
    expect(reportError(new EnvironmentError('depmod failed', 'the change was rolled back'))).toBe(3);
    expect(written).toEqual(['dkms-abi: depmod failed (the change was rolled back)\n']);
  });

  it('a bug: exit 70, not 3, one line asking for a report, no stack', () => {
    expect(reportError(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(70);
    expect(written).toEqual([
      "dkms-abi: internal error (a bug in dkms-abi; please report it with the command that ran it and, from a run with DKMS_ABI_DEBUG=1, the stack): Cannot read properties of undefined (reading 'x')\n",
    ]);
  });

  it('a bug with DKMS_ABI_DEBUG: the stack follows the line', () => {
    process.env['DKMS_ABI_DEBUG'] = '1';
    expect(reportError(new Error('boom'))).toBe(70);
    expect(written).toHaveLength(2);
    expect(written[1]).toMatch(/^Error: boom\n\s+at /);
  });

  it('a thrown non-Error is a bug too', () => {
    expect(reportError('text\nwith a newline')).toBe(70);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^dkms-abi: internal error \(.*\): text\\x0awith a newline\n$/);
  });
});
