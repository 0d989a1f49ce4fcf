// Scenario 5: how status (scenario 1) grows with kernels and with module versions, and how abi
// compat (scenario 4) grows with modules and with the kernel's symbols, at three sizes each.
// The largest sizes are scenario 1's and 4's fixtures, timed again here so that the points of
// a series are measured together (the machine's load changes over a run). Stock dkms status takes
// minutes per run, so it is only shown where scenario 1 measured it; the weak-modules way is
// run once per module count (it also checks the verdicts agree). "Linear" is judged on the
// marginal cost per unit: a step whose marginal cost is more than 1.5× the previous step's
// counts as worse than linear.
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fromRun, time } from './measure.js';
import { fmtMicro, scalingMarkdown } from './report.js';
import { K47, K50, hostSymvers, imageModules } from './roots.js';
import { checkCompat, cliAvailable, compatCommands } from './scenario-compat.js';
import { checkStatus, statusFixture } from './scenario-status.js';

export async function runScaling(ctx) {
  const series = [];
  const q = ctx.quick;
  const full = q ? { kernels: 8, modules: 12 } : { kernels: 20, modules: 50 };
  series.push(
    await statusSeries(ctx, `status, by kernels (${full.modules} module versions)`, 'kernels', [
      { kernels: full.kernels / 4, modules: full.modules },
      { kernels: full.kernels / 2, modules: full.modules },
      full,
      // Ten times scenario 1's kernels: 10,000 status lines (--quick: 40 kernels).
      { kernels: full.kernels * (q ? 5 : 10), modules: full.modules },
    ]),
  );
  series.push(
    await statusSeries(ctx, `status, by module versions (${full.kernels} kernels)`, 'module versions', [
      { kernels: full.kernels, modules: Math.round(full.modules / 4) },
      { kernels: full.kernels, modules: Math.round(full.modules / 2) },
      full,
    ]),
  );
  if (cliAvailable(['abi', 'compat'])) {
    series.push(await compatByModules(ctx, q ? [250, 500, 1000] : [1000, 2000, 4022]));
    series.push(await compatBySymbols(ctx, q ? [1, 2] : [1, 2, 4]));
  }
  return { series, text: scalingMarkdown(series) };
}

async function statusSeries(ctx, title, unit, sizes) {
  const points = [];
  for (const size of sizes) {
    const label = `${size.kernels} × ${size.modules}`;
    const done = ctx.shared.status;
    if (done !== undefined && done.size.kernels === size.kernels && done.size.modules === size.modules) {
      // Scenario 1's tree, timed again now: the points of a series are measured together.
      const ours = time(done.cmd, { runs: ctx.runs(10), warmup: 1, outDir: ctx.outDir });
      points.push({ size: label, n: done.entries, count: done.entries, ours, alt: done.alt });
      continue;
    }
    ctx.log(`scaling: status at ${label}`);
    const f = await statusFixture(ctx, size);
    checkStatus(f.ours, f.gen, ctx, { stock: false }); // fills the verdict cache
    const ours = time(f.ours, { runs: ctx.runs(10), warmup: 1, outDir: ctx.outDir });
    points.push({ size: label, n: f.gen.entries, count: f.gen.entries, ours, alt: undefined });
  }
  return withVerdict(ctx, { title: `${title}, per status line`, unit, per: 'line', points });
}

/** The first n modules of the 6.1.0-47 image (sorted by path), hard-linked into a directory. */
async function moduleSubset(ctx, n) {
  const from = path.join(imageModules(K47), 'kernel');
  const all = (await walk(from)).sort();
  const dir = path.join(ctx.workDir, `modules-${n}`);
  const count = Math.min(n, all.length);
  if (existsSync(dir)) return { dir, count };
  for (const f of all.slice(0, n)) {
    const to = path.join(dir, path.relative(from, f));
    await mkdir(path.dirname(to), { recursive: true });
    await link(f, to);
  }
  return { dir, count };
}

async function walk(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (/\.ko(\.(xz|zst|gz))?$/.test(e.name)) out.push(p);
  }
  return out;
}

async function compatByModules(ctx, sizes) {
  const points = [];
  for (const n of sizes) {
    if (n >= 4022 && ctx.shared.compat !== undefined) {
      const c = ctx.shared.compat; // checked in scenario 4; timed again with the other points
      const ours = time(c.cmd, { runs: ctx.runs(3), warmup: 1, outDir: ctx.outDir });
      points.push({ size: String(c.count), n: c.count, count: c.count, ours, alt: c.alt });
      continue;
    }
    ctx.log(`scaling: abi compat, ${n} modules`);
    const { dir, count } = await moduleSubset(ctx, n);
    const cmds = compatCommands(`s5-modules-${n}`, hostSymvers(K50), dir);
    const c = checkCompat(cmds, ctx, count);
    const ours = time(cmds.ours, { runs: ctx.runs(3), warmup: 1, outDir: ctx.outDir });
    points.push({ size: String(count), n: count, count, ours, alt: fromRun(c.a) });
  }
  return withVerdict(ctx, {
    title: `abi compat, by modules (vs ${K50}'s symvers), per module`,
    unit: 'modules',
    per: 'module',
    points,
  });
}

/**
 * 6.1.0-50's Module.symvers padded with synthetic exports (×2, ×4 symbols): no module uses
 * them, so the verdicts stay the same (checked), only the symbol table grows.
 */
async function paddedSymvers(ctx, factor) {
  const real = await readFile(hostSymvers(K50), 'utf8');
  const lines = real.split('\n').filter((l) => l !== '');
  if (factor === 1) return { file: hostSymvers(K50), symbols: lines.length };
  const pad = [];
  for (let i = 0; i < lines.length * (factor - 1); i++) {
    const crc = ((i * 2654435761) >>> 0).toString(16).padStart(8, '0');
    pad.push(`0x${crc}\tbench_pad_${i}\tvmlinux\tEXPORT_SYMBOL\t`);
  }
  const file = path.join(ctx.workDir, `symvers-x${factor}`);
  await writeFile(file, `${[...lines, ...pad].join('\n')}\n`);
  return { file, symbols: lines.length + pad.length };
}

async function compatBySymbols(ctx, factors) {
  const points = [];
  const shared = ctx.quick ? undefined : ctx.shared.compat;
  const modules =
    shared !== undefined
      ? { dir: shared.dir, count: shared.count }
      : await moduleSubset(ctx, ctx.quick ? 1000 : 4022);
  let reference = shared?.results;
  for (const factor of factors) {
    const { file, symbols } = await paddedSymvers(ctx, factor);
    const size = symbols.toLocaleString('en');
    if (factor === 1 && shared !== undefined) {
      const ours = time(shared.cmd, { runs: ctx.runs(3), warmup: 1, outDir: ctx.outDir });
      points.push({ size, n: symbols, count: symbols, ours, alt: shared.alt });
      continue;
    }
    ctx.log(`scaling: abi compat, ${symbols} symbols`);
    const cmds = compatCommands(`s5-symbols-${factor}`, file, modules.dir);
    const c = checkCompat(cmds, ctx, modules.count, reference === undefined ? {} : { sameAs: reference });
    reference ??= c.results;
    const ours = time(cmds.ours, { runs: ctx.runs(3), warmup: 1, outDir: ctx.outDir });
    points.push({
      size,
      n: symbols,
      count: symbols,
      ours,
      alt: c.a === undefined ? undefined : fromRun(c.a),
    });
  }
  return withVerdict(ctx, {
    title: `abi compat, by the kernel's symbols (${modules.count} modules), per symbol`,
    unit: 'symbols',
    per: 'symbol',
    points,
  });
}

/**
 * Linear or better: each step's marginal cost per unit (CPU time, steadier than wall time on a
 * shared machine) against the average cost per unit of the size before it, process start
 * (`dkms-abi --help`) taken out. For a linear cost both are the same constant; a quadratic
 * one doubles it. A step more than 1.5× the average before it counts as worse than linear.
 */
function withVerdict(ctx, s) {
  const p = s.points;
  const cpu = (x) => x.ours.cpu ?? x.ours.median;
  const floor = ctx.floors.help.timing.cpu ?? ctx.floors.help.timing.median;
  const steps = [];
  for (let i = 1; i < p.length; i++) {
    const marginal = (cpu(p[i]) - cpu(p[i - 1])) / (p[i].n - p[i - 1].n);
    const average = Math.max(cpu(p[i - 1]) - floor, 0) / p[i - 1].n;
    steps.push({ marginal, average, worse: marginal > 1.5 * average });
  }
  const worse = steps.some((x) => x.worse);
  const verdict = `CPU per ${s.per}, each step's marginal vs the average before it (process start taken out): ${steps
    .map((x) => `${fmtMicro(Math.max(x.marginal, 0))} vs ${fmtMicro(x.average)}`)
    .join(', ')}; ${worse ? '**worse than linear**' : 'not worse than linear'}.`;
  return { ...s, steps, worse, verdict };
}
