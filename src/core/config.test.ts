import { parse } from 'ini';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, configFromIni } from './config.js';
import { InputError } from './errors.js';

const ini = (text: string, file = '/etc/dkms-abi.conf') => ({
  file,
  text,
  data: parse(text) as Record<string, unknown>,
});

describe('configFromIni', () => {
  it('gives the defaults for no files', () => {
    expect(configFromIni([])).toEqual(DEFAULT_CONFIG);
  });

  it('reads every section, later files overriding earlier ones key by key', () => {
    const c = configFromIni([
      ini(
        '[paths]\nmodules_dir = /usr/lib/modules\n[abi]\nreuse = tree\nlock_timeout = 30\n[kernel-abi]\n6.1.0-47-amd64 = amd64-3\n',
      ),
      ini(
        '[abi]\nreuse = module\n[flavour]\nsite = ^\\d+\\.\\d+\\.\\d+-\\d+-(\\w+)-custom$\n[kernel-flavour]\n6.1.0-47-amd64 = special\n',
        '/etc/dkms-abi.conf.d/50-site.conf',
      ),
    ]);
    expect(c.paths).toEqual({ modulesDir: '/usr/lib/modules' });
    expect([c.reuse, c.lockTimeoutSeconds]).toEqual(['module', 30]);
    expect(c.kernels.get('6.1.0-47-amd64')).toEqual({ flavour: 'special', abiver: '3' });
    expect(c.flavourPatterns.map((p) => [p.pattern.source, p.source])).toEqual([
      ['^\\d+\\.\\d+\\.\\d+-\\d+-(\\w+)-custom$', '/etc/dkms-abi.conf.d/50-site.conf:4'],
    ]);
  });

  it.each([
    ['[paths]\nmodules_dir = lib/modules\n', 2, /absolute path/],
    ['[paths]\nstate_dir = /var/../etc\n', 2, /without ".."/],
    ['[paths]\nfoo = /x\n', 2, /unknown key "foo" in \[paths\]/],
    ['[abi]\nreuse = sometimes\n', 2, /reuse must be "module" or "tree"/],
    ['[abi]\nlock_timeout = soon\n', 2, /lock_timeout/],
    ['\n[flavour]\nbroken = ^(unclosed\n', 3, /invalid regular expression/],
    ['[flavour]\nnogroup = ^\\d+$\n', 2, /capture group/],
    ['[kernel-abi]\n6.1.0-47-amd64 = three\n', 2, /expected "<flavour>-<abiver>"/],
    ['[kernel-flavour]\n6.1.0-47-amd64 = ../x\n', 2, /starts with "."/],
    ['[whatever]\na = b\n', 1, /unknown section \[whatever\]/],
    ['loose = key\n', 1, /must be inside a section/],
  ])('rejects %j naming file and line', (text, line, message) => {
    let err: unknown;
    try {
      configFromIni([ini(text)]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toMatch(message);
    expect((err as InputError).message.startsWith(`/etc/dkms-abi.conf:${line}: `)).toBe(true);
  });
});
