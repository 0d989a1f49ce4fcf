// Builds a .deb from files and texts: stages them in a directory beside the output (same
// filesystem), writes DEBIAN/control with the Installed-Size dpkg-gencontrol would compute,
// DEBIAN/md5sums and the maintainer scripts, runs dpkg-deb, and renames the result into
// place. Every timestamp is the given one, so the same inputs give the same package.
import { createHash } from 'node:crypto';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { dpkgDebBuildArgv } from '../core/deb-argv.js';
import { installedSizeKiB } from '../core/deb-control.js';
import { EnvironmentError } from '../core/errors.js';
import { run } from './exec.js';

export interface DebEntry {
  /** Path inside the package, without leading slash: "usr/share/doc/x/copyright". */
  readonly path: string;
  readonly from: { readonly file: string } | { readonly data: Uint8Array | string };
}

export interface DebSpec {
  readonly files: readonly DebEntry[];
  /** The control file, given the Installed-Size in KiB. */
  readonly control: (installedSizeKiB: number) => string;
  readonly scripts: readonly { readonly name: string; readonly text: string }[];
  /** Seconds since the epoch for every file and the archive members. */
  readonly epochSeconds: number;
}

export interface BuiltDeb {
  readonly file: string;
  readonly size: number;
}

export async function buildDeb(spec: DebSpec, debFile: string): Promise<BuiltDeb> {
  const outDir = path.dirname(debFile);
  await mkdir(outDir, { recursive: true }).catch((err: unknown) => {
    throw new EnvironmentError(`cannot create ${outDir}: ${(err as Error).message}`);
  });
  const stage = await mkdtemp(path.join(outDir, '.dkms-abi-stage-'));
  try {
    const sizes: { kind: 'file' | 'dir' | 'link'; size: number }[] = [];
    const sums: string[] = [];
    for (const e of [...spec.files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      const dest = path.join(stage, e.path);
      await mkdir(path.dirname(dest), { recursive: true, mode: 0o755 });
      if ('file' in e.from) await copyFile(e.from.file, dest);
      else await writeFile(dest, e.from.data);
      await chmod(dest, 0o644);
      const st = await stat(dest);
      sizes.push({ kind: 'file', size: st.size });
      sums.push(`${await md5(dest)}  ${e.path}`);
    }
    for (const _dir of await directories(stage)) sizes.push({ kind: 'dir', size: 0 });

    const control = path.join(stage, 'DEBIAN');
    await mkdir(control, { mode: 0o755 });
    await writeFile(path.join(control, 'control'), spec.control(installedSizeKiB(sizes)));
    await writeFile(path.join(control, 'md5sums'), `${sums.join('\n')}\n`);
    await chmod(path.join(control, 'control'), 0o644);
    await chmod(path.join(control, 'md5sums'), 0o644);
    for (const s of spec.scripts) {
      await writeFile(path.join(control, s.name), s.text);
      await chmod(path.join(control, s.name), 0o755);
    }
    await normalize(stage, spec.epochSeconds);

    const tmp = path.join(outDir, `.${path.basename(debFile)}.tmp-${process.pid}`);
    try {
      await run(dpkgDebBuildArgv(stage, tmp), {
        env: { SOURCE_DATE_EPOCH: String(spec.epochSeconds) },
        hint: 'dpkg-deb comes with dpkg',
      });
      await rename(tmp, debFile);
    } finally {
      await rm(tmp, { force: true });
    }
    return { file: debFile, size: (await stat(debFile)).size };
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

async function md5(file: string): Promise<string> {
  return createHash('md5')
    .update(await readFile(file))
    .digest('hex');
}

/** Directories below the stage (each counts one KiB, as dpkg-gencontrol counts them). */
async function directories(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    if ((await lstat(p)).isDirectory()) out.push(p, ...(await directories(p)));
  }
  return out;
}

/** Modes 0755 for directories, the given timestamp everywhere (umask and clock must not show). */
async function normalize(dir: string, epochSeconds: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    if ((await lstat(p)).isDirectory()) {
      await chmod(p, 0o755);
      await normalize(p, epochSeconds);
    }
    await utimes(p, epochSeconds, epochSeconds);
  }
  await chmod(dir, 0o755);
  await utimes(dir, epochSeconds, epochSeconds);
}
