// package-install DIR / package-remove NAME: the hidden commands a module package's
// postinst and prerm run (`dkms-abi --root "${DPKG_ROOT:-/}" …`). DIR is the payload's path
// inside the root, so the same script works for "/" and for `dpkg --root=DIR`.
import { abiTreeName } from '../core/abi-id.js';
import { isPackageName } from '../core/deb-names.js';
import { UsageError, type ExitCode } from '../core/errors.js';
import { installedState, moduleLine, rejectedNote } from '../core/status.js';
import type { Context } from '../system/context.js';
import { hostArch } from '../system/module-build.js';
import { installPayload } from '../flows/package-install.js';
import { removeRecorded } from '../flows/package-remove.js';
import { readRecord } from '../system/package-records.js';
import { readPayload } from '../system/package-payload.js';
import { withSession } from '../system/session.js';
import { VerdictService } from '../system/verdict-service.js';

export interface PackageInstallOptions {
  readonly dir: string;
}

export async function packageInstall(ctx: Context, opts: PackageInstallOptions): Promise<ExitCode> {
  const payload = await readPayload(ctx.paths, opts.dir);
  const m = payload.meta;
  if (m.arch !== hostArch())
    throw new UsageError(`${m.package} holds modules for ${m.arch}; this machine is ${hostArch()}`);
  return withSession<ExitCode>(ctx, `package-install ${m.package}`, async (session) => {
    const r = await installPayload(ctx, session, new VerdictService(ctx.paths), payload);
    const tree = abiTreeName(r.abi);
    switch (r.kind) {
      case 'installed': {
        if (r.archivedReference) ctx.out.note(`${m.package}: archived its ABI reference as ${tree}`);
        for (const k of r.registered) ctx.out.note(`${m.package}: registered ${k} in ${tree}`);
        const lines = r.accepted.map((k) => moduleLine({ ...m, kernel: k }, installedState(k, m.builtFor)));
        if (ctx.json) ctx.out.json({ package: m.package, tree, installed: r.accepted, rejected: r.rejected });
        else for (const l of lines) ctx.out.line(l);
        for (const x of r.rejected) ctx.out.note(rejectedNote(m, x));
        if (r.accepted.length === 0)
          ctx.out.note(
            `${m.package}: no kernel of ${tree} is installed yet; kernels of that ABI get the modules when they are added`,
          );
        return 0;
      }
      case 'unusable':
        for (const x of r.rejected) ctx.out.note(rejectedNote(m, x));
        ctx.out.note(
          `dkms-abi: ${m.package}: no installed kernel of ${tree} accepts the modules; nothing was changed`,
        );
        return 1;
      case 'conflict':
        ctx.out.note(`dkms-abi: ${m.package}: ${r.message}; nothing was changed`);
        return 1;
    }
  });
}

export interface PackageRemoveOptions {
  readonly name: string;
}

export async function packageRemove(ctx: Context, opts: PackageRemoveOptions): Promise<ExitCode> {
  if (!isPackageName(opts.name)) throw new UsageError(`"${opts.name}" is not a package name`);
  return withSession<ExitCode>(ctx, `package-remove ${opts.name}`, async (session) => {
    const record = await readRecord(ctx, opts.name);
    if (record === undefined) {
      ctx.out.note(`${opts.name}: dkms-abi installed nothing for it; nothing to do`);
      return 0;
    }
    const r = await removeRecorded(ctx, session, record);
    const tree = abiTreeName(record.abi);
    if (ctx.json) ctx.out.json({ package: opts.name, tree, ...r });
    else {
      for (const k of r.kernels) ctx.out.line(moduleLine({ ...record, kernel: k }, 'removed'));
      for (const k of r.unregistered) ctx.out.note(`${opts.name}: unregistered ${k} from ${tree}`);
      if (r.prunedTree) ctx.out.note(`${opts.name}: removed ${tree} (nothing else uses it)`);
      if (r.removedReference) ctx.out.note(`${opts.name}: removed the ABI reference it had archived`);
    }
    return 0;
  });
}
