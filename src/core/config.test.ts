import { parse } from 'ini';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, configFromIni, type Config } from './config.js';
import { InputError } from './errors.js';
import { escapeSectionDots, scanIniText } from './ini-text.js';
import { parseKernelRelease } from './release.js';

const FILE = '/etc/dkms-abi.conf';

/** What the loader hands the validator: `ini`'s parse of the escaped text, and the text. */
function fromText(text: string, base?: Config, file = FILE): Config {
  return configFromIni(parse(escapeSectionDots(text)), file, { text, ...(base ? { base } : {}) });
}

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('no error thrown');
}

const EXAMPLE = String.raw`; dkms-abi.conf
[paths]
modules_dir = /usr/lib/modules/
state_dir = /var//lib/./dkms-abi

[abi]
reuse = tree
lock_timeout = 30
depmod_timeout = 120
header_drift = warn
require_headers = true

[flavour]
; site kernels: 6.6.0-3-acme-amd64 → acme-amd64
pattern.1 = \d+\.\d+\.\d+-\d+-(acme-[a-z0-9]+)
pattern.2 = (\d+)\.(\d+)\.\d+-custom-([a-z]+)
group.2 = 3

[kernel:6.1.0-47-amd64]
abiver = 3

[kernel:5.14.0-362.8.1.el9_3.x86_64+rt]
flavour = rhel9-rt
abiver = 12
`;

describe('configFromIni', () => {
  it('gives the defaults for an empty file', () => {
    expect(configFromIni({}, FILE)).toEqual(DEFAULT_CONFIG);
    expect(fromText('; nothing but a comment\n\n')).toEqual(DEFAULT_CONFIG);
  });

  it('reads every section of a full file', () => {
    const c = fromText(EXAMPLE);
    expect(c.paths).toEqual({ modulesDir: '/usr/lib/modules', stateDir: '/var/lib/dkms-abi' });
    expect([c.reuse, c.lockTimeoutSeconds, c.depmodTimeoutSeconds]).toEqual(['tree', 30, 120]);
    expect([c.headerDrift, c.requireHeaders]).toEqual(['warn', true]);
    expect([...c.kernels]).toEqual([
      ['6.1.0-47-amd64', { abiver: '3' }],
      ['5.14.0-362.8.1.el9_3.x86_64+rt', { flavour: 'rhel9-rt', abiver: '12' }],
    ]);
    expect(c.flavourPatterns.map((p) => [p.key, p.group, p.source])).toEqual([
      ['pattern.1', 1, `${FILE}:15 [flavour] pattern.1`],
      ['pattern.2', 3, `${FILE}:16 [flavour] pattern.2`],
    ]);
    // Patterns match the whole release and feed the release parser.
    expect(parseKernelRelease('6.6.0-3-acme-amd64', c.flavourPatterns)).toMatchObject({
      flavour: 'acme-amd64',
      source: `${FILE}:15 [flavour] pattern.1`,
    });
    expect(parseKernelRelease('6.6.0-custom-lab', c.flavourPatterns).flavour).toBe('lab');
    expect(parseKernelRelease('x6.6.0-3-acme-amd64', c.flavourPatterns).flavour).toBe('generic');
  });

  it('keeps a kernel release with dots as one section once the dots are escaped', () => {
    // What `ini` does with the raw text: nested sections, kernel:6 → 1 → 0-47-amd64.
    expect(Object.keys(parse('[kernel:6.1.0-47-amd64]\nabiver = 3\n'))).toEqual(['kernel:6']);
    expect(parse(escapeSectionDots('[kernel:6.1.0-47-amd64]\nabiver = 3\n'))).toEqual({
      'kernel:6.1.0-47-amd64': { abiver: '3' },
    });
    // Given the nested form anyway, the validator refuses it rather than misreading it.
    expect(
      inputError(() => configFromIni(parse('[kernel:6.1.0-47-amd64]\nabiver = 3\n'), FILE)).message,
    ).toBe(`${FILE}: [kernel:6] 1: expected a single value`);
  });

  it('applies a later file over an earlier one key by key; an empty value resets', () => {
    const first = fromText(EXAMPLE);
    const c = fromText(
      String.raw`[paths]
state_dir =
boot_dir = /efi/boot
[abi]
lock_timeout =
[flavour]
pattern.1 =
pattern.10 = \d+\.\d+\.\d+-(late)
pattern.2 = \d+\.\d+\.\d+-custom-([a-z]+)
[kernel:6.1.0-47-amd64]
flavour = amd64
abiver =
[kernel:5.14.0-362.8.1.el9_3.x86_64+rt]
abiver = 13
`,
      first,
      '/etc/dkms-abi.conf.d/50-site.conf',
    );
    expect(c.paths).toEqual({ modulesDir: '/usr/lib/modules', bootDir: '/efi/boot' });
    expect([c.reuse, c.lockTimeoutSeconds]).toEqual(['tree', DEFAULT_CONFIG.lockTimeoutSeconds]);
    expect(c.flavourPatterns.map((p) => [p.key, p.group, p.source])).toEqual([
      ['pattern.2', 1, '/etc/dkms-abi.conf.d/50-site.conf:9 [flavour] pattern.2'],
      ['pattern.10', 1, '/etc/dkms-abi.conf.d/50-site.conf:8 [flavour] pattern.10'],
    ]);
    expect([...c.kernels]).toEqual([
      ['6.1.0-47-amd64', { flavour: 'amd64' }],
      ['5.14.0-362.8.1.el9_3.x86_64+rt', { flavour: 'rhel9-rt', abiver: '13' }],
    ]);
    // Nothing left for a kernel: it is no longer overridden.
    expect(fromText('[kernel:6.1.0-47-amd64]\nflavour =\n', c).kernels.has('6.1.0-47-amd64')).toBe(false);
    // The earlier config is not changed.
    expect(first.lockTimeoutSeconds).toBe(30);
  });

  it('takes back the text of values ini turned into booleans or null', () => {
    expect(fromText('[kernel:6.1.0-47-amd64]\nflavour = true\n').kernels.get('6.1.0-47-amd64')).toEqual({
      flavour: 'true',
    });
  });

  it.each([
    [
      '[paths]\nmodules_dir = lib/modules\n',
      2,
      '[paths] modules_dir must be an absolute path inside the root, got "lib/modules"',
    ],
    ['[paths]\nstate_dir = /var/../etc\n', 2, '[paths] state_dir must not contain "..", got "/var/../etc"'],
    [
      '[paths]\n\nfoo = /x\n',
      3,
      'unknown key "foo" in [paths] (known: modules_dir, dkms_tree, source_tree, state_dir, boot_dir)',
    ],
    ['[abi]\nreuse = sometimes\n', 2, '[abi] reuse must be "module" or "tree", got "sometimes"'],
    [
      '[abi]\nlock_timeout = soon\n',
      2,
      '[abi] lock_timeout must be whole seconds from 0 to 86400, got "soon"',
    ],
    ['[abi]\nlock_timeout = 1.5\n', 2, 'got "1.5"'],
    ['[abi]\nlock_timeout = 86401\n', 2, 'got "86401"'],
    ['[abi]\ndepmod_timeout = 0\n', 2, '[abi] depmod_timeout must be whole seconds from 1 to 86400, got "0"'],
    [
      '[abi]\nlock = 5\n',
      2,
      'unknown key "lock" in [abi] (known: reuse, lock_timeout, depmod_timeout, header_drift, require_headers)',
    ],
    [
      '[abi]\nheader_drift = panic\n',
      2,
      '[abi] header_drift must be "rebuild", "warn" or "ignore", got "panic"',
    ],
    ['[abi]\nrequire_headers = yes\n', 2, '[abi] require_headers must be "true" or "false", got "yes"'],
    [
      '\n[flavour]\npattern.1 = ^(unclosed\n',
      3,
      '[flavour] pattern.1: invalid regular expression: Invalid regular expression: /^(unclosed/: Unterminated group',
    ],
    ['[flavour]\npattern.1 = a)(b\n', 2, '[flavour] pattern.1: invalid regular expression'],
    [
      '[flavour]\npattern.1 = ^\\d+$\n',
      2,
      '[flavour] pattern.1 needs a capture group (…) around the flavour',
    ],
    [
      '[flavour]\npattern.1 = (a)(b)\ngroup.1 = 3\n',
      3,
      '[flavour] group.1 must be a capture group of pattern.1: 1 to 2, got "3"',
    ],
    ['[flavour]\npattern.1 = (a)\ngroup.1 = one\n', 3, 'got "one"'],
    ['[flavour]\ngroup.4 = 1\n', 2, '[flavour] group.4 has no pattern.4 in the same file'],
    [
      '[flavour]\nsite = (x)\n',
      2,
      'unknown key "site" in [flavour] (known: pattern.N, group.N with N a number)',
    ],
    ['[kernel:..]\nabiver = 1\n', 1, '[kernel:..]: ".." is not a kernel release: contains ".."'],
    ['[kernel:]\nabiver = 1\n', 1, '[kernel:]: "" is not a kernel release: empty'],
    [
      '[kernel:6.1.0-47-amd64]\nflavour = .hidden\n',
      2,
      '[kernel:6.1.0-47-amd64] flavour ".hidden": starts with "."',
    ],
    [
      '[kernel:6.1.0-47-amd64]\nabiver = 3a\n',
      2,
      '[kernel:6.1.0-47-amd64] abiver "3a": must be a decimal number of 1 to 9 digits',
    ],
    [
      '[kernel:6.1.0-47-amd64]\nabi = 3\n',
      2,
      'unknown key "abi" in [kernel:6.1.0-47-amd64] (known: flavour, abiver)',
    ],
    [
      '[abi]\nreuse = tree\n[kernel-6.1.0-47-amd64]\nabiver = 3\n',
      3,
      'unknown section [kernel-6.1.0-47-amd64] (known: [paths], [abi], [flavour], [kernel:<release>])',
    ],
    [
      'loose = key\n[abi]\n',
      1,
      '"loose" is outside any section (start with [paths], [abi], [flavour] or [kernel:<release>])',
    ],
  ])('rejects %j naming file and line', (text, line, problem) => {
    const err = inputError(() => fromText(text));
    expect(err.file).toBe(FILE);
    expect(err.line).toBe(line);
    expect(err.message).toContain(problem);
    expect(err.message.startsWith(`${FILE}:${line}: `)).toBe(true);
    expect(err.exitCode).toBe(2);
  });

  it('names the file without a line when given no text', () => {
    expect(inputError(() => configFromIni({ abi: { reuse: 'x' } }, FILE)).message).toBe(
      `${FILE}: [abi] reuse must be "module" or "tree", got "x"`,
    );
    expect(inputError(() => configFromIni({ abi: { reuse: ['a', 'b'] } }, FILE)).message).toBe(
      `${FILE}: [abi] reuse: expected a single value`,
    );
  });
});

describe('scanIniText', () => {
  it('finds sections and keys with their lines, across line-ending styles', () => {
    const s = scanIniText(
      '[paths]\r\nmodules_dir = /x\r\n; c\r\n[kernel:6.1.0-47-amd64]\rabiver=3\n top = indented key\n',
    );
    expect([...s.sections]).toEqual([
      ['paths', 1],
      ['kernel:6.1.0-47-amd64', 4],
    ]);
    expect([...s.keys.values()]).toEqual([2, 5, 6]);
    expect(s.problems).toEqual([]);
  });

  it.each([
    ['  [paths]\n', 1, 'a section header must start at the beginning of its line'],
    [
      '[paths] ; comment\n',
      1,
      'nothing may follow a section header on its line (put comments on their own line)',
    ],
    ['[paths\n', 1, 'unterminated section header "[paths"'],
    ['[paths]\nmodules_dir\n', 2, 'expected "key = value", got "modules_dir"'],
    ['[paths]\n= /x\n', 2, 'missing key before "="'],
    ['[abi]\nreuse = tree\n\nreuse = module\n', 4, 'reuse is already set on line 2'],
    ['[abi]\nlist[] = a\n', 2, 'unsupported key name "list[]"'],
    ['["quoted"]\n', 1, 'unsupported section name ["quoted"]'],
    ['[kernel:6.1;x]\n', 1, 'unsupported section name [kernel:6.1;x]'],
    ['[__proto__]\nx = 1\n', 1, 'unsupported section name [__proto__]'],
    ['[constructor]\n', 1, 'unsupported section name [constructor]'],
    ['[abi]\n__proto__ = x\n', 2, 'unsupported key name "__proto__"'],
    ['[abi]\ntoString = x\n', 2, 'unsupported key name "toString"'],
  ])('reports what ini would drop or misread: %j', (text, line, problem) => {
    expect(scanIniText(text).problems[0]).toEqual({ line, problem });
  });

  it('escapes dots in section headers only', () => {
    expect(escapeSectionDots('[kernel:6.1.0-47-amd64]\npattern.1 = a.b\n[paths]\n')).toBe(
      '[kernel:6\\.1\\.0-47-amd64]\npattern.1 = a.b\n[paths]\n',
    );
  });
});
