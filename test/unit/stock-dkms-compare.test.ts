// The comparison the corpus and same-release tests rest on: dkms-abi's status never says less
// than stock dkms's on the same trees. Checked here on lines as both tools print them.
import { describe, expect, it } from 'vitest';
import { parseStatusLine, saysLessThanDkms, statusLines } from '../helpers/stock-dkms.js';

const K = '6.1.0-47-amd64';

describe('parseStatusLine', () => {
  it.each([
    ['tp_smapi/0.43: added', 'tp_smapi/0.43', 'added', ''],
    [`tp_smapi/0.43, ${K}, x86_64: installed`, `tp_smapi/0.43, ${K}, x86_64`, 'installed', ''],
    [
      `m/1, ${K}, x86_64: installed-abi (from 6.1.0-47.1-amd64), needs-depmod`,
      `m/1, ${K}, x86_64`,
      'installed-abi',
      ' (from 6.1.0-47.1-amd64), needs-depmod',
    ],
    [
      `m/1, ${K}, x86_64: installed (WARNING! Diff between built and installed module!)`,
      `m/1, ${K}, x86_64`,
      'installed',
      ' (WARNING! Diff between built and installed module!)',
    ],
    [
      `m/1, ${K}, x86_64: abi-mismatch (module_layout: CRC 0x1 != 0x2)`,
      `m/1, ${K}, x86_64`,
      'abi-mismatch',
      ' (module_layout: CRC 0x1 != 0x2)',
    ],
  ])('%s', (line, key, state, rest) => {
    expect(parseStatusLine(line)).toEqual({ key, state, rest, line });
  });

  it('refuses a line that is not a status line', () => {
    expect(() => parseStatusLine('Error! bad')).toThrow(/not a status line/);
  });
});

describe('saysLessThanDkms', () => {
  const stock = statusLines(`m/1, ${K}, x86_64: installed\nm/1, 6.1.0-50-amd64, x86_64: built\n`);

  it('installed-abi and installed answer dkms’s installed; more than dkms is fine', () => {
    const abi = statusLines(
      `m/1, ${K}, x86_64: installed-abi (from 6.1.0-47.1-amd64)\nm/1, 6.1.0-50-amd64, x86_64: installed\n`,
    );
    expect(saysLessThanDkms(stock, abi)).toEqual([]);
  });

  it('names every line where dkms-abi says less or nothing', () => {
    const abi = statusLines(`m/1, ${K}, x86_64: abi-mismatch (module_layout: CRC 0x1 != 0x2)\n`);
    expect(saysLessThanDkms(stock, abi)).toEqual([
      `dkms: "m/1, ${K}, x86_64: installed", dkms-abi: "m/1, ${K}, x86_64: abi-mismatch (module_layout: CRC 0x1 != 0x2)"`,
      'dkms: "m/1, 6.1.0-50-amd64, x86_64: built", dkms-abi: nothing',
    ]);
  });
});
