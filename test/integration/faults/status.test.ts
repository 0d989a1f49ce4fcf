// status is never torn (docs/safety.md, "status reads a state that existed"): it takes no
// lock, yet prints only states the root really was in. The states a reader may see are
// recorded first — before each command, after each of its plans (the test-only pause
// DKMS_ABI_FAULT_PAUSE=plan stops the writer there), after it — then writers loop while many
// status runs read, and every output must be one of them. A writer stopped half-way through a
// plan makes status wait (bounded), then fail with one line naming the writer.
import { execa } from 'execa';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULT_ENTRY, runCli } from '../../helpers/cli.js';
import type { SandboxRoot } from '../../helpers/sandbox.js';
import { A, B, FULL, buildTemplate, cli } from './roots.js';

/** One writer cycle: it ends where it started. */
const CYCLE: readonly (readonly string[])[] = [
  ['uninstall', 'hello-abi/1.0'],
  ['install', 'hello-abi/1.0', '-k', A],
  ['kernel', 'add', B],
  ['kernel', 'remove', B],
];
const CYCLES = FULL ? 12 : 3;
const READERS = 3;

const ENV = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: process.env['HOME'] ?? '/root',
  LC_ALL: 'C',
};

async function statusOf(root: string): Promise<string> {
  const r = await runCli(['status'], { root });
  expect([r.exitCode, r.stderr]).toEqual([0, '']);
  return r.stdout;
}

/** 'T' while the process is stopped; undefined once it is gone. */
async function stateOf(pid: number): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text?.slice(text.lastIndexOf(')') + 2).split(' ')[0];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The CLI through the fault entry, not awaited: the test stops and continues it. */
function startWriter(root: string, args: readonly string[], env: Readonly<Record<string, string>>) {
  return execa(process.execPath, [FAULT_ENTRY, '--root', root, ...args], {
    reject: false,
    extendEnv: false,
    env: { ...ENV, ...env },
    stdin: 'ignore',
  });
}

async function waitStopped(pid: number): Promise<void> {
  for (let i = 0; i < 6000; i++) {
    const s = await stateOf(pid);
    if (s === 'T') return;
    if (s === undefined || s === 'Z') throw new Error(`writer ${pid} ended before it stopped`);
    await sleep(5);
  }
  throw new Error(`writer ${pid} never stopped`);
}

describe('status while writers change the root', () => {
  let sb: SandboxRoot;
  const states = new Set<string>();

  beforeAll(async () => {
    sb = await buildTemplate();
    for (const m of ['hello-abi', 'abi-provider']) await cli(sb.root, ['install', `${m}/1.0`, '-k', A]);
  });
  afterAll(() => sb.cleanup());

  it('records the states between every plan of two cycles (the writer paused after each)', async () => {
    states.add(await statusOf(sb.root));
    let pauses = 0;
    // Two: a cycle ends where it started but for B's modules.dep, which the first cycle's depmod
    // leaves newer than the untouched abi-provider and older than the reinstalled hello-abi; from
    // the second cycle on, each is the same.
    for (const args of [...CYCLE, ...CYCLE]) {
      const child = startWriter(sb.root, args, { DKMS_ABI_FAULT_PAUSE: 'plan' });
      const pid = child.pid ?? 0;
      let ended = false;
      void child.finally(() => {
        ended = true;
      });
      while (!ended) {
        if ((await stateOf(pid)) === 'T') {
          pauses++;
          states.add(await statusOf(sb.root));
          process.kill(pid, 'SIGCONT');
        }
        await sleep(2);
      }
      expect((await child).exitCode).toBe(0);
      states.add(await statusOf(sb.root));
    }
    // uninstall and install: one plan each; kernel add: registering, then one per module.
    expect(pauses).toBeGreaterThanOrEqual(12);
    // Between kernel add's plans and its depmod, B's modules need depmod: a real state too.
    expect(
      [...states].some((s) =>
        s.includes(`${B}, x86_64: installed-abi (from ${A}; headers not checked), needs-depmod`),
      ),
    ).toBe(true);
    expect(states.size).toBeGreaterThanOrEqual(4);
  });

  it(`${CYCLES} writer cycles against ${READERS} status loops: every output is a recorded state`, async () => {
    let writing = true;
    const writer = (async () => {
      try {
        for (let c = 0; c < CYCLES; c++) for (const args of CYCLE) await cli(sb.root, args);
      } finally {
        writing = false;
      }
    })();
    const readers = Array.from({ length: READERS }, async () => {
      const seen: { exitCode: number; stdout: string; stderr: string }[] = [];
      while (writing) seen.push(await runCli(['status'], { root: sb.root }));
      return seen;
    });
    await writer;
    const outputs = (await Promise.all(readers)).flat();
    expect(outputs.length).toBeGreaterThanOrEqual(CYCLES * CYCLE.length);
    const torn = outputs.filter((r) => r.exitCode !== 0 || r.stderr !== '' || !states.has(r.stdout));
    expect(torn, `recorded states:\n${[...states].join('\n')}`).toEqual([]);
  });

  it('a writer stopped half-way through a plan: status waits for it, and gives up after lock_timeout naming it', async () => {
    const before = await statusOf(sb.root);
    const child = startWriter(sb.root, ['uninstall', 'hello-abi/1.0'], { DKMS_ABI_FAULT_AT: '+2:stop' });
    const pid = child.pid ?? 0;
    try {
      await waitStopped(pid);
      const conf = sb.host('etc/dkms-abi.conf');
      await writeFile(conf, '[abi]\nlock_timeout = 1\n');
      const started = Date.now();
      const gaveUp = await runCli(['status'], { root: sb.root });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(gaveUp.exitCode).toBe(3);
      expect(gaveUp.stdout).toBe('');
      expect(gaveUp.stderr).toMatch(
        new RegExp(
          `^dkms-abi: the trees kept changing while they were read \\(\\d+ reads in 1\\.\\d s, pid ${pid} \\(uninstall\\) is changing them\\) \\(run it again when that change is done\\)\\n$`,
        ),
      );
      await rm(conf);
      // Continued half a second after status started: it prints the state after the change.
      const waiting = runCli(['status'], { root: sb.root });
      await sleep(500);
      process.kill(pid, 'SIGCONT');
      const r = await waiting;
      expect((await child).exitCode).toBe(0);
      expect(r).toEqual({ exitCode: 0, stdout: await statusOf(sb.root), stderr: '' });
      expect(r.stdout).not.toBe(before);
      expect(states.has(r.stdout)).toBe(true);
    } finally {
      if ((await stateOf(pid)) !== undefined) process.kill(pid, 'SIGKILL');
    }
    await cli(sb.root, ['install', 'hello-abi/1.0', '-k', A]);
  });
});
