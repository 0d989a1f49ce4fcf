// Scenario 1: status at scale. K kernels × M module versions, every one installed (half the
// kernels in each of two ABI trees): `dkms-abi status` vs stock `dkms status` on the same
// trees. Both outputs are checked before anything is timed.
import path from 'node:path';
import { fromRun, prepareScript, runOnce, time, withRun } from './measure.js';
import { cliArgv, stockDkms } from './roots.js';
import { generateStatusTree } from './status-tree.js';

/** A generated root of the given size, its commands, and a check that both tools agree. */
export async function statusFixture(ctx, { kernels, modules }) {
  const root = path.join(ctx.workDir, `status-${kernels}x${modules}`);
  const gen = await generateStatusTree(root, { kernels, modules, ko: await ctx.helloKo() });
  const s = stockDkms(root);
  const ours = { name: `status-${kernels}x${modules}-dkms-abi`, argv: cliArgv(root, 'status') };
  const alt = {
    name: `status-${kernels}x${modules}-stock`,
    argv: ['dkms', 'status', ...s.trees],
    env: s.env,
  };
  // The first status after a kernel or module changed: no valid cached verdicts.
  const cold = {
    ...ours,
    name: `${ours.name}-cold`,
    prepare: prepareScript(ctx.outDir, `status-cold-${kernels}x${modules}`, [
      `rm -rf ${path.join(root, 'var/lib/dkms-abi/cache')}`,
    ]),
  };
  return { root, gen, ours, alt, cold };
}

/** Runs a command once with /usr/bin/time and checks it printed one installed line per entry. */
export function checkStatus(cmd, gen, ctx, { stock }) {
  const r = runOnce(cmd, ctx);
  if (r.exitCode !== 0) throw new Error(`${cmd.name} exited ${r.exitCode}:\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  const ok = lines.filter((l) =>
    stock ? /: installed$/.test(l) : /: installed( |$)|: installed-abi \(from [^)]+\)$/.test(l),
  );
  if (lines.length !== gen.entries || ok.length !== gen.entries) {
    const bad = lines.filter((l) => !ok.includes(l)).slice(0, 5);
    throw new Error(
      `${cmd.name}: ${lines.length} lines, ${ok.length} installed, expected ${gen.entries}\n${bad.join('\n')}\n${r.stderr}`,
    );
  }
  return r;
}

export async function runStatus(ctx) {
  // --quick: a smaller tree, since stock dkms status needs ~0.15-0.3 s per entry.
  const size = ctx.quick ? { kernels: 8, modules: 12 } : { kernels: 20, modules: 50 };
  ctx.log(`scenario 1: generating ${size.kernels} kernels × ${size.modules} module versions`);
  const f = await statusFixture(ctx, size);
  // The first run fills the verdict cache; later runs are what every status after it costs.
  checkStatus(f.ours, f.gen, ctx, { stock: false });
  const o = checkStatus(f.ours, f.gen, ctx, { stock: false });
  ctx.log('scenario 1: timing dkms-abi status');
  const tOurs = time(f.ours, { runs: ctx.runs(20), warmup: 2, outDir: ctx.outDir });
  const tCold = time(f.cold, { runs: ctx.runs(5), outDir: ctx.outDir });
  const rCold = runOnce(f.cold, ctx);
  ctx.log(`scenario 1: stock dkms status (${f.gen.entries} entries; minutes per run)`);
  const a = checkStatus(f.alt, f.gen, ctx, { stock: true });
  // Stock dkms takes minutes per run: the checked run above is one sample, --alt-runs adds more.
  const extra = ctx.altRuns(0);
  const tAlt = extra > 0 ? withRun(time(f.alt, { runs: extra, outDir: ctx.outDir }), a) : fromRun(a);
  ctx.shared.status = { size, entries: f.gen.entries, ours: tOurs, alt: tAlt, cmd: f.ours };
  return {
    id: '1',
    title: `status, ${size.kernels} kernels × ${size.modules} module versions (${f.gen.entries} entries)`,
    ours: { label: 'dkms-abi status', timing: tOurs, rssKiB: o.maxRssKiB },
    alt: { label: `dkms status (${ctx.machine.dkms})`, timing: tAlt, rssKiB: a.maxRssKiB },
    others: [{ label: 'dkms-abi status, verdict cache cleared', timing: tCold, rssKiB: rCold.maxRssKiB }],
    floor: ctx.floors.help,
    target: { wallSeconds: 0.12, ratio: 100 },
    profile: { label: 'dkms-abi status', argv: f.ours.argv },
    bounds: [
      `The work is proportional to the tree: for each of the ${f.gen.entries} lines dkms-abi lists DKMS's kernel directory and reads two links (the installed mark and the build link) — about ten file system calls per line (strace counts ~10,000 for 1000 lines) — and checks the cached verdicts of every kernel (one small JSON file each, valid while the kernel's files and the tree's modules are unchanged). There is no per-line process or bash run, which is where stock dkms spends its time; what is left is Node's start, the CLI's module loading and those system calls, on a machine where each costs more than usual (see Conditions).`,
    ],
    notes: [
      `${f.gen.entries} lines, all installed/installed-abi, checked for both tools before timing; stock dkms status is timed by ${tAlt.runs} run${tAlt.runs === 1 ? '' : 's'} (minutes each)`,
    ],
  };
}
