// Scenario 3: the packager's check of two real Debian Module.symvers (6.1.0-47 → 6.1.0-50,
// ≈24.6k symbols each): `dkms-abi abi check` against Mandriva's `diff -u` of the sorted files
// and a check-kabi-style awk join by symbol. All three must agree that the ABI broke, and the
// join's counts must equal dkms-abi's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runOnce, time } from './measure.js';
import { CLI, K47, K50, REPO, hostSymvers } from './roots.js';
import { cliAvailable } from './scenario-compat.js';

export async function runAbiCheck(ctx) {
  if (!cliAvailable(['abi', 'check'])) return unavailable();
  const [ref, neu] = [hostSymvers(K47), hostSymvers(K50)];
  const ours = { name: 's3-dkms-abi-abi-check', argv: [process.execPath, CLI, 'abi', 'check', ref, neu] };
  const mandriva = {
    name: 's3-mandriva-diff',
    argv: ['sh', path.join(REPO, 'bench/alt-mandriva-abi-check.sh'), ref, neu],
  };
  const join = { name: 's3-join', argv: ['sh', path.join(REPO, 'bench/alt-join-abi-check.sh'), ref, neu] };

  const o = runOnce(ours, ctx);
  if (o.exitCode !== 1) throw new Error(`abi check 47 → 50 exited ${o.exitCode}, expected 1:\n${o.stderr}`);
  const j = runOnce(join, ctx);
  const counts = /changed (\d+) removed (\d+) added (\d+) moved (\d+) exporttype (\d+)/.exec(j.stdout);
  if (j.exitCode !== 1 || counts === null) throw new Error(`join check: ${j.stdout}${j.stderr}`);
  const json = runOnce(
    { ...ours, name: 's3-json', argv: [...ours.argv.slice(0, 2), '--json', ...ours.argv.slice(2)] },
    ctx,
  );
  const doc = JSON.parse(json.stdout);
  const mine = [doc.changed, doc.removed, doc.added, doc.moved, doc.exportTypeChanged].map((a) => a.length);
  const theirs = counts.slice(1).map(Number);
  if (mine.join() !== theirs.join()) {
    throw new Error(
      `abi check counts ${mine.join(',')} != join ${theirs.join(',')} (changed,removed,added,moved,type)`,
    );
  }
  const d = runOnce(mandriva, ctx);
  if (d.exitCode !== 1) throw new Error(`mandriva diff exited ${d.exitCode}: ${d.stdout}${d.stderr}`);

  ctx.log('scenario 3: timing');
  const opts = { runs: ctx.runs(30, 5), warmup: 3, outDir: ctx.outDir };
  const tOurs = time(ours, opts);
  const tMandriva = time(mandriva, opts);
  const tJoin = time(join, opts);
  return {
    id: '3',
    title: `abi check, Debian ${K47} → ${K50} Module.symvers (${symbols(ref)} and ${symbols(neu)} symbols)`,
    ours: { label: 'dkms-abi abi check', timing: tOurs, rssKiB: o.maxRssKiB },
    alt: { label: 'diff -u of the sorted files (Mandriva)', timing: tMandriva, rssKiB: d.maxRssKiB },
    others: [{ label: 'awk join by symbol (check-kabi style)', timing: tJoin, rssKiB: j.maxRssKiB }],
    floor: ctx.floors.help,
    target: { wallSeconds: 0.1 },
    profile: { label: 'dkms-abi abi check 47 50', argv: ours.argv },
    bounds: [
      `Both files are read whole and every line is validated and parsed into an indexed model (a malformed line is an error naming the file and line), then ${theirs[0]} changed CRCs are sorted and printed one per line (${(o.stdout.length / 1e6).toFixed(1)} MB of report). The shell alternatives only compare text: they do not validate the files, and print counts or a raw diff. Node's start and the CLI's wiring alone (\`dkms-abi --help\`) are most of the 100 ms budget here.`,
    ],
    notes: [
      `all three report the break; dkms-abi and the join agree: changed ${theirs[0]}, removed ${theirs[1]}, added ${theirs[2]}, moved ${theirs[3]}, export type ${theirs[4]}`,
    ],
  };
}

/** Lines of a Module.symvers, as a count with thousands separators. */
function symbols(file) {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .length.toLocaleString('en');
}

function unavailable() {
  return {
    id: '3',
    title: 'abi check: not measured (this build has no `abi check`)',
    ours: undefined,
  };
}
