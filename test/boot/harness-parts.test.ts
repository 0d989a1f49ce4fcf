// The boot harness's parts without a boot: the cpio writer checked by the real cpio,
// the fixture editors checked by kmod, the console protocol and the loader-message
// classification on the texts the 6.1 kernel prints.
import { lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeNewc } from './cpio.js';
import { initScript, parseConsole } from './init-script.js';
import { dependencyClosure, moduleNameOfPath, parseModulesDep } from './initramfs.js';
import { isSigned, renameVersionEntry, replaceInSection, stripSignature } from './ko-fixtures.js';
import { classifyLoad, taintMessages } from './loader-messages.js';

const CRC8 = '/var/cache/dkms-abi/images/6.1.0-47-amd64/lib/modules/6.1.0-47-amd64/kernel/lib/crc8.ko';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-boot-parts-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('encodeNewc', () => {
  it('writes an archive that cpio extracts to the same files, links and device node', async () => {
    const archive = encodeNewc([
      { kind: 'file', path: 'lib/modules/k/kernel/a.ko', data: Buffer.from('module bytes'), mode: 0o644 },
      { kind: 'symlink', path: 'lib/modules/k/extra', target: '../kernel-abi-amd64-1' },
      { kind: 'file', path: 'init', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
      { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    ]);
    await writeFile(path.join(dir, 'a.cpio'), archive);
    const listing = await execa('cpio', ['-it', '-F', 'a.cpio'], { cwd: dir });
    // Parents before children, missing directories added.
    expect(listing.stdout.split('\n')).toEqual([
      'dev',
      'dev/console',
      'init',
      'lib',
      'lib/modules',
      'lib/modules/k',
      'lib/modules/k/extra',
      'lib/modules/k/kernel',
      'lib/modules/k/kernel/a.ko',
    ]);
    await execa('cpio', ['-idm', '--quiet', '-F', 'a.cpio'], { cwd: dir });
    expect(await readFile(path.join(dir, 'lib/modules/k/kernel/a.ko'), 'utf8')).toBe('module bytes');
    expect((await lstat(path.join(dir, 'init'))).mode & 0o777).toBe(0o755);
    expect(await readlink(path.join(dir, 'lib/modules/k/extra'))).toBe('../kernel-abi-amd64-1');
    const dev = await lstat(path.join(dir, 'dev/console'));
    expect(dev.isCharacterDevice()).toBe(true);
    expect(dev.rdev).toBe((5 << 8) | 1);
  });

  it('is deterministic', () => {
    const entries = [{ kind: 'file' as const, path: 'x', data: Buffer.from('y') }];
    expect(encodeNewc(entries).equals(encodeNewc(entries))).toBe(true);
  });
});

describe('module fixtures (checked with kmod)', () => {
  it('strips the appended signature', async () => {
    const ko = await readFile(CRC8);
    expect(isSigned(ko)).toBe(true);
    await writeFile(path.join(dir, 'crc8.ko'), stripSignature(ko));
    expect((await execa('modinfo', ['-F', 'signer', path.join(dir, 'crc8.ko')])).stdout).toBe('');
    expect((await execa('modinfo', ['-F', 'name', path.join(dir, 'crc8.ko')])).stdout).toBe('crc8');
  });

  it('renames a __versions entry and edits .modinfo in place', async () => {
    const edited = replaceInSection(
      renameVersionEntry(stripSignature(await readFile(CRC8)), '__x86_return_thunk', 'renamed_thunk'),
      '.modinfo',
      'modversions',
      'modversionX',
    );
    const file = path.join(dir, 'crc8.ko');
    await writeFile(file, edited);
    const versions = (await execa('modprobe', ['--dump-modversions', file])).stdout;
    expect(versions).toMatch(/\trenamed_thunk$/m);
    expect(versions).not.toMatch(/\t__x86_return_thunk$/m);
    expect((await execa('modinfo', ['-F', 'vermagic', file])).stdout.trim()).toBe(
      '6.1.0-47-amd64 SMP preempt mod_unload modversionX',
    );
  });
});

describe('modules.dep closure', () => {
  const deps = parseModulesDep(
    [
      'kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko',
      'kernel/fs/jbd2/jbd2.ko: kernel/lib/crc16.ko',
      'kernel/lib/crc16.ko:',
      'kernel/fs/mbcache.ko:',
      'extra/crc-itu-t.ko:',
      'kernel/lib/unrelated.ko:',
      '',
    ].join('\n'),
  );

  it('collects a module and everything it depends on', () => {
    expect(dependencyClosure(deps, ['ext4'])).toEqual([
      'kernel/fs/ext4/ext4.ko',
      'kernel/fs/jbd2/jbd2.ko',
      'kernel/fs/mbcache.ko',
      'kernel/lib/crc16.ko',
    ]);
  });

  it('matches names with - and _ alike and ignores names modules.dep does not know', () => {
    expect(dependencyClosure(deps, ['crc_itu_t', 'not-there'])).toEqual(['extra/crc-itu-t.ko']);
    expect(moduleNameOfPath('extra/crc-itu-t.ko.zst')).toBe('crc_itu_t');
  });
});

describe('console protocol', () => {
  it('the init script runs each step through the step function, quoted', () => {
    const script = initScript([{ argv: ['/sbin/insmod', "/opt/it's.ko"], moduleName: 'its' }]);
    expect(script).toContain(`step 0 'its' '/sbin/insmod' '/opt/it'\\''s.ko'`);
    expect(script.trimEnd().endsWith('poweroff -f')).toBe(true);
  });

  it("reads only @@ lines, strips CR and timestamps, and ignores console noise and the kernel's own timekeeping", () => {
    const text = [
      '\x1bc\x1b[?7l\x1b[2J@@KVER 6.1.0-47-amd64\r',
      '[    2.1] random kernel console line\r',
      '@@O 0 insmod: ERROR: could not insert module /x.ko: Invalid module format\r',
      '@@K 0 [    2.345678] x: disagrees about version of symbol module_layout\r',
      '@@K 0 [    2.345690] tsc: Refined TSC clocksource calibration: 2596.107 MHz\r',
      '@@K 0 [    2.345700] clocksource: Switched to clocksource tsc\r',
      '@@STEP 0 rc=1 loaded=0 taint=\r',
      '@@STEP 1 rc=0 loaded=1 taint=OE\r',
      '@@MODULES y \r',
      '@@DONE\r',
    ].join('\n');
    expect(parseConsole(text, 2)).toEqual({
      kernelRelease: '6.1.0-47-amd64',
      loadedModules: ['y'],
      done: true,
      steps: [
        {
          exitCode: 1,
          loaded: false,
          moduleTaint: null,
          toolOutput: ['insmod: ERROR: could not insert module /x.ko: Invalid module format'],
          kernelMessages: ['x: disagrees about version of symbol module_layout'],
        },
        { exitCode: 0, loaded: true, moduleTaint: 'OE', toolOutput: [], kernelMessages: [] },
      ],
    });
  });
});

describe('classifyLoad', () => {
  it('a loaded module is loaded whatever else was printed', () => {
    const msgs = ['m: module verification failed: signature and/or required key missing - tainting kernel'];
    expect(classifyLoad(0, true, msgs, [])).toEqual({ outcome: 'loaded', symbols: [] });
    expect(taintMessages(msgs)).toEqual(msgs);
  });

  it('the specific cause wins over the Unknown symbol line that follows it', () => {
    expect(
      classifyLoad(
        1,
        false,
        [
          'm: disagrees about version of symbol foo',
          'm: Unknown symbol foo (err -22)',
          'm: disagrees about version of symbol bar',
          'm: Unknown symbol bar (err -22)',
          'm: Unknown symbol baz (err -2)',
        ],
        [],
      ),
    ).toEqual({ outcome: 'disagrees-about-version', symbols: ['foo', 'bar'] });
  });

  it.each([
    ['m: no symbol version for foo', 'no-symbol-version', ['foo']],
    [
      "m: version magic '6.1.0-50-amd64 SMP preempt' should be '6.1.0-47-amd64 SMP mod_unload'",
      'vermagic-mismatch',
      [],
    ],
    [
      'm: module uses symbol (foo) from namespace NS, but does not import it.',
      'namespace-not-imported',
      ['foo'],
    ],
    [
      'm: module using GPL-only symbols uses symbols foo from proprietary module p.',
      'gpl-only-symbol',
      ['foo'],
    ],
    ['m: Unknown symbol foo (err -2)', 'unknown-symbol', ['foo']],
    ['Invalid ELF header magic: != \x7fELF', 'invalid-module-format', []],
  ] as const)('%s → %s', (message, outcome, symbols) => {
    expect(classifyLoad(1, false, [message], [])).toEqual({ outcome, symbols });
  });

  it('falls back to the tool message, then to other', () => {
    expect(
      classifyLoad(1, false, [], ["modprobe: ERROR: could not insert 'm': Exec format error"]).outcome,
    ).toBe('invalid-module-format');
    expect(
      classifyLoad(1, false, [], ['insmod: ERROR: could not insert module m: Key was rejected by service']),
    ).toEqual({ outcome: 'other', symbols: [] });
  });
});
