// Issue 12, item 1: a package with a module the kernel's loader refuses (examples/partial-load,
// dahdi-dkms's case in small) is installed whole, as stock dkms installs it; status stays
// "installed" and names the module that will not load and why; a same-ABI kernel without
// headers reuses the build, since it refuses no more modules than the kernel it was built for.
import { execa } from 'execa';
import { lstat, readFile } from 'node:fs/promises';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { addSameAbiKernel } from '../helpers/kernel-clone.js';
import { copyExampleSource, makeSandboxRoot, type SandboxRoot } from '../helpers/sandbox.js';

const A = '6.1.0-47-amd64';
const B = '6.1.0-47.1-amd64'; // same ABI, no headers
const C = '6.1.0-50-amd64'; // another ABI
const ARCH = os.machine();
const MV = 'partial-load/1.0';
const REFUSED = /partial_extra: [^)]*oslec_create/;

interface StatusJson {
  entries: { kernel: string; state: string; builtFor: string; reason: string | null }[];
}

let sb: SandboxRoot;
const cli = (...args: string[]) => runCli(args, { root: sb.root });

beforeAll(async () => {
  sb = await makeSandboxRoot({ kernels: [A, C] });
  await addSameAbiKernel(sb, A, B, { headers: false });
  await copyExampleSource(sb.root, 'partial-load');
  expect((await cli('add', MV)).exitCode).toBe(0);
});
afterAll(async () => {
  await sb.cleanup();
});

describe('a package with a module the loader refuses', () => {
  it('install puts both modules in place and names the one that will not load', async () => {
    const r = await cli('install', MV, '-k', A);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${MV}, ${A}, ${ARCH}: installed \\(${REFUSED.source}\\)\\n$`));
    for (const ko of ['partial_core', 'partial_extra']) {
      const st = await lstat(sb.host(`lib/modules/${A}/updates/dkms/${ko}.ko`));
      expect(st.isSymbolicLink()).toBe(true);
    }
    const dep = await readFile(sb.host(`lib/modules/${A}/modules.dep`), 'utf8');
    expect(dep).toMatch(/partial_core\.ko:/);
    expect(dep).toMatch(/partial_extra\.ko:/);
  });

  it('status says installed, with the refused module as the detail, in text and --json', async () => {
    const s = await cli('status', MV, '-k', A);
    expect(s.stdout).toMatch(new RegExp(`^${MV}, ${A}, ${ARCH}: installed \\(${REFUSED.source}\\)\\n$`));
    expect(s.stdout).toContain(': installed');
    const j = await runCliJson<StatusJson>(['status', MV, '-k', A], { root: sb.root });
    expect(j.json.entries).toHaveLength(1);
    expect(j.json.entries[0]?.state).toBe('installed');
    expect(j.json.entries[0]?.reason).toMatch(REFUSED);
  });

  it('a same-ABI kernel without headers reuses the build: installed-abi with the same detail', async () => {
    const r = await cli('kernel', 'add', B);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${MV}, ${B}: linked (installed-abi, no build; headers not checked)\n`);
    const s = await cli('status', MV, '-k', B);
    expect(s.stdout).toMatch(
      new RegExp(
        `^${MV}, ${B}, ${ARCH}: installed-abi \\(from ${A}; headers not checked\\) \\(${REFUSED.source}\\)\\n$`,
      ),
    );
    const j = await runCliJson<StatusJson>(['status', MV, '-k', B], { root: sb.root });
    expect(j.json.entries[0]?.state).toBe('installed-abi');
    expect(j.json.entries[0]?.reason).toMatch(REFUSED);
  });

  it('another ABI gets its own build, installed whole', async () => {
    const r = await cli('kernel', 'add', C);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`${MV}, ${C}: built and installed\n`);
    const s = await cli('status', MV, '-k', C);
    expect(s.stdout).toMatch(new RegExp(`^${MV}, ${C}, ${ARCH}: installed \\(${REFUSED.source}\\)\\n$`));
  });

  it('stock dkms status agrees that it is installed on every kernel', async () => {
    const d = await execa(
      'dkms',
      [
        'status',
        '--dkmstree',
        sb.host('var/lib/dkms'),
        '--sourcetree',
        sb.host('usr/src'),
        '--installtree',
        sb.host('lib/modules'),
      ],
      { reject: false },
    );
    for (const k of [A, B, C]) expect(d.stdout).toContain(`${MV}, ${k}, ${ARCH}: installed`);
    const v = await cli('verify');
    expect(v.exitCode).toBe(0);
  });
});
