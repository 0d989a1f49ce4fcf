// A flat apt repository of module packages (`deb [trusted=yes] file:DIR ./`, or served over
// http): the .deb files side by side, Packages and Packages.gz from dpkg-scanpackages, and a
// Release with their hashes. A fleet's apt then finds the package for each kernel ABI by name.
// One writer at a time (a lock file in the repository); every index is renamed into place.
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  dpkgScanpackagesArgv,
  flatRelease,
  packagesArchitectures,
  type IndexFile,
} from '../core/deb-argv.js';
import { EnvironmentError, UsageError } from '../core/errors.js';
import { run } from './exec.js';
import { withLock } from './lock.js';

export const REPO_LOCK = '.dkms-abi-repo.lock';

export interface RepoUpdate {
  readonly repo: string;
  readonly file: string;
  /** False when the repository held the identical file already. */
  readonly added: boolean;
  readonly packages: number;
}

export async function publishToRepo(
  repo: string,
  deb: string,
  lockTimeoutSeconds = 300,
): Promise<RepoUpdate> {
  const dir = path.resolve(repo);
  await mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw new EnvironmentError(`cannot create the repository ${dir}: ${(err as Error).message}`);
  });
  return withLock(
    path.join(dir, REPO_LOCK),
    { timeoutSeconds: lockTimeoutSeconds, command: 'package --repo' },
    async () => {
      const dest = path.join(dir, path.basename(deb));
      const added = await placeDeb(deb, dest);
      const scan = await run(dpkgScanpackagesArgv(), {
        cwd: dir,
        hint: 'dpkg-scanpackages comes with dpkg-dev',
      });
      const packages = scan.stdout;
      const gz = gzipSync(packages, { level: 9 });
      await replace(path.join(dir, 'Packages'), packages);
      await replace(path.join(dir, 'Packages.gz'), gz);
      const indexes: IndexFile[] = [index('Packages', Buffer.from(packages)), index('Packages.gz', gz)];
      await replace(
        path.join(dir, 'Release'),
        flatRelease(indexes, packagesArchitectures(packages), Math.floor(Date.now() / 1000)),
      );
      return { repo: dir, file: dest, added, packages: (packages.match(/^Package: /gm) ?? []).length };
    },
  );
}

/**
 * A package file of that name with other bytes is refused: apt would see the same
 * version with two different hashes. A new build of the same version needs a new revision.
 */
async function placeDeb(deb: string, dest: string): Promise<boolean> {
  const mine = await readFile(deb);
  const theirs = await readFile(dest).catch(() => undefined);
  if (theirs !== undefined) {
    if (Buffer.compare(mine, theirs) === 0) return false;
    throw new UsageError(
      `${dest} already exists with other contents; give the new build another revision (--revision)`,
    );
  }
  if (path.resolve(deb) === dest) return true;
  const tmp = `${path.join(path.dirname(dest), '.')}${path.basename(dest)}.tmp-${process.pid}`;
  try {
    await copyFile(deb, tmp);
    await rename(tmp, dest);
  } finally {
    await rm(tmp, { force: true });
  }
  return true;
}

async function replace(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path.join(path.dirname(file), '.')}${path.basename(file)}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

function index(name: string, data: Uint8Array): IndexFile {
  return {
    name,
    size: data.byteLength,
    md5: createHash('md5').update(data).digest('hex'),
    sha256: createHash('sha256').update(data).digest('hex'),
  };
}
