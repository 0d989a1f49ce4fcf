import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../src/core/config.js';
import { EnvironmentError, InputError, exitCodeOf } from '../../src/core/errors.js';
import { parseKernelRelease } from '../../src/core/release.js';
import { configFiles, configFromText, loadConfig } from '../../src/system/config.js';

let root: string;
const etc = (...parts: string[]): string => path.join(root, 'etc', ...parts);

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkms-abi-config-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function write(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

const failure = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('loadConfig', () => {
  it('uses the defaults when no file exists', async () => {
    expect(await loadConfig(root)).toEqual(DEFAULT_CONFIG);
    await mkdir(etc('dkms-abi.conf.d'), { recursive: true });
    expect(await loadConfig(root)).toEqual(DEFAULT_CONFIG);
  });

  it('reads the main file, then conf.d/*.conf in name order, later keys winning', async () => {
    await write(
      etc('dkms-abi.conf'),
      '[abi]\nreuse = tree\nlock_timeout = 5\n[kernel:6.1.0-47-amd64]\nabiver = 3\n[flavour]\npattern.1 = \\d+\\.\\d+\\.\\d+-\\d+-(acme)-amd64\n',
    );
    await write(etc('dkms-abi.conf.d', '20-b.conf'), '[abi]\nlock_timeout = 20\n');
    await write(
      etc('dkms-abi.conf.d', '10-a.conf'),
      '[abi]\nlock_timeout = 10\n[kernel:6.1.0-47-amd64]\nflavour = amd64\n',
    );
    await write(etc('dkms-abi.conf.d', 'README'), 'not ini at all [');
    await write(etc('dkms-abi.conf.d', '30-c.conf.disabled'), '[abi]\nreuse = nonsense\n');
    expect(await configFiles(root)).toEqual([
      etc('dkms-abi.conf'),
      etc('dkms-abi.conf.d', '10-a.conf'),
      etc('dkms-abi.conf.d', '20-b.conf'),
    ]);
    const c = await loadConfig(root);
    expect([c.reuse, c.lockTimeoutSeconds]).toEqual(['tree', 20]);
    expect(c.kernels.get('6.1.0-47-amd64')).toEqual({ flavour: 'amd64', abiver: '3' });
    expect(parseKernelRelease('6.1.0-50-acme-amd64', c.flavourPatterns)).toMatchObject({
      flavour: 'acme',
      source: `${etc('dkms-abi.conf')}:7 [flavour] pattern.1`,
    });
  });

  it('reads only the file named with --config', async () => {
    await write(etc('dkms-abi.conf'), '[abi]\nreuse = tree\n');
    await write(etc('dkms-abi.conf.d', '10-a.conf'), '[abi]\nlock_timeout = 10\n');
    const own = path.join(root, 'own.conf');
    await write(own, '[abi]\nlock_timeout = 7\n');
    const c = await loadConfig(root, own);
    expect([c.reuse, c.lockTimeoutSeconds]).toEqual(['module', 7]);
    expect(await configFiles(root, own)).toEqual([own]);
  });

  it('requires a file named with --config: a missing one is bad input (exit 2)', async () => {
    const err = await failure(loadConfig(root, path.join(root, 'missing.conf')));
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(`${path.join(root, 'missing.conf')}: no such file`);
    expect(exitCodeOf(err)).toBe(2);
  });

  it.each([
    ['dkms-abi.conf', '[abi]\nreuse = maybe\n', 2, '[abi] reuse must be "module" or "tree", got "maybe"'],
    [
      'dkms-abi.conf.d/50-site.conf',
      '\n[flavour]\npattern.1 = ([a-z]+\n',
      3,
      '[flavour] pattern.1: invalid regular expression',
    ],
    [
      'dkms-abi.conf.d/50-site.conf',
      '[paths] # where\nmodules_dir = /lib/modules\n',
      1,
      'nothing may follow a section header',
    ],
    ['dkms-abi.conf', '[abi]\nreuse = tree\nreuse = module\n', 3, 'reuse is already set on line 2'],
    [
      'dkms-abi.conf',
      '[kernel:6.1.0-47-amd64]\nabiver = three\n',
      2,
      'abiver "three": must be a decimal number',
    ],
  ])('names the bad file %s and its line (exit 2)', async (name, text, line, problem) => {
    await write(etc('dkms-abi.conf'), '[abi]\nlock_timeout = 10\n');
    await write(etc(name), text);
    const err = await failure(loadConfig(root));
    expect(err).toBeInstanceOf(InputError);
    expect(exitCodeOf(err)).toBe(2);
    expect((err as Error).message.startsWith(`${etc(name)}:${line}: `)).toBe(true);
    expect((err as Error).message).toContain(problem);
  });

  it.each([
    ['NUL bytes', Buffer.from('[abi]\0\n'), 'not a text file (contains NUL bytes)'],
    ['Latin-1', Buffer.from('[kernel:6.1.0-47-amd64]\nflavour = caf\xe9\n', 'latin1'), 'not UTF-8 text'],
  ])('rejects a file with %s', async (_what, bytes, problem) => {
    await write(etc('dkms-abi.conf'), '');
    await writeFile(etc('dkms-abi.conf'), bytes);
    expect(await failure(loadConfig(root))).toEqual(new InputError(etc('dkms-abi.conf'), problem));
  });

  it('follows an absolute symlink inside the root, as a chroot would', async () => {
    await write(path.join(root, 'srv/conf/site.conf'), '[abi]\nreuse = tree\n');
    await mkdir(etc(), { recursive: true });
    await symlink('/srv/conf/site.conf', etc('dkms-abi.conf'));
    expect((await loadConfig(root)).reuse).toBe('tree');
  });

  it('says a directory is not a config file (exit 2), and a symlink loop is the machine’s problem (exit 3)', async () => {
    await mkdir(etc('dkms-abi.conf.d', 'sub.conf'), { recursive: true });
    const dir = await failure(loadConfig(root));
    expect(dir).toBeInstanceOf(InputError);
    expect((dir as Error).message).toBe(
      `${etc('dkms-abi.conf.d', 'sub.conf')}: is a directory, not a configuration file`,
    );
    await rm(etc('dkms-abi.conf.d'), { recursive: true });
    const loop = path.join(root, 'loop.conf');
    await symlink('loop.conf', loop);
    const err = await failure(loadConfig(root, loop));
    expect(err).toBeInstanceOf(EnvironmentError);
    expect(exitCodeOf(err)).toBe(3);
  });
});

describe('configFromText', () => {
  it('checks the lines before ini can drop them', () => {
    // ini would read "modules_dir" alone as modules_dir = true and carry on.
    expect(() => configFromText('[paths]\nmodules_dir\n', 'x.conf')).toThrow(
      new InputError('x.conf', 'expected "key = value", got "modules_dir"', 2),
    );
  });

  it('keeps ; and # out of values unless escaped (ini comments), as documented', () => {
    const c = configFromText(
      String.raw`[flavour]
pattern.1 = \d+\.\d+\.\d+-(x\#[a-z]+) ; trailing comment
`,
      'x.conf',
    );
    expect(parseKernelRelease('6.1.0-x#lab', c.flavourPatterns).flavour).toBe('generic'); // "#" is not a safe flavour
    expect(c.flavourPatterns[0]?.pattern.source).toBe(String.raw`^(?:\d+\.\d+\.\d+-(x#[a-z]+))$`);
  });

  it('reads quoted values as JSON, and four backslashes as a literal one in a regex, as documented', () => {
    const c = configFromText(
      String.raw`[flavour]
pattern.1 = "^(\\w+)#x$"
pattern.2 = a\\\\b-(c)
`,
      'x.conf',
    );
    expect(c.flavourPatterns.map((p) => p.pattern.source)).toEqual([
      String.raw`^(?:^(\w+)#x$)$`,
      String.raw`^(?:a\\b-(c))$`,
    ]);
    expect(c.flavourPatterns[1]?.pattern.test(String.raw`a\b-c`)).toBe(true);
  });
});

describe('docs/configuration.md', () => {
  it('shows an example that loads and means what its comments say', async () => {
    const doc = await readFile(path.resolve(import.meta.dirname, '../../docs/configuration.md'), 'utf8');
    const example = /```ini\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    await write(etc('dkms-abi.conf'), example);
    const c = await loadConfig(root);
    expect(c.paths).toEqual({ modulesDir: '/usr/lib/modules' });
    expect([c.reuse, c.lockTimeoutSeconds]).toEqual(['module', 300]);
    const flavour = (k: string): string => parseKernelRelease(k, c.flavourPatterns).flavour;
    expect([flavour('6.6.0-3-acme-amd64'), flavour('6.6.0-4-acme-arm64'), flavour('6.9.2-lab7-rt')]).toEqual([
      'acme-amd64',
      'acme-arm64',
      'rt',
    ]);
    expect([...c.kernels]).toEqual([
      ['6.1.0-47-amd64', { abiver: '3' }],
      ['5.14.0-362.8.1.el9_3.x86_64+rt', { flavour: 'rhel9-rt', abiver: '12' }],
    ]);
  });

  it('lists built-in flavours that the parser really gives', async () => {
    const doc = await readFile(path.resolve(import.meta.dirname, '../../docs/configuration.md'), 'utf8');
    const table = doc.slice(doc.indexOf('### Built-in schemes'), doc.indexOf('RPM-family flavours'));
    const rows = table.split('\n').filter((l) => /^\| [A-Za-z]/.test(l) && !l.startsWith('| distribution'));
    expect(rows.length).toBeGreaterThan(6);
    for (const row of rows) {
      const [, releases = '', flavours = ''] = row.split(' | ');
      const rel = [...releases.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
      const fl = [...flavours.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');
      const expected = fl.length === 1 ? rel.map(() => fl[0]) : fl;
      expect(rel.map((r) => parseKernelRelease(r).flavour)).toEqual(expected);
    }
  });
});
