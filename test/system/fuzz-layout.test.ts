// Property-based fuzzing of the shared-tree layout readers: manifest.json as found in a
// tree (possibly planted by a hostile package), and the path checks every install and
// uninstall relies on. A manifest parses or gives a problem string, never an exception;
// the files it may name never lead above their tree.
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  isSafeRelative,
  parseManifest,
  serializeManifest,
  treeLocation,
  treeModulePath,
} from '../../src/core/layout.js';

let cases = 0;
afterAll(() => {
  process.stderr.write(`fuzz-layout: ${cases} cases\n`);
});

const piece = fc.constantFrom(
  '..',
  '.',
  '/',
  '//',
  'a',
  'dkms',
  'x.ko',
  '\0',
  '\n',
  ' ',
  '\\',
  'é',
  '~',
  '-',
);
const hostilePath = fc.oneof(
  fc.array(piece, { maxLength: 10 }).map((p) => p.join('')),
  fc.string({ maxLength: 30 }),
);

/** A tree at /tree: where a relative path inside it ends up once the kernel resolves it. */
function landsAt(rel: string): string {
  return path.posix.join('/tree', rel);
}

describe('parseManifest', () => {
  it('any text: a manifest or a problem, never an exception', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 3 })), (text) => {
        cases++;
        const m = parseManifest(text);
        expect(typeof m === 'string' || typeof m === 'object').toBe(true);
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it('manifest-shaped JSON with hostile fields: every accepted file stays inside the tree', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,10}$/);
    const value = fc.oneof(
      { weight: 6, arbitrary: word },
      { weight: 2, arbitrary: hostilePath },
      {
        weight: 1,
        arbitrary: fc.oneof(
          fc.integer(),
          fc.constant(null),
          fc.boolean(),
          fc.array(hostilePath, { maxLength: 2 }),
        ),
      },
    );
    const file = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.array(word, { minLength: 1, maxLength: 3 }).map((p) => `dkms/${p.join('/')}.ko`),
      },
      { weight: 1, arbitrary: hostilePath },
    );
    const manifest = fc.record({
      module: value,
      version: value,
      arch: value,
      builtFor: value,
      files: fc.oneof(
        { weight: 4, arbitrary: fc.array(file, { maxLength: 4 }) },
        { weight: 1, arbitrary: value },
      ),
    });
    let acceptedWithFiles = 0;
    fc.assert(
      fc.property(manifest, (o) => {
        cases++;
        const m = parseManifest(JSON.stringify(o));
        if (typeof m === 'string') return true;
        for (const k of ['module', 'version', 'arch', 'builtFor'] as const) {
          expect(typeof m[k]).toBe('string');
          expect(m[k]).not.toBe('');
        }
        for (const f of m.files) {
          expect(isSafeRelative(f)).toBe(true);
          expect(landsAt(f) === '/tree' || landsAt(f).startsWith('/tree/')).toBe(true);
          expect(f).not.toMatch(/[\0\n]/);
        }
        if (m.files.length > 0) acceptedWithFiles++;
        // What was accepted writes back and reads again as the same manifest.
        expect(parseManifest(serializeManifest(m))).toEqual(m);
        return true;
      }),
      { numRuns: 3000 },
    );
    expect(acceptedWithFiles).toBeGreaterThan(20);
  });
});

describe('path checks', () => {
  it('isSafeRelative never lets a path climb above its directory', () => {
    fc.assert(
      fc.property(hostilePath, (p) => {
        cases++;
        if (!isSafeRelative(p)) return true;
        expect(p.startsWith('/')).toBe(false);
        expect(p).not.toMatch(/[\0\n]/);
        const at = landsAt(p);
        expect(at === '/tree' || at.startsWith('/tree/')).toBe(true);
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it('a DEST_MODULE_LOCATION dkms.conf validation accepts maps inside dkms/ of the tree', () => {
    // What parseDkmsConf lets through: /kernel, /updates or /extra, then plain components.
    const component = fc.stringMatching(/^[A-Za-z0-9_.+~@:-]{1,12}$/).filter((c) => c !== '.' && c !== '..');
    const location = fc
      .tuple(
        fc.constantFrom('/kernel', '/updates', '/updates/dkms', '/extra'),
        fc.array(fc.oneof(component, fc.constant('')), { maxLength: 4 }),
      )
      .map(([head, rest]) => [head, ...rest].join('/'));
    fc.assert(
      fc.property(
        location,
        fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_+-]{0,20}$/),
        fc.constantFrom('.ko', '.ko.xz', '.ko.zst'),
        (loc, name, suffix) => {
          cases++;
          const rel = treeModulePath(loc, name, suffix);
          expect(isSafeRelative(rel)).toBe(true);
          expect(rel.startsWith('dkms/')).toBe(true);
          expect(rel.endsWith(`/${name}${suffix}`)).toBe(true);
          expect(treeLocation(loc).split('/')).not.toContain('..');
          return true;
        },
      ),
      { numRuns: 2000 },
    );
  });
});
