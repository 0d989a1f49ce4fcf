// Issue 15 end to end, with real dkms, kbuild and Debian headers in a sandbox root: each build
// records the kernel headers it read; a same-ABI kernel whose headers differ (symbol CRCs all
// equal) gets its own build of the module that read the changed header, and only of that one.
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { MINMAX_DRIFT, driftCommonHeader } from '../helpers/header-drift.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const SAME = '6.1.0-47.1-amd64'; // headers differ only in the release
const DRIFT = '6.1.0-47.2-amd64'; // win_minmax.h's minmax_get() body changed
const WARN = '6.1.0-47.3-amd64'; // the same change, header_drift = warn
const BARE = '6.1.0-47.4-amd64'; // no headers
const TREE = 'kernel-abi-amd64-1';
const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/drift');

let sb: SandboxRoot;
const cli = (...args: string[]) => runCli(args, { root: sb.root });

interface AddJson {
  tree: string;
  splitFrom: { tree: string; reason: string } | null;
  modules: { module: string; action: string; headers: string | null; driftedHeaders: string[] }[];
}
interface StatusJson {
  entries: {
    module: string;
    kernel: string;
    state: string;
    headers: string | null;
    driftedHeaders: string[];
  }[];
}

const record = (m: string) =>
  readFile(sb.host(`lib/modules/${TREE}/.dkms-abi/${m}/1.0/headers.sha256`), 'utf8');
const files = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(66));

beforeAll(async () => {
  sb = await makeSandboxRoot({ kernels: [A] });
  for (const m of ['drift-user', 'drift-free']) {
    await cp(path.join(FIXTURES, m), sb.host(`usr/src/${m}-1.0`), { recursive: true });
    expect((await cli('add', `${m}/1.0`)).exitCode).toBe(0);
    const r = await cli('install', `${m}/1.0`, '-k', A);
    // Only the build's progress lines: no warning.
    expect(r.stderr).toMatch(
      new RegExp(`^${m}/1\\.0: building for ${A}…\n${m}/1\\.0: done in \\d+\\.\\d s\n$`),
    );
    expect(r.exitCode).toBe(0);
  }
});
afterAll(async () => {
  await sb.cleanup();
});

describe('header drift', () => {
  it('records the kernel headers each build read, relative to the headers, with sha256', async () => {
    const user = files(await record('drift-user'));
    const free = files(await record('drift-free'));
    expect(user).toContain('include/linux/win_minmax.h');
    expect(free).not.toContain('include/linux/win_minmax.h');
    for (const f of [
      'include/linux/module.h',
      'include/generated/autoconf.h',
      'include/generated/utsrelease.h',
    ]) {
      expect(user).toContain(f);
    }
    // Only kernel headers: no module sources, no compiler or libc headers, no absolute paths.
    for (const f of [...user, ...free]) expect(f).toMatch(/^(include|arch)\/[^ ]+\.h$/);
    expect(user.length).toBeGreaterThan(100);
  });

  it('reuses every build for a kernel whose headers differ only in the release', async () => {
    await addSameAbiKernel(sb, A, SAME, { headers: true });
    const r = await runCliJson<AddJson>(['kernel', 'add', SAME], { root: sb.root });
    expect(r.exitCode).toBe(0);
    expect(r.json.tree).toBe(TREE);
    expect(r.json.splitFrom).toBeNull();
    expect(r.json.modules.map((m) => [m.module, m.action, m.headers])).toEqual([
      ['drift-free', 'linked', 'same'],
      ['drift-user', 'linked', 'same'],
    ]);
  });

  it('header_drift = rebuild: a kernel whose header changed gets its own build of that module only', async () => {
    await addSameAbiKernel(sb, A, DRIFT, { headers: true });
    await driftCommonHeader(sb.root, DRIFT, MINMAX_DRIFT.rel, MINMAX_DRIFT.from, MINMAX_DRIFT.to);
    const r = await runCliJson<AddJson>(['kernel', 'add', DRIFT], { root: sb.root });
    expect(r.stderr).toContain('headers differ: include/linux/win_minmax.h');
    expect(r.exitCode).toBe(0);
    expect(r.json.splitFrom).toEqual({
      tree: TREE,
      reason: 'drift-user: headers differ: include/linux/win_minmax.h',
    });
    expect(r.json.tree).not.toBe(TREE);
    expect(r.json.modules.map((m) => [m.module, m.action])).toEqual([
      ['drift-free', 'reused'],
      ['drift-user', 'built'],
    ]);
    // The new build read the changed header and recorded its hash.
    const own = await readFile(
      sb.host(`lib/modules/${r.json.tree}/.dkms-abi/drift-user/1.0/headers.sha256`),
      'utf8',
    );
    expect(own).not.toBe(await record('drift-user'));
    expect(files(own)).toContain('include/linux/win_minmax.h');
  });

  it("abi compat --built-headers compares a build's record with a kernel's headers or a directory", async () => {
    const ko = sb.host(`lib/modules/${TREE}/dkms/drift_user.ko`);
    const rec = sb.host(`lib/modules/${TREE}/.dkms-abi/drift-user/1.0/headers.sha256`);
    const same = await runCliJson<{ headers: string; driftedHeaders: string[] }>(
      ['abi', 'compat', ko, '-k', SAME, '--built-headers', rec],
      { root: sb.root },
    );
    expect(same.exitCode).toBe(0);
    expect(same.json).toMatchObject({ headers: 'same', driftedHeaders: [] });
    const drift = await cli('abi', 'compat', ko, '-k', DRIFT, '--built-headers', rec);
    expect(drift.exitCode).toBe(1);
    expect(drift.stdout).toContain('headers: differ: include/linux/win_minmax.h');
    const dir = await cli(
      'abi',
      'compat',
      ko,
      '-k',
      A,
      '--built-headers',
      rec,
      '--headers',
      sb.headersDir(DRIFT),
    );
    expect(dir.stdout).toContain('headers: differ: include/linux/win_minmax.h');
  });

  it('header_drift = warn reuses and says so; status shows it; no headers: not checked', async () => {
    await writeFile(sb.host('etc/dkms-abi.conf'), '[abi]\nheader_drift = warn\n');
    await addSameAbiKernel(sb, A, WARN, { headers: true });
    await driftCommonHeader(sb.root, WARN, MINMAX_DRIFT.rel, MINMAX_DRIFT.from, MINMAX_DRIFT.to);
    const w = await cli('kernel', 'add', WARN);
    expect(w.exitCode).toBe(0);
    expect(w.stdout).toContain(
      `drift-user/1.0, ${WARN}: linked (installed-abi, no build; headers differ: include/linux/win_minmax.h)`,
    );
    expect(w.stdout).toContain(`drift-free/1.0, ${WARN}: linked (installed-abi, no build)`);

    await addSameAbiKernel(sb, A, BARE, { headers: false });
    expect((await cli('kernel', 'add', BARE)).exitCode).toBe(0);

    const s = await cli('status');
    expect(s.stdout).toContain(
      `drift-user/1.0, ${WARN}, x86_64: installed-abi (from ${A}; headers differ: include/linux/win_minmax.h)`,
    );
    expect(s.stdout).toContain(
      `drift-user/1.0, ${BARE}, x86_64: installed-abi (from ${A}; headers not checked)`,
    );
    expect(s.stdout).toContain(`drift-user/1.0, ${SAME}, x86_64: installed-abi (from ${A})`);
    const j = await runCliJson<StatusJson>(['status', 'drift-user'], { root: sb.root });
    const on = (k: string) => j.json.entries.find((e) => e.kernel === k);
    expect(on(WARN)).toMatchObject({ headers: 'differ', driftedHeaders: ['include/linux/win_minmax.h'] });
    expect(on(BARE)).toMatchObject({ headers: 'unchecked', driftedHeaders: [] });
    expect(on(SAME)).toMatchObject({ headers: 'same' });
    expect(on(A)).toMatchObject({ state: 'installed', headers: null });

    // verify: a notice (not damage) for the reused build whose headers differ.
    const v = await cli('verify');
    expect(v.exitCode).toBe(0);
    expect(v.stdout).toContain(
      `notice header-drift /lib/modules/${TREE}/.dkms-abi/drift-user/1.0/headers.sha256: drift-user/1.0 built for ${A} is used on ${WARN}, whose headers differ: include/linux/win_minmax.h`,
    );
    expect(v.stdout).not.toContain(`${SAME}, whose headers differ`);
  });
});
