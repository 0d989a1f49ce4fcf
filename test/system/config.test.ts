import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/system/config.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'dkms-abi-config-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('uses the defaults when no file exists', async () => {
    expect((await loadConfig(root)).reuse).toBe('module');
  });

  it('reads the main file, then conf.d/*.conf in name order', async () => {
    await mkdir(path.join(root, 'etc/dkms-abi.conf.d'), { recursive: true });
    await writeFile(path.join(root, 'etc/dkms-abi.conf'), '[abi]\nreuse = tree\nlock_timeout = 5\n');
    await writeFile(path.join(root, 'etc/dkms-abi.conf.d/20-b.conf'), '[abi]\nlock_timeout = 20\n');
    await writeFile(path.join(root, 'etc/dkms-abi.conf.d/10-a.conf'), '[abi]\nlock_timeout = 10\n');
    await writeFile(path.join(root, 'etc/dkms-abi.conf.d/ignored.txt'), 'not ini at all [');
    const c = await loadConfig(root);
    expect([c.reuse, c.lockTimeoutSeconds]).toEqual(['tree', 20]);
  });

  it('requires a file named with --config, and names a bad one', async () => {
    await expect(loadConfig(root, path.join(root, 'missing.conf'))).rejects.toThrow(
      /missing\.conf: no such file/,
    );
    await writeFile(path.join(root, 'bad.conf'), '[abi]\nreuse = maybe\n');
    const err = await loadConfig(root, path.join(root, 'bad.conf')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe(
      `${path.join(root, 'bad.conf')}:2: [abi] reuse must be "module" or "tree", got "maybe"`,
    );
  });
});
