// Scenario 6: what the header-drift check (issue 15) costs.
// 6a recording: dkms-abi builds with KCFLAGS=-H (gcc lists every header it opens into dkms's
//    make.log). The floor is the same real `dkms build` of a real DKMS package without it.
// 6b comparing: `kernel add` of a same-ABI kernel with headers hashes every header each reused
//    module's build read in that kernel's headers. The floor is the same kernel add with
//    `[abi] header_drift = ignore` (no comparison).
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { mustRun, prepareScript, runOnce, time } from './measure.js';
import { K47, addHeaders, cliArgv, makeRoot, stockDkms } from './roots.js';
import { MODULES, NEW_KERNEL, makeBase, newKernelDir } from './scenario-new-kernel.js';

const CACHE = process.env.DKMS_ABI_CACHE ?? '/var/cache/dkms-abi';
const PACKAGE = 'v4l2loopback';

/** Real Debian DKMS package: one large C file that includes ~400 kernel headers. */
function packageDeb() {
  const dir = path.join(CACHE, 'dkms-debs');
  const deb = readdirSync(dir).find((n) => n.startsWith(`${PACKAGE}-dkms_`) && n.endsWith('.deb'));
  if (deb === undefined)
    throw new Error(`${dir}: no ${PACKAGE}-dkms .deb (scripts/setup-system.sh downloads it)`);
  return path.join(dir, deb);
}

async function runRecording(ctx, dir) {
  const root = path.join(dir, 'root-build');
  await makeRoot(root);
  await addHeaders(root, K47);
  mustRun(['dpkg-deb', '-x', packageDeb(), root]);
  const version = readdirSync(path.join(root, 'usr/src'))
    .find((n) => n.startsWith(`${PACKAGE}-`))
    ?.slice(PACKAGE.length + 1);
  const s = stockDkms(root);
  mustRun(['dkms', 'add', '-m', PACKAGE, '-v', version, ...s.trees], { env: { ...process.env, ...s.env } });
  const build = [
    'dkms',
    'build',
    '-m',
    PACKAGE,
    '-v',
    version,
    '-k',
    K47,
    '--kernelsourcedir',
    path.join(root, 'usr/src', `linux-headers-${K47}`),
    ...s.trees,
  ];
  const fresh = prepareScript(ctx.outDir, 'fresh-drift-build', [
    `rm -rf ${path.join(root, 'var/lib/dkms', PACKAGE, version, K47)}`,
  ]);
  const ours = { name: 's6a-build-traced', argv: build, env: { ...s.env, KCFLAGS: '-H' }, prepare: fresh };
  const floor = { name: 's6a-build-plain', argv: build, env: s.env, prepare: fresh };
  const o = runOnce(ours, ctx);
  if (o.exitCode !== 0) throw new Error(`dkms build with KCFLAGS=-H failed:\n${o.stderr}`);
  const log = path.join(root, 'var/lib/dkms', PACKAGE, version, K47, 'x86_64/log/make.log');
  const traced = mustRun(['grep', '-c', '^\\.', log]).trim();
  const f = runOnce(floor, ctx);
  if (f.exitCode !== 0) throw new Error(`dkms build failed:\n${f.stderr}`);
  ctx.log('scenario 6a: timing');
  const runs = ctx.runs(5, 2);
  return {
    id: '6a',
    title: `header recording: a real DKMS build (${PACKAGE} ${version} for ${K47})`,
    ours: {
      label: 'dkms build with KCFLAGS=-H (as dkms-abi builds)',
      timing: time(ours, { runs, outDir: ctx.outDir }),
      rssKiB: o.maxRssKiB,
    },
    floor: {
      label: 'dkms build (stock)',
      timing: time(floor, { runs, outDir: ctx.outDir }),
      rssKiB: f.maxRssKiB,
    },
    target: { floorFactor: 1.05 },
    notes: [
      `make.log of the traced build lists ${traced} header lines; the record (hashes of those files) is written at install`,
    ],
  };
}

async function runComparing(ctx) {
  // Scenario 2's base: the 5 modules built for K47 (with header records), NEW_KERNEL's headers.
  const { root, base } = await makeBase(newKernelDir(ctx), { inTree: false });
  const fresh = (policy) =>
    prepareScript(ctx.outDir, `fresh-drift-add-${policy}`, [
      `rm -rf ${root}`,
      `cp -a ${base} ${root}`,
      `printf '[abi]\\nheader_drift = ${policy}\\n' > ${root}/etc/dkms-abi.conf`,
    ]);
  const argv = cliArgv(root, 'kernel', 'add', NEW_KERNEL);
  const ours = { name: 's6b-kernel-add-compare', argv, prepare: fresh('rebuild') };
  const floor = { name: 's6b-kernel-add-ignore', argv, prepare: fresh('ignore') };
  const o = runOnce(ours, ctx);
  if (o.exitCode !== 0) throw new Error(`kernel add failed:\n${o.stderr}`);
  const compared = mustRun(cliArgv(root, 'status', '-k', NEW_KERNEL))
    .split('\n')
    .filter((l) => l.endsWith(`: installed-abi (from ${K47})`)).length;
  if (compared !== MODULES.length) throw new Error(`kernel add did not reuse all ${MODULES.length} modules`);
  const f = runOnce(floor, ctx);
  ctx.log('scenario 6b: timing');
  const runs = ctx.runs(10, 3);
  const meta = path.join(base, 'lib/modules/kernel-abi-amd64-1/.dkms-abi');
  const records = readdirSync(meta).filter((m) => existsSync(path.join(meta, m, '1.0', 'headers.sha256')));
  return {
    id: '6b',
    title: `header comparison: kernel add ${NEW_KERNEL} (same ABI, headers installed; ${MODULES.length} modules reused)`,
    ours: {
      label: 'kernel add, header_drift = rebuild (compares)',
      timing: time(ours, { runs, warmup: 1, outDir: ctx.outDir }),
      rssKiB: o.maxRssKiB,
    },
    floor: {
      label: 'kernel add, header_drift = ignore',
      timing: time(floor, { runs, warmup: 1, outDir: ctx.outDir }),
      rssKiB: f.maxRssKiB,
    },
    // At most 50 ms per reused module.
    target: { aboveFloorSeconds: 0.05 * MODULES.length },
    notes: [
      `${records.length} modules in the tree with a header record; every reused one is compared: its status line has no "headers differ"`,
    ],
  };
}

export async function runHeaderDrift(ctx) {
  const dir = path.join(ctx.workDir, 'header-drift');
  mustRun(['mkdir', '-p', dir]);
  ctx.log('scenario 6: header drift costs');
  return [await runRecording(ctx, dir), await runComparing(ctx)];
}
