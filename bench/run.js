// npm run bench: dkms-abi against the real alternatives, side by side in one run, on sandbox
// roots under a temp directory (never the machine's /lib/modules, /var/lib/dkms, /usr/src or
// /etc). Prints per scenario the medians, the alternative's median, the ratio and peak memory;
// writes bench/out/results.{json,md}, and bench/RESULTS.md after a complete run.
//
//   node bench/run.js [--quick] [--only 1,2,3,4,5] [--keep] [--runs N] [--alt-runs N] [--results-md]
//     --quick       few runs, small sizes, stock dkms status on a smaller tree (a few minutes)
//     --only        some scenarios (1 status, 2 new kernel, 3 abi check, 4 abi compat, 5 scaling,
//                   6 header drift: recording and comparing)
//     --keep        keep the sandbox roots (their path is printed)
//     --runs N      timing runs of dkms-abi's commands (default 10-30 by scenario)
//     --alt-runs N  extra runs of the slow alternatives beyond the checked one (default 0-2)
//     --results-md  write bench/RESULTS.md even for a partial or --quick run
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { UNSET_ENV, fmtRatio, fmtSeconds, runOnce, time } from './measure.js';
import { profileCommand, profileMarkdown } from './profile.js';
import {
  cpuTimes,
  floorsText,
  machine,
  misses,
  resultsDocument,
  resultsMarkdown,
  scalingMarkdown,
  scenarioText,
} from './report.js';
import { CLI, K47, K50, REPO, buildHelloKo, guardHost, makeWorkDir, removeDir } from './roots.js';
import { runAbiCheck } from './scenario-abi-check.js';
import { runCompat } from './scenario-compat.js';
import { runHeaderDrift } from './scenario-header-drift.js';
import { runNewKernel } from './scenario-new-kernel.js';
import { runScaling } from './scenario-scaling.js';
import { runStatus } from './scenario-status.js';
import { checkPrerequisites } from './prerequisites.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    keep: { type: 'boolean', default: false },
    runs: { type: 'string' },
    'alt-runs': { type: 'string' },
    'results-md': { type: 'boolean', default: false },
  },
});
const only = new Set((values.only ?? '1,2,3,4,5,6').split(',').map((s) => s.trim()));
const complete = ['1', '2', '3', '4', '5', '6'].every((id) => only.has(id));
const quick = values.quick;
const fastRuns = values.runs === undefined ? undefined : Number(values.runs);
const altRuns = values['alt-runs'] === undefined ? undefined : Number(values['alt-runs']);

const outDir = path.join(REPO, 'bench/out');
await mkdir(outDir, { recursive: true });
const problems = checkPrerequisites();
if (problems.length > 0) {
  console.error(
    `bench: cannot run:\n  ${problems.join('\n  ')}\n(scripts/setup-system.sh installs all of it)`,
  );
  process.exit(2);
}

/** CPU ticks of this process and its finished children (/proc/self/stat utime..cstime). */
function ownTicks() {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return [11, 12, 13, 14].reduce((s, i) => s + Number(f[i]), 0);
}

const m = machine();
const guard = await guardHost();
const workDir = await makeWorkDir();
const started = Date.now();
const cpuStart = cpuTimes();
const ownStart = ownTicks();
const loads = [];
const sampleLoad = (label) => {
  const [one] = os.loadavg();
  const running = readFileSync('/proc/loadavg', 'utf8').split(' ')[3];
  loads.push({ label, one, running });
};
let helloKo;
const ctx = {
  workDir,
  machine: m,
  /** Results later scenarios reuse (scaling reuses scenario 1's and 4's largest sizes). */
  shared: {},
  outDir,
  quick,
  log: (s) => process.stderr.write(`bench: ${s}\n`),
  /** Timing runs of dkms-abi's commands: `full` normally, `quickN` with --quick; --runs overrides. */
  runs: (full, quickN = 3) => fastRuns ?? (quick ? quickN : full),
  /** Extra runs of a slow alternative beyond its checked run; --alt-runs overrides. */
  altRuns: (full) => altRuns ?? (quick ? 0 : full),
  /** The real hello_abi.ko built by kbuild for 6.1.0-47 and 6.1.0-50, once per run. */
  helloKo: async () => {
    helloKo ??= { [K47]: await buildHelloKo(workDir, K47), [K50]: await buildHelloKo(workDir, K50) };
    return helloKo;
  },
  floors: {},
};

console.log(`dkms-abi benchmarks${quick ? ' (--quick: indicative only)' : ''}`);
console.log(`machine: ${m.model}, ${m.cpus} CPUs, ${m.memory}; ${m.os}, ${m.kernel}`);
console.log(`tools: node ${m.node}, ${m.dkms}, ${m.kmod}, ${m.hyperfine}`);
console.log(`sandbox: ${workDir}\n`);

/** Process start: node alone, node with the unset variables, and the CLI's own start. */
function measureFloors() {
  const floors = {};
  const node = { name: 'floor-node', argv: [process.execPath, '-e', '0'] };
  const opts = { runs: ctx.runs(30, 10), warmup: 3, outDir };
  const f = (label, cmd) => ({ label, timing: time(cmd, opts), rssKiB: runOnce(cmd, ctx).maxRssKiB });
  floors.node = f('node -e 0', node);
  for (const k of UNSET_ENV) {
    if (process.env[k] === undefined) continue;
    floors[`node-${k}`] = f(`node -e 0 with ${k} set (as on this machine)`, {
      ...node,
      name: `floor-node-${k}`,
      env: { [k]: process.env[k] },
    });
  }
  floors.version = f('dkms-abi --version', {
    name: 'floor-version',
    argv: [process.execPath, CLI, '--version'],
  });
  floors.help = f('dkms-abi --help', {
    name: 'floor-help',
    argv: [process.execPath, CLI, '--help'],
  });
  return floors;
}

const results = [];
let scaling;
let failed = false;
const steps = [
  ['1', () => runStatus(ctx)],
  ['2', () => runNewKernel(ctx)],
  ['2', () => (quick ? [] : runNewKernel(ctx, { inTree: true }))],
  ['3', () => runAbiCheck(ctx)],
  ['4', () => runCompat(ctx)],
  ['6', () => runHeaderDrift(ctx)],
];
const profiles = [];
try {
  sampleLoad('start');
  ctx.floors = measureFloors();
  console.log(`${floorsText(ctx.floors)}\n`);
  for (const [id, step] of steps) {
    if (!only.has(id)) continue;
    sampleLoad(`before [${id}]`);
    const r = await step();
    for (const x of Array.isArray(r) ? r : [r]) {
      results.push(x);
      console.log(`${scenarioText(x)}\n`);
    }
  }
  if (only.has('5')) {
    sampleLoad('before [5]');
    scaling = await runScaling(ctx);
    console.log(`[5] scaling\n${scaling.text}\n`);
  }
  sampleLoad('end');
  // The evidence for each missed target: a CPU profile of the command, in the same run.
  for (const r of results.filter((x) => misses(x).length > 0 && x.profile !== undefined)) {
    ctx.log(`profiling [${r.id}] (target missed)`);
    const prof = profileCommand(r.profile.argv, { outDir, env: r.profile.env, prepare: r.profile.prepare });
    profiles.push({ r, prof });
  }
} catch (err) {
  failed = true;
  console.error(`bench: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  const touched = guard.check();
  if (touched.length > 0) {
    failed = true;
    console.error(
      `bench: the machine's real trees changed during the run:\n  ${touched.slice(0, 20).join('\n  ')}`,
    );
  }
  if (values.keep) console.error(`bench: sandbox kept: ${workDir}`);
  else await removeDir(workDir);
}

const total = (Date.now() - started) / 1000;
const cpuEnd = cpuTimes();
const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const busy = (cpuEnd.busy - cpuStart.busy) / ticks;
const steal = (cpuEnd.steal - cpuStart.steal) / ticks;
const capacity = total * m.cpus;
const own = (ownTicks() - ownStart) / ticks;
const others = Math.max(busy - own, 0);
const loadText = loads.map((l) => `${l.label} ${l.one.toFixed(2)}`).join(', ');
// Said from what was measured: whether other processes shared the CPUs during this run.
const othersShare = others / capacity;
const conditions = [
  othersShare < 0.02
    ? `The machine has ${m.cpus} CPUs and is a virtual machine; other processes in it used ${others.toFixed(0)} s of CPU during this run, so the run had it to itself, but wall times still vary from run to run (what else its host runs is not seen from inside; the table of other runs below shows how much they move).`
    : `The machine has ${m.cpus} CPUs and is shared: other processes (other sessions' tests, building with dkms, running depmod and qemu) used ${(100 * othersShare).toFixed(0)} % of its CPU during this run. Wall times are inflated by their load and vary from run to run.`,
  'The "CPU" columns (user + system time of the measured process and its children) are much steadier.',
  'Ratios compare both tools in the same run under the same load.',
  '',
  `- 1-minute load average during the run: ${loadText}.`,
  `- CPU time used on the machine during the run: ${busy.toFixed(0)} s of ${capacity.toFixed(0)} s available (${((100 * busy) / capacity).toFixed(0)} %); this run and its children ${own.toFixed(0)} s, other processes ${others.toFixed(0)} s; stolen by the hypervisor ${steal.toFixed(0)} s.`,
  `- The measured commands run without ${UNSET_ENV.join(', ')}: the sandbox this was written in sets it for its own tools, and it makes every node process read a CA bundle before doing anything (the floors table shows the cost); a user's shell does not set it.`,
];
const loadLine = `load average ${loadText}`;
console.log(loadLine);
const missed = results.filter((r) => misses(r).length > 0);
console.log(
  `${results.length} comparisons, ${missed.length === 0 ? 'all targets met' : `targets missed in ${missed.map((r) => r.id).join(', ')}`}; ${fmtSeconds(total)} in all`,
);

const notes = [];
if (profiles.length > 0) {
  notes.push('', '## What bounds the misses', '');
  for (const { r, prof } of profiles) {
    notes.push(`### [${r.id}] ${r.title}`, '');
    const floor = ctx.floors.help?.timing;
    if (floor !== undefined) {
      notes.push(
        `Median ${fmtSeconds(r.ours.timing.median)} (CPU ${fmtSeconds(r.ours.timing.cpu ?? NaN)}); \`node -e 0\` alone takes ${fmtSeconds(ctx.floors.node.timing.median)} and \`dkms-abi --help\` (node plus the CLI's wiring) ${fmtSeconds(floor.median)}, so ${fmtSeconds(r.ours.timing.median - floor.median)} is the command's own work.`,
        '',
      );
    }
    for (const n of r.bounds ?? []) notes.push(n, '');
    notes.push(profileMarkdown(`CPU profile of \`${r.profile.label}\``, prof, r.ours.timing.median), '');
  }
}

const strip = (r) => ({ ...r, fixture: undefined });
const date = new Date().toISOString();
await writeFile(
  path.join(outDir, 'results.json'),
  `${JSON.stringify({ date, quick, machine: m, loads, floors: ctx.floors, results: results.map(strip), scaling: scaling?.series }, null, 2)}\n`,
);
await writeFile(
  path.join(outDir, 'results.md'),
  [resultsMarkdown(results), '', scaling === undefined ? '' : scalingMarkdown(scaling.series)].join('\n'),
);
// Earlier complete runs on this machine (bench/out/history.jsonl): the spread the load causes.
const historyFile = path.join(outDir, 'history.jsonl');
const summary = {
  date,
  quick,
  complete,
  othersCpuShare: others / capacity,
  figures: Object.fromEntries(
    results
      .filter((r) => r.ours !== undefined)
      .map((r) => [
        r.id,
        { ours: r.ours.timing.median, alt: r.alt?.timing.median ?? null, altLabel: r.alt?.label ?? null },
      ]),
  ),
};
let history = [];
try {
  history = readFileSync(historyFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
} catch {
  // first run
}
if (!failed)
  await writeFile(historyFile, `${[...history, summary].map((h) => JSON.stringify(h)).join('\n')}\n`);
const runs = [...history, summary].filter((h) => h.complete && !h.quick).slice(-5);
if (runs.length > 1) {
  const ids = [...new Set(runs.flatMap((h) => Object.keys(h.figures)))];
  notes.push('', '## Other complete runs on this machine', '');
  notes.push(
    'The same bench, run at other times on this machine (the last is this run): how much the figures move with the load of the other sessions.',
    '',
    `| run | other processes' CPU share | ${ids.map((id) => `[${id}] dkms-abi / ratio`).join(' | ')} |`,
    `| --- | --- | ${ids.map(() => '---').join(' | ')} |`,
  );
  /** A run's start as the tables show it: "2026-12-04 12:13". */
  const runTime = (h) => h.date.slice(0, 16).replace('T', ' ');
  for (const h of runs) {
    const cells = ids.map((id) => {
      const f = h.figures[id];
      if (f === undefined) return '–';
      return `${fmtSeconds(f.ours)} / ${f.alt === null ? '–' : fmtRatio(f.alt / f.ours)}`;
    });
    const when = `${runTime(h)}${h.reconstructed === undefined ? '' : ` (${h.reconstructed})`}`;
    notes.push(`| ${when} | ${(100 * h.othersCpuShare).toFixed(0)} % | ${cells.join(' | ')} |`);
  }
  // A scenario whose alternative changed between these runs: say which ratio is against what.
  for (const id of ids) {
    const byLabel = new Map();
    for (const h of runs) {
      const f = h.figures[id];
      // Runs from before the label was recorded say nothing either way.
      if (f === undefined || f.alt === null || f.altLabel === undefined || f.altLabel === null) continue;
      byLabel.set(f.altLabel, [...(byLabel.get(f.altLabel) ?? []), runTime(h)]);
    }
    if (byLabel.size > 1)
      notes.push(
        '',
        `[${id}]'s ratio is against ${[...byLabel].map(([label, dates]) => `${label} in ${dates.join(', ')}`).join('; ')}.`,
      );
  }
}

const doc = resultsDocument({
  date: date.slice(0, 10),
  quick,
  total,
  m,
  conditions,
  floors: ctx.floors,
  results,
  scaling: scaling?.series,
  notes,
});
await writeFile(path.join(outDir, 'RESULTS.md'), `${doc}\n`);
if (!failed && ((complete && !quick) || values['results-md'])) {
  await writeFile(path.join(REPO, 'bench/RESULTS.md'), `${doc}\n`);
  console.log('written: bench/RESULTS.md (and bench/out/results.json, results.md)');
} else {
  console.log(
    'written: bench/out/RESULTS.md, results.json, results.md (bench/RESULTS.md only after a complete run)',
  );
}
process.exitCode = failed ? 1 : 0;
