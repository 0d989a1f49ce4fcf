// Scenario 3: the packager's check of two real Debian Module.symvers (6.1.0-47 → 6.1.0-50,
// ≈24.6k symbols each): `dkms-abi abi check` against Red Hat's check-kabi (the peer issue 16
// names, when a copy is in the cache: peer-check-kabi.js), Debian's own kernel ABI check (the
// linux package's debian/bin/buildcheck.py, fetched from Debian's archive by
// peer-debian-abi.js), Mandriva's `diff -u` of the sorted files and an awk join by symbol. All
// must agree that the ABI broke; check-kabi's, Debian's and the join's counts must be dkms-abi's.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runOnce, time } from './measure.js';
import { CLI, K47, K50, REPO, hostSymvers } from './roots.js';
import { debianAbiChecker } from './peer-debian-abi.js';
import { CHECK_KABI, checkKabi, checkKabiCounts } from './peer-check-kabi.js';
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
  const peer = debianAbiChecker(ctx.log);
  const debian = { name: 's3-debian-buildcheck', argv: [...peer.argv, ref, neu] };

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
  // Debian's report: "ABI has changed!", then the added, changed and removed symbols, one a line.
  const deb = runOnce(debian, ctx);
  const section = (title) => {
    const m = new RegExp(`^${title}:\\n((?:[^\\n]+\\n)*)`, 'm').exec(deb.stdout);
    return m === null ? 0 : m[1].split('\n').filter((l) => l !== '').length;
  };
  const debCounts = [section('Changed symbols'), section('Removed symbols'), section('Added symbols')];
  // Debian's check does not count moves (depmod resolves symbols at install time) and folds
  // export type and namespace changes into "changed"; on these files there are none of those.
  const ourCounts = [mine[0] + mine[4] + doc.namespaceChanged.length, mine[1], mine[2]];
  if (deb.exitCode !== 1 || debCounts.join() !== ourCounts.join() || mine[3] !== 0)
    throw new Error(
      `Debian's check (exit ${deb.exitCode}) counts changed,removed,added ${debCounts.join(',')}; dkms-abi ${ourCounts.join(',')} (moved ${mine[3]})\n${deb.stderr}`,
    );

  // Red Hat's check-kabi: "changed" lists CRC changes and lost symbols together; "moved", new modules.
  const kabi = checkKabi(ctx.workDir, ref, neu);
  let redhat;
  if (kabi !== undefined) {
    redhat = { run: { name: 's3-check-kabi', argv: kabi.argv }, kabi };
    const k = runOnce(redhat.run, ctx);
    const got = checkKabiCounts(k.stdout);
    if (k.exitCode !== 1 || got.changed !== mine[0] + mine[1] || got.moved !== mine[3])
      throw new Error(
        `check-kabi (exit ${k.exitCode}) counts changed ${got.changed}, moved ${got.moved}; dkms-abi ${mine[0] + mine[1]}, ${mine[3]}\n${k.stderr}`,
      );
    redhat.rssKiB = k.maxRssKiB;
    redhat.outBytes = k.stdout.length;
  }

  ctx.log('scenario 3: timing');
  const opts = { runs: ctx.runs(30, 5), warmup: 3, outDir: ctx.outDir };
  const tOurs = time(ours, opts);
  const tRedhat = redhat === undefined ? undefined : time(redhat.run, opts);
  const tDebian = time(debian, opts);
  const tMandriva = time(mandriva, opts);
  const tJoin = time(join, opts);
  const debianRow = {
    label: `Debian's kernel ABI check (linux ${peer.version} buildcheck.py, python3)`,
    timing: tDebian,
    rssKiB: deb.maxRssKiB,
  };
  const restRows = [
    { label: 'diff -u of the sorted files (Mandriva)', timing: tMandriva, rssKiB: d.maxRssKiB },
    { label: 'awk join by symbol', timing: tJoin, rssKiB: j.maxRssKiB },
  ];
  return {
    id: '3',
    title: `abi check, Debian ${K47} → ${K50} Module.symvers (${symbols(ref)} and ${symbols(neu)} symbols)`,
    ours: { label: 'dkms-abi abi check', timing: tOurs, rssKiB: o.maxRssKiB },
    alt:
      redhat === undefined
        ? debianRow
        : {
            label: "Red Hat's check-kabi (python3, on the files cut to its 4 columns)",
            timing: tRedhat,
            rssKiB: redhat.rssKiB,
          },
    others: redhat === undefined ? restRows : [debianRow, ...restRows],
    floor: ctx.floors.help,
    target: { wallSeconds: 0.1, ratio: 2 },
    profile: { label: 'dkms-abi abi check 47 50', argv: ours.argv },
    bounds: [
      ...(tRedhat === undefined ? [] : [checkKabiBound(ctx.floors, tOurs, tRedhat)]),
      `Both files are read whole; each line is split by hand into four positions (validated as the full parser does: a malformed line falls back to it, for an error naming the file and line); the new file's symbols are indexed (a Map keyed by slices of the text, which the engine makes without copying), and each line of the reference is first compared in place with the new file's line after the last match (kernels list their symbols in nearly the same order), so the reference's lines need no strings; the columns after the symbol are compared in one native comparison. Only the ${theirs[0] + theirs[1] + theirs[2]} changed, removed and added symbols become records; they are sorted (code-unit order, the engine's default sort: ~6 ms of slices of a 1.7 MB text) and the ${(o.stdout.length / 1e6).toFixed(1)} MB report is copied into its bytes as it is made and written with one write(2). The root's configuration and state are not read for two files. What is left is Node's start and the CLI's wiring (\`dkms-abi --help\`), about a third of the time, the sort, and code that runs once, mostly before V8's optimising compiler has finished compiling it.`,
    ],
    notes: [
      `all report the break; dkms-abi, Debian's check and the join agree: changed ${theirs[0]}, removed ${theirs[1]}, added ${theirs[2]}, moved ${theirs[3]}, export type ${theirs[4]}; Debian's check and dkms-abi both print the full list (${(deb.stdout.length / 1e6).toFixed(1)} MB and ${(o.stdout.length / 1e6).toFixed(1)} MB)`,
      redhat === undefined
        ? `Red Hat's check-kabi, the peer issue 16 names, was not measured: it is not in Debian's archive and the set-up script cannot fetch it here; place a copy at ${CHECK_KABI} (with a file ORIGIN beside it) to have it measured`
        : `Red Hat's check-kabi (${redhat.kabi.origin}; sha256 ${redhat.kabi.sha256.slice(0, 16)}…) agrees: ${mine[0] + mine[1]} changed or lost, ${mine[3]} moved; it prints the names only (${(redhat.outBytes / 1e6).toFixed(2)} MB), without CRCs, additions, export type or namespace changes, and does not read gzip files or the fifth column`,
    ],
  };
}

/**
 * What the ratio against check-kabi is up against: a Node process's start and the CLI's wiring,
 * measured in the same run, beside half of check-kabi's time.
 */
function checkKabiBound(floors, ours, theirs) {
  const ms = (s) => `${(s * 1000).toFixed(1)} ms`;
  const node = floors.node.timing.median;
  const help = floors.help.timing.median;
  const room =
    theirs.median / 2 < help
      ? `less than \`dkms-abi --help\` alone takes (${ms(help)}; \`node -e 0\` ${ms(node)})`
      : `where \`node -e 0\` alone takes ${ms(node)} and \`dkms-abi --help\` ${ms(help)}, leaving ${ms(theirs.median / 2 - help)} for the work dkms-abi spends ${ms(ours.median - help)} on`;
  return `Against check-kabi (${ms(theirs.median)}) the start of a Node process is the bound: being 2× faster means the whole command in ${ms(theirs.median / 2)}, ${room}. check-kabi's python starts in about the time node does, compares CRCs and modules only, and prints the names alone; dkms-abi also compares export types and namespaces, sorts, and prints each change with its old and new value.`;
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
