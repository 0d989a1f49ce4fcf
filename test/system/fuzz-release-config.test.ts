// Property-based fuzzing of the kernel release parser and of dkms-abi's own config reader.
// A release string comes from the kernel package (or the command line) and its flavour
// becomes a directory name: whatever the release, the flavour is a safe path component.
// The config is INI text: it loads or fails with an InputError naming the file (and line),
// and what it accepts (paths, kernel overrides, flavour patterns) cannot lead anywhere odd.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { parseKernelRelease, validateAbiver, validatePathComponent } from '../../src/core/release.js';
import { configFromText, loadConfig } from '../../src/system/config.js';

let cases = 0;
afterAll(() => {
  process.stderr.write(`fuzz-release-config: ${cases} cases\n`);
});

const SAFE_NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+-]{0,63}$/;

const releasePiece = fc.constantFrom(
  '6.1.0',
  '-47',
  '-amd64',
  '-cloud-amd64',
  '+deb12',
  '.el8_8',
  '.x86_64',
  '-generic',
  '-default',
  '-desktop-1mnb',
  '-rc1',
  '+rt',
  '..',
  '/',
  '\0',
  '\n',
  ' ',
  '-',
  '.',
  'é',
  '$(id)',
);
const release = fc.oneof(
  fc.array(releasePiece, { maxLength: 8 }).map((p) => p.join('')),
  fc.string({ maxLength: 80 }),
  fc.constantFrom('', '.', '..', '-', '/', 'a'.repeat(65)),
);

describe('parseKernelRelease', () => {
  it('any release: a flavour that is a safe path component, and no exception', () => {
    fc.assert(
      fc.property(release, (r) => {
        cases++;
        const k = parseKernelRelease(r);
        expect(validatePathComponent(k.flavour)).toBeUndefined();
        expect(k.flavour).toMatch(SAFE_NAME);
        expect(k.source).not.toBe('');
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it('configured flavour patterns cannot smuggle an unsafe flavour in', () => {
    const patterns = [
      { pattern: /^[^-]+-[^-]+-(.*)$/, group: 1, source: 'test:1' },
      { pattern: /(.*)/, group: 1, source: 'test:2' },
    ];
    fc.assert(
      fc.property(release, (r) => {
        cases++;
        const k = parseKernelRelease(r, patterns);
        expect(validatePathComponent(k.flavour)).toBeUndefined();
        return true;
      }),
      { numRuns: 2000 },
    );
  });

  it('the validators: accepted names are plain path components, abivers plain numbers', () => {
    fc.assert(
      fc.property(release, (name) => {
        cases++;
        if (validatePathComponent(name) === undefined) {
          expect(name).toMatch(SAFE_NAME);
          expect(name).not.toContain('..');
          expect(path.posix.join('/lib/modules', name).startsWith('/lib/modules/')).toBe(true);
          expect(path.posix.dirname(path.posix.join('/lib/modules', name))).toBe('/lib/modules');
        }
        if (validateAbiver(name) === undefined) expect(name).toMatch(/^[0-9]{1,9}$/);
        return true;
      }),
      { numRuns: 3000 },
    );
  });
});

const section = fc.constantFrom(
  '[paths]',
  '[abi]',
  '[flavour]',
  '[kernel-abi]',
  '[kernel-flavour]',
  '[kernel:6.1.0-47-amd64]',
  '[__proto__]',
  '[constructor]',
  '[nope]',
  '[',
  '[a.b]',
  '',
);
const key = fc.constantFrom(
  'modules_dir',
  'dkms_tree',
  'state_dir',
  'reuse',
  'lock_timeout',
  'abiver',
  'flavour',
  'pattern',
  '6.1.0-47-amd64',
  '__proto__',
  'constructor',
  'x',
  '',
  ' ',
);
const value = fc.oneof(
  fc.constantFrom(
    '/lib/modules',
    '/../etc',
    'relative',
    '/a/../b',
    'module',
    'tree',
    '300',
    '-1',
    '1e9',
    'amd64-3',
    'amd64',
    '../x',
    '(',
    '^(.+)$',
    '"quoted"',
    '',
    '\0',
  ),
  fc.string({ maxLength: 12 }),
);
const iniLine = fc.oneof(
  section,
  fc.tuple(key, fc.constantFrom('=', ' = ', '=='), value).map(([k, eq, v]) => `${k}${eq}${v}`),
  fc.constantFrom('; comment', '# comment', '', '  indented = 1', 'key[] = 1', '\r'),
);
const iniText = fc.array(iniLine, { maxLength: 10 }).map((ls) => ls.join('\n'));

describe('the config reader', () => {
  it('any INI text: a config or an InputError naming the file and line; what it accepts is safe', () => {
    let loaded = 0;
    fc.assert(
      fc.property(iniText, (text) => {
        cases++;
        try {
          const c = configFromText(text, '/etc/dkms-abi.conf');
          loaded++;
          const overrides: readonly (string | undefined)[] = Object.values(c.paths);
          for (const p of overrides) {
            if (p === undefined) continue;
            expect(p.startsWith('/')).toBe(true);
            expect(p.split('/')).not.toContain('..');
          }
          for (const [kernel, o] of c.kernels) {
            expect(validatePathComponent(kernel)).toBeUndefined();
            if (o.flavour !== undefined) expect(validatePathComponent(o.flavour)).toBeUndefined();
            if (o.abiver !== undefined) expect(validateAbiver(o.abiver)).toBeUndefined();
          }
          expect(['module', 'tree']).toContain(c.reuse);
          expect(c.lockTimeoutSeconds).toBeGreaterThanOrEqual(0);
          expect(c.lockTimeoutSeconds).toBeLessThanOrEqual(86_400);
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          expect(err.file).toBe('/etc/dkms-abi.conf');
          expect(err.message).not.toMatch(/[\n\r]/);
        }
        // ini must not have been tricked into changing every object.
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
        expect(Object.keys(Object.prototype)).toEqual([]);
        return true;
      }),
      { numRuns: 3000 },
    );
    expect(loaded).toBeGreaterThan(100);
  });

  describe('from files', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-fuzz-config-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('random bytes in the file given with --config: a config or an InputError naming it', async () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        iniText.map((t) => new TextEncoder().encode(t)),
      );
      let n = 0;
      await fc.assert(
        fc.asyncProperty(bytes, async (b) => {
          cases++;
          const file = path.join(dir, `c${n++}.conf`);
          await writeFile(file, b);
          try {
            await loadConfig(dir, file);
          } catch (err) {
            if (!(err instanceof InputError)) throw err;
            expect(err.file).toBe(file);
          } finally {
            await rm(file);
          }
          return true;
        }),
        { numRuns: 500 },
      );
    });
  });
});
