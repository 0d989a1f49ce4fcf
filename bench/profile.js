// A CPU profile of one command (node --cpu-prof), summarised: where its samples fall, by
// kind (process start and module loading, garbage collection, file system calls, waiting)
// and by dkms-abi source file. Used for the targets a run misses: the evidence of what
// bounds them. Sampling inflates small functions a little; the shares are what matters.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { benchEnv, fmtSeconds, mustRun } from './measure.js';
import { REPO } from './roots.js';

const FS_CALLS = new Set([
  'lstat',
  'stat',
  'statx',
  'fstat',
  'readdir',
  'readlink',
  'realpath',
  'open',
  'openFileHandle',
  'read',
  'readFileUtf8',
  'close',
  'access',
  'writeString',
  'writeBuffer',
  'fsync',
  'rename',
  'mkdir',
  'symlink',
  'unlink',
  'rmdir',
  'link',
]);

/** Category of one sample's leaf frame. */
function categoryOf(cf) {
  const f = cf.functionName;
  const u = cf.url;
  if (f === '(garbage collector)') return 'garbage collection';
  if (f === '(idle)') return 'waiting (I/O, child processes)';
  if (f === '(program)') return 'V8 itself (parsing, compiling)';
  if (u === '' && FS_CALLS.has(f)) return 'file system calls';
  if (u.startsWith('node:internal/modules') || u.startsWith('node:internal/bootstrap'))
    return 'process start, module loading';
  if (u.includes('/node_modules/')) return `dependency ${/node_modules\/([^/]+)/.exec(u)?.[1] ?? '?'}`;
  const dist = /\/dist\/(.*)$/.exec(u);
  if (dist !== null) return `dkms-abi ${dist[1]}`;
  if (u.startsWith('node:')) return `node ${u.slice(5)}`;
  return f === '' ? '(native)' : `native ${f}`;
}

/**
 * Profiles argv (argv[0] must be node) once; returns the total sampled time and the top
 * categories with their share.
 */
export function profileCommand(argv, { outDir, env, prepare, top = 10 }) {
  if (prepare !== undefined) mustRun(['sh', prepare]);
  const dir = mkdtempSync(path.join(outDir, 'cpuprof-'));
  try {
    mustRun([argv[0], '--cpu-prof', '--cpu-prof-dir', dir, ...argv.slice(1)], {
      env: benchEnv(env),
      cwd: REPO,
      okStatus: [0, 1],
    });
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('no profile written');
    const p = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const times = new Map();
    let total = 0;
    for (let i = 0; i < p.samples.length; i++) {
      const dt = (p.timeDeltas[i] ?? 0) / 1e6;
      total += dt;
      const c = categoryOf(byId.get(p.samples[i]).callFrame);
      times.set(c, (times.get(c) ?? 0) + dt);
    }
    const rows = [...times].sort((a, b) => b[1] - a[1]);
    return { total, top: rows.slice(0, top), rest: rows.slice(top).reduce((s, [, t]) => s + t, 0) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function profileMarkdown(title, prof, unprofiledSeconds) {
  const rows = [
    `${title}: ${fmtSeconds(prof.total)} sampled, against a ${fmtSeconds(unprofiledSeconds)} median without the profiler. The sampling signal interrupts system calls, so their share (and the total) is exaggerated most where a command makes many; the order of the rows is what it shows.`,
    '',
    '| where the samples fall | time | share |',
    '| --- | --- | --- |',
  ];
  for (const [c, t] of prof.top) {
    rows.push(`| ${c} | ${fmtSeconds(t)} | ${((100 * t) / prof.total).toFixed(0)} % |`);
  }
  if (prof.rest > 0)
    rows.push(
      `| everything else | ${fmtSeconds(prof.rest)} | ${((100 * prof.rest) / prof.total).toFixed(0)} % |`,
    );
  return rows.join('\n');
}
