// Property-based fuzzing of the dkms.conf reader: the NUL-record decoder, the typed parser
// with hostile names, versions and locations ("..", "/", NUL, newlines, quotes, very long),
// and whole dkms.conf files evaluated by bash exactly as dkms does. Whatever the input, the
// only failure is an InputError naming the file, and whatever is accepted cannot lead a
// path out of its directory: that is what stops a dkms.conf from writing elsewhere.
//
// Not fuzzed here: hostile regular expressions in MAKE_MATCH, PATCH_MATCH and
// BUILD_EXCLUSIVE_*. They compile to JavaScript regular expressions, which backtrack: a
// pattern like "(.*)*X" takes minutes against a kernel config (see docs/safety.md). The
// generators below keep those fields free of nested quantifiers.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONF_RECORDS_HEADER,
  CONF_RECORDS_TRAILER,
  DKMS_CONF_VARIABLES,
  MAX_MODULE_NAME,
  bashRegex,
  decodeConfRecords,
  parseDkmsConf,
  type DkmsConf,
  type DkmsConfRecord,
} from '../../src/core/dkms-conf.js';
import { InputError } from '../../src/core/errors.js';
import { isSafeRelative, treeModulePath } from '../../src/core/layout.js';
import { readDkmsConf } from '../../src/system/dkms-conf.js';

const FILE = '/usr/src/x-1/dkms.conf';
const CTX = { kernel: '6.1.0-47-amd64', arch: 'x86_64', distribution: 'debian' };
const COMPONENT = /^[A-Za-z0-9][A-Za-z0-9._+~:@-]*$/;
const MODULE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_+-]*$/;

let accepted = 0;
let refused = 0;
let cases = 0;

afterAll(() => {
  process.stderr.write(`fuzz-dkms-conf: ${cases} cases (${accepted} accepted, ${refused} refused)\n`);
});

/** Pieces hostile input is made of, plus plain characters so valid names come up too. */
const hostilePiece = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('a', 'Z', '0', '9', '_', '-', '.', '+') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '..',
      '/',
      '../',
      '/..',
      '\0',
      '\n',
      '\r',
      '\t',
      ' ',
      '"',
      "'",
      '\\',
      '$',
      '`',
      '*',
      '~',
      ':',
      '@',
      'é',
      '\u2028',
      '\x7f',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('/kernel', '/extra', '/updates/dkms', 'kernel', '.ko', '.o') },
);
const hostile = fc.oneof(
  { weight: 8, arbitrary: fc.array(hostilePiece, { maxLength: 24 }).map((p) => p.join('')) },
  // Very long: past the name limits (55, 128, 1024) and the value limit (64 KiB).
  {
    weight: 1,
    arbitrary: fc.tuple(hostilePiece, fc.constantFrom(56, 129, 1025, 70_000)).map(([p, n]) => p.repeat(n)),
  },
);
/** Regular expressions without nested quantifiers: valid or not, never catastrophic. */
const tameRegex = fc
  .array(
    fc.constantFrom(
      '6',
      '1',
      '.',
      '\\.',
      '-',
      'amd64',
      '^',
      '$',
      '[0-9]',
      '[[:digit:]]',
      '(',
      ')',
      '|',
      '?',
      '*',
      '[',
    ),
    {
      maxLength: 10,
    },
  )
  .map((p) => p.join(''));

const PATH_FIELDS = [
  'PACKAGE_NAME',
  'PACKAGE_VERSION',
  'BUILT_MODULE_NAME',
  'BUILT_MODULE_LOCATION',
  'DEST_MODULE_NAME',
  'DEST_MODULE_LOCATION',
  'PATCH',
  'BUILD_DEPENDS',
] as const;
const REGEX_FIELDS = ['MAKE_MATCH', 'PATCH_MATCH', 'BUILD_EXCLUSIVE_KERNEL', 'BUILD_EXCLUSIVE_ARCH'] as const;

/** A valid conf to start from, so that one hostile field decides the outcome. */
function baseRecords(): DkmsConfRecord[] {
  return [
    { name: 'PACKAGE_NAME', index: '0', value: 'hello-abi' },
    { name: 'PACKAGE_VERSION', index: '0', value: '1.0' },
    { name: 'BUILT_MODULE_NAME', index: '0', value: 'hello_abi' },
    { name: 'DEST_MODULE_LOCATION', index: '0', value: '/extra' },
    { name: 'AUTOINSTALL', index: '0', value: 'yes' },
  ];
}

const hostileRecord = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      name: fc.constantFrom(...PATH_FIELDS),
      index: fc.constantFrom('0', '0', '1', '2'),
      value: hostile,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      name: fc.constantFrom(...REGEX_FIELDS),
      index: fc.constantFrom('0', '1'),
      value: tameRegex,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      name: fc.constantFrom(...DKMS_CONF_VARIABLES),
      index: fc.oneof(
        fc.constantFrom('0', '1', '01', '-1', '999999', '1000000', 'x', ''),
        fc.string({ maxLength: 4 }),
      ),
      value: hostile,
    }),
  },
);

/** Every name that becomes a path or an argument is safe. */
function expectSafe(conf: DkmsConf): void {
  for (const v of [conf.packageName, conf.packageVersion, ...conf.buildDepends]) {
    expect(v).toMatch(COMPONENT);
    expect(v.length).toBeLessThanOrEqual(128);
  }
  for (const m of conf.modules) {
    for (const name of [m.builtName, m.destName]) {
      expect(name).toMatch(MODULE_NAME);
      expect(name.length).toBeLessThanOrEqual(MAX_MODULE_NAME);
    }
    expect(m.builtLocation.startsWith('/')).toBe(false);
    expect(m.builtLocation.split('/')).not.toContain('..');
    expect(m.declaredDestLocation.split('/')).not.toContain('..');
    // Where the module lands inside a shared tree stays inside it.
    expect(isSafeRelative(treeModulePath(m.destLocation, m.destName, '.ko'))).toBe(true);
    expect(isSafeRelative(treeModulePath(m.declaredDestLocation, m.destName, '.ko'))).toBe(true);
  }
  for (const p of conf.patches) {
    expect(p.startsWith('/')).toBe(false);
    expect(p.split('/')).not.toContain('..');
  }
}

/** parseDkmsConf accepts safely or refuses with an InputError naming the file, on one line. */
function parsesSafelyOrRefuses(records: readonly DkmsConfRecord[]): boolean {
  cases++;
  const t = performance.now();
  try {
    expectSafe(parseDkmsConf(records, FILE, CTX));
    accepted++;
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    expect(err.file).toBe(FILE);
    expect(err.message).not.toMatch(/[\n\r\0]/);
    refused++;
  }
  expect(performance.now() - t).toBeLessThan(1000);
  return true;
}

describe('decodeConfRecords', () => {
  it('decodes exactly what was encoded', () => {
    const record = fc.record({
      name: fc.constantFrom(...DKMS_CONF_VARIABLES),
      index: fc.nat({ max: 999 }).map(String),
      value: fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0')),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 20 }), (records) => {
        cases++;
        const fields = [
          CONF_RECORDS_HEADER,
          ...records.flatMap((r) => [r.name, r.index, r.value]),
          CONF_RECORDS_TRAILER,
        ];
        expect(decodeConfRecords(`${fields.join('\0')}\0`, FILE)).toEqual(records);
        return true;
      }),
      { numRuns: 1500 },
    );
  });

  it('random, truncated or garbled output: records or an InputError', () => {
    const text = fc.oneof(
      fc.string({
        maxLength: 200,
        unit: fc.constantFrom('\0', 'a', 'end', CONF_RECORDS_HEADER, 'PACKAGE_NAME', '0', '\n'),
      }),
      fc.string({ maxLength: 200 }),
      fc
        .tuple(fc.array(fc.string({ maxLength: 8 }), { maxLength: 12 }), fc.boolean(), fc.boolean())
        .map(([fields, header, trailer]) =>
          [
            ...(header ? [CONF_RECORDS_HEADER] : []),
            ...fields,
            ...(trailer ? [CONF_RECORDS_TRAILER, ''] : []),
          ].join('\0'),
        ),
    );
    fc.assert(
      fc.property(text, (t) => {
        cases++;
        try {
          for (const r of decodeConfRecords(t, FILE)) expect(typeof r.value).toBe('string');
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
        }
        return true;
      }),
      { numRuns: 2500 },
    );
  });
});

describe('parseDkmsConf on hostile names, versions and locations', () => {
  it('one hostile field in a valid conf', () => {
    fc.assert(
      fc.property(hostileRecord, (r) => parsesSafelyOrRefuses([...baseRecords(), r])),
      { numRuns: 3000 },
    );
  });

  it('many hostile records, in any order', () => {
    fc.assert(
      fc.property(fc.array(hostileRecord, { maxLength: 12 }), fc.boolean(), (rs, withBase) =>
        parsesSafelyOrRefuses(withBase ? [...baseRecords(), ...rs] : rs),
      ),
      { numRuns: 2000 },
    );
    // Both outcomes were exercised.
    expect(accepted).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });

  it("regular expressions from a conf compile or are refused as the conf's fault", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (re) => {
        cases++;
        try {
          expect(bashRegex(re, FILE, 'MAKE_MATCH[0]')).toBeInstanceOf(RegExp);
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
        }
        return true;
      }),
      { numRuns: 1500 },
    );
  });
});

describe('whole dkms.conf files, evaluated by bash as dkms does', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-fuzz-conf-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** bash ANSI-C quoting: the assignment holds exactly these characters (no NUL: bash cannot). */
  const ansiC = (s: string) =>
    `$'${[...s].map((c) => (/[A-Za-z0-9._+-]/.test(c) ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)).join('')}'`;

  let n = 0;
  async function read(text: string): Promise<DkmsConf | InputError> {
    const file = path.join(dir, `dkms-${n++}.conf`);
    await writeFile(file, text);
    try {
      return await readDkmsConf(file, {
        module: 'x',
        moduleVersion: '1',
        kernel: CTX.kernel,
        arch: CTX.arch,
        dkmsTree: path.join(dir, 'dkms'),
        sourceTree: path.join(dir, 'src'),
        installTree: path.join(dir, 'modules'),
        distribution: 'debian',
      });
    } catch (err) {
      if (err instanceof InputError) return err;
      throw err;
    } finally {
      await rm(file, { force: true });
    }
  }

  it.each([
    [
      'a location climbing out',
      'DEST_MODULE_LOCATION[0]="/kernel/../../../../etc"',
      /DEST_MODULE_LOCATION\[0\] .* climbs out with "\.\."/,
    ],
    [
      'a build location climbing out',
      'BUILT_MODULE_LOCATION[0]="../../../../tmp"',
      /BUILT_MODULE_LOCATION\[0\] .* climbs out/,
    ],
    [
      'an absolute build location',
      'BUILT_MODULE_LOCATION[0]="/etc"',
      /must be relative to the build directory/,
    ],
    [
      'a package name with a slash',
      'PACKAGE_NAME="../../etc"',
      /PACKAGE_NAME "\.\.\/\.\.\/etc" must start with a letter or digit/,
    ],
    [
      'a module name with a slash',
      'DEST_MODULE_NAME[0]="../../../../etc/passwd"',
      /DEST_MODULE_NAME\[0\] .* is not a kernel module name/,
    ],
    // dkms's safe_source echoes values through a second expansion: the newline becomes a space.
    ['a version with a newline', `PACKAGE_VERSION=$'1.0\\n/etc'`, /PACKAGE_VERSION "1\.0 \/etc" must start/],
    ['a patch path climbing out', 'PATCH[0]="../../../etc/shadow"', /PATCH\[0\] .* climbs out/],
    [
      'a very long module name',
      `BUILT_MODULE_NAME[0]=${'a'.repeat(300)}`,
      /is 300 characters long; the kernel accepts at most 55/,
    ],
  ])('refuses %s', async (_what, line, message) => {
    const base = [
      'PACKAGE_NAME="x"',
      'PACKAGE_VERSION="1"',
      'BUILT_MODULE_NAME[0]="x"',
      'DEST_MODULE_LOCATION[0]="/extra"',
    ];
    const key = line.split('=')[0] ?? '';
    const text = [...base.filter((l) => !l.startsWith(key)), line].join('\n');
    const r = await read(`${text}\n`);
    expect(r).toBeInstanceOf(InputError);
    expect((r as InputError).message).toMatch(message);
    expect((r as InputError).message).not.toContain('\n');
  });

  it('hostile values assigned in real files: refused, or accepted only when safe', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...PATH_FIELDS),
        hostile.filter((v) => !v.includes('\0') && v.length < 2000),
        async (name, value) => {
          cases++;
          const assigned =
            name === 'PACKAGE_NAME' || name === 'PACKAGE_VERSION' || name === 'BUILD_DEPENDS'
              ? name
              : `${name}[0]`;
          const lines = [
            'PACKAGE_NAME=x',
            'PACKAGE_VERSION=1',
            'BUILT_MODULE_NAME[0]=x',
            'DEST_MODULE_LOCATION[0]=/extra',
          ].filter((l) => !l.startsWith(`${assigned}=`));
          const r = await read(`${lines.join('\n')}\n${assigned}=${ansiC(value)}\n`);
          if (r instanceof InputError) {
            expect(r.message).not.toMatch(/[\n\r\0]/);
            refused++;
          } else {
            expectSafe(r);
            accepted++;
          }
          return true;
        },
      ),
      { numRuns: 150 },
    );
  });
});
