// Property-based fuzzing of the Module.symvers readers: random text, mutated real kernel
// files (Debian's 6.1 Module.symvers), all three line layouts with any CRC spelling, and
// corrupt gzip/NUL/non-UTF-8 files on disk. Only InputError (naming the file, with the line
// for a malformed one); whatever parses writes back byte for byte.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { parseSymvers, serializeSymvers } from '../../src/core/symvers.js';
import { readSymversFile } from '../../src/system/symvers-file.js';
import { HOST_HEADERS_DIR } from '../helpers/sandbox.js';

const FILE = 'Module.symvers';
let cases = 0;
let lines: string[] = [];

beforeAll(async () => {
  const text = await readFile(
    path.join(HOST_HEADERS_DIR, 'linux-headers-6.1.0-47-amd64/Module.symvers'),
    'utf8',
  );
  lines = text.split('\n').filter((l) => l !== '');
});
afterAll(() => {
  process.stderr.write(`fuzz-symvers: ${cases} cases\n`);
});

/** Parses and writes back exactly, or refuses with an InputError naming the file and a line. */
function roundTripsOrRefuses(text: string): boolean {
  cases++;
  const t = performance.now();
  try {
    const s = parseSymvers(text, FILE);
    expect(serializeSymvers(s)).toBe(text);
    expect(s.bySymbol.size + s.duplicates.length).toBe(s.entries.length);
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    expect(err.file).toBe(FILE);
    expect(err.line).toBeGreaterThan(0);
    // One line. (A carriage return inside a field is quoted as it is: see docs/safety.md.)
    expect(err.message).not.toContain('\n');
  }
  expect(performance.now() - t).toBeLessThan(1000);
  return true;
}

const crc = fc.oneof(
  fc.nat({ max: 0xffffffff }).map((n) => `0x${n.toString(16).padStart(8, '0')}`),
  fc.nat({ max: 0xffffffff }).map((n) => `0x${n.toString(16).toUpperCase()}`),
  fc.nat({ max: 0xffff }).map((n) => n.toString(16)),
  fc.constantFrom('0x', '0xZZ', '0x1ffffffff', '-1', '', '0x00000000'),
);
const word = fc.oneof(
  fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/),
  fc.constantFrom(
    '',
    ' ',
    'vmlinux',
    'drivers/net/foo',
    'EXPORT_SYMBOL',
    'EXPORT_SYMBOL_GPL',
    '(unknown)',
    'NS_X',
    '\r',
    'a b',
  ),
);
const line = fc.oneof(
  fc.tuple(crc, word, word, word).map((f) => f.join('\t')),
  fc.tuple(crc, word, word, word, word).map((f) => f.join('\t')),
  fc.tuple(crc, word, word, word, word, word).map((f) => f.join('\t')),
  fc.string({ maxLength: 20 }),
);

describe('parseSymvers', () => {
  it('lines in any of the layouts, with any CRC spelling and junk fields', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.boolean(), (ls, finalNewline) =>
        roundTripsOrRefuses(ls.join('\n') + (finalNewline && ls.length > 0 ? '\n' : '')),
      ),
      { numRuns: 3000 },
    );
  });

  it('random text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), roundTripsOrRefuses), { numRuns: 2000 });
  });

  it("slices of Debian's Module.symvers with characters changed, inserted or deleted", () => {
    const edit = fc.tuple(
      fc.nat(),
      fc.constantFrom('replace', 'insert', 'delete'),
      fc.constantFrom('\t', '\n', '\r', ' ', 'x', '0', '\0', 'é', ''),
    );
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 1, max: 60 }),
        fc.array(edit, { maxLength: 6 }),
        (start, count, edits) => {
          const from = start % Math.max(1, lines.length - count);
          let text = `${lines.slice(from, from + count).join('\n')}\n`;
          for (const [at, how, c] of edits) {
            const i = at % (text.length + 1);
            if (how === 'insert') text = text.slice(0, i) + c + text.slice(i);
            else if (how === 'delete') text = text.slice(0, i) + text.slice(i + 1);
            else text = text.slice(0, i) + c + text.slice(i + 1);
          }
          return roundTripsOrRefuses(text);
        },
      ),
      { numRuns: 2500 },
    );
  });

  it("the whole of Debian's file round-trips, quickly", () => {
    const text = `${lines.join('\n')}\n`;
    const t = performance.now();
    roundTripsOrRefuses(text);
    expect(parseSymvers(text, FILE).entries.length).toBeGreaterThan(20_000);
    expect(performance.now() - t).toBeLessThan(2000);
  });
});

describe('reading Module.symvers files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-fuzz-symvers-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('corrupt gzip, NUL bytes, invalid UTF-8 or random bytes: InputError naming the file', async () => {
    const good = Buffer.from(`${lines.slice(0, 50).join('\n')}\n`);
    const gz = gzipSync(good);
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 512 }),
      fc
        .tuple(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }))
        .map(([cut, edits]) => {
          const b = new Uint8Array(gz.subarray(0, Math.max(2, cut % (gz.length + 1))));
          for (const [at, v] of edits) if (b.length > 2) b[2 + (at % (b.length - 2))] = v;
          return b;
        }),
      fc.tuple(fc.nat(), fc.constantFrom(0x00, 0xff, 0xc3, 0x80)).map(([at, v]) => {
        const b = new Uint8Array(good);
        b[at % b.length] = v;
        return b;
      }),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(bytes, async (b) => {
        cases++;
        const file = path.join(dir, `s${n++}`);
        await writeFile(file, b);
        try {
          await readSymversFile(file, '/boot/symvers-x.gz');
        } catch (err) {
          if (!(err instanceof InputError)) throw err;
          expect(err.file).toBe('/boot/symvers-x.gz');
        } finally {
          await rm(file);
        }
        return true;
      }),
      { numRuns: 600 },
    );
  });
});
