import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { collectModuleFiles } from '../../src/system/module-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dkms-abi-module-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const file = async (rel: string): Promise<void> => {
  await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
  await writeFile(path.join(dir, rel), '');
};

describe('collectModuleFiles', () => {
  it('walks a kernel tree as depmod does: modules sorted per directory, build/ and source/ skipped, each directory once', async () => {
    await file('kernel/drivers/b.ko');
    await file('kernel/drivers/a.ko.xz');
    await file('kernel/drivers/notes.txt');
    await file('kernel/fs/c.ko.zst');
    await file('build/skipped.ko');
    await file('source/skipped.ko');
    await file('elsewhere/linked.ko');
    // A loop back to the top, a second way into kernel/, a link to a module file, a dangling link.
    await symlink('..', path.join(dir, 'kernel/up'));
    await symlink('kernel', path.join(dir, 'again'));
    await symlink('../elsewhere/linked.ko', path.join(dir, 'kernel/via-link.ko'));
    await symlink('nowhere', path.join(dir, 'kernel/dangling.ko'));

    const found = (await collectModuleFiles([dir])).map((p) => path.relative(dir, p));
    // kernel/ is first reached as again/ (names sort), and not walked a second time.
    expect(found).toEqual([
      'again/drivers/a.ko.xz',
      'again/drivers/b.ko',
      'again/fs/c.ko.zst',
      'again/via-link.ko',
      'elsewhere/linked.ko',
    ]);
  });

  it('names what it finds as path.join does, however the directory is spelt', async () => {
    await file('tree/sub/deeper/a.ko');
    await file('tree/b.ko');
    const want = [path.join(dir, 'tree/b.ko'), path.join(dir, 'tree/sub/deeper/a.ko')];
    for (const spelling of [`${dir}/tree`, `${dir}/tree/`, `${dir}/./tree/.`, `${dir}/tree/sub/../`]) {
      expect(await collectModuleFiles([spelling])).toEqual(want);
    }
    const cwd = process.cwd();
    process.chdir(path.join(dir, 'tree'));
    try {
      expect(await collectModuleFiles(['.'])).toEqual(['b.ko', 'sub/deeper/a.ko']);
    } finally {
      process.chdir(cwd);
    }
  });

  it('takes files as given, and refuses a directory without modules naming it', async () => {
    await file('one.ko');
    await file('empty/readme');
    expect(await collectModuleFiles([path.join(dir, 'one.ko')])).toEqual([path.join(dir, 'one.ko')]);
    await expect(collectModuleFiles([path.join(dir, 'empty')])).rejects.toThrow(InputError);
    await expect(collectModuleFiles([path.join(dir, 'missing')])).rejects.toThrow(
      /no such file or directory/,
    );
  });
});
