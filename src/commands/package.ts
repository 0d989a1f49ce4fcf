// package M/V (--abi FLAVOUR-ABIVER | -k KVER) [-o DIR] [--repo DIR]: one binary .deb per
// module and kernel ABI, for machines without compiler or headers. With -k, a module not yet
// in that kernel's tree is built and installed first (this is the build host).
import { copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { abiTreeName, formatAbi, parseAbiSpec, type AbiId } from '../core/abi-id.js';
import { checkMaintainer } from '../core/deb-docs.js';
import { EnvironmentError, UsageError, type ExitCode } from '../core/errors.js';
import type { TreeModule } from '../core/snapshot.js';
import { publishToRepo, type RepoUpdate } from '../system/apt-repo.js';
import type { Context } from '../system/context.js';
import { dkmsMktarball } from '../system/dkms.js';
import { ensureInstalled } from '../flows/install.js';
import { reportRefused } from './dkms-verbs.js';
import { buildModulePackage, collectInputs, type BuiltPackage } from '../flows/package-build.js';
import { withSession, type Session } from '../system/session.js';
import type { UsabilityChecker } from '../system/usability.js';
import { VerdictService } from '../system/verdict-service.js';

export interface PackageCommandOptions {
  readonly module: string;
  readonly version?: string;
  readonly abi?: string;
  readonly kernel?: string;
  readonly output?: string;
  readonly repo?: string;
  readonly revision?: string;
  readonly maintainer?: string;
  readonly dkmsTarball?: boolean;
}

/**
 * Who packages are from when nobody said: a local build with no one to write to. `.invalid`
 * is the top-level domain reserved for addresses that never receive mail (RFC 2606); lintian
 * refuses `root@<host>` (root-in-contact, bogus-mail-host), and a fixed default keeps builds on
 * different hosts byte-identical.
 */
export const DEFAULT_MAINTAINER_ADDRESS = 'dkms-abi@localhost.invalid';

/** --maintainer, else DEBFULLNAME/DEBEMAIL as dch reads them, else dkms-abi's local address. */
export function maintainerFrom(opt: string | undefined, env: NodeJS.ProcessEnv): string {
  if (opt !== undefined) return opt;
  const email = env['DEBEMAIL'] ?? env['EMAIL'];
  if (email !== undefined && /<.*>/.test(email)) return email;
  const name = env['DEBFULLNAME'] ?? env['NAME'] ?? 'dkms-abi';
  return `${name} <${email ?? DEFAULT_MAINTAINER_ADDRESS}>`;
}

function epochFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const v = env['SOURCE_DATE_EPOCH'];
  if (v === undefined || v === '') return undefined;
  if (!/^[0-9]{1,12}$/.test(v)) throw new UsageError(`SOURCE_DATE_EPOCH="${v}" is not a number of seconds`);
  return Number(v);
}

export async function packageModule(ctx: Context, opts: PackageCommandOptions): Promise<ExitCode> {
  const { module, version } = opts;
  if (version === undefined || version === '')
    throw new UsageError(`package needs MODULE/VERSION, got "${module}"`);
  if ((opts.abi === undefined) === (opts.kernel === undefined))
    throw new UsageError('package needs exactly one of --abi FLAVOUR-ABIVER and -k KVER');
  const maintainer = maintainerFrom(opts.maintainer, process.env);
  const bad = checkMaintainer(maintainer);
  if (bad !== undefined) throw new UsageError(`${bad} (give --maintainer or set DEBFULLNAME and DEBEMAIL)`);
  const epochSeconds = epochFromEnv(process.env);
  const mv = { module, version };

  const repo = opts.repo === undefined ? undefined : path.resolve(opts.repo);
  // With --repo the package is built aside (dpkg-scanpackages reads every directory of the
  // repository) and published from there.
  const outDir =
    repo !== undefined
      ? await mkdtemp(path.join(os.tmpdir(), 'dkms-abi-package-'))
      : path.resolve(opts.output ?? '.');
  let tarball: string | undefined;
  try {
    const built = await withSession<BuiltPackage | ExitCode>(
      ctx,
      `package ${module}/${version}`,
      async (session) => {
        const verdicts = new VerdictService(ctx.paths);
        let abi: AbiId;
        if (opts.kernel !== undefined) {
          const r = await installedFor(ctx, session, verdicts, mv, opts.kernel);
          if (typeof r === 'number') return r;
          abi = r;
        } else {
          const spec = parseAbiSpec(opts.abi ?? '');
          if (spec === undefined)
            throw new UsageError(`--abi "${opts.abi}" is not FLAVOUR-ABIVER (e.g. amd64-1)`);
          abi = spec;
        }
        const inputs = await collectInputs(ctx, verdicts, abi, module, version);
        if (inputs === undefined) {
          throw new UsageError(
            `${module}/${version} is not installed in ${abiTreeName(abi)} (install it there with: dkms-abi install ${module}/${version} -k KVER, or package with -k KVER)`,
          );
        }
        for (const r of inputs.rejectedKernels)
          ctx.out.note(
            `${module}/${version} is not usable on ${r.kernel} (${r.reason}); the package does not name it`,
          );
        if (opts.kernel !== undefined && !inputs.verifiedKernels.includes(opts.kernel)) {
          ctx.out.note(
            `dkms-abi: ${module}/${version} in ${abiTreeName(abi)} would not load on ${opts.kernel}`,
          );
          return 1;
        }
        const pkg = await buildModulePackage(inputs, {
          revision: opts.revision ?? '1',
          maintainer,
          outDir,
          ...(epochSeconds !== undefined ? { epochSeconds } : {}),
        });
        if (opts.dkmsTarball === true) tarball = await dkmsTarball(ctx, inputs.tm, opts.output);
        return pkg;
      },
    );
    if (typeof built === 'number') return built;

    let published: RepoUpdate | undefined;
    let file = built.file;
    if (repo !== undefined) {
      published = await publishToRepo(repo, built.file, ctx.config.lockTimeoutSeconds);
      file = published.file;
      if (opts.output !== undefined) {
        const copy = path.join(path.resolve(opts.output), path.basename(built.file));
        await ensureDir(path.dirname(copy));
        await copyFile(built.file, copy);
        file = copy;
      }
    }
    report(ctx, built, file, published, tarball);
    return 0;
  } finally {
    if (repo !== undefined) await rm(outDir, { recursive: true, force: true });
  }
}

/** -k KVER: the kernel's ABI, with M/V installed in its tree (building it when it is not there). */
async function installedFor(
  ctx: Context,
  session: Session,
  verdicts: UsabilityChecker,
  mv: { module: string; version: string },
  kernel: string,
): Promise<AbiId | ExitCode> {
  const { abi, outcome: r } = await ensureInstalled(ctx, session, verdicts, mv, kernel, (treeName) =>
    ctx.out.note(`${mv.module}/${mv.version} is not in ${treeName} yet: installing it for ${kernel}`),
  );
  switch (r.kind) {
    case 'present':
    case 'installed':
      return abi;
    case 'excluded':
      ctx.out.note(`dkms-abi: ${mv.module}/${mv.version} does not build for ${kernel}: ${r.message}`);
      return 1;
    case 'build-failed':
      ctx.out.note(r.logTail);
      ctx.out.note(
        `dkms-abi: ${mv.module}/${mv.version} failed to build for ${kernel}: ${r.message} (see ${r.makeLog})`,
      );
      return 3;
    case 'unusable':
    case 'conflict':
      return reportRefused(ctx, mv, kernel, r);
  }
}

async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

/**
 * The second format: dkms's own binaries-only archive of the build, which `dkms ldtarball`
 * loads on a machine with plain DKMS — for the kernel it was built for only, since DKMS
 * knows nothing of ABIs.
 */
async function dkmsTarball(ctx: Context, tm: TreeModule, output: string | undefined): Promise<string> {
  const build = path.join(ctx.paths.dkmsTree, tm.module, tm.version, tm.builtFor, tm.arch, 'module');
  if ((await stat(build).catch(() => undefined)) === undefined) {
    throw new EnvironmentError(
      `no DKMS build of ${tm.module}/${tm.version} for ${tm.builtFor} in ${ctx.paths.inner.dkmsTree}: the tree's binaries did not come from this root's DKMS`,
    );
  }
  const archive = path.join(
    path.resolve(output ?? '.'),
    `${tm.module}-${tm.version}-${tm.builtFor}-${tm.arch}.dkms.tar.gz`,
  );
  return dkmsMktarball(
    ctx.paths,
    { module: tm.module, version: tm.version },
    { archive, kernel: { kernel: tm.builtFor, arch: tm.arch }, binariesOnly: true },
  );
}

function report(
  ctx: Context,
  b: BuiltPackage,
  file: string,
  repo: RepoUpdate | undefined,
  tarball: string | undefined,
): void {
  const m = b.metadata;
  const abi = { flavour: m.flavour, abiver: m.abiver };
  if (ctx.json) {
    ctx.out.json({
      package: b.name,
      version: b.version,
      architecture: b.debArch,
      module: m.module,
      moduleVersion: m.version,
      abi: formatAbi(abi),
      tree: abiTreeName(abi),
      builtFor: m.builtFor,
      verifiedKernels: m.verifiedKernels,
      file,
      size: b.size,
      repo: repo === undefined ? null : { dir: repo.repo, added: repo.added, packages: repo.packages },
      dkmsTarball: tarball ?? null,
    });
    return;
  }
  ctx.out.line(`${b.name} ${b.version} (${b.debArch}): ${file} (${b.size} bytes)`);
  ctx.out.line(
    `  ${m.module}/${m.version} from ${abiTreeName(abi)}, built for ${m.builtFor}, verified on ${m.verifiedKernels.join(', ') || 'no installed kernel'}`,
  );
  if (tarball !== undefined) ctx.out.line(`  dkms binaries-only tarball: ${tarball}`);
  if (repo !== undefined)
    ctx.out.line(
      `  ${repo.added ? 'published in' : 'already in'} ${repo.repo} (${repo.packages} package${repo.packages === 1 ? '' : 's'} indexed)`,
    );
}
