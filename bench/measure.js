// Timing and memory of whole processes, the way a user meets them: hyperfine for wall-clock
// medians (process start included, output through a pipe as when a script greps it), and one
// /usr/bin/time -v run per command for peak memory.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Environment variables left out of every measured command. NODE_EXTRA_CA_CERTS makes each
 * node process read and parse a CA bundle before running any code (~60 ms of CPU here): the
 * machine the bench was written on sets it for its own tooling, a user's shell does not. The
 * floors block measures `node -e 0` with it as well, to show what it costs.
 */
export const UNSET_ENV = ['NODE_EXTRA_CA_CERTS'];

/** The environment measured commands get: ours minus UNSET_ENV, plus `extra`. */
export function benchEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const k of UNSET_ENV) if (!(k in extra)) delete env[k];
  return env;
}

/**
 * @typedef {object} Command
 * @property {string} name      short label
 * @property {string[]} argv    argv[0] is the program (no shell)
 * @property {string} [prepare] path of a shell script run (untimed) before every run
 * @property {Record<string,string>} [env] extra environment
 */

/**
 * @typedef {object} Timing
 * @property {number} median  seconds (wall clock)
 * @property {number} min
 * @property {number} max
 * @property {number} runs
 * @property {number[]} times
 * @property {number} [cpu]   mean user + system seconds per run (hyperfine), when known
 */

/**
 * Runs hyperfine on one command. `outDir` receives the JSON export.
 * @param {Command} cmd
 * @param {{runs:number, warmup?:number, outDir:string}} opts
 * @returns {Timing}
 */
export function time(cmd, opts) {
  const json = path.join(opts.outDir, `hyperfine-${slug(cmd.name)}.json`);
  const args = [
    '-N',
    '--style',
    'basic',
    '--output',
    'pipe',
    '--ignore-failure', // answers like "ABI broken" exit 1; correctness is checked separately
    '--runs',
    String(opts.runs),
    '--warmup',
    String(opts.warmup ?? 0),
    '--export-json',
    json,
  ];
  if (cmd.prepare !== undefined) args.push('--prepare', `sh ${cmd.prepare}`);
  args.push(cmd.argv.map(shellWord).join(' '));
  const r = spawnSync('hyperfine', args, {
    env: benchEnv(cmd.env),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) {
    throw new Error(`hyperfine failed for ${cmd.name}: ${r.stderr || r.stdout || r.error?.message}`);
  }
  const result = JSON.parse(readFileSync(json, 'utf8')).results[0];
  return {
    median: result.median,
    min: result.min,
    max: result.max,
    runs: result.times.length,
    times: result.times,
    cpu: result.user + result.system,
  };
}

/**
 * Runs the command once under /usr/bin/time -v (after its prepare script, if any) and returns
 * its exit code, output and peak RSS. For a shell pipeline the figure is the largest single
 * process of the tree (getrusage RUSAGE_CHILDREN semantics).
 * @param {Command} cmd
 * @param {{outDir:string}} opts
 * @returns {{exitCode:number, stdout:string, stderr:string, maxRssKiB:number, cpuSeconds:number, wallSeconds:number}}
 */
export function runOnce(cmd, opts) {
  if (cmd.prepare !== undefined) mustRun(['sh', cmd.prepare]);
  const report = path.join(opts.outDir, `time-${slug(cmd.name)}.txt`);
  const r = spawnSync('/usr/bin/time', ['-v', '-o', report, ...cmd.argv], {
    env: benchEnv(cmd.env),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 512 << 20,
  });
  if (r.error !== undefined) throw r.error;
  const text = readFileSync(report, 'utf8');
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(text);
  const user = /User time \(seconds\): ([\d.]+)/.exec(text);
  const sys = /System time \(seconds\): ([\d.]+)/.exec(text);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(text);
  return {
    exitCode: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    maxRssKiB: rss === null ? NaN : Number(rss[1]),
    cpuSeconds: user === null || sys === null ? NaN : Number(user[1]) + Number(sys[1]),
    wallSeconds: wall === null ? NaN : Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]),
  };
}

/** Runs argv, throws with its output when it fails (exit status other than `okStatus`, default 0). */
export function mustRun(argv, opts = {}) {
  const { okStatus = [0], ...spawnOpts } = opts;
  const r = spawnSync(argv[0], argv.slice(1), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 512 << 20,
    ...spawnOpts,
  });
  if (r.error !== undefined) throw r.error;
  if (!okStatus.includes(r.status)) {
    throw new Error(`${argv.join(' ')} exited ${r.status}:\n${(r.stderr || r.stdout).slice(-4000)}`);
  }
  return r.stdout;
}

/** Writes a prepare script for hyperfine and returns its path. */
export function prepareScript(outDir, name, lines) {
  const file = path.join(outDir, `prepare-${slug(name)}.sh`);
  writeFileSync(file, ['set -eu', ...lines, ''].join('\n'));
  return file;
}

/** argv word for hyperfine's -N splitting (shell-words rules). */
function shellWord(w) {
  return /^[A-Za-z0-9_./=:,+@%-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`;
}

function slug(s) {
  return s.replace(/[^A-Za-z0-9.-]+/g, '-');
}

/** A /usr/bin/time run as a one-sample Timing (slow alternatives are timed by that run alone). */
export function fromRun(r) {
  return {
    median: r.wallSeconds,
    min: r.wallSeconds,
    max: r.wallSeconds,
    runs: 1,
    times: [r.wallSeconds],
    cpu: r.cpuSeconds,
  };
}

/** hyperfine's samples plus one /usr/bin/time run. */
export function withRun(t, r) {
  const times = [...t.times, r.wallSeconds].sort((a, b) => a - b);
  const cpu =
    t.cpu === undefined || !Number.isFinite(r.cpuSeconds)
      ? t.cpu
      : (t.cpu * t.runs + r.cpuSeconds) / (t.runs + 1);
  return {
    median: median(times),
    min: times[0],
    max: times[times.length - 1],
    runs: times.length,
    times,
    cpu,
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function fmtSeconds(s) {
  if (!Number.isFinite(s)) return 'n/a';
  if (s < 1) return `${(s * 1000).toFixed(s < 0.1 ? 1 : 0)} ms`;
  return `${s.toFixed(2)} s`;
}

export function fmtRatio(r) {
  if (!Number.isFinite(r)) return 'n/a';
  return r >= 100 ? `${Math.round(r)}×` : `${r.toFixed(1)}×`;
}

export function fmtMiB(kib) {
  return Number.isFinite(kib) ? `${(kib / 1024).toFixed(0)} MiB` : 'n/a';
}
