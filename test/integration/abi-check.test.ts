// abi check on the real Debian 6.1.0-47 and 6.1.0-50 Module.symvers through the built CLI:
// exact counts per category cross-checked with awk, exit codes, archived ABI ids, ignore
// rules, --strict, and a check-kabi whitelist run.
import { mkdir, copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { makeSandboxRoot } from '../helpers/sandbox.js';

const S47 = '/usr/src/linux-headers-6.1.0-47-amd64/Module.symvers';
const S50 = '/usr/src/linux-headers-6.1.0-50-amd64/Module.symvers';

interface Change {
  symbol: string;
  old: string | null;
  new: string | null;
}
interface CheckJson {
  compatible: boolean;
  changed: Change[];
  removed: Change[];
  added: Change[];
  moved: Change[];
  exportTypeChanged: Change[];
  namespaceChanged: Change[];
}
const CATEGORIES = ['changed', 'removed', 'added', 'moved', 'exportTypeChanged', 'namespaceChanged'] as const;

/** The same comparison done by awk, the way a packager's shell script would. */
async function awkCounts(ref: string, next: string): Promise<Record<string, number>> {
  const program = `
    BEGIN { FS = "\\t" }
    NR == FNR { if (!($2 in c)) { c[$2] = tolower($1); m[$2] = $3; t[$2] = $4; n[$2] = $5 } next }
    ($2 in seen) { next }
    { seen[$2] = 1
      if (!($2 in c)) { added++; next }
      if (c[$2] != tolower($1)) changed++
      if (m[$2] != $3) moved++
      if (t[$2] != $4) et++
      if (n[$2] != $5) ns++ }
    END { for (s in c) if (!(s in seen)) removed++
      printf "%d %d %d %d %d %d\\n", changed, removed, added, moved, et, ns }`;
  const { stdout } = await execa('awk', [program, ref, next]);
  const [changed, removed, added, moved, exportTypeChanged, namespaceChanged] = stdout
    .trim()
    .split(' ')
    .map(Number);
  return { changed, removed, added, moved, exportTypeChanged, namespaceChanged } as Record<string, number>;
}

const counts = (j: CheckJson) => Object.fromEntries(CATEGORIES.map((k) => [k, j[k].length]));

describe('abi check', () => {
  it('47 → 50: exact counts per category, exit 1; the text report is grouped and sorted', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const started = Date.now();
    const r = await runCliJson<CheckJson>(['abi', 'check', S47, S50], { root: sb.root });
    const ms = Date.now() - started;
    expect(r.exitCode).toBe(1);
    expect(r.json.compatible).toBe(false);
    expect(counts(r.json)).toEqual(await awkCounts(S47, S50));
    expect(counts(r.json)).toEqual({
      changed: 18107,
      removed: 3,
      added: 7,
      moved: 0,
      exportTypeChanged: 0,
      namespaceChanged: 0,
    });
    expect(r.json.changed.find((c) => c.symbol === 'module_layout')).toEqual({
      symbol: 'module_layout',
      old: '0x160c03af',
      new: '0xbce1a965',
    });
    console.log(`abi check 47 vs 50 (two full files, --json): ${ms} ms wall, CLI start included`);

    const text = await runCli(['abi', 'check', S47, S50], { root: sb.root });
    expect(text.exitCode).toBe(1);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`abi check: ${S47} -> ${S50}`);
    expect(lines.filter((l) => !l.startsWith('  '))).toEqual([
      `abi check: ${S47} -> ${S50}`,
      'changed CRC (18107):',
      'removed (3):',
      'added (7):',
      'ABI broken: 18107 changed, 3 removed; 7 added',
    ]);
    const changedSymbols = lines.slice(2, 2 + 18107).map((l) => l.trim().split(/\s+/)[0] as string);
    expect(changedSymbols).toEqual([...changedSymbols].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  });

  it('the same file: compatible, exit 0', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const r = await runCli(['abi', 'check', S47, S47], { root: sb.root });
    expect(r).toMatchObject({ exitCode: 0, stdout: `abi check: ${S47} -> ${S47}\nABI compatible\n` });
  });

  it('resolves archived ABI ids; an unknown id or file exits 2 naming it', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const dir = sb.host('/var/lib/dkms-abi/abi/amd64');
    await mkdir(dir, { recursive: true });
    await copyFile(S47, path.join(dir, '1.symvers'));
    await copyFile(S50, path.join(dir, '2.symvers'));
    const r = await runCliJson<CheckJson>(['abi', 'check', 'amd64-1', 'amd64-2'], { root: sb.root });
    expect(r.exitCode).toBe(1);
    expect(r.json.changed).toHaveLength(18107);
    expect((await runCli(['abi', 'check', 'amd64-1', S47], { root: sb.root })).exitCode).toBe(0);
    const missing = await runCli(['abi', 'check', 'amd64-3', S47], { root: sb.root });
    expect(missing).toMatchObject({
      exitCode: 2,
      stderr: 'dkms-abi: amd64-3: no archived ABI reference /var/lib/dkms-abi/abi/amd64/3.symvers\n',
    });
    const nofile = await runCli(['abi', 'check', '/nonexistent/Module.symvers', S47], { root: sb.root });
    expect(nofile.exitCode).toBe(2);
    expect(nofile.stderr).toContain('/nonexistent/Module.symvers: no such file');
  });

  it("a diff of two files reads none of the root's config or state; an archived ABI id reads both", async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    await mkdir(sb.host('/etc'), { recursive: true });
    await writeFile(sb.host('/etc/dkms-abi.conf'), '[paths\n');
    const files = await runCli(['abi', 'check', S47, S47], { root: sb.root });
    expect(files).toMatchObject({ exitCode: 0, stderr: '' });
    const id = await runCli(['abi', 'check', 'amd64-1', S47], { root: sb.root });
    expect(id.exitCode).toBe(2);
    expect(id.stderr).toMatch(new RegExp(`^dkms-abi: ${sb.host('/etc/dkms-abi.conf')}:1: .+\\n$`));
  });

  it('refuses a FIFO and an oversized file as a Module.symvers, at once and naming the file', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const fifo = sb.host('/fifo.symvers');
    await execa('mkfifo', [fifo]);
    const r = await runCli(['abi', 'check', fifo, S47], { root: sb.root });
    expect([r.exitCode, r.stderr]).toEqual([2, `dkms-abi: ${fifo}: not a regular file\n`]);
    // Sparse: 634 MB of size without the disk space (the case that used to say "not UTF-8").
    const huge = sb.host('/huge.symvers');
    await execa('truncate', ['-s', '634M', huge]);
    const big = await runCli(['abi', 'check', S47, huge], { root: sb.root });
    expect([big.exitCode, big.stderr]).toEqual([
      2,
      `dkms-abi: ${huge}: too large for a Module.symvers (664797184 bytes; at most 268435456 are read)\n`,
    ]);
  });

  it('ignore rules accept changes; --strict fails on additions', async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const accepted = await runCliJson<CheckJson>(
      ['abi', 'check', S47, S50, '--ignore-module', 'vmlinux', '--ignore-module', '*/*', '--ignore', 'zzz*'],
      { root: sb.root },
    );
    expect(accepted.exitCode).toBe(0);
    expect(counts(accepted.json)).toEqual({
      changed: 0,
      removed: 0,
      added: 0,
      moved: 0,
      exportTypeChanged: 0,
      namespaceChanged: 0,
    });
    // A kernel that only adds exports: compatible with a warning, unless strict.
    const grownFile = sb.host('/tmp/grown.symvers');
    await writeFile(
      grownFile,
      `${await readFile(S47, 'utf8')}0x12345678\tnew_export_a\tvmlinux\tEXPORT_SYMBOL\t\n0x9abcdef0\tnew_export_b\tlib/newlib\tEXPORT_SYMBOL_GPL\t\n`,
    );
    const grown = await runCli(['abi', 'check', S47, grownFile], { root: sb.root });
    expect(grown.exitCode).toBe(0);
    expect(grown.stdout.split('\n').slice(1)).toEqual([
      'added (2):',
      '  new_export_a  0x12345678',
      '  new_export_b  0x9abcdef0',
      'ABI compatible: 2 added (warning)',
      '',
    ]);
    const strict = await runCli(['abi', 'check', S47, grownFile, '--strict'], { root: sb.root });
    expect(strict.exitCode).toBe(1);
    expect(strict.stdout).toContain('\nABI changed: 2 added (--strict)\n');
  });

  it("--whitelist Module.kabi reproduces check-kabi's changed / lost / moved", async () => {
    const sb = await makeSandboxRoot({ kernels: [], withHeaders: false });
    const ref = (await readFile(S47, 'utf8')).split('\n').filter((l) => l !== '');
    const next = (await readFile(S50, 'utf8')).split('\n').filter((l) => l !== '');
    const nextBySymbol = new Map(next.map((l) => [l.split('\t')[1] as string, l]));
    const sym = (l: string) => l.split('\t')[1] as string;
    const changed = ref.filter(
      (l) => nextBySymbol.has(sym(l)) && nextBySymbol.get(sym(l))?.split('\t')[0] !== l.split('\t')[0],
    );
    const same = ref.filter((l) => nextBySymbol.get(sym(l)) === l);
    const lost = ref.filter((l) => !nextBySymbol.has(sym(l)));
    expect(lost).toHaveLength(3);
    // A kABI file as Red Hat writes them (4 columns); one entry names another module, as if
    // the symbol had moved out of it since the whitelist was made.
    const unchangedMoved = same[10] as string;
    const picked = [...changed.slice(0, 5), ...same.slice(0, 5), ...lost, unchangedMoved];
    const kabi = picked.map((l) => {
      const f = l.split('\t');
      return [f[0], f[1], l === unchangedMoved ? 'drivers/old/home' : f[2], f[3]].join('\t');
    });
    const kabiFile = sb.host('/tmp/Module.kabi');
    await writeFile(kabiFile, `${kabi.join('\n')}\n`);

    // check-kabi's algorithm, independently: per whitelisted symbol, hash differs → changed,
    // directory differs → moved, absent → lost.
    const expected = { changed: [] as string[], lost: [] as string[], moved: [] as string[] };
    for (const line of kabi) {
      const [hash, symbol, dir] = line.split('\t') as [string, string, string];
      const cur = nextBySymbol.get(symbol);
      if (cur === undefined) {
        expected.lost.push(symbol);
        continue;
      }
      const [h2, , d2] = cur.split('\t');
      if (hash !== h2) expected.changed.push(symbol);
      if (dir !== d2) expected.moved.push(symbol);
    }
    const sorted = (a: string[]) => [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));

    const r = await runCliJson<CheckJson>(['abi', 'check', kabiFile, S50, '--whitelist', kabiFile], {
      root: sb.root,
    });
    expect(r.exitCode).toBe(1);
    expect(r.json.changed.map((c) => c.symbol)).toEqual(sorted(expected.changed));
    expect(r.json.removed.map((c) => c.symbol)).toEqual(sorted(expected.lost));
    expect(r.json.moved.map((c) => c.symbol)).toEqual(sorted(expected.moved));
    expect(r.json.moved).toEqual([{ symbol: sym(unchangedMoved), old: 'drivers/old/home', new: 'vmlinux' }]);
    expect(r.json.added).toEqual([]);
    expect([expected.changed.length, expected.lost.length, expected.moved.length]).toEqual([5, 3, 1]);

    const text = await runCli(['abi', 'check', kabiFile, S50, '--whitelist', kabiFile], { root: sb.root });
    expect(text.stdout.split('\n').filter((l) => /^\S.*\(\d+\):$/.test(l))).toEqual([
      'changed CRC (5):',
      'lost (3):',
      'moved to another module (1):',
    ]);
    expect(text.stdout).toContain('ABI broken: 5 changed, 3 lost, 1 moved');

    // The whole 47 reference whitelisted against 47 itself: nothing to report.
    expect((await runCli(['abi', 'check', S47, S47, '--whitelist', S47], { root: sb.root })).exitCode).toBe(
      0,
    );
  });
});

describe('a reader that goes away', () => {
  it('ends the report quietly when the pipe closes (exit code kept, no stack trace)', async () => {
    const sb = await makeSandboxRoot({ kernels: [] });
    const bin = path.resolve(import.meta.dirname, '../../bin/dkms-abi');
    // 1.4 MB of report into `head -1`: the writes after head exits fail with EPIPE.
    const r = await execa(
      'bash',
      [
        '-c',
        'node "$0" --root "$1" abi check "$2" "$3" | head -1; echo "exit ${PIPESTATUS[0]}" >&2',
        bin,
        sb.root,
        S47,
        S50,
      ],
      { reject: false },
    );
    expect(r.stdout).toBe(`abi check: ${S47} -> ${S50}`);
    expect(r.stderr).toBe('exit 1');
  });

  it('a full disk under the report: exit 3 with one line, not a bug report', async () => {
    const sb = await makeSandboxRoot({ kernels: [] });
    const bin = path.resolve(import.meta.dirname, '../../bin/dkms-abi');
    for (const args of [['--version'], ['abi', 'check', S47, S50]]) {
      const r = await execa('bash', ['-c', 'node "$@" > /dev/full', bin, bin, '--root', sb.root, ...args], {
        reject: false,
      });
      expect({ args, exitCode: r.exitCode, stderr: r.stderr }).toEqual({
        args,
        exitCode: 3,
        stderr: 'dkms-abi: cannot write to standard output: ENOSPC',
      });
    }
  });

  it('writes the whole report into a pipe another process left non-blocking, read slowly', async () => {
    const sb = await makeSandboxRoot({ kernels: [] });
    const bin = path.resolve(import.meta.dirname, '../../bin/dkms-abi');
    // The pipe's 64 KiB fill at once; each write after that meets EAGAIN until the reader,
    // which starts late and reads in small pieces, makes room.
    const reader = `
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen(sys.argv[1:], stdout=w)
os.close(w)
time.sleep(0.3)
got = bytearray()
while True:
    chunk = os.read(r, 4096)
    if not chunk:
        break
    got += chunk
    time.sleep(0.0005)
sys.stdout.buffer.write(b"%d %d\\n" % (p.wait(), len(got)))
sys.stdout.buffer.write(bytes(got[-40:]))
`;
    const r = await execa('python3', [
      '-c',
      reader,
      'node',
      bin,
      '--root',
      sb.root,
      'abi',
      'check',
      S47,
      S50,
    ]);
    const whole = await runCli(['abi', 'check', S47, S50], { root: sb.root });
    const [status, size] = r.stdout.split('\n', 1)[0]?.split(' ') ?? [];
    expect([status, Number(size)]).toEqual(['1', Buffer.byteLength(whole.stdout)]);
    expect(r.stdout.endsWith(whole.stdout.trimEnd().slice(-30))).toBe(true);
    expect(r.stderr).toBe('');
  });
});
