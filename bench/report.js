// The machine the figures come from, and the figures as text and Markdown.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import { UNSET_ENV, fmtMiB, fmtRatio, fmtSeconds } from './measure.js';

function firstLine(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').split('\n')[0].trim();
}

export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1];
  const memKiB = Number(/^MemTotal:\s*(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN);
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  return {
    cpus: Number(firstLine(['nproc'])) || os.availableParallelism(),
    model: mhz === undefined ? model : `${model} (${Math.round(Number(mhz))} MHz)`,
    memory: `${(memKiB / 1024 / 1024).toFixed(1)} GiB`,
    kernel: `${os.release()} (${os.arch()})`,
    os: /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'unknown',
    node: process.version,
    dkms: firstLine(['dkms', '--version']),
    kmod: firstLine(['kmod', '--version']),
    hyperfine: firstLine(['hyperfine', '--version']),
  };
}

/** CPU time the machine spent, from /proc/stat (jiffies): busy, idle and stolen by the hypervisor. */
export function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: user + nice + system + irq + softirq, idle: idle + iowait, steal: steal ?? 0 };
}

export function machineMarkdown(m) {
  return [
    '| | |',
    '| --- | --- |',
    `| CPU | ${m.model}, ${m.cpus} CPUs (\`nproc\`) |`,
    `| memory | ${m.memory} |`,
    `| OS, kernel | ${m.os}, ${m.kernel} |`,
    `| Node | ${m.node} |`,
    `| dkms | ${m.dkms} |`,
    `| kmod | ${m.kmod} |`,
    `| timing | ${m.hyperfine}: wall clock incl. process start, output through a pipe; peak memory from \`/usr/bin/time -v\` |`,
  ].join('\n');
}

function ratio(r) {
  return r.alt === undefined ? NaN : r.alt.timing.median / r.ours.timing.median;
}

/** Did the scenario meet its targets? Returns the misses, empty when met. */
export function misses(r) {
  const out = [];
  const t = r.target ?? {};
  if (r.ours === undefined) return out;
  if (t.wallSeconds !== undefined && r.ours.timing.median > t.wallSeconds) {
    out.push(`wall ${fmtSeconds(r.ours.timing.median)} > ${fmtSeconds(t.wallSeconds)}`);
  }
  if (t.ratio !== undefined && !(ratio(r) >= t.ratio)) out.push(`ratio ${fmtRatio(ratio(r))} < ${t.ratio}×`);
  if (t.floorFactor !== undefined && r.floor !== undefined) {
    const f = r.ours.timing.median / r.floor.timing.median;
    if (!(f <= t.floorFactor)) out.push(`${f.toFixed(2)}× the floor > ${t.floorFactor}×`);
  }
  if (t.aboveFloorSeconds !== undefined && r.floor !== undefined) {
    const d = r.ours.timing.median - r.floor.timing.median;
    if (!(d <= t.aboveFloorSeconds))
      out.push(`${fmtSeconds(d)} above the floor > ${fmtSeconds(t.aboveFloorSeconds)}`);
  }
  return out;
}

function targetText(r) {
  const t = r.target;
  if (t === undefined) return '–';
  const parts = [];
  if (t.wallSeconds !== undefined) parts.push(`≤ ${fmtSeconds(t.wallSeconds)}`);
  if (t.ratio !== undefined) parts.push(`≥ ${t.ratio}×`);
  if (t.floorFactor !== undefined && r.floor !== undefined) {
    parts.push(
      `≤ ${t.floorFactor}× the floor (${(r.ours.timing.median / r.floor.timing.median).toFixed(2)}× ${r.floor.label})`,
    );
  }
  if (t.aboveFloorSeconds !== undefined && r.floor !== undefined) {
    parts.push(
      `≤ ${fmtSeconds(t.aboveFloorSeconds)} above the floor (${fmtSeconds(r.ours.timing.median - r.floor.timing.median)})`,
    );
  }
  const m = misses(r);
  return `${parts.join(', ')}: ${m.length === 0 ? 'met' : `**missed** (${m.join('; ')})`}`;
}

function runsText(t) {
  return `${t.runs} run${t.runs === 1 ? '' : 's'}`;
}

const cpuText = (t) => (t.cpu === undefined || !Number.isFinite(t.cpu) ? 'n/a' : fmtSeconds(t.cpu));

/** One scenario as console text. */
export function scenarioText(r) {
  const lines = [`[${r.id}] ${r.title}`];
  if (r.ours === undefined) return lines.join('\n');
  const row = (who, x) =>
    `    ${who.padEnd(52)} median ${fmtSeconds(x.timing.median).padStart(8)}  cpu ${cpuText(x.timing).padStart(8)}  (${runsText(x.timing)}, min ${fmtSeconds(x.timing.min)})  peak ${fmtMiB(x.rssKiB)}`;
  lines.push(row(r.ours.label, r.ours));
  if (r.alt !== undefined) lines.push(row(r.alt.label, r.alt));
  for (const x of r.others ?? []) lines.push(row(x.label, x));
  if (r.floor !== undefined) lines.push(row(`floor: ${r.floor.label}`, r.floor));
  if (r.alt !== undefined) lines.push(`    ratio ${fmtRatio(ratio(r))}`);
  if (r.floor !== undefined) {
    lines.push(`    above the floor: ${fmtSeconds(r.ours.timing.median - r.floor.timing.median)}`);
  }
  lines.push(`    target: ${targetText(r).replaceAll('**', '')}`);
  for (const n of r.notes ?? []) lines.push(`    ${n}`);
  return lines.join('\n');
}

/** The process-start floors as console text. */
export function floorsText(floors) {
  const lines = ['[0] process start (the floor of any command of a Node CLI)'];
  for (const f of Object.values(floors)) {
    lines.push(
      `    ${f.label.padEnd(52)} median ${fmtSeconds(f.timing.median).padStart(8)}  cpu ${cpuText(f.timing).padStart(8)}  (${runsText(f.timing)})  peak ${fmtMiB(f.rssKiB)}`,
    );
  }
  return lines.join('\n');
}

/** Issue 16's start-up target: `dkms-abi --version` within 90 ms, and within 25 ms of `node -e 0`. */
function startupVerdict(floors) {
  const v = floors.version.timing.median;
  const above = v - floors.node.timing.median;
  const met = v <= 0.09 && above <= 0.025;
  return `Start-up target (\`dkms-abi --version\` ≤ 90 ms and ≤ 25 ms above \`node -e 0\`): ${fmtSeconds(v)}, ${fmtSeconds(above)} above node: ${met ? 'met' : '**missed**'}.`;
}

function floorsMarkdown(floors) {
  const rows = [
    '| command | median | CPU | min | runs | peak memory |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of Object.values(floors)) {
    rows.push(
      `| \`${f.label}\` | ${fmtSeconds(f.timing.median)} | ${cpuText(f.timing)} | ${fmtSeconds(f.timing.min)} | ${f.timing.runs} | ${fmtMiB(f.rssKiB)} |`,
    );
  }
  return rows.join('\n');
}

/** All comparison scenarios: one summary table, then every measured command per scenario. */
export function resultsMarkdown(results) {
  const measured = results.filter((x) => x.ours !== undefined);
  const rows = [
    '| # | scenario | dkms-abi (median) | alternative (median) | ratio | peak memory, dkms-abi / alternative | target |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of measured) {
    const alt = r.alt === undefined ? '–' : fmtSeconds(r.alt.timing.median);
    rows.push(
      `| ${r.id} | ${r.title} | ${fmtSeconds(r.ours.timing.median)} | ${alt} | ${fmtRatio(ratio(r))} | ${fmtMiB(r.ours.rssKiB)} / ${r.alt === undefined ? '–' : fmtMiB(r.alt.rssKiB)} | ${targetText(r)} |`,
    );
  }
  for (const r of measured) {
    rows.push('', `**[${r.id}] ${r.title}**`, '');
    rows.push(
      '| command | median | CPU (user+sys) | min | max | runs | peak memory |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    const row = (label, x) =>
      `| ${label} | ${fmtSeconds(x.timing.median)} | ${cpuText(x.timing)} | ${fmtSeconds(x.timing.min)} | ${fmtSeconds(x.timing.max)} | ${x.timing.runs} | ${fmtMiB(x.rssKiB)} |`;
    rows.push(row(`dkms-abi: \`${r.ours.label}\``, r.ours));
    if (r.alt !== undefined) rows.push(row(`alternative: ${r.alt.label}`, r.alt));
    for (const x of r.others ?? []) rows.push(row(x.label, x));
    if (r.floor !== undefined) rows.push(row(`floor: \`${r.floor.label}\``, r.floor));
    rows.push('');
    if (r.alt !== undefined) rows.push(`Ratio ${fmtRatio(ratio(r))}; target ${targetText(r)}.`);
    else rows.push(`Target ${targetText(r)}.`);
    for (const n of r.notes ?? []) rows.push('', n);
  }
  return rows.join('\n');
}

/** The scaling scenario: one table per series. */
export function scalingMarkdown(series) {
  const out = [];
  for (const s of series) {
    out.push(`**${s.title}**`, '');
    out.push(
      `| ${s.unit} | dkms-abi wall | dkms-abi CPU | CPU per ${s.per} | alternative | ratio |`,
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const p of s.points) {
      const alt = p.alt === undefined ? '–' : fmtSeconds(p.alt.median);
      const r = p.alt === undefined ? '–' : fmtRatio(p.alt.median / p.ours.median);
      out.push(
        `| ${p.size} | ${fmtSeconds(p.ours.median)} | ${cpuText(p.ours)} | ${fmtMicro((p.ours.cpu ?? p.ours.median) / p.count)} | ${alt} | ${r} |`,
      );
    }
    out.push('', s.verdict, '');
  }
  return out.join('\n');
}

export function fmtMicro(s) {
  return s < 1e-3 ? `${(s * 1e6).toFixed(1)} µs` : `${(s * 1e3).toFixed(2)} ms`;
}

/**
 * bench/RESULTS.md: the machine, the conditions of the run, every figure, and (in `notes`)
 * what bounds the targets that were missed, with CPU profiles taken in the same run.
 */
export function resultsDocument({ date, quick, total, m, conditions, floors, results, scaling, notes }) {
  const missed = results.filter((r) => misses(r).length > 0);
  return [
    '# dkms-abi benchmarks',
    '',
    `Generated by \`npm run bench\` (\`bench/run.js\`) on ${date}${quick ? ' with --quick (indicative only)' : ''}; the whole run took ${fmtSeconds(total)}.`,
    'Every comparison is measured side by side in the same run, on sandbox roots under a temporary',
    "directory (the machine's `/lib/modules`, `/var/lib/dkms`, `/usr/src` and `/etc` are watched and",
    'were not touched). Medians of repeated runs; "CPU" is user + system time per run.',
    '',
    '## Machine',
    '',
    machineMarkdown(m),
    '',
    '## Conditions: a shared machine',
    '',
    ...conditions,
    '',
    '## Summary',
    '',
    missed.length === 0
      ? 'All targets met in this run.'
      : `Targets missed in this run: ${missed.map((r) => `[${r.id}] (${misses(r).join('; ')})`).join(', ')}. See "What bounds the misses" below.`,
    '',
    resultsMarkdown(results),
    '',
    '## Process start',
    '',
    `Every dkms-abi command is a Node process: these are the floors under every figure above. The measured commands run without ${UNSET_ENV.join(', ')} (see Conditions).`,
    '',
    floorsMarkdown(floors),
    '',
    startupVerdict(floors),
    '',
    ...(scaling === undefined ? [] : ['## [5] Scaling', '', scalingMarkdown(scaling)]),
    ...notes,
  ].join('\n');
}
