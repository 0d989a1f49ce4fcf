import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentError, InputError } from '../../src/core/errors.js';
import { serializeSymvers } from '../../src/core/symvers.js';
import { readSymversFile, readSymversText } from '../../src/system/symvers-file.js';

const REAL = '/usr/src/linux-headers-6.1.0-47-amd64/Module.symvers';
const KVER = '6.1.0-47-amd64';

let dir: string;
let original: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-symvers-file-'));
  original = await readFile(REAL, 'utf8');
  // RHEL and SUSE ship /boot/symvers-<kver>.gz, made by gzip.
  await copyFile(REAL, path.join(dir, `symvers-${KVER}`));
  execFileSync('gzip', ['-9', '-k', path.join(dir, `symvers-${KVER}`)]);
  await copyFile(path.join(dir, `symvers-${KVER}.gz`), path.join(dir, 'misnamed'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const failure = async (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('reading Module.symvers files', () => {
  it.each([`symvers-${KVER}`, `symvers-${KVER}.gz`, 'misnamed'])(
    'reads %s to the same text and model as the headers’ copy',
    async (name) => {
      const file = path.join(dir, name);
      expect(await readSymversText(file)).toBe(original);
      const s = await readSymversFile(file);
      expect(s.file).toBe(file);
      expect(s.entries.length).toBe(24_618);
      expect(serializeSymvers(s)).toBe(original);
    },
  );

  it('names the file as shown inside the root when asked', async () => {
    const s = await readSymversFile(path.join(dir, `symvers-${KVER}.gz`), `/boot/symvers-${KVER}.gz`);
    expect(s.file).toBe(`/boot/symvers-${KVER}.gz`);
    const err = await failure(readSymversText(path.join(dir, 'nope'), '/boot/symvers-x.gz'));
    expect((err as Error).message).toBe('/boot/symvers-x.gz: no such file');
  });

  it('reads a UTF-8 file that is not ASCII as its characters', async () => {
    const text = '0x00000001\tf\u00e9\tvmlinux\tEXPORT_SYMBOL\t\n';
    await writeFile(path.join(dir, 'utf8'), text, 'utf8');
    expect(await readSymversText(path.join(dir, 'utf8'))).toBe(text);
  });

  it.each([
    ['missing', null, 'no such file'],
    ['truncated.gz', 'truncated', 'corrupt gzip data'],
    ['nul', Buffer.from('0x1\tf\tvmlinux\tEXPORT_SYMBOL\t\n\0'), 'not a text file (contains NUL bytes)'],
    ['latin1', Buffer.from('0x1\tf\xe9\tvmlinux\tEXPORT_SYMBOL\t\n', 'latin1'), 'not UTF-8 text'],
  ])('rejects %s naming the file', async (name, content, problem) => {
    const file = path.join(dir, name);
    if (content === 'truncated') {
      const gz = await readFile(path.join(dir, `symvers-${KVER}.gz`));
      await writeFile(file, gz.subarray(0, gz.length / 2));
    } else if (content !== null) await writeFile(file, content);
    const err = await failure(readSymversText(file));
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe(file);
    expect((err as InputError).message).toContain(problem);
  });

  it('rejects a directory', async () => {
    await mkdir(path.join(dir, 'adir'));
    const err = await failure(readSymversText(path.join(dir, 'adir')));
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/adir: is a directory/);
  });

  it('reports a malformed line inside a gzip file with its line number', async () => {
    const lines = original.split('\n');
    lines[41] = 'garbage';
    await writeFile(path.join(dir, 'bad'), lines.join('\n'));
    execFileSync('gzip', ['-f', path.join(dir, 'bad')]);
    const err = await failure(readSymversFile(path.join(dir, 'bad.gz')));
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).line).toBe(42);
    expect((err as Error).message).toBe(
      `${path.join(dir, 'bad.gz')}:42: expected 4 or 5 tab-separated columns, found 1`,
    );
  });

  it('reports any other read failure as an environment failure (exit 3)', async () => {
    // A symlink loop: ELOOP, which no user input explains (EACCES would, but tests run as root).
    await symlink('loop-b', path.join(dir, 'loop-a'));
    await symlink('loop-a', path.join(dir, 'loop-b'));
    const err = await failure(readSymversText(path.join(dir, 'loop-a')));
    expect(err).toBeInstanceOf(EnvironmentError);
    expect((err as EnvironmentError).exitCode).toBe(3);
    expect((err as Error).message).toBe(`cannot read ${path.join(dir, 'loop-a')}: ELOOP`);
  });
});
