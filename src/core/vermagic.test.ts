import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readKernelModule } from './ko.js';
import { parseKernelConfig } from './verdict-loader.js';
import { vermagicFromConfig, vermagicRelease } from './vermagic.js';

const IMAGES = '/var/cache/dkms-abi/images';
const KERNELS = ['6.1.0-47-amd64', '6.1.0-50-amd64'];
const SAMPLE = [
  'lib/crc7.ko',
  'fs/ext4/ext4.ko',
  'drivers/net/ethernet/intel/e1000e/e1000e.ko',
  'crypto/md4.ko',
];

describe('vermagic from a kernel config', () => {
  for (const kver of KERNELS) {
    it(`gives exactly what ${kver}'s own modules carry`, () => {
      const config = parseKernelConfig(readFileSync(`${IMAGES}/${kver}/boot/config-${kver}`, 'utf8'));
      const derived = vermagicFromConfig(kver, config);
      expect(derived).toBe(`${kver} SMP preempt mod_unload modversions `);
      for (const rel of SAMPLE) {
        const file = `${IMAGES}/${kver}/lib/modules/${kver}/kernel/${rel}`;
        expect(readKernelModule(readFileSync(file)).modinfo.vermagic).toBe(derived);
      }
      // kmod's modinfo as the independent oracle (it prints the value without the trailing space).
      const oracle = execFileSync(
        'modinfo',
        ['-F', 'vermagic', `${IMAGES}/${kver}/lib/modules/${kver}/kernel/lib/crc7.ko`],
        {
          encoding: 'utf8',
        },
      );
      expect(oracle.trim()).toBe(derived?.trim());
    });
  }

  const cfg = (lines: string[]) => parseKernelConfig(['CONFIG_X86_64=y', ...lines].join('\n'));

  it('follows include/linux/vermagic.h for the other preemption models and options', () => {
    expect(
      vermagicFromConfig('5.10.0-1', cfg(['CONFIG_SMP=y', 'CONFIG_PREEMPT=y', 'CONFIG_MODULE_UNLOAD=y'])),
    ).toBe('5.10.0-1 SMP preempt mod_unload ');
    expect(
      vermagicFromConfig('6.1.0-rt', cfg(['CONFIG_SMP=y', 'CONFIG_PREEMPT_RT=y', 'CONFIG_MODVERSIONS=y'])),
    ).toBe('6.1.0-rt SMP preempt_rt modversions ');
    expect(vermagicFromConfig('6.1.0', cfg(['# CONFIG_SMP is not set', 'CONFIG_PREEMPT_NONE=y']))).toBe(
      '6.1.0 ',
    );
  });

  it('has no answer where the arch part or a randomised struct layout is needed', () => {
    expect(vermagicFromConfig('6.1.0', parseKernelConfig('CONFIG_ARM64=y\nCONFIG_SMP=y\n'))).toBeUndefined();
    expect(vermagicFromConfig('6.1.0', cfg(['CONFIG_RANDSTRUCT_FULL=y']))).toBeUndefined();
  });

  it('splits off the release', () => {
    expect(vermagicRelease('6.1.0-47-amd64 SMP preempt ')).toBe('6.1.0-47-amd64');
    expect(vermagicRelease('6.1.0')).toBe('6.1.0');
  });
});
